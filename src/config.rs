//! Server configuration: defaults, then an optional TOML file, then
//! `SCIM_BRIDGE_*` environment variables, then command-line flags. Secrets
//! (the database password) may come from files; nothing here ever prints one.

pub mod check;
mod secrets;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The keys a configuration has, as environment variables take them.
const CONFIG_KEYS: &[&str] = &[
    "bind",
    "database_url",
    "database_read_url",
    "database_read_max_lag_ms",
    "public_url",
    "allowed_hosts",
    "max_body_bytes",
    "max_results",
    "pool_size",
    "filter_max_length",
    "filter_max_depth",
    "filter_max_terms",
    "cursor_timeout_secs",
    "token_cache_ms",
    "patch_members_response_limit",
    "oidc_issuer",
    "oidc_audience",
    "oidc_jwks_url",
    "oidc_jwks_file",
    "oidc_user_claim",
    "oidc_iam",
    "oidc_algorithms",
    "oidc_leeway_secs",
    "oidc_jwks_min_refresh_secs",
    "bulk_max_operations",
    "bulk_max_payload_bytes",
    "console_idle_timeout_secs",
    "console_absolute_timeout_secs",
    "oidc_client_id",
    "oidc_client_secret",
    "metrics_event_prefixes",
    "metrics_max_events",
    "metrics_max_count",
    "tls_cert",
    "tls_key",
    "log_format",
    "database_url_file",
    "database_password_file",
    "rate_limit_per_second",
    "rate_limit_burst",
    "admin_rate_limit_per_second",
    "admin_rate_limit_burst",
    "max_concurrent_requests",
    "max_queued_requests",
    "request_deadline_ms",
    "header_read_timeout_ms",
    "patch_max_operations",
    "admin_token_key",
    "admin_token_key_file",
    "event_allow_http",
    "event_allow_private",
    "event_retry_hours",
    "jobs",
    "job_batch_size",
];

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Pretty,
    /// One JSON object per line, with the request's span (and its id).
    Json,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://scim-bridge.db";

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the server listens on.
    pub bind: SocketAddr,
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// A read-only PostgreSQL (a hot standby, or HAProxy's port in front of
    /// the standbys) that may serve list, search and report reads, each
    /// client still reading its own writes (`store::read_scaling`). Unset:
    /// every read goes to `database_url`. PostgreSQL only.
    pub database_read_url: Option<String>,
    /// A read replica further behind the primary than this, in
    /// milliseconds, is not read (the primary is).
    pub database_read_max_lag_ms: u64,
    /// Absolute URL clients reach the server at (e.g. `https://scim.example.com`);
    /// when unset, locations are built from the request's Host header if it
    /// is one of `allowed_hosts` (or the address the server listens on),
    /// else from the listening address.
    pub public_url: Option<String>,
    /// Host header values (`host` or `host:port`; without a port, any port)
    /// that may name this server in locations when `public_url` is unset.
    pub allowed_hosts: Vec<String>,
    /// Largest accepted resource body, in bytes.
    pub max_body_bytes: usize,
    /// Largest page a list answers with (`count` is capped to it).
    pub max_results: u32,
    /// Connections in the PostgreSQL pool / SQLite reader pool.
    pub pool_size: u32,
    /// Filter limits.
    pub filter_max_length: usize,
    pub filter_max_depth: usize,
    pub filter_max_terms: usize,
    /// How long a pagination cursor stays valid, in seconds (advertised as
    /// `cursorTimeout`).
    pub cursor_timeout_secs: u64,
    /// How long a verified SCIM token is trusted without a database read;
    /// a revocation takes effect within this. 0 disables the cache.
    pub token_cache_ms: u64,
    /// A group PATCH answers 204 No Content instead of the group when the
    /// group has more members than this (and the response would list
    /// them): a huge member list is never serialised for a PATCH.
    pub patch_members_response_limit: u64,
    /// Administrators sign in at the external IAM: its issuer (`iss`), the
    /// audience its tokens carry for this server (`aud`), and its JWKS (a
    /// URL or a file). Unset: only the bootstrap tokens authenticate admins.
    pub oidc_issuer: Option<String>,
    pub oidc_audience: Option<String>,
    pub oidc_jwks_url: Option<String>,
    pub oidc_jwks_file: Option<std::path::PathBuf>,
    /// The claim that names the admin's internal account: its value is the
    /// userName of a user of `oidc_iam`, compared case-insensitively.
    pub oidc_user_claim: String,
    pub oidc_iam: String,
    /// Accepted signing algorithms (asymmetric only).
    pub oidc_algorithms: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub oidc_leeway_secs: u64,
    /// Least time between two JWKS fetches caused by unknown key ids.
    pub oidc_jwks_min_refresh_secs: u64,
    /// Most operations one SCIM Bulk request may hold (advertised as
    /// `bulk.maxOperations`; more is 413 `tooMany`).
    pub bulk_max_operations: usize,
    /// Largest SCIM Bulk request body, in bytes (advertised as
    /// `bulk.maxPayloadSize`; larger is 413). The default fits 1,000
    /// realistic user creates.
    pub bulk_max_payload_bytes: usize,
    /// The admin console's sessions end after this long without a request,
    /// and in any case this long after sign-in, in seconds.
    pub console_idle_timeout_secs: u64,
    pub console_absolute_timeout_secs: u64,
    /// The console signs administrators in at `oidc_issuer` with the
    /// authorization-code flow (PKCE) as this client; the redirect URI is
    /// `{public_url}/admin/auth/callback`. The secret is optional (public
    /// clients use PKCE alone).
    pub oidc_client_id: Option<String>,
    pub oidc_client_secret: Option<String>,
    /// The name prefixes other systems may report usage events under
    /// (`POST /api/v1/metrics/events`); the server's own namespaces
    /// (`user.`, `group.`, `data_source.`, `policy.`, `tag.`, ...:
    /// `metrics::RESERVED_PREFIXES`) are refused whatever this says.
    pub metrics_event_prefixes: Vec<String>,
    /// Most events one report may carry.
    pub metrics_max_events: usize,
    /// Largest count one reported event may carry.
    pub metrics_max_count: u64,
    /// PEM certificate chain and private key: with both, the server speaks
    /// only HTTPS (TLS 1.2 and 1.3).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `pretty` or `json`.
    pub log_format: LogFormat,
    /// A file holding the whole database URL (e.g. a mounted secret);
    /// replaces `database_url`.
    pub database_url_file: Option<PathBuf>,
    /// A file holding only the database password, put into `database_url`
    /// (which then names the user but no password).
    pub database_password_file: Option<PathBuf>,
    /// Requests per second each SCIM token may make, sustained; an IAM's
    /// `rateLimit` setting overrides it for its tokens. 0 turns the limit
    /// off. Over it: 429 with `Retry-After`.
    pub rate_limit_per_second: f64,
    /// Requests a SCIM token may make at once above that rate.
    pub rate_limit_burst: u32,
    /// The same for each administrator on /api/v1 (0 turns it off).
    pub admin_rate_limit_per_second: f64,
    pub admin_rate_limit_burst: u32,
    /// Requests served at the same time; more wait in a queue of
    /// `max_queued_requests`, and beyond that get 503 with `Retry-After`.
    pub max_concurrent_requests: usize,
    pub max_queued_requests: usize,
    /// How long a request may take (queueing included) before it is
    /// answered 503; well under the 60 s identity providers wait.
    pub request_deadline_ms: u64,
    /// How long a client may take to send a request's headers, and how long
    /// an idle HTTP/1 connection is kept open.
    pub header_read_timeout_ms: u64,
    /// Most operations one SCIM PATCH may hold (more is 400 `tooMany`).
    pub patch_max_operations: usize,
    /// The key admin tokens are signed with (hex or base64, at least 32
    /// bytes), inline (best from the environment) or in a file. Either
    /// replaces the key kept in the database, which is then never created:
    /// a copy of the database alone cannot mint admin tokens.
    pub admin_token_key: Option<String>,
    pub admin_token_key_file: Option<PathBuf>,
    /// Hosts event streams may send to over plain http (everything else
    /// needs https): a receiver on the same host or network, or a test's.
    pub event_allow_http: Vec<String>,
    /// Hosts, and networks (`10.0.0.0/8`, an address alone), that event
    /// streams may reach although they are internal: loopback, private,
    /// link-local (the cloud metadata services), unique-local IPv6 and the
    /// other non-public addresses are refused otherwise, at a stream's
    /// creation and at every connection (docs/EVENTS.md, SSRF).
    pub event_allow_private: Vec<String>,
    /// How long a delivery is retried before it is marked failed (and kept
    /// for a retry by hand).
    pub event_retry_hours: u64,
    /// Whether this node runs durable jobs (a policy or tag change
    /// re-evaluating every account). A job waits in the database until a
    /// node that runs jobs takes it (any node, after a restart too); turn
    /// it off on nodes that should serve requests only.
    pub jobs: bool,
    /// The accounts one batch of a job re-evaluates, in one transaction:
    /// larger batches finish a job sooner, smaller ones hold up the
    /// writes queued behind each batch's transaction for less.
    pub job_batch_size: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".parse().expect("valid default address"),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            database_read_url: None,
            database_read_max_lag_ms: 1000,
            public_url: None,
            allowed_hosts: Vec::new(),
            max_body_bytes: 1024 * 1024,
            max_results: 1000,
            pool_size: 8,
            filter_max_length: 4096,
            filter_max_depth: 32,
            filter_max_terms: 200,
            cursor_timeout_secs: 3600,
            token_cache_ms: 1000,
            patch_members_response_limit: 10_000,
            oidc_issuer: None,
            oidc_audience: None,
            oidc_jwks_url: None,
            oidc_jwks_file: None,
            oidc_user_claim: "email".to_owned(),
            oidc_iam: "bim".to_owned(),
            oidc_algorithms: vec!["RS256".to_owned(), "ES256".to_owned()],
            oidc_leeway_secs: 60,
            oidc_jwks_min_refresh_secs: 30,
            bulk_max_operations: 1000,
            bulk_max_payload_bytes: 4 * 1024 * 1024,
            console_idle_timeout_secs: 30 * 60,
            console_absolute_timeout_secs: 12 * 3600,
            oidc_client_id: None,
            oidc_client_secret: None,
            metrics_event_prefixes: crate::metrics::DEFAULT_EVENT_PREFIXES
                .iter()
                .map(|p| p.to_string())
                .collect(),
            metrics_max_events: 100,
            metrics_max_count: 10_000,
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Pretty,
            database_url_file: None,
            database_password_file: None,
            rate_limit_per_second: 1000.0,
            rate_limit_burst: 2000,
            admin_rate_limit_per_second: 50.0,
            admin_rate_limit_burst: 200,
            max_concurrent_requests: 256,
            max_queued_requests: 256,
            request_deadline_ms: 30_000,
            header_read_timeout_ms: 10_000,
            patch_max_operations: 1000,
            admin_token_key: None,
            admin_token_key_file: None,
            event_allow_http: Vec::new(),
            event_allow_private: Vec::new(),
            event_retry_hours: 24,
            jobs: true,
            job_batch_size: 500,
        }
    }
}

