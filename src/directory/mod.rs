//! The domain: one method per operation on users, groups, IAMs and tokens.
//! Validates with `scim/`, persists through the `Store` trait, never sees
//! HTTP. Storage errors become domain errors here.

pub mod account_view;
pub mod accounts;
pub mod admins;
pub mod assignments;
pub mod attributes;
pub mod audit_log;
pub mod audit_search;
pub mod bulk;
pub mod catalogue;
pub mod changes;
pub mod cursor;
mod error;
pub mod events;
pub mod governance;
pub mod grants;
pub mod groups;
pub mod guard;
pub mod iam_settings;
pub mod iams;
pub mod internal_groups;
pub mod lifecycle;
pub mod paging;
pub mod patch;
pub mod permissions;
pub mod roles;
pub mod schema_extensions;
pub mod scim_admin;
pub mod search;
pub mod stream;
pub mod subscriptions;
pub mod transfer;
pub mod usage;
pub mod users;

pub use crate::ids;
use crate::ids::IamId;
pub use error::{Error, Invalid, Result, UNAVAILABLE};
pub use paging::{ListResult, Paging};

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::scim::filter::FilterLimits;
use crate::store::DynStore;

/// The source of "now", injected so tests and daily rollups are deterministic.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;
/// The source of new ids (UUID v7 by default: ordered by creation).
pub type IdGen = Arc<dyn Fn() -> Uuid + Send + Sync>;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_results: u32,
    pub filter: FilterLimits,
    /// How long a cursor stays valid (RFC 9865 `cursorTimeout`).
    pub cursor_timeout_secs: u64,
    /// How long a verified SCIM token is trusted without a database read
    /// (a revocation takes effect within this); zero disables the cache.
    pub token_cache_ms: u64,
    /// Prefixes reported usage events may use (`metrics_event_prefixes`).
    pub metrics_event_prefixes: Vec<String>,
    pub metrics_max_events: usize,
    pub metrics_max_count: u64,
    /// Most operations one SCIM PATCH may hold.
    pub patch_max_operations: usize,
    /// Hosts event streams may send to over plain http.
    pub event_allow_http: Vec<String>,
    /// Internal hosts and networks event streams may reach.
    pub event_allow_private: Vec<String>,
    /// How long a delivery is retried before it is marked failed.
    pub event_retry_hours: u64,
    /// The `iss` of the Security Event Tokens this server signs: its
    /// `public_url`, else the address it listens on.
    pub event_issuer: String,
    /// The accounts one batch of a job re-evaluates, in one transaction
    /// (`job_batch_size`).
    pub job_batch_size: u64,
}

#[derive(Clone)]
pub struct Directory {
    pub store: DynStore,
    clock: Clock,
    ids: IdGen,
    /// Shared: every handler and middleware layer clones the state that
    /// holds this, several times a request.
    pub limits: Arc<Limits>,
    /// The admin-token signing key: the configured one, or the database's
    /// read once per process.
    signing_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    token_cache: Arc<crate::auth::token_cache::TokenCache>,
    /// IAM settings read in the last `token_cache_ms`: every create needs
    /// its IAM's default permissions.
    settings_cache: accounts::SettingsCache,
    /// Each IAM's User and Group resource types (its declared schema
    /// extensions), read in the last `token_cache_ms`.
    types_cache: accounts::SettingsCache<crate::scim::schema::custom::ResourceTypes>,
    /// The policies read in the last `token_cache_ms`, when one subscribes
    /// automatically: every SCIM write asks (`governance::automatic`).
    automatic_cache: governance::AutomaticCache,
    /// Wakes the job worker: a job was started here (`governance::jobs`).
    jobs_wake: Arc<tokio::sync::Notify>,
    /// Wakes the event delivery worker: a stream was created or changed.
    events_wake: Arc<tokio::sync::Notify>,
    /// Counts event deliveries (`/metrics`).
    event_meter: Arc<dyn events::meter::EventMeter>,
    /// The IAM administrators sign in from (`oidc_iam`, when OIDC is set
    /// up): its identity provider may change administrators' accounts; no
    /// other may.
    admin_source: Option<Arc<str>>,
    admin_source_id: Arc<tokio::sync::OnceCell<Uuid>>,
}

/// Who an operation acts for and where its resources live: the IAM whose
/// resources it may touch and the absolute SCIM base URL for `location`.
#[derive(Debug, Clone)]
pub struct Scope {
    pub iam: IamId,
    pub base_url: String,
    /// The request's id, for the audit record of what it changes.
    pub request_id: Option<String>,
    /// The request's transaction id, for the audit records (and the
    /// events' `txn`) of what it changes.
    pub txn: Option<String>,
    /// Who acts when it is not the IAM's identity provider: an
    /// administrator (on `/Me`, or on internal groups) or the command line.
    pub acting: Option<crate::audit::Actor>,
    /// The IAM's User and Group resource types: the built-in ones with
    /// the schema extensions it declared.
    pub types: crate::scim::schema::custom::ResourceTypes,
}

impl Scope {
    /// Who changes what through this scope, for the audit: the IAM (its
    /// identity provider) unless someone else acts, in this request.
    /// [`changes`] names the action, the target and the attributes.
    pub fn audit(&self) -> crate::audit::Entry {
        let actor = self
            .acting
            .clone()
            .unwrap_or(crate::audit::Actor::Iam(self.iam.uuid()));
        crate::audit::Entry::new(actor, "")
            .request(self.request_id.clone())
            .txn(self.txn.clone())
    }

