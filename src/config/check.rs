//! `scim-bridge config check`: names every problem of a configuration at
//! once (unknown keys, values of the wrong type or out of range, unreadable
//! files, inconsistent OIDC or TLS settings) instead of the first one.

use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use super::{CONFIG_KEYS, Config, ConfigOverrides};

/// What a check found. `config` is the effective configuration when every
/// value could be read (even if other problems remain).
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    pub config: Option<Config>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// `SCIM_BRIDGE_*` variables that are read but are not configuration keys.
const OTHER_ENV: &[&str] = &["CONFIG", "LOG", "TEST_POSTGRES"];

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The known key nearest to `key`, when it is near enough to be a typo.
pub fn nearest_key(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    CONFIG_KEYS
        .iter()
        .map(|k| (distance(&key, k), *k))
        .min()
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .map(|(_, k)| k)
}

fn unknown(key: &str, what: &str) -> String {
    match nearest_key(key) {
        Some(near) => format!("unknown {what} `{key}` (did you mean `{near}`?)"),
        None => format!("unknown {what} `{key}`"),
    }
}

fn unknown_env(name: &str, key: &str) -> String {
    match nearest_key(key) {
        Some(near) => format!(
            "unknown environment variable `{name}` (did you mean `SCIM_BRIDGE_{}`?)",
            near.to_ascii_uppercase()
        ),
        None => format!("unknown environment variable `{name}`"),
    }
}

/// Every top-level key of the TOML file that is not a configuration key,
/// each with the nearest known one. Errors if the file cannot be read or
/// is not TOML.
pub fn unknown_file_keys(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
    Ok(table
        .keys()
        .filter(|k| !CONFIG_KEYS.contains(&k.as_str()))
        .map(|k| unknown(k, "key"))
        .collect())
}