impl std::fmt::Debug for Config {
    // Every key, from the same redacted view `config check` prints: a key
    // added later is shown without anyone remembering to list it here, and
    // secrets are never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Shown(serde_json::Value);
        impl std::fmt::Debug for Shown {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
        let mut d = f.debug_struct("Config");
        for (key, value) in self.redacted() {
            d.field(key, &Shown(value));
        }
        d.finish()
    }
}

pub use secrets::redact_url;

impl Config {
    /// Layers the sources. `overrides` holds only the flags given on the
    /// command line, so that an absent flag does not mask the file or env.
    pub fn load(
        file: Option<&Path>,
        overrides: Serialized<ConfigOverrides>,
    ) -> Result<Self, String> {
        if let Some(path) = file {
            let unknown = check::unknown_file_keys(path)?;
            if !unknown.is_empty() {
                return Err(format!(
                    "config file {}: {}",
                    path.display(),
                    unknown.join("; ")
                ));
            }
        }
        let mut config: Config = Self::figment(file, overrides)
            .extract()
            .map_err(|e| e.to_string())?;
        config.read_secret_files()?;
        Ok(config)
    }

    /// The layered sources, not yet extracted.
    pub(crate) fn figment(file: Option<&Path>, overrides: Serialized<ConfigOverrides>) -> Figment {
        Self::figment_with(file.map(Toml::file_exact), overrides)
    }

