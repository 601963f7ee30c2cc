//! What the internal IAM owns, as storage keeps it: IAM settings, the
//! permission catalogue and grants, managed attributes, subscriptions, the
//! account's lifecycle (disable, permanent delete, migration) and the audit
//! log. Every write appends its audit record in its own transaction.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Result;
use crate::audit::{Entry, Record};
use crate::ids::{DataSourceId, IamId, UserId};

/// Where a grant came from. Group-derived permissions are not stored: they
/// follow the groups an account is in, through its IAM's mapping.
pub const SOURCE_DIRECT: &str = "direct";
pub const SOURCE_IAM_DEFAULT: &str = "iam-default";

/// The built-in IAM (`bim`), created by the first migration.
pub const BUILT_IN_IAM_ID: IamId = IamId::new(Uuid::from_u128(1));

/// The store's name for "this change would leave no enabled USER_ADMIN".
/// The refusal to take the guarded permission (or the account holding it)
/// from the last enabled, active account holding it directly; see
/// [`LastAdmin`].
pub const LAST_USER_ADMIN: &str = "last_user_admin";

/// The last-admin check a write runs inside its transaction (race-free,
/// where the domain's own check is not). The domain names the permission
/// (USER_ADMIN: storage does not know what administers the directory) and
/// the accounts it found still holding it after the change through group
/// mappings, which storage cannot read: they count as other admins while
/// they are still enabled and active.
#[derive(Debug, Clone, Copy)]
pub struct LastAdmin<'a> {
    pub permission: &'a str,
    pub admins_after: &'a [Uuid],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionDef {
    pub name: String,
    pub description: String,
    pub builtin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub permission: String,
    pub source: String,
    pub granted: OffsetDateTime,
}

/// A user account as administrators see it, whichever IAM it is in.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: Uuid,
    /// The IAM whose identity provider manages it; None once detached.
    pub iam_id: Option<Uuid>,
    /// The IAM it was detached from when its identity provider deleted it.
    pub deprovisioned_from: Option<Uuid>,
    pub deprovisioned: Option<OffsetDateTime>,
    pub user_name: String,
    pub doc: Value,
    /// The identity provider's own `active`.
    pub active: bool,
    /// Disabled by an administrator.
    pub disabled: bool,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub version: i64,
    /// Bumped on disable, enable and revoke: admin tokens and console
    /// sessions issued under an older generation are refused.
    pub token_generation: i64,
}

impl Account {
    /// Enabled: neither disabled here nor detached from its identity provider.
    pub fn enabled(&self) -> bool {
        !self.disabled && self.deprovisioned.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountSort {
    #[default]
    UserName,
    Created,
    LastModified,
}

/// Where a page of accounts starts: just after the row with this id, or
/// (`before`) just before it. Either way the rows come back in list order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub id: Uuid,
    pub before: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    pub include_disabled: bool,
    pub iam: Option<Uuid>,
    /// Folded text matched anywhere in the userName or display name.
    pub search: Option<String>,
    pub permission: Option<String>,
    pub offset: u64,
    pub limit: u64,
    pub sort: AccountSort,
    pub descending: bool,
    /// Read from a row's position instead of skipping `offset` rows (a row
    /// since deleted: from the start).
    pub from: Option<Position>,
    /// Count a filtered list's matches only up to this many (more: the
    /// count returned is `cap + 1`).
    pub count_cap: Option<u64>,
}

/// What one administrator's request changes of an account, with the
/// domain's records of each kind of change.
#[derive(Clone, Copy)]
pub struct AccountChange<'a> {
    pub grants_add: &'a [(String, &'static str)],
    pub grants_remove: &'a [String],
    pub grant_records: &'a GrantRecords<'a>,
    pub attributes: &'a [AttributeOp],
    pub attribute_records: &'a AttributeRecords<'a>,
    pub disabled: Option<(bool, &'a Entry)>,
    pub last_admin: LastAdmin<'a>,
}

/// What a grant change did, as its transaction found it: the permissions
/// taken that were held, then those given that were not, in the order
/// asked (taking one not held, or giving one held, is in neither list).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrantDelta<'a> {
    pub removed: &'a [String],
    pub added: &'a [String],
}

