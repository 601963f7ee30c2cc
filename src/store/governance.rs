//! Governance as storage keeps it (issue 18): tags, the data source
//! registry and global subscription policies. Every write appends the
//! domain's audit records in its own transaction; what a write must find
//! out race-free (which ancestors of a tag were missing, which tags a
//! data source did not carry yet, a policy's document before a change) is
//! handed to the domain's record closures inside that transaction.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Result;
use crate::audit::{Actor, Entry};
use crate::ids::DataSourceId;
use crate::store::accounts::{Account, LinkedSubscription, PolicySubscription};

/// The store's name for "a tag this write applies is deleted (or was
/// never created)": checked inside the write's transaction, so that a tag
/// deleted meanwhile is not applied.
pub const TAG_NOT_APPLICABLE: &str = "tag_not_applicable";

/// A tag. Named by its full dotted name; `id` names it in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub id: Uuid,
    pub name: String,
    /// The tag one level up (`Environment` for `Environment.Dev`).
    pub parent: Option<String>,
    pub description: Option<String>,
    pub created: OffsetDateTime,
    /// When it was deleted: it can no longer be applied, and stays where
    /// it is applied.
    pub deleted: Option<OffsetDateTime>,
}

/// The domain's records of the tags a write created, restored or
/// deleted, as its transaction found them.
pub type TagRecords<'a> = dyn Fn(&[Tag]) -> Vec<Entry> + Sync + 'a;

/// A registered data source: how it is tagged and who owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    pub id: DataSourceId,
    /// Unique among data sources.
    pub name: String,
    /// The tags on the data source itself, by name.
    pub tags: Vec<String>,
    /// In the order given.
    pub columns: Vec<Column>,
    /// Accounts that may tag it.
    pub owners: Vec<Uuid>,
    pub created: OffsetDateTime,
}

/// A registered data source as policies see it: its tags, and its
/// columns' tags (all columns together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedSource {
    pub id: DataSourceId,
    pub name: String,
    pub tags: Vec<String>,
    pub column_tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub tags: Vec<String>,
}

/// The domain's records of the tags a write put on a data source that it
/// did not carry yet.
pub type TaggedRecords<'a> = dyn Fn(&[String]) -> Vec<Entry> + Sync + 'a;

/// A global subscription policy: its canonical document, by its key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPolicy {
    pub id: Uuid,
    pub key: String,
    pub document: Value,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

/// The domain's record of a change to a policy, given the policy as it
/// was before the change (its id, its document).
pub type PolicyRecord<'a> = dyn Fn(&StoredPolicy) -> Entry + Sync + 'a;

all_of!(
    /// Governance, as storage keeps it: each concept's trait.
    Governance: Tags, DataSources, Policies, Jobs
);

/// A durable job: every account re-evaluated, a batch at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: Uuid,
    /// What it does: [`RESUBSCRIBE`].
    pub kind: String,
    /// `running` or `done`.
    pub state: String,
    /// Whose change started it: an administrator, an identity provider
    /// or the command line.
    pub actor: Actor,
    /// The last account done, in id order.
    pub cursor: Option<Uuid>,
    pub done: i64,
    /// The accounts there were when it started.
    pub total: i64,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

/// The kind of job that re-evaluates every account's automatic
/// subscriptions.
pub const RESUBSCRIBE: &str = "resubscribe";