    /// The layers over a given file provider (`config check` hands in the
    /// file without its unknown keys, to go on checking the rest).
    pub(crate) fn figment_with(
        file: Option<figment::providers::Data<Toml>>,
        overrides: Serialized<ConfigOverrides>,
    ) -> Figment {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            fig = fig.merge(file);
        }
        fig
            // Only the configuration's own keys: other SCIM_BRIDGE_* variables
            // (LOG, CONFIG, test and tool settings) are not configuration.
            .merge(Env::prefixed("SCIM_BRIDGE_").only(CONFIG_KEYS))
            .merge(overrides)
    }

    /// Every key, secrets redacted (`database_url`'s password, any
    /// `*_password` / `*_secret`), in the order of `CONFIG_KEYS`.
    pub fn redacted(&self) -> Vec<(&'static str, serde_json::Value)> {
        let serde_json::Value::Object(mut all) =
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        else {
            return Vec::new();
        };
        CONFIG_KEYS
            .iter()
            .map(|&key| {
                let value = all.remove(key).unwrap_or(serde_json::Value::Null);
                (key, secrets::redact_value(key, value))
            })
            .collect()
    }
}

/// The longest `database_read_max_lag_ms`: a replica an hour behind
/// serves no one.
pub const MAX_READ_LAG_MS: u64 = 3_600_000;