/// The domain's audit records of a grant change, given what it did:
/// storage calls it inside the write's transaction and appends what it
/// returns.
pub type GrantRecords<'a> = dyn Fn(&GrantDelta<'_>) -> Vec<Entry> + Sync + 'a;

/// What one attribute operation did to its key, as the transaction found
/// it: whether the key lost values, whether it gained some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeDelta<'a> {
    pub key: &'a str,
    pub removed: bool,
    pub added: bool,
}

/// The domain's audit records of attribute operations, given what each
/// did (one delta per operation, in order): storage calls it inside the
/// write's transaction and appends what it returns.
pub type AttributeRecords<'a> = dyn Fn(&[AttributeDelta<'_>]) -> Vec<Entry> + Sync + 'a;

/// A change of the managed attribute layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeOp {
    Add {
        key: String,
        values: Vec<String>,
    },
    /// Removes these values, or the whole key when `values` is empty.
    Remove {
        key: String,
        values: Vec<String>,
    },
    Replace {
        key: String,
        values: Vec<String>,
    },
}

/// Which of a key's held values an attribute operation drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Discard {
    Nothing,
    /// The values the operation lists.
    These,
    /// Every value the operation does not list (all of them for none).
    AllBut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: Uuid,
    pub user_id: Uuid,
    pub data_source: String,
    pub role: String,
    pub subscribed: OffsetDateTime,
    pub expires: Option<OffsetDateTime>,
}

/// A subscription as an account's list shows it: with the registered data
/// source it names, if any (found by its name: see migration 0011).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedSubscription {
    pub subscription: Subscription,
    pub data_source_id: Option<DataSourceId>,
    /// Where it comes from: `manual`, or `policy:<policyKey>`.
    pub source: String,
}

/// A subscription a policy adds (to a registered data source), with where
/// it comes from (`policy:<policyKey>`) and its audit record.
#[derive(Debug, Clone)]
pub struct PolicySubscription {
    pub subscription: Subscription,
    pub data_source_id: DataSourceId,
    pub source: String,
    pub audit: Entry,
}

/// A move of an account to an IAM under a userName: the new identity
/// fields (document, search document) are computed by the directory.
#[derive(Debug, Clone)]
pub struct Migration<'a> {
    pub iam: Uuid,
    pub user: &'a super::UserWrite,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub target: Option<Uuid>,
    /// The rendered actor (`user:<id>`, `iam:<id>`, `cli`).
    pub actor: Option<String>,
    /// Records about any of these accounts or groups, or done by any of
    /// them: the target, or the actor `user:<id>`. An empty list matches
    /// nothing (a search for a person that found no one).
    pub people: Option<Vec<Uuid>>,
    pub action: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub offset: u64,
    pub limit: u64,
}

impl AuditQuery {
    /// The WHERE clause with only the conditions this query sets, `$1`
    /// onwards, and their values. (`$1 IS NULL OR target_id = $1` reads
    /// the same but no index serves it: every report scanned the whole log,
    /// which only grows.)
    pub(crate) fn filter(&self) -> (String, Vec<super::sql_filter::Bind>) {
        use super::sql_filter::Bind;
        let mut binds: Vec<Bind> = Vec::new();
        let mut arg = |b: Bind| {
            binds.push(b);
            format!("${}", binds.len())
        };
        let mut terms: Vec<String> = Vec::new();
        if let Some(t) = self.target {
            terms.push(format!("target_id = {}", arg(Bind::Uuid(t))));
        }
        if let Some(a) = &self.actor {
            terms.push(format!("actor = {}", arg(Bind::Text(a.clone()))));
        }
        if let Some(people) = &self.people {
            if people.is_empty() {
                terms.push("1 = 0".to_owned());
            } else {
                // Each side is served by its own index (target_id, seq and
                // actor, seq); one list per side keeps the types plain.
                let targets: Vec<String> = people.iter().map(|p| arg(Bind::Uuid(*p))).collect();
                let actors: Vec<String> = people
                    .iter()
                    .map(|p| arg(Bind::Text(format!("user:{p}"))))
                    .collect();
                terms.push(format!(
                    "(target_id IN ({}) OR actor IN ({}))",
                    targets.join(", "),
                    actors.join(", ")
                ));
            }
        }
        if let Some(a) = &self.action {
            terms.push(format!("action = {}", arg(Bind::Text(a.clone()))));
        }
        if let Some(t) = self.from {
            terms.push(format!("at >= {}", arg(Bind::Time(t))));
        }
        if let Some(t) = self.to {
            terms.push(format!("at < {}", arg(Bind::Time(t))));
        }
        let sql = if terms.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", terms.join(" AND "))
        };
        (sql, binds)
    }
}

