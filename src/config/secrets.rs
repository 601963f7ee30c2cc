//! Secrets in the configuration: read from files (mounted secrets), and
//! redacted wherever a configuration is shown (Debug, `config check`, logs).

use super::Config;

/// Keys whose whole value is a secret.
fn is_secret_key(key: &str) -> bool {
    key.ends_with("password") || key.ends_with("secret")
}

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

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; a
/// `password=` query parameter is hidden too.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    // The last '@' before the query ends the user info: a password may
    // hold an unescaped '@'.
    let authority_and_path = match before_query.rsplit_once('@') {
        Some((cred, host)) => match cred.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{cred}@{host}"),
        },
        None => before_query.to_owned(),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(q) => format!("{scheme}://{authority_and_path}?{q}"),
        None => format!("{scheme}://{authority_and_path}"),
    }
}

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
        }
        Ok(())
    }
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