#[async_trait]
pub trait Jobs: Send + Sync {
    /// Starts a job over every account (counted now): running, at the
    /// first account.
    async fn create_job(
        &self,
        id: Uuid,
        kind: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Job>;
    async fn job(&self, id: Uuid) -> Result<Option<Job>>;
    /// The latest `limit` jobs (in `state`, if given), newest first.
    async fn jobs(&self, state: Option<&str>, limit: u64) -> Result<Vec<Job>>;
    /// The oldest running job.
    async fn next_job(&self) -> Result<Option<Job>>;
    /// Whether a job is running.
    async fn job_running(&self) -> Result<bool>;
    /// Up to `limit` accounts after the account `after`, in id order.
    async fn accounts_after(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<MarkedAccount>>;
    /// The accounts of these ids that exist (a group's id is none).
    async fn accounts_by_id(&self, ids: &[Uuid]) -> Result<Vec<MarkedAccount>>;
    /// The policy subscriptions (`source` other than `manual`) of these
    /// accounts to registered data sources.
    async fn policy_subscriptions(&self, users: &[Uuid]) -> Result<Vec<LinkedSubscription>>;
    /// Accounts' policy subscriptions re-evaluated, in one transaction
    /// (on SQLite, one of the group commit's writes): removes each of
    /// `remove` (a subscription, its account, its record) that is still there and a policy's (a manual one never),
    /// then adds each of `add` (unless the account already holds a policy
    /// subscription to its data source), appending the audit record of
    /// each that changed something; with `progress`, the job's progress
    /// moves in the same transaction. First it moves the re-evaluation
    /// mark of each account of `marks` whose mark is still the one given
    /// (as read with the account, before its inputs): the others were
    /// re-evaluated meanwhile, so their changes are left out and they are
    /// returned, to be read and re-evaluated again. Only accounts of
    /// `marks` may be among `add` and `remove`.
    async fn resubscribe(
        &self,
        add: Vec<PolicySubscription>,
        remove: Vec<(Uuid, Uuid, Entry)>,
        marks: Vec<(Uuid, i64)>,
        progress: Option<Progress>,
        now: OffsetDateTime,
    ) -> Result<Vec<Uuid>>;
}

/// An account as a re-evaluation reads it, with its re-evaluation mark
/// (see [`Jobs::resubscribe`]).
#[derive(Debug, Clone)]
pub struct MarkedAccount {
    pub account: Account,
    pub mark: i64,
}

/// The store's name for "the job moved on meanwhile": another node did
/// the batch first; nothing of this one is written.
pub const JOB_MOVED: &str = "job_moved";

/// A batch of a job done: `n` more accounts, from the cursor `from` the
/// batch started at (Conflict([`JOB_MOVED`]) unless the job is still
/// there) up to `cursor`; `finished` ends the job.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub job: Uuid,
    pub from: Option<Uuid>,
    pub cursor: Option<Uuid>,
    pub n: i64,
    pub finished: bool,
}

#[async_trait]
pub trait Tags: Send + Sync {
    /// Creates the last tag of `chain` and whichever of the others (its
    /// ancestors, from the root down) are missing; a deleted one among
    /// them is restored (its id and creation kept; the last one takes the
    /// description given, the others keep theirs). The last tag already there and not deleted →
    /// Conflict("tags_name"). Appends what `records` makes of the tags
    /// created or restored, and returns them.
    async fn create_tag(
        &self,
        chain: &[Tag],
        records: &TagRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<Vec<Tag>>;
    /// Marks the tag and every tag below it deleted (those not deleted
    /// already), appends what `records` makes of them and returns them.
    /// NotFound when the tag is not there or deleted already.
    async fn delete_tag(
        &self,
        name: &str,
        records: &TagRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<Vec<Tag>>;
    /// A page of the tags not deleted whose folded name holds `search`
    /// (folded by the caller), by name, and the total of such tags.
    async fn list_tags(
        &self,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Tag>, u64)>;
    /// The tags of these names, deleted or not (missing names are left out).
    async fn tags_named(&self, names: &[String]) -> Result<Vec<Tag>>;
}

#[async_trait]
pub trait DataSources: Send + Sync {
    /// Registers a data source with its columns, tags and owners, links
    /// the subscriptions that name it by its name, and appends `records`.
    /// A taken name → Conflict("data_sources_name"); a tag deleted or
    /// unknown → Conflict([`TAG_NOT_APPLICABLE`]); an owner that is not an
    /// account → NotFound.
    async fn create_data_source(
        &self,
        source: &DataSource,
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<()>;
    /// A page of data sources, by name, and their total.
    async fn list_data_sources(&self, offset: u64, limit: u64) -> Result<(Vec<DataSource>, u64)>;
    /// Every registered data source's tags, in one read.
    async fn tagged_sources(&self) -> Result<Vec<TaggedSource>>;
    /// One registered data source's tags, in one read.
    async fn tagged_source(&self, id: DataSourceId) -> Result<Option<TaggedSource>>;
    async fn data_source(&self, id: DataSourceId) -> Result<Option<DataSource>>;
    /// Puts tags on a data source; those it carries already change
    /// nothing. Appends what `records` makes of the others and returns
    /// them. NotFound without the data source; a tag deleted or unknown →
    /// Conflict([`TAG_NOT_APPLICABLE`]).
    async fn tag_data_source(
        &self,
        id: DataSourceId,
        tags: &[String],
        records: &TaggedRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<Vec<String>>;
    /// Takes a tag off a data source (not off its columns) and appends
    /// `record`; false (and no record) when it did not carry it.
    async fn untag_data_source(
        &self,
        id: DataSourceId,
        tag: &str,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Removes a data source and appends `record`; its subscriptions stay,
    /// named by their text. False (and no record) when there is none.
    async fn delete_data_source(
        &self,
        id: DataSourceId,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool>;
}

#[async_trait]
pub trait Policies: Send + Sync {
    /// Stores a new policy and appends `record`; a key taken →
    /// Conflict("policies_key").
    async fn create_policy(&self, policy: &StoredPolicy, record: &Entry) -> Result<()>;
    /// Every policy, by key.
    async fn policies(&self) -> Result<Vec<StoredPolicy>>;
    async fn policy(&self, key: &str) -> Result<Option<StoredPolicy>>;
    /// Replaces a policy's document and appends what `record` makes of
    /// the policy as it was; NotFound when there is none.
    async fn replace_policy(
        &self,
        key: &str,
        document: &Value,
        record: &PolicyRecord<'_>,
        now: OffsetDateTime,
    ) -> Result<StoredPolicy>;
    /// Removes a policy and appends what `record` makes of it; NotFound
    /// when there is none.
    async fn delete_policy(
        &self,
        key: &str,
        record: &PolicyRecord<'_>,
        now: OffsetDateTime,
    ) -> Result<()>;
}
