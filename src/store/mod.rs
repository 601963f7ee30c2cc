//! Storage: a trait per concept, together [`Store`]; two backends (SQLite,
//! PostgreSQL). Each method is one operation in one transaction. Nothing
//! above this module sees SQL; nothing in it knows HTTP or SCIM documents
//! beyond the stored JSON.

/// Declares a trait that is all of the listed ones, implemented by every
/// type that implements them: one name for a layer made of many traits.
macro_rules! all_of {
    ($(#[$doc:meta])* $name:ident: $($part:path),+ $(,)?) => {
        $(#[$doc])*
        pub trait $name: $($part +)+ Send + Sync + 'static {}
        impl<T: $($part +)+ Send + Sync + 'static> $name for T {}
    };
}

pub mod account_list;
pub mod accounts;
pub mod attempt;
pub mod events;
pub mod governance;
pub mod migrations;
pub mod nesting;
pub mod postgres;
pub mod read_scaling;
pub mod roles;
pub mod sessions;
pub mod sql;
pub mod sql_filter;
pub mod sqlite;
pub mod transfer;
mod url;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::Entry;
use crate::ids::{GroupId, IamId, UserId};
pub use url::redact_url;

/// What can go wrong in storage, in terms the domain layer can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused the write; the name says which one.
    #[error("unique constraint {0} violated")]
    Conflict(&'static str),
    /// The row changed since the caller read it (optimistic concurrency).
    #[error("version mismatch")]
    VersionMismatch,
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot take the request now but may shortly (see
    /// `attempt::is_transient`): a failover, a restart, a standby.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The filter cannot be translated for this database.
    #[error("{0}")]
    Filter(crate::scim::ScimError),
    #[error("{0}")]
    Config(String),
    /// A membership would put groups in a cycle or nest them too deep.
    #[error("{0}")]
    Nesting(nesting::NestingRefusal),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if attempt::is_transient(&e) {
            attempt::unavailable(e.to_string())
        } else {
            StoreError::Database(e)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Iam {
    pub id: Uuid,
    pub name: String,
    pub display_name: Option<String>,
    pub created: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub id: Uuid,
    pub iam_id: Uuid,
    pub iam_name: String,
    pub label: Option<String>,
    pub created: OffsetDateTime,
    pub revoked: Option<OffsetDateTime>,
    /// When it last authenticated a request (to within a minute).
    pub last_used: Option<OffsetDateTime>,
}

/// What authentication needs to check a presented SCIM token.
#[derive(Debug, Clone)]
pub struct TokenSecret {
    pub iam_id: Uuid,
    pub secret_hash: Vec<u8>,
    pub revoked: bool,
    pub last_used: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: Uuid,
    pub iam_id: Uuid,
    pub label: Option<String>,
    pub secret_hash: Vec<u8>,
    pub created: OffsetDateTime,
}

/// The indexed columns and document of a user, as the domain hands them
/// to storage for a create or a replace.
#[derive(Debug, Clone)]
pub struct UserWrite {
    /// Validated, and folded for uniqueness, by the domain.
    pub user_name: crate::scim::user_name::UserName,
    pub external_id: Option<String>,
    pub display_name_folded: Option<String>,
    pub active: bool,
    /// The client-owned canonical document (no id, meta or groups).
    pub doc: Value,
    /// What filters and sorting read: `scim::search_doc::build(doc)`.
    pub search: Value,
    /// `Some(None)` clears the password, `None` keeps it.
    pub password_hash: Option<Option<String>>,
    /// A replace leaves the `user_emails` rows as they are: the domain saw
    /// that the stored document it replaces has the same `emails`. False
    /// rewrites them (always safe).
    pub emails_unchanged: bool,
    /// A replace leaves the row's keys (userName, externalId and
    /// displayName) as they are: the domain saw that the stored document it
    /// replaces has the same. The UPDATE then leaves their columns alone,
    /// and with them the pages of every index over them (SQLite rewrites
    /// an index whose column a statement assigns, even to the same value:
    /// a PATCH of `title` touched 15 pages instead of 10). False writes
    /// them (always safe).
    pub keys_unchanged: bool,
}

#[derive(Debug, Clone)]
pub struct GroupWrite {
    pub display_name: String,
    pub display_name_folded: String,
    pub external_id: Option<String>,
    /// The client-owned canonical document (no id, meta or members).
    pub doc: Value,
    /// What filters and sorting read: `scim::search_doc::build(doc)`.
    pub search: Value,
}

/// A PATCH of a group as storage applies it: the new document (None when
/// it did not change) and the member deltas: every member removed first
/// when `remove_all`, then `remove`, then `add`.
#[derive(Debug, Clone, Default)]
pub struct GroupPatch<'a> {
    pub group: Option<&'a GroupWrite>,
    pub add: &'a [(Uuid, MemberKind)],
    pub remove: &'a [Uuid],
    pub remove_all: bool,
}

/// One connection pool's use at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub pool: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Which members a membership delete keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Removes the listed members, keeps the others.
    Others,
    /// Keeps the listed members, removes the others.
    Listed,
}

/// What a group write changed in the members, as its transaction found
/// it: the members that were there and left, those that were not and
/// joined (removing one that is not there, or adding one that is, changes
/// nothing and is in neither list).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberDelta<'a> {
    pub removed: &'a [Uuid],
    pub added: &'a [Uuid],
}

/// The domain's audit records of a group write, given what it changed in
/// the members: storage calls it inside the write's transaction, once it
/// knows the delta, and appends what it returns. Records are the domain's
/// to decide; only the delta is storage's to find. Owned, since the write
/// may run on another task (SQLite's group commit).
pub type GroupRecords = Box<dyn FnOnce(&MemberDelta<'_>) -> Vec<Entry> + Send>;

/// The distinct email addresses of a user's search document (folded): the
/// rows of the `user_emails` index.
pub fn email_values(search: &Value) -> Vec<String> {
    let mut out: Vec<String> = search
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("value")?.as_str())
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A stored resource: its document plus the server-owned fields.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: Uuid,
    pub doc: Value,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    User,
    Group,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::User => "User",
            MemberKind::Group => "Group",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "User" => Some(MemberKind::User),
            "Group" => Some(MemberKind::Group),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: Uuid,
    pub kind: MemberKind,
    /// The member's userName or displayName, for `members[].display`.
    pub display: Option<String>,
}

/// A group a user belongs to, directly or through nested groups.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRef {
    pub id: Uuid,
    pub display_name: String,
    pub direct: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// The resource type's name ("User", "Group").
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
}

/// A list request after the domain layer has validated it.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<crate::scim::filter::Filter>,
    /// The resource type the filter was resolved against, when it is not
    /// the built-in one: an IAM's, with the schema extensions it declared.
    pub resource: Option<&'static crate::scim::schema::ResourceTypeDef>,
    /// Which rows of the ordered result the page holds.
    pub window: Window,
    /// 0 returns only the total.
    pub limit: u64,
    /// `sortBy`/`sortOrder`; None sorts by id.
    pub sort: Option<Sort>,
    /// The SCIM base URL (`https://host/scim/v2`) the resources'
    /// `meta.location` and `$ref`s start with: filters on those need it.
    pub base_url: Option<String>,
    /// The total matches, already known (a cursor walk counts them once,
    /// on its first page, and carries the figure): the store then returns
    /// it instead of counting every match again.
    pub known_total: Option<u64>,
}

