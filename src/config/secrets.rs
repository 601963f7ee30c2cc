//! Secrets in the configuration: read from files (mounted secrets), and
//! redacted wherever a configuration is shown (Debug, `config check`, logs).

use super::Config;

/// Keys whose whole value is a secret.
fn is_secret_key(key: &str) -> bool {
    key.ends_with("password") || key.ends_with("secret") || key == "admin_token_key"
}

/// The shortest admin-token key: HS256 wants at least its hash's size.
pub const MIN_ADMIN_TOKEN_KEY_BYTES: usize = 32;

/// A key's value as it may be shown.
pub(super) fn redact_value(key: &str, value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Null => serde_json::Value::Null,
        _ if is_secret_key(key) => serde_json::Value::String("***".into()),
        serde_json::Value::String(s) if key.ends_with("_url") => {
            serde_json::Value::String(redact_url(&s))
        }
        other => other,
    }
}

// How a database URL is shown belongs to storage, which shows one in its
// own errors; the configuration shows it through the same function.
pub use crate::store::redact_url;

/// A secret file's content: one line, trailing newline dropped.
fn read_secret(key: &str, path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.is_empty() {
        return Err(format!("{key}: {} is empty", path.display()));
    }
    Ok(text.to_owned())
}

/// Percent-encodes a password for the user-info part of a URL.
fn encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Config {
    /// Applies `database_url_file` and `database_password_file`.
    pub(crate) fn read_secret_files(&mut self) -> Result<(), String> {
        if let Some(path) = &self.database_url_file {
            if self.database_url != super::DEFAULT_DATABASE_URL {
                return Err(
                    "database_url and database_url_file are both set: give only one".into(),
                );
            }
            self.database_url = read_secret("database_url_file", path)?;
        }
        if let Some(path) = &self.database_password_file {
            let password = read_secret("database_password_file", path)?;
            self.database_url = with_password(&self.database_url, &password)?;
            // A read replica's URL that names a user and no password takes
            // the same one (the standbys have the primary's roles).
            if let Some(read) = &self.database_read_url
                && let Ok(with) = with_password(read, &password)
            {
                self.database_read_url = Some(with);
            }
        }
        Ok(())
    }
}

impl Config {
    /// The admin-token signing key `admin_token_key` or
    /// `admin_token_key_file` gives, decoded; None: the database's. Errors
    /// name the key and the problem, never the key material.
    pub fn admin_token_key(&self) -> Result<Option<Vec<u8>>, String> {
        let (key, text) = match (&self.admin_token_key, &self.admin_token_key_file) {
            (Some(_), Some(_)) => {
                return Err(
                    "admin_token_key and admin_token_key_file are both set: give only one".into(),
                );
            }
            (Some(text), None) => ("admin_token_key", text.clone()),
            (None, Some(path)) => (
                "admin_token_key_file",
                read_secret("admin_token_key_file", path)?,
            ),
            (None, None) => return Ok(None),
        };
        let bytes = decode_key(text.trim())
            .ok_or_else(|| format!("{key}: the key must be written in hex or base64"))?;
        if bytes.len() < MIN_ADMIN_TOKEN_KEY_BYTES {
            return Err(format!(
                "{key}: the key is {} bytes long; at least {MIN_ADMIN_TOKEN_KEY_BYTES} are \
                 needed (e.g. `openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        Ok(Some(bytes))
    }
}

/// Hex (an even number of hex digits), else base64 (standard or URL-safe,
/// padded or not).
fn decode_key(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect();
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// `postgres://user@host/db` + password → `postgres://user:PASSWORD@host/db`.
fn with_password(url: &str, password: &str) -> Result<String, String> {
    let err = |why: &str| {
        Err(format!(
            "database_password_file: {why} ({})",
            redact_url(url)
        ))
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return err("database_url is not a URL");
    };
    if !scheme.starts_with("postgres") {
        return err("only a PostgreSQL database_url takes a password");
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some((user, host)) = rest[..authority_end].split_once('@') else {
        return err("database_url must name the user, as postgres://USER@HOST/DB");
    };
    if user.contains(':') {
        return err("database_url already holds a password");
    }
    Ok(format!(
        "{scheme}://{user}:{}@{host}{}",
        encode_userinfo(password),
        &rest[authority_end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_wherever_they_are() {
        for (url, secret) in [
            ("postgres://app:hunter2@db/scim", "hunter2"),
            ("postgres://app:hun@ter2@db:5432/scim", "ter2"),
            (
                "postgres://app@db/scim?password=hunter2&sslmode=require",
                "hunter2",
            ),
            ("postgresql://app:p%40ss@db/scim?password=x2y", "p%40ss"),
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains(secret), "{url} → {shown}");
            assert!(shown.contains("db"), "{shown}");
        }
        assert_eq!(
            redact_url("postgres://app:hunter2@db/scim?sslmode=require"),
            "postgres://app:***@db/scim?sslmode=require"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn the_admin_token_key_is_hex_or_base64_of_32_bytes_or_more() {
        let with = |key: &str| Config {
            admin_token_key: Some(key.to_owned()),
            ..Config::default()
        };
        let hex = "ab".repeat(32);
        assert_eq!(with(&hex).admin_token_key().unwrap(), Some(vec![0xab; 32]));
        let b64 = "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=";
        assert_eq!(with(b64).admin_token_key().unwrap(), Some(vec![0xab; 32]));
        let short = with("q6urq6urq6urq6ur").admin_token_key().unwrap_err();
        assert!(short.contains("12 bytes long"), "{short}");
        assert!(!short.contains("q6ur"), "the key is never echoed: {short}");
        assert!(with("not a key!").admin_token_key().is_err());
        assert_eq!(Config::default().admin_token_key().unwrap(), None);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, format!("{hex}\n")).unwrap();
        let from_file = Config {
            admin_token_key_file: Some(path),
            ..Config::default()
        };
        assert_eq!(from_file.admin_token_key().unwrap(), Some(vec![0xab; 32]));
        let both = Config {
            admin_token_key: Some(hex),
            ..from_file
        };
        assert!(both.admin_token_key().unwrap_err().contains("both set"));
        assert_eq!(
            redact_value("admin_token_key", serde_json::json!("ab")),
            serde_json::json!("***")
        );
    }

    #[test]
    fn a_password_file_fills_the_url_encoded() {
        assert_eq!(
            with_password("postgres://app@db:5432/scim?sslmode=require", "p@ss/w:rd").unwrap(),
            "postgres://app:p%40ss%2Fw%3Ard@db:5432/scim?sslmode=require"
        );
        assert!(with_password("postgres://db/scim", "x").is_err());
        assert!(with_password("postgres://a:b@db/scim", "x").is_err());
        assert!(with_password("sqlite://x.db", "x").is_err());
    }
}