impl Config {
    /// The read replica, when `database_read_url` is set: it and
    /// `database_url` must be PostgreSQL, and the lag bound between 1 ms
    /// and [`MAX_READ_LAG_MS`].
    pub fn read_replica(&self) -> Result<Option<crate::store::read_scaling::ReadReplica>, String> {
        let Some(url) = self.database_read_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let postgres = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
        if !postgres(url) {
            return Err(format!(
                "database_read_url must start with postgres:// (is {})",
                redact_url(url)
            ));
        }
        if !postgres(&self.database_url) {
            return Err(
                "database_read_url needs a PostgreSQL database_url: SQLite has no read replicas"
                    .into(),
            );
        }
        if !(1..=MAX_READ_LAG_MS).contains(&self.database_read_max_lag_ms) {
            return Err(format!(
                "database_read_max_lag_ms must be between 1 and {MAX_READ_LAG_MS} (is {})",
                self.database_read_max_lag_ms
            ));
        }
        Ok(Some(crate::store::read_scaling::ReadReplica {
            url: url.to_owned(),
            max_lag: std::time::Duration::from_millis(self.database_read_max_lag_ms),
        }))
    }

    /// The OIDC settings, when an issuer is configured: then the audience
    /// and exactly one JWKS source are required.
    pub fn oidc(&self) -> Result<Option<crate::auth::oidc::OidcSettings>, String> {
        use crate::auth::oidc::{JwksSource, OidcSettings, parse_algorithms};
        let Some(issuer) = self.oidc_issuer.clone().filter(|i| !i.is_empty()) else {
            if self.oidc_audience.is_some()
                || self.oidc_jwks_url.is_some()
                || self.oidc_jwks_file.is_some()
            {
                return Err("OIDC settings are given but oidc_issuer is not".into());
            }
            return Ok(None);
        };
        let audience = self
            .oidc_audience
            .clone()
            .filter(|a| !a.is_empty())
            .ok_or("oidc_issuer needs oidc_audience")?;
        let jwks = match (&self.oidc_jwks_url, &self.oidc_jwks_file) {
            (Some(url), None) => JwksSource::Url(url.clone()),
            (None, Some(path)) => JwksSource::File(path.clone()),
            _ => {
                return Err(
                    "oidc_issuer needs exactly one of oidc_jwks_url and oidc_jwks_file".into(),
                );
            }
        };
        if self.oidc_leeway_secs > 300 {
            return Err("oidc_leeway_secs is at most 300".into());
        }
        Ok(Some(OidcSettings {
            issuer,
            audience,
            jwks,
            algorithms: parse_algorithms(&self.oidc_algorithms)?,
            user_claim: self.oidc_user_claim.clone(),
            leeway_secs: self.oidc_leeway_secs,
            min_refresh: std::time::Duration::from_secs(self.oidc_jwks_min_refresh_secs),
        }))
    }
}

