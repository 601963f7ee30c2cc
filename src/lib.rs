//! scim-bridge: a SCIM 2.0 server for identity providers, with an internal
//! IAM for what they do not own. This crate root builds the application
//! from a configuration; `main.rs` is only the command line.

pub mod audit;
pub mod auth;
pub mod config;
pub mod deadline;
pub mod directory;
pub mod events;
pub mod http;
pub mod ids;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod portability;
pub mod scim;
pub mod store;

use std::sync::Arc;

use config::Config;
use directory::{Directory, Limits};
use scim::filter::FilterLimits;

/// Connects to the configured database, applies migrations and returns the
/// domain layer over it.
pub async fn open_directory(config: &Config) -> Result<Directory, store::StoreError> {
    // Before connecting: a bad key must not leave a half-started process.
    let admin_token_key = config
        .admin_token_key()
        .map_err(|e| store::StoreError::Config(format!("configuration: {e}")))?;
    let read = config
        .read_replica()
        .map_err(|e| store::StoreError::Config(format!("configuration: {e}")))?;
    let store =
        store::connect_with_reads(&config.database_url, config.pool_size, read.as_ref()).await?;
    store.migrate().await?;
    let dir = Directory::new(
        store,
        Limits {
            max_results: config.max_results,
            filter: FilterLimits {
                max_length: config.filter_max_length,
                max_depth: config.filter_max_depth,
                max_terms: config.filter_max_terms,
            },
            cursor_timeout_secs: config.cursor_timeout_secs,
            token_cache_ms: config.token_cache_ms,
            metrics_event_prefixes: config.metrics_event_prefixes.clone(),
            metrics_max_events: config.metrics_max_events,
            metrics_max_count: config.metrics_max_count,
            patch_max_operations: config.patch_max_operations,
            event_allow_http: config.event_allow_http.clone(),
            event_allow_private: config.event_allow_private.clone(),
            event_retry_hours: config.event_retry_hours,
            event_issuer: event_issuer(config),
            job_batch_size: config.job_batch_size,
        },
    )
    // Administrators sign in from `oidc_iam` only when OIDC is set up;
    // without it, no identity provider is the admins' source.
    .with_admin_source(
        config
            .oidc_issuer
            .is_some()
            .then(|| config.oidc_iam.clone()),
    );
    Ok(match admin_token_key {
        Some(key) => dir.with_signing_key(key),
        None => dir,
    })
}

/// The `iss` of this server's Security Event Tokens: `public_url` (without
/// a trailing `/`), else the URL of the address it listens on.
pub fn event_issuer(config: &Config) -> String {
    match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let scheme = if config.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", config.bind)
        }
    }
}

/// The HTTP application state for a configuration.
pub async fn build_state(config: Config) -> Result<http::AppState, String> {
    build_state_at(config, None).await
}

/// [`build_state`], with the time read from `clock` when given (by the
/// request handlers and the background jobs and deliveries alike): tests
/// move it forward to expire what was issued or kept.
pub async fn build_state_at(
    config: Config,
    clock: Option<directory::Clock>,
) -> Result<http::AppState, String> {
    http::limits::check(&config).map_err(|e| format!("configuration: {e}"))?;
    let oidc = match config.oidc().map_err(|e| format!("configuration: {e}"))? {
        Some(settings) => Some(Arc::new(auth::oidc::Oidc::new(settings)?)),
        None => None,
    };
    metrics::check_prefixes(&config.metrics_event_prefixes)
        .map_err(|e| format!("configuration: {e}"))?;
    events::guard::check_config(&config.event_allow_private)
        .map_err(|e| format!("configuration: {e}"))?;
    let mut dir = open_directory(&config).await.map_err(|e| e.to_string())?;
    if let Some(clock) = clock {
        dir = dir.with_clock(clock);
    }
    // Jobs left running by the process before this one resume now,
    // unless another node runs them (`jobs = false`).
    if config.jobs {
        tokio::spawn(dir.clone().run_jobs());
    }
    // Event streams deliver from every node (a delivery is claimed first),
    // counted in this server's metrics. The first start makes the key
    // Security Event Tokens are signed with.
    let telemetry = http::telemetry::Telemetry::new();
    let dir = dir.with_event_meter(telemetry.clone());
    dir.ensure_set_key().await.map_err(|e| e.to_string())?;
    tokio::spawn(dir.clone().run_events());
    Ok(http::AppState {
        dir,
        config: Arc::new(config),
        oidc,
        telemetry,
    })
}