/// A validated `sortBy` (a singular attribute, a sub-attribute, or a
/// sub-attribute of a multi-valued attribute) and its direction.
#[derive(Debug, Clone, Copy)]
pub struct Sort {
    pub path: crate::scim::filter::ResolvedPath,
    pub descending: bool,
}

/// Where a page starts. `Offset` skips rows (RFC 7644 `startIndex`);
/// `Keyset` continues from a row's position in the order (RFC 9865
/// cursors), so a page deep in the result costs what the first one does.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// 0-based offset.
    Offset(u64),
    /// None: the first page.
    Keyset(Option<Seek>),
}

impl Default for Window {
    fn default() -> Self {
        Window::Offset(0)
    }
}

/// The rows strictly (or, `inclusive`, also at) one side of a position.
#[derive(Debug, Clone, PartialEq)]
pub struct Seek {
    pub direction: Direction,
    pub inclusive: bool,
    pub from: Keyset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Later in the list's order: the next page.
    After,
    /// Earlier: the previous page.
    Before,
}

/// A row's position in a list's order: its sort key, as the database
/// computed it, and its id (the tie-break). `key` is None when the list is
/// ordered by id alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyset {
    pub key: Option<KeyValue>,
    pub id: Uuid,
}

/// A sort key value exactly as the database returned it, so that binding
/// it again compares equal to the row it came from: SQLite's dynamic types
/// (`Text`, `Int`, `Real`), PostgreSQL's native ones (`Text`, `Int`,
/// `Time`, `Bool`, and `Numeric` carried as its exact text form).
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    Null,
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
    Time(OffsetDateTime),
    Numeric(String),
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub total: u64,
    pub items: Vec<Stored>,
    /// Keyset windows: the positions of the first and last items.
    pub bounds: Option<(Keyset, Keyset)>,
    /// Keyset windows: whether rows lie beyond the page in the direction
    /// it was read (after it for a first or next page, before it for a
    /// previous page).
    pub more: bool,
}