/// Command-line values that override the configuration when present.
#[derive(Debug, Default, Serialize)]
pub struct ConfigOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9999\"\nmax_results = 50\ndatabase_url = \"sqlite://a.db\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            Serialized::defaults(ConfigOverrides {
                database_url: Some("sqlite://b.db".into()),
                ..Default::default()
            }),
        )
        .unwrap();
        assert_eq!(c.bind.port(), 9999);
        assert_eq!(c.max_results, 50);
        assert_eq!(c.database_url, "sqlite://b.db", "a flag beats the file");

        std::fs::write(&path, "bnid = \"127.0.0.1:1\"\n").unwrap();
        let e = Config::load(
            Some(&path),
            Serialized::defaults(ConfigOverrides::default()),
        )
        .unwrap_err();
        assert!(e.contains("bnid"), "{e}");
        let missing = dir.path().join("missing.toml");
        assert!(
            Config::load(
                Some(&missing),
                Serialized::defaults(ConfigOverrides::default())
            )
            .is_err()
        );
    }

    #[test]
    fn debug_output_shows_every_key_and_no_secret() {
        let c = Config {
            database_url: "postgres://app:hunter2@db/scim?password=hunter3".into(),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(shown.contains("postgres://app:***@db/scim"), "{shown}");
        for key in CONFIG_KEYS {
            assert!(shown.contains(key), "Debug leaves out {key}: {shown}");
        }
        // Whatever a later key is called, a password or secret is hidden.
        assert_eq!(
            secrets::redact_value("oidc_client_secret", serde_json::json!("s3cr3t")),
            serde_json::json!("***")
        );
        assert_eq!(
            secrets::redact_value("smtp_password", serde_json::json!("s3cr3t")),
            serde_json::json!("***")
        );
    }

    #[test]
    fn config_keys_are_exactly_the_fields() {
        let serde_json::Value::Object(fields) = serde_json::to_value(Config::default()).unwrap()
        else {
            panic!("a config serialises to an object");
        };
        let mut fields: Vec<&str> = fields.keys().map(String::as_str).collect();
        let mut keys = CONFIG_KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(
            fields, keys,
            "CONFIG_KEYS must list every field (env, check, Debug)"
        );
    }

    /// The annotated example at the repository root loads, sets every key
    /// it sets to its default, and mentions every key: it cannot drift.
    #[test]
    fn the_example_configuration_is_complete_and_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scim-bridge.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        for key in CONFIG_KEYS {
            let set = text.lines().any(|l| {
                let l = l.trim_start_matches('#').trim_start();
                l.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            });
            assert!(set, "the example does not show `{key} = ...`");
        }
        let loaded: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file_exact(&path))
            .extract()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&loaded).unwrap(),
            serde_json::to_value(Config::default()).unwrap(),
            "every key the example sets holds its default"
        );
        let report = check::check(Some(&path), ConfigOverrides::default());
        assert!(report.ok(), "{:?}", report.problems);
    }

    #[test]
    fn every_unknown_key_is_named_with_the_nearest_known_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "bnid = \"127.0.0.1:1\"\nmax_resluts = 3\nzzz = 1\n").unwrap();
        let e = Config::load(
            Some(&path),
            Serialized::defaults(ConfigOverrides::default()),
        )
        .unwrap_err();
        assert!(e.contains("`bnid` (did you mean `bind`?)"), "{e}");
        assert!(
            e.contains("`max_resluts` (did you mean `max_results`?)"),
            "{e}"
        );
        assert!(e.contains("`zzz`"), "{e}");
    }

    #[test]
    fn a_read_replica_needs_postgres_on_both_sides_and_a_sane_lag_bound() {
        let pg = |read: &str| Config {
            database_url: "postgres://app@primary/scim".into(),
            database_read_url: Some(read.into()),
            ..Config::default()
        };
        let r = pg("postgres://app:pw@standby:5001/scim")
            .read_replica()
            .unwrap()
            .expect("a replica");
        assert_eq!(r.url, "postgres://app:pw@standby:5001/scim");
        assert_eq!(r.max_lag, std::time::Duration::from_secs(1));
        // Unset or empty: no replica.
        assert!(Config::default().read_replica().unwrap().is_none());
        assert!(pg("").read_replica().unwrap().is_none());
        let e = pg("mysql://app:pw@standby/scim")
            .read_replica()
            .unwrap_err();
        assert_eq!(
            e,
            "database_read_url must start with postgres:// (is mysql://app:***@standby/scim)"
        );
        let sqlite = Config {
            database_read_url: Some("postgres://app@standby/scim".into()),
            ..Config::default()
        };
        assert!(
            sqlite
                .read_replica()
                .unwrap_err()
                .contains("needs a PostgreSQL database_url"),
        );
        for lag in [0, MAX_READ_LAG_MS + 1] {
            let c = Config {
                database_read_max_lag_ms: lag,
                ..pg("postgres://app@standby/scim")
            };
            assert!(
                c.read_replica()
                    .unwrap_err()
                    .starts_with("database_read_max_lag_ms must be between 1 and"),
            );
        }
        // `config check` names it with the other problems, and the
        // password file fills the replica's URL too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        std::fs::write(
            &path,
            format!(
                "database_url = \"postgres://app@primary/scim\"\n\
                 database_read_url = \"postgres://app@standby/scim\"\n\
                 database_password_file = {pw:?}\n"
            ),
        )
        .unwrap();
        let report = check::check(Some(&path), ConfigOverrides::default());
        assert!(report.ok(), "{:?}", report.problems);
        let c = report.config.unwrap();
        assert_eq!(
            c.database_read_url.as_deref(),
            Some("postgres://app:s3cret@standby/scim")
        );
        std::fs::write(
            &path,
            "database_read_url = \"postgres://app@standby/scim\"\n\
             database_read_max_lag_ms = 0\n",
        )
        .unwrap();
        let report = check::check(Some(&path), ConfigOverrides::default());
        assert_eq!(
            report.problems,
            ["database_read_url needs a PostgreSQL database_url: SQLite has no read replicas"]
        );
    }

    #[test]
    fn check_names_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let missing = dir.path().join("missing.pem");
        std::fs::write(
            &path,
            format!(
                "pool_size = \"eight\"\nmax_results = 0\nlog_format = \"xml\"\n\
                 oidc_issuer = \"https://idp\"\noidc_algorithms = [\"HS256\"]\n\
                 tls_cert = {missing:?}\ntls_key = {missing:?}\n\
                 database_url = \"mysql://x\"\ntypo_key = 1\n"
            ),
        )
        .unwrap();
        let report = check::check(Some(&path), ConfigOverrides::default());
        let all = report.problems.join("\n");
        for expected in [
            "unknown key `typo_key`",
            "pool_size (from /",
            "log_format (from /",
            "max_results must be at least 1",
            "oidc_issuer needs oidc_audience",
            "oidc_issuer needs one of oidc_jwks_url and oidc_jwks_file",
            "oidc_algorithms: HS256 is symmetric",
            "tls_cert: cannot read",
            "tls_key: cannot read",
            "database_url must start with sqlite:// or postgres://",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert_eq!(report.problems.len(), 10, "{all}");
    }

    #[test]
    fn allowed_hosts_hold_host_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "allowed_hosts = [\"scim.example.com\", \"10.0.0.5:8080\", \"[::1]:8080\", \
             \"https://scim.example.com\", \"a@evil.example\"]\n",
        )
        .unwrap();
        let report = check::check(Some(&path), ConfigOverrides::default());
        let all = report.problems.join("\n");
        assert_eq!(report.problems.len(), 2, "{all}");
        assert!(all.contains("\"https://scim.example.com\""), "{all}");
        assert!(all.contains("\"a@evil.example\""), "{all}");
    }

    #[test]
    fn secrets_come_from_files_and_are_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cr:t@pw\n").unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!("database_url = \"postgres://app@db/scim\"\ndatabase_password_file = {pw:?}\n"),
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            Serialized::defaults(ConfigOverrides::default()),
        )
        .unwrap();
        assert_eq!(c.database_url, "postgres://app:s3cr%3At%40pw@db/scim");
        assert!(!format!("{c:?}").contains("s3cr"));
        assert!(!check::render(&c).contains("s3cr"));

        let url_file = dir.path().join("url");
        std::fs::write(&url_file, "postgres://app:hunter2@db/scim\n").unwrap();
        std::fs::write(&path, format!("database_url_file = {url_file:?}\n")).unwrap();
        let c = Config::load(
            Some(&path),
            Serialized::defaults(ConfigOverrides::default()),
        )
        .unwrap();
        assert_eq!(c.database_url, "postgres://app:hunter2@db/scim");
        let report = check::check(Some(&path), ConfigOverrides::default());
        assert!(report.ok(), "{:?}", report.problems);
        assert!(!check::render(report.config.as_ref().unwrap()).contains("hunter2"));

        std::fs::write(&path, "database_password_file = \"/nonexistent/pw\"\n").unwrap();
        let e = Config::load(
            Some(&path),
            Serialized::defaults(ConfigOverrides::default()),
        )
        .unwrap_err();
        assert!(e.contains("database_password_file: cannot read"), "{e}");
    }
}