    /// The scope of one operation of a Bulk request: its transaction is
    /// the request's with `:<index>` (RFC 9967 §2.5.1.2).
    pub fn operation(&self, index: usize) -> Scope {
        Scope {
            txn: self.txn.as_ref().map(|t| format!("{t}:{index}")),
            ..self.clone()
        }
    }

    /// Whether the IAM's identity provider itself is acting (its SCIM
    /// token), rather than an administrator or the operator.
    pub fn is_identity_provider(&self) -> bool {
        self.acting.is_none()
    }
}

impl Directory {
    pub fn new(store: DynStore, limits: Limits) -> Self {
        let settings_cache =
            accounts::SettingsCache::new(std::time::Duration::from_millis(limits.token_cache_ms));
        let types_cache =
            accounts::SettingsCache::new(std::time::Duration::from_millis(limits.token_cache_ms));
        let automatic_cache = governance::AutomaticCache::new(std::time::Duration::from_millis(
            limits.token_cache_ms,
        ));
        let token_cache = crate::auth::token_cache::TokenCache::new(
            std::time::Duration::from_millis(limits.token_cache_ms),
        );
        Directory {
            store,
            clock: Arc::new(OffsetDateTime::now_utc),
            ids: Arc::new(Uuid::now_v7),
            limits: Arc::new(limits),
            signing_key: Arc::default(),
            token_cache: Arc::new(token_cache),
            settings_cache,
            types_cache,
            automatic_cache,
            jobs_wake: Arc::default(),
            events_wake: Arc::default(),
            event_meter: Arc::new(events::meter::NoMeter),
            admin_source: None,
            admin_source_id: Arc::default(),
        }
    }

    /// Whether anything else uses the database now (a connection taken):
    /// background work (a governance job's batches, event deliveries)
    /// asks this after giving back its own, to leave the writer to
    /// requests while they queue.
    pub(crate) fn others_at_work(&self) -> bool {
        self.store.pool_stats().iter().any(|p| p.idle < p.size)
    }

    /// Names the IAM administrators sign in from (see `admin_source`).
    pub fn with_admin_source(mut self, iam: Option<String>) -> Self {
        self.admin_source = iam.map(Arc::from);
        self.admin_source_id = Arc::default();
        self
    }

    /// Whether `iam` is the IAM administrators sign in from.
    pub async fn is_admin_source(&self, iam: Uuid) -> Result<bool> {
        let Some(name) = &self.admin_source else {
            return Ok(false);
        };
        let found = self
            .admin_source_id
            .get_or_try_init(|| async {
                match self.store.iam_by_name(name).await {
                    Ok(Some(i)) => Ok(i.id),
                    Ok(None) => Err(None),
                    Err(e) => Err(Some(e)),
                }
            })
            .await;
        match found {
            Ok(id) => Ok(*id == iam),
            Err(None) => Ok(false),
            Err(Some(e)) => Err(e.into()),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Signs admin tokens with this key instead of the database's (which
    /// is then neither read nor created).
    pub fn with_signing_key(mut self, key: Vec<u8>) -> Self {
        self.signing_key = Arc::new(tokio::sync::OnceCell::new_with(Some(key)));
        self
    }

    pub fn with_ids(mut self, ids: IdGen) -> Self {
        self.ids = ids;
        self
    }

    pub fn now(&self) -> OffsetDateTime {
        // Microseconds are what both databases keep: round here so that what
        // a write returns equals what a later read returns.
        let t = (self.clock)();
        t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
            .unwrap_or(t)
    }

    /// A new id, as the id type the caller needs.
    pub fn new_id<T: From<Uuid>>(&self) -> T {
        T::from((self.ids)())
    }

    /// The key admin tokens are signed with: the configured one, else the
    /// database's (created on first use, so that every process on one
    /// database shares it).
    pub async fn signing_key(&self) -> Result<&[u8]> {
        let key = self
            .signing_key
            .get_or_try_init(|| async { self.store.signing_key().await })
            .await?;
        Ok(key)
    }
}

/// Parses an id from a URL as the id type the call needs (`UserId`,
/// `GroupId`); an id that is not a UUID names nothing here.
pub fn parse_id<T: From<Uuid>>(id: &str) -> Result<T> {
    Uuid::parse_str(id)
        .map(T::from)
        .map_err(|_| Error::not_found(format!("no resource with id '{}'", truncate(id))))
}

/// Caps what is echoed back of client input.
pub fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// A moment as the admin API and the console show it: RFC 3339 text on
/// the wire and on the page, the time itself for whoever computes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Timestamp(pub OffsetDateTime);

impl Timestamp {
    /// Its calendar day, as the lists show it (2026-01-31).
    pub fn day(&self) -> time::Date {
        self.0.date()
    }

    /// To the second, in UTC, as a page shows it before the browser puts
    /// it in its own zone (2026-01-31 09:05:00 UTC).
    pub fn to_second(&self) -> String {
        let t = self.0.to_offset(time::UtcOffset::UTC);
        let (y, mo, d) = (t.year(), t.month() as u8, t.day());
        let (h, mi, s) = (t.hour(), t.minute(), t.second());
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rfc3339(self.0))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(self.0))
    }
}

pub use crate::scim::etag::format as etag;