/// Checks the configuration the server would run with.
pub fn check(file: Option<&Path>, overrides: ConfigOverrides) -> Report {
    let mut report = Report::default();
    // The file without its unknown keys, so that the rest is still checked.
    let mut known_only = None;
    if let Some(path) = file {
        match unknown_file_keys(path) {
            Ok(unknown) if unknown.is_empty() => {}
            Ok(unknown) => {
                report.problems.extend(
                    unknown
                        .into_iter()
                        .map(|u| format!("{}: {u}", path.display())),
                );
                let mut table: toml::Table = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_default();
                table.retain(|k, _| CONFIG_KEYS.contains(&k));
                known_only = Some(Toml::string(&table.to_string()));
            }
            Err(e) => {
                report.problems.push(e);
                return report;
            }
        }
    }
    for (name, _) in std::env::vars() {
        if let Some(key) = name.strip_prefix("SCIM_BRIDGE_")
            && !OTHER_ENV.contains(&key)
            && !CONFIG_KEYS.contains(&key.to_ascii_lowercase().as_str())
        {
            report
                .warnings
                .push(format!("{} (ignored)", unknown_env(&name, key)));
        }
    }
    let file_provider = known_only.or_else(|| file.map(Toml::file_exact));
    let mut fig = Config::figment_with(file_provider, Serialized::defaults(overrides));
    // One key at a time, so that every wrongly typed value is named (a
    // whole extraction stops at the first).
    let mut bad = Vec::new();
    for key in CONFIG_KEYS {
        let Ok(value) = fig.find_value(key) else {
            continue;
        };
        let alone = Figment::from(Serialized::defaults(Config::default()))
            .merge(Serialized::default(key, value));
        if let Err(e) = alone.extract::<Config>() {
            let source = fig
                .find_metadata(key)
                .map(|m| match (file, &m.source) {
                    (Some(path), _) if m.name.contains("TOML") => {
                        format!(" (from {})", path.display())
                    }
                    (_, Some(src)) => format!(" (from {} {src})", m.name),
                    (_, None) => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            report.problems.push(format!("{key}{source}: {}", e.kind));
            bad.push(*key);
        }
    }
    // Go on with the defaults in place of the bad values, so that the
    // remaining checks still run.
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    for key in bad {
        fig = fig.merge(Serialized::default(key, &defaults[key]));
    }
    let mut config: Config = match fig.extract() {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    if let Err(e) = config.read_secret_files() {
        report.problems.push(e);
    }
    validate(&config, &mut report);
    if let Some(path) = file
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(table) = text.parse::<toml::Table>()
    {
        for key in ["database_url", "database_read_url"] {
            if let Some(toml::Value::String(url)) = table.get(key)
                && super::redact_url(url) != *url
            {
                report.warnings.push(format!(
                    "{}: {key} holds a password; keep it out of the file with \
                     database_password_file, database_url_file or SCIM_BRIDGE_{}",
                    path.display(),
                    key.to_ascii_uppercase()
                ));
            }
        }
    }
    report.config = Some(config);
    report
}

/// Checks a file can be read, naming the key it came from.
fn readable(key: &str, path: &Path, report: &mut Report) -> bool {
    match std::fs::File::open(path) {
        Ok(_) => true,
        Err(e) => {
            report
                .problems
                .push(format!("{key}: cannot read {}: {e}", path.display()));
            false
        }
    }
}

fn at_least_one(key: &str, value: u64, report: &mut Report) {
    if value == 0 {
        report.problems.push(format!("{key} must be at least 1"));
    }
}

/// Values that parse but cannot work.
fn validate(c: &Config, report: &mut Report) {
    let url = &c.database_url;
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres:")
        || url.starts_with("postgresql:"))
    {
        report.problems.push(format!(
            "database_url must start with sqlite:// or postgres:// (is {})",
            super::redact_url(url)
        ));
    }
    if let Err(e) = c.read_replica() {
        report.problems.push(e);
    }
    if let Some(public) = &c.public_url
        && !((public.starts_with("https://") || public.starts_with("http://"))
            && public.len() > "https://".len()
            && !public.contains(['?', '#']))
    {
        report.problems.push(format!(
            "public_url must be an absolute http(s) URL without query or fragment (is {public})"
        ));
    }
    for host in &c.allowed_hosts {
        if !crate::http::origin::is_host(host) {
            report.problems.push(format!(
                "allowed_hosts: each entry is a host name or address, optionally with \
                 :port, nothing else (is {host:?})"
            ));
        }
    }
    for (key, value) in [
        ("max_body_bytes", c.max_body_bytes as u64),
        ("max_results", c.max_results.into()),
        ("pool_size", c.pool_size.into()),
        ("filter_max_length", c.filter_max_length as u64),
        ("filter_max_depth", c.filter_max_depth as u64),
        ("filter_max_terms", c.filter_max_terms as u64),
        ("cursor_timeout_secs", c.cursor_timeout_secs),
        ("bulk_max_operations", c.bulk_max_operations as u64),
        ("bulk_max_payload_bytes", c.bulk_max_payload_bytes as u64),
        ("job_batch_size", c.job_batch_size),
    ] {
        at_least_one(key, value, report);
    }
    validate_tls(c, report);
    validate_oidc(c, report);
    if let Err(e) = c.admin_token_key() {
        report.problems.push(e);
    }
}

fn validate_tls(c: &Config, report: &mut Report) {
    match (&c.tls_cert, &c.tls_key) {
        (Some(cert), Some(key)) => {
            let cert_ok = readable("tls_cert", cert, report);
            let key_ok = readable("tls_key", key, report);
            if cert_ok
                && key_ok
                && let Err(e) = crate::http::tls::server_config(cert, key)
            {
                report.problems.push(e);
            }
        }
        (Some(_), None) => report
            .problems
            .push("tls_cert is set but tls_key is not: give both or neither".into()),
        (None, Some(_)) => report
            .problems
            .push("tls_key is set but tls_cert is not: give both or neither".into()),
        (None, None) => {
            if !c.bind.ip().is_loopback() {
                report.warnings.push(format!(
                    "bind {} is reachable from other machines without TLS: set tls_cert \
                     and tls_key, or terminate TLS in front of the server",
                    c.bind
                ));
            }
        }
    }
}

fn validate_oidc(c: &Config, report: &mut Report) {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    let problems = &mut report.problems;
    if !given(&c.oidc_issuer) {
        for (key, set) in [
            ("oidc_audience", given(&c.oidc_audience)),
            ("oidc_jwks_url", given(&c.oidc_jwks_url)),
            ("oidc_jwks_file", c.oidc_jwks_file.is_some()),
        ] {
            if set {
                problems.push(format!("{key} is set but oidc_issuer is not"));
            }
        }
        return;
    }
    if !given(&c.oidc_audience) {
        problems.push("oidc_issuer needs oidc_audience".into());
    }
    match (&c.oidc_jwks_url, &c.oidc_jwks_file) {
        (None, None) => {
            problems.push("oidc_issuer needs one of oidc_jwks_url and oidc_jwks_file".into())
        }
        (Some(_), Some(_)) => {
            problems.push("oidc_jwks_url and oidc_jwks_file are both set: give only one".into())
        }
        (Some(url), None) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                problems.push(format!("oidc_jwks_url must be an http(s) URL (is {url})"));
            } else if url.starts_with("http://") {
                report.warnings.push(
                    "oidc_jwks_url is plain http: the keys that admit administrators \
                     could be replaced in transit"
                        .into(),
                );
            }
        }
        (None, Some(path)) => check_jwks_file(path, report),
    }
    let problems = &mut report.problems;
    match crate::auth::oidc::parse_algorithms(&c.oidc_algorithms) {
        Ok(a) if a.is_empty() => {
            problems.push("oidc_algorithms must name at least one algorithm".into())
        }
        Ok(_) => {}
        Err(e) => problems.push(format!("oidc_algorithms: {e}")),
    }
    if c.oidc_leeway_secs > 300 {
        problems.push("oidc_leeway_secs is at most 300".into());
    }
    if c.oidc_user_claim.is_empty() {
        problems.push("oidc_user_claim must name a claim".into());
    }
}