/// Turns the rows of a keyset query (read `limit + 1` deep, in reversed
/// order for a previous page) into the page: drops the probe row, restores
/// the list's order, and records the bounds.
pub(crate) fn keyset_page(
    mut rows: Vec<(Stored, Keyset)>,
    limit: u64,
    reversed: bool,
) -> (Vec<Stored>, Option<(Keyset, Keyset)>, bool) {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    if reversed {
        rows.reverse();
    }
    let bounds = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => Some((f.1.clone(), l.1.clone())),
        _ => None,
    };
    (rows.into_iter().map(|(s, _)| s).collect(), bounds, more)
}

all_of!(
    /// All of storage, one object: each concept's trait, implemented once
    /// in the module of `sql/` that keeps it. Methods of the traits below
    /// are callable on a [`DynStore`] without importing them.
    Store: Database, Iams, Tokens, Users, Groups, Members, Lists, Bulk, accounts::Accounts,
        sessions::Sessions, transfer::Transfer, governance::Governance, events::Events, roles::Roles
);

/// The database itself: its health and its migrations.
#[async_trait]
pub trait Database: Send + Sync {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// Cheap round trip used by the health check.
    async fn ping(&self) -> Result<()>;
    /// Each connection pool's name, open connections and idle ones (for
    /// the operational metrics).
    fn pool_stats(&self) -> Vec<PoolStats>;
    /// The migrations recorded in the database (`/readyz`).
    async fn applied_migrations(&self) -> Result<Vec<migrations::Applied>>;
    /// The migrations this binary applies.
    fn embedded_migrations(&self) -> &'static sqlx::migrate::Migrator;
    /// The reader `id` (a principal, as `read_scaling::as_reader` ran a
    /// request) sent a write: its next scaled reads go to the primary
    /// until a replica has replayed it. Nothing without a read replica.
    async fn wrote_as(&self, id: Uuid);
    /// Where the scaled reads went, when there is a read replica.
    fn scaled_reads(&self) -> Option<read_scaling::ScaledReads>;
}

