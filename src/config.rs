//! Server configuration: defaults, then an optional TOML file, then
//! `SCIM_BRIDGE_*` environment variables, then command-line flags.

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

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
            .merge(Env::prefixed("SCIM_BRIDGE_").ignore(&["CONFIG", "TEST_POSTGRES", "LOG"]))
            .merge(overrides);
        fig.extract().map_err(|e| e.to_string())
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