fn check_jwks_file(path: &Path, report: &mut Report) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            report.problems.push(format!(
                "oidc_jwks_file: cannot read {}: {e}",
                path.display()
            ));
            return;
        }
    };
    if bytes.len() > crate::auth::oidc::MAX_JWKS_BYTES {
        report
            .problems
            .push(format!("oidc_jwks_file: {} is too large", path.display()));
        return;
    }
    match serde_json::from_slice::<jsonwebtoken::jwk::JwkSet>(&bytes) {
        Ok(set) => {
            if !set
                .keys
                .iter()
                .any(|k| jsonwebtoken::DecodingKey::from_jwk(k).is_ok())
            {
                report.problems.push(format!(
                    "oidc_jwks_file: {} holds no usable key",
                    path.display()
                ));
            }
        }
        Err(e) => report.problems.push(format!(
            "oidc_jwks_file: {} is not a JWKS: {e}",
            path.display()
        )),
    }
}

/// The effective configuration as TOML, secrets redacted; unset keys are
/// shown commented out.
pub fn render(config: &Config) -> String {
    let mut out = String::new();
    for (key, value) in config.redacted() {
        let line = match toml::Value::try_from(&value) {
            Ok(v) if !value.is_null() => format!("{key} = {v}\n"),
            _ => format!("# {key} is not set\n"),
        };
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_key() {
        assert_eq!(nearest_key("bnid"), Some("bind"));
        assert_eq!(nearest_key("databse_url"), Some("database_url"));
        assert_eq!(nearest_key("OIDC_ISUER"), Some("oidc_issuer"));
        assert_eq!(nearest_key("frobnicate"), None);
    }
}