#[async_trait]
pub trait Iams: Send + Sync {
    /// Creates an IAM and appends `record` (the domain's, as given).
    async fn create_iam(
        &self,
        id: Uuid,
        name: &str,
        display_name: Option<&str>,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<Iam>;
    async fn list_iams(&self) -> Result<Vec<Iam>>;
    async fn iam_by_name(&self, name: &str) -> Result<Option<Iam>>;
}

/// SCIM tokens, and the key the server signs its own admin tokens with.
#[async_trait]
pub trait Tokens: Send + Sync {
    /// Stores a token and appends `record` as given.
    async fn create_token(&self, token: &NewToken, record: &Entry) -> Result<()>;
    async fn token_secret(&self, id: Uuid) -> Result<Option<TokenSecret>>;
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>>;
    /// Records that the token authenticated a request at `now`.
    async fn token_used(&self, id: Uuid, now: OffsetDateTime) -> Result<()>;
    /// Marks the token revoked and appends `record` as given; false (and
    /// no record) when there is no such token or it was revoked already.
    async fn revoke_token(&self, id: Uuid, record: &Entry, now: OffsetDateTime) -> Result<bool>;
    /// The key the server signs its own admin tokens with, created on first use.
    async fn signing_key(&self) -> Result<Vec<u8>>;
}

#[async_trait]
pub trait Users: Send + Sync {
    /// Creates a user with these grants (source `iam-default`; names not
    /// in the catalogue are skipped) and appends the domain's `records`.
    async fn create_user(
        &self,
        iam: IamId,
        id: UserId,
        user: &UserWrite,
        grants: &[String],
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Stored>;
    async fn get_user(&self, iam: IamId, id: UserId) -> Result<Option<Stored>>;
    /// A user and the groups it is in (as `groups_of_users` gives them),
    /// read together.
    async fn get_user_with_groups(
        &self,
        iam: IamId,
        id: UserId,
    ) -> Result<Option<(Stored, Vec<GroupRef>)>>;
    /// Replaces the document and indexed columns and appends `records`;
    /// with `if_version`, only if the stored version still equals it (the
    /// domain names the version whose document its records compare with).
    async fn replace_user(
        &self,
        iam: IamId,
        id: UserId,
        user: &UserWrite,
        if_version: Option<i64>,
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Stored>;
    /// The groups each user is in, directly or through nesting.
    async fn groups_of_users(
        &self,
        iam: IamId,
        users: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<GroupRef>>>;
    /// Inserts many new users in one transaction: bulk loads (benchmark
    /// setup, imports), where a transaction per user would cost a sync to
    /// disk each. All or nothing.
    async fn insert_users(
        &self,
        iam: IamId,
        users: &[(Uuid, UserWrite)],
        now: OffsetDateTime,
    ) -> Result<()>;
}

#[async_trait]
pub trait Groups: Send + Sync {
    /// Creates a group with these members and appends `records`.
    async fn insert_group(
        &self,
        iam: IamId,
        id: GroupId,
        group: &GroupWrite,
        members: &[(Uuid, MemberKind)],
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Stored>;
    async fn get_group(&self, iam: IamId, id: GroupId) -> Result<Option<Stored>>;
    /// Replaces the document and the whole member list, and appends the
    /// `records` the domain makes of the members that left and joined.
    // One transaction's inputs: the group, its members, the version it
    // must still have, and its records.
    #[allow(clippy::too_many_arguments)]
    async fn replace_group(
        &self,
        iam: IamId,
        id: GroupId,
        group: &GroupWrite,
        members: &[(Uuid, MemberKind)],
        if_version: Option<i64>,
        records: GroupRecords,
        now: OffsetDateTime,
    ) -> Result<Stored>;
    /// Applies a PATCH in one transaction, costing the rows it changes,
    /// never the group's size. Adding a member already there or removing
    /// one that is not changes nothing. The domain's `records` of the
    /// change are appended; the version and lastModified move only when
    /// there are any (a document that came back equal, and no member that
    /// came or went, is no change). With `if_version`, only if the stored
    /// version still equals it.
    async fn patch_group(
        &self,
        iam: IamId,
        id: GroupId,
        patch: &GroupPatch<'_>,
        if_version: Option<i64>,
        records: GroupRecords,
        now: OffsetDateTime,
    ) -> Result<Stored>;
    /// Deletes a group (its memberships both ways, its attributes) and
    /// appends `records`.
    async fn delete_group(
        &self,
        iam: IamId,
        id: GroupId,
        if_version: Option<i64>,
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<()>;
}

#[async_trait]
pub trait Members: Send + Sync {
    async fn group_members(&self, iam: IamId, group: GroupId) -> Result<Vec<Member>>;
    /// The members of a group, ordered by id, read from the database as
    /// the caller consumes them: a group of any size costs flat memory.
    /// Empty when the IAM has no such group.
    fn stream_members(&self, iam: IamId, group: GroupId) -> MemberStream<'_>;
    /// The number of members of a group, counted no further than `cap`
    /// (so that asking costs at most `cap` index entries).
    async fn count_members(&self, iam: IamId, group: GroupId, cap: u64) -> Result<u64>;
    /// Which of these ids are users or groups of the IAM.
    async fn resolve_members(&self, iam: IamId, ids: &[Uuid]) -> Result<HashMap<Uuid, MemberKind>>;
    /// The accounts among `ids` and the accounts in the groups among
    /// `ids`, directly or through nested groups (of any IAM), each once,
    /// at most `cap` of them: whom a change to those groups reaches.
    async fn accounts_within(&self, ids: &[Uuid], cap: u64) -> Result<Vec<Uuid>>;
}

/// Pages of users and groups, filtered and sorted.
#[async_trait]
pub trait Lists: Send + Sync {
    async fn list_users(&self, iam: IamId, query: &ListQuery) -> Result<ListPage>;
    async fn list_groups(&self, iam: IamId, query: &ListQuery) -> Result<ListPage>;
    /// The database's plan for the page query of a list (EXPLAIN QUERY
    /// PLAN / EXPLAIN), one line per step: what tests and docs show to
    /// prove a lookup or a cursor page uses an index.
    async fn explain_list(
        &self,
        kind: ResourceKind,
        iam: IamId,
        query: &ListQuery,
    ) -> Result<String>;
}

#[async_trait]
pub trait Bulk: Send + Sync {
    /// Creates users and groups (a run of SCIM Bulk POSTs) in one
    /// transaction, each item behind its own savepoint: an item that fails
    /// (a duplicate userName) is undone alone and reported in its slot,
    /// the others commit together, each exactly as `create_user` /
    /// `insert_group` would have written it, its records included. After
    /// `max_errors` failed items the rest are not attempted and get no
    /// slot. The outer error is the transaction's own failure: then
    /// nothing was written.
    async fn insert_batch(
        &self,
        iam: IamId,
        items: &[NewResource<'_>],
        max_errors: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Result<Stored>>>;
}

/// One create of a [`Bulk::insert_batch`], with the domain's records of
/// it (appended only if the item commits).
#[derive(Debug, Clone, Copy)]
pub enum NewResource<'a> {
    User {
        id: Uuid,
        user: &'a UserWrite,
        grants: &'a [String],
        records: &'a [Entry],
    },
    Group {
        id: Uuid,
        group: &'a GroupWrite,
        members: &'a [(Uuid, MemberKind)],
        records: &'a [Entry],
    },
}

/// Members as [`Members::stream_members`] reads them.
pub type MemberStream<'a> = futures_util::stream::BoxStream<'a, Result<Member>>;

pub type DynStore = Arc<dyn Store>;

/// Opens the database a URL names: `sqlite://PATH` or `postgres://...`.
pub async fn connect(url: &str, pool_size: u32) -> Result<DynStore> {
    connect_with_reads(url, pool_size, None).await
}

/// Like [`connect`]; with `read` (PostgreSQL only), list, search and
/// report reads may be served by that read replica (`read_scaling`).
pub async fn connect_with_reads(
    url: &str,
    pool_size: u32,
    read: Option<&read_scaling::ReadReplica>,
) -> Result<DynStore> {
    if read.is_some() && url.starts_with("sqlite:") {
        return Err(StoreError::Config(
            "a read replica needs PostgreSQL: SQLite has none".into(),
        ));
    }
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::connect(url, pool_size).await?,
        ))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(
            postgres::PgStore::connect(url, pool_size, read).await?,
        ))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL scheme (expected sqlite:// or postgres://): {}",
            redact_url(url)
        )))
    }
}