all_of!(
    /// What the internal IAM owns, as storage keeps it: each concept's trait.
    Accounts: IamSettings, Grants, AccountList, Lifecycle, Lookups, Attributes, Subscriptions,
        AuditLog, Usage
);

#[async_trait]
pub trait IamSettings: Send + Sync {
    async fn iam_settings(&self, iam: Uuid) -> Result<Option<Value>>;
    async fn set_iam_settings(
        &self,
        iam: Uuid,
        settings: &Value,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// The schema extensions the IAM declared (a JSON array), None
    /// without such an IAM.
    async fn iam_schema_extensions(&self, iam: Uuid) -> Result<Option<Value>>;
    async fn set_iam_schema_extensions(
        &self,
        iam: Uuid,
        extensions: &Value,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()>;
}

/// The permission catalogue and the grants of accounts.
#[async_trait]
pub trait Grants: Send + Sync {
    async fn permission_catalogue(&self) -> Result<Vec<PermissionDef>>;
    /// Adds a custom permission; an existing name → Conflict("permissions_name").
    async fn add_permission(
        &self,
        def: &PermissionDef,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn grants(&self, user: Uuid) -> Result<Vec<Grant>>;
    /// Adds grants (permission, source) and removes direct and default
    /// grants of the named permissions, in one transaction. Refuses with
    /// Conflict(LAST_USER_ADMIN) to take the guarded permission from the
    /// last enabled account holding it; an unknown permission → NotFound.
    async fn change_grants(
        &self,
        user: Uuid,
        add: &[(String, &'static str)],
        remove: &[String],
        last_admin: LastAdmin<'_>,
        records: &GrantRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<()>;
}

#[async_trait]
pub trait AccountList: Send + Sync {
    async fn account(&self, id: Uuid) -> Result<Option<Account>>;
    /// A page of accounts and the list's total (see `AccountQuery::count_cap`).
    async fn list_accounts(&self, q: &AccountQuery) -> Result<(Vec<Account>, u64)>;
    /// The database's plans for the page and total queries of a list, one
    /// line per step: what tests show to prove the list uses an index.
    async fn explain_accounts(&self, q: &AccountQuery) -> Result<String>;
}

/// An account's fate: disable, revoke, delete, deprovision, migrate.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// Several changes of one account in one transaction (an
    /// administrator's SCIM PATCH): all of them, or none when one is
    /// refused. Each part behaves as `change_grants`, `patch_attributes`
    /// and `set_disabled` would.
    async fn change_account(
        &self,
        user: Uuid,
        change: &AccountChange<'_>,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Disables or enables; refuses to disable the last enabled admin.
    /// When the state changes, the account's token generation is bumped and
    /// its console sessions end: what was issued before does not come back.
    async fn set_disabled(
        &self,
        user: Uuid,
        disabled: bool,
        last_admin: LastAdmin<'_>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Bumps the account's token generation and ends its console sessions:
    /// every admin token and session issued so far stops working.
    async fn revoke_sessions(&self, user: Uuid, audit: &Entry, now: OffsetDateTime) -> Result<()>;
    /// Removes the account and everything attached to it (grants,
    /// attributes, memberships, subscriptions); the audit keeps the event.
    /// Refuses for the last enabled admin.
    /// With `scim`, only an account of that IAM (and, with a version, only
    /// if the stored version equals it): an identity provider's DELETE.
    async fn delete_account(
        &self,
        user: UserId,
        scim: Option<(IamId, Option<i64>)>,
        last_admin: LastAdmin<'_>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// An identity provider's DELETE that keeps the account: detaches it
    /// from the IAM (its userName is free there, its token no longer sees
    /// it), drops its memberships in that IAM's groups, keeps everything
    /// the internal IAM owns.
    async fn deprovision_user(
        &self,
        iam: IamId,
        user: UserId,
        if_version: Option<i64>,
        last_admin: LastAdmin<'_>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Moves the account to another IAM under a new userName, keeping its id
    /// and all that the internal IAM owns; memberships in the groups of the
    /// IAM it leaves go (they were that identity provider's), except the
    /// built-in IAM's internal groups. A taken userName →
    /// Conflict("users_iam_user_name").
    async fn migrate_account(
        &self,
        user: Uuid,
        to: &Migration<'_>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()>;
}

/// The few looks at groups the internal IAM's screens need.
#[async_trait]
pub trait Lookups: Send + Sync {
    async fn group_exists(&self, id: Uuid) -> Result<bool>;
    /// The IAM a group belongs to; None when there is no such group.
    async fn group_iam(&self, id: Uuid) -> Result<Option<Uuid>>;
    /// When the user joined each group it is directly in.
    async fn membership_dates(
        &self,
        user: Uuid,
    ) -> Result<std::collections::HashMap<Uuid, OffsetDateTime>>;
}

/// What [`Attributes::account_inputs`] reads of an account.
#[derive(Debug, Clone, Default)]
pub struct AccountInputs {
    /// Its groups with their IAM, by folded name (bytewise) and id.
    pub groups: Vec<(IamId, super::GroupRef)>,
    /// Its stored grants, by permission and source.
    pub grants: Vec<Grant>,
    /// The managed attributes of it and its groups: (owner, key, value),
    /// by owner, key and value.
    pub attributes: Vec<(Uuid, String, String)>,
}

/// The managed attributes of users and groups.
#[async_trait]
pub trait Attributes: Send + Sync {
    /// The managed attributes of these users and groups, read together:
    /// (owner, key, value), by owner, key and value.
    async fn attributes(&self, owners: &[Uuid]) -> Result<Vec<(Uuid, String, String)>>;
    /// What an account's permissions and its decisions read of it, in one
    /// statement (the account's row is read beside it): the groups it is
    /// in, directly or through nesting, of its identity provider and the
    /// built-in IAM; its stored grants; and, with `attributes`, the
    /// managed attributes of it and of those groups. Empty for an id that
    /// is no account's.
    async fn account_inputs(&self, user: Uuid, attributes: bool) -> Result<AccountInputs>;
    /// Applies the operations in order, in one transaction.
    async fn patch_attributes(
        &self,
        owner: Uuid,
        ops: &[AttributeOp],
        records: &AttributeRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<()>;
}

#[async_trait]
pub trait Subscriptions: Send + Sync {
    async fn subscriptions(&self, user: Uuid) -> Result<Vec<LinkedSubscription>>;
    /// Stores a subscription, linked to the registered data source of its
    /// `data_source` name if there is one (its id is returned), and
    /// appends `audit`.
    async fn add_subscription(
        &self,
        s: &Subscription,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<Option<DataSourceId>>;
    /// A registered data source's subscriptions, oldest first: a page
    /// and how many there are.
    async fn subscribers(
        &self,
        data_source: DataSourceId,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<LinkedSubscription>, u64)>;
    /// Whether it existed (and was removed).
    async fn remove_subscription(
        &self,
        user: UserId,
        id: Uuid,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool>;
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Records an attempt that changed nothing (a refusal), in its own
    /// transaction.
    async fn audit_append(&self, audit: &Entry, now: OffsetDateTime) -> Result<()>;
    /// A page of the records a report asks for, newest first, and their total.
    async fn audit_records(&self, q: &AuditQuery) -> Result<(Vec<Record>, u64)>;
    /// The records with `seq` > `after`, at most `limit`, in order.
    async fn audit_chain(&self, after: i64, limit: u64) -> Result<Vec<Record>>;
    /// The chain's head: last seq and hash.
    async fn audit_head(&self) -> Result<(i64, String)>;
}

/// Usage counts reported by applications, per UTC day and name.
#[async_trait]
pub trait Usage: Send + Sync {
    /// Adds reported counts (names already validated) to a day's usage, in
    /// one transaction: all of them or none.
    async fn add_usage(&self, day: time::Date, counts: &[(String, i64)]) -> Result<()>;
    /// The usage counts of the UTC days `from..=to`: (day, name, count),
    /// by day, then name.
    async fn usage(
        &self,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<(time::Date, String, i64)>>;
}
