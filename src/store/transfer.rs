//! Export and import of the whole directory (users, groups, memberships,
//! grants, managed attributes, subscriptions with their source, IAMs,
//! custom permissions, and governance: tags, policies, data sources) as
//! storage rows, and the online backup of a SQLite database. Export reads
//! one snapshot page by page in key order (keyset, never OFFSET); import
//! writes a batch in one transaction, all of it or none of it. Nothing here
//! knows the file format: `directory::transfer` turns rows into lines.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::{Grant, LinkedSubscription, PermissionDef};
use super::governance::{DataSource, StoredPolicy, Tag};
use super::{GroupWrite, MemberKind, Result, UserWrite};
use crate::audit::Entry;

#[derive(Debug, Clone, PartialEq)]
pub struct IamRecord {
    pub id: Uuid,
    pub name: String,
    pub display_name: Option<String>,
    pub created: OffsetDateTime,
    pub settings: Value,
    /// The schema extensions it declares (a JSON array).
    pub schema_extensions: Value,
}

/// A managed attribute value and when it was added.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AttributeValue {
    pub key: String,
    pub value: String,
    pub added: OffsetDateTime,
}

/// A user as storage keeps it, with what the internal IAM owns of it.
/// The password hash is never exported (a secret); an import keeps the one
/// an existing user has.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: Uuid,
    pub iam: Option<Uuid>,
    pub deprovisioned_from: Option<Uuid>,
    pub deprovisioned: Option<OffsetDateTime>,
    pub doc: Value,
    pub disabled: bool,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub version: i64,
    /// Stored grants (direct, iam-default), sorted by permission, source.
    pub grants: Vec<Grant>,
    /// Managed attributes, sorted by key, value.
    pub attributes: Vec<AttributeValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub id: Uuid,
    pub iam: Uuid,
    pub doc: Value,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub version: i64,
    pub attributes: Vec<AttributeValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MembershipRecord {
    pub group: Uuid,
    pub member: Uuid,
    pub kind: MemberKind,
    pub added: OffsetDateTime,
}

/// One row of an export, in the order an import needs them: IAMs and
/// custom permissions before the users that name them, tags (each parent
/// before its children) before the policies and data sources that name
/// them, users and groups before memberships, users before the data
/// sources they own, data sources before the subscriptions that name
/// them. A data source's tags and owners are sorted.
#[derive(Debug, Clone)]
pub enum ExportRecord {
    Iam(IamRecord),
    Permission(PermissionDef),
    Tag(Tag),
    Policy(StoredPolicy),
    User(UserRecord),
    Group(GroupRecord),
    Membership(MembershipRecord),
    DataSource(DataSource),
    Subscription(LinkedSubscription),
}

/// One write of an import. Users and groups carry their indexed columns
/// and search document, derived from the document by the directory. Tags
/// and policies are matched by name and key (the target's ids stay),
/// data sources by id. A subscription without `data_source_id` is linked
/// by its name, as an administrator's is.
#[derive(Debug, Clone)]
pub enum ImportItem {
    Iam(IamRecord),
    Permission(PermissionDef),
    Tag(Tag),
    Policy(StoredPolicy),
    User(Box<(UserRecord, UserWrite)>),
    Group(Box<(GroupRecord, GroupWrite)>),
    Membership(MembershipRecord),
    DataSource(DataSource),
    Subscription(LinkedSubscription),
}

/// The domain's audit records of an import batch, given the outcome of
/// each item (in item order): storage calls it inside the batch's
/// transaction, once every item is applied, and appends what it returns.
pub type ImportRecords<'a> = dyn Fn(&[Outcome]) -> Vec<Entry> + Sync + 'a;

/// What an import did with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// Already there exactly so: nothing written.
    Unchanged,
    Updated,
}

/// The failure of one item of a batch: its index and why. The batch's
/// transaction was rolled back; nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailed {
    pub index: usize,
    pub reason: String,
}

pub type ExportStream<'a> = BoxStream<'a, Result<Vec<ExportRecord>>>;

#[async_trait]
pub trait Transfer: Send + Sync {
    /// Every row, in pages of about `page` rows, read from one snapshot
    /// (a single read transaction) so that a server writing meanwhile
    /// yields a consistent export.
    fn export(&self, page: u64) -> ExportStream<'_>;
    /// Applies a batch in one transaction: each item is created, left
    /// unchanged (and not written) or updated to exactly what it says,
    /// and the records `records` makes of the outcomes are appended in
    /// it. A batch that changed nothing writes nothing. The outer error is
    /// the transaction's own failure; the inner one names the first item
    /// that failed, and then nothing of the batch was written.
    async fn import(
        &self,
        items: &[ImportItem],
        records: &ImportRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<Vec<Outcome>, ItemFailed>>;
    /// Writes a consistent copy of the database to `path` (a file that
    /// must not exist) while the server keeps serving. SQLite only.
    async fn backup_into(&self, path: &std::path::Path) -> Result<()>;
}

/// Sorts what two databases may return in different collations into one
/// order, so that records compare equal whichever database they came from.
pub(crate) fn canonical_order(grants: &mut [Grant], attributes: &mut [AttributeValue]) {
    grants.sort_by(|a, b| (&a.permission, &a.source).cmp(&(&b.permission, &b.source)));
    attributes.sort_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
}
