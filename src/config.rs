//! Server configuration: defaults, then an optional TOML file, then
//! `SCIM_BRIDGE_*` environment variables, then command-line flags.

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The keys a configuration has, as environment variables take them.
const CONFIG_KEYS: &[&str] = &[
    "bind",
    "database_url",
    "public_url",
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
];

pub const DEFAULT_DATABASE_URL: &str = "sqlite://scim-bridge.db";

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the server listens on.
    pub bind: SocketAddr,
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// Absolute URL clients reach the server at (e.g. `https://scim.example.com`);
    /// when unset, locations are built from the request's Host header.
    pub public_url: Option<String>,
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
    /// (`user.`, `group.`, ...) are refused whatever this says.
    pub metrics_event_prefixes: Vec<String>,
    /// Most events one report may carry.
    pub metrics_max_events: usize,
    /// Largest count one reported event may carry.
    pub metrics_max_count: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".parse().expect("valid default address"),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            public_url: None,
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
        }
    }
}

impl std::fmt::Debug for Config {
    // The database URL may hold a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("public_url", &self.public_url)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_results", &self.max_results)
            .field("pool_size", &self.pool_size)
            .field("cursor_timeout_secs", &self.cursor_timeout_secs)
            .field("token_cache_ms", &self.token_cache_ms)
            .field(
                "patch_members_response_limit",
                &self.patch_members_response_limit,
            )
            .field("oidc_issuer", &self.oidc_issuer)
            .field("bulk_max_operations", &self.bulk_max_operations)
            .field("bulk_max_payload_bytes", &self.bulk_max_payload_bytes)
            .field("console_idle_timeout_secs", &self.console_idle_timeout_secs)
            .field(
                "console_absolute_timeout_secs",
                &self.console_absolute_timeout_secs,
            )
            .field("oidc_client_id", &self.oidc_client_id)
            .field("metrics_event_prefixes", &self.metrics_event_prefixes)
            .field("metrics_max_events", &self.metrics_max_events)
            .field("metrics_max_count", &self.metrics_max_count)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((cred, host)) => match cred.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Config {
    /// Layers the sources. `overrides` holds only the flags given on the
    /// command line, so that an absent flag does not mask the file or env.
    pub fn load(
        file: Option<&Path>,
        overrides: Serialized<ConfigOverrides>,
    ) -> Result<Self, String> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig
            // Only the configuration's own keys: other SCIM_BRIDGE_* variables
            // (LOG, CONFIG, test and tool settings) are not configuration.
            .merge(Env::prefixed("SCIM_BRIDGE_").only(CONFIG_KEYS))
            .merge(overrides);
        fig.extract().map_err(|e| e.to_string())
    }
}

impl Config {
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
    fn debug_output_hides_database_passwords() {
        let c = Config {
            database_url: "postgres://app:hunter2@db/scim".into(),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://app:***@db/scim"));
    }
}
