//! Export and import of the whole directory (users, groups, memberships,
//! grants, managed attributes, subscriptions, IAMs, custom permissions) as
//! storage rows, and the online backup of a SQLite database. Export reads
//! one snapshot page by page in key order (keyset, never OFFSET); import
//! writes a batch in one transaction, all of it or none of it. Nothing here
//! knows the file format: `directory::transfer` turns rows into lines.

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::{Grant, PermissionDef, Subscription};
use super::{GroupWrite, MemberKind, Result, StoreError, UserWrite};
use crate::audit::Entry;

#[derive(Debug, Clone, PartialEq)]
pub struct IamRecord {
    pub id: Uuid,
    pub name: String,
    pub display_name: Option<String>,
    pub created: OffsetDateTime,
    pub settings: Value,
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
/// custom permissions before the users that name them, users and groups
/// before memberships, users before subscriptions.
#[derive(Debug, Clone)]
pub enum ExportRecord {
    Iam(IamRecord),
    Permission(PermissionDef),
    User(UserRecord),
    Group(GroupRecord),
    Membership(MembershipRecord),
    Subscription(Subscription),
}

/// One write of an import. Users and groups carry their indexed columns
/// and search document, derived from the document by the directory.
#[derive(Debug, Clone)]
pub enum ImportItem {
    Iam(IamRecord),
    Permission(PermissionDef),
    User(Box<(UserRecord, UserWrite)>),
    Group(Box<(GroupRecord, GroupWrite)>),
    Membership(MembershipRecord),
    Subscription(Subscription),
}

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
    /// unchanged (and not written) or updated to exactly what it says.
    /// Each created or updated item appends an audit record
    /// (`audit.actor`, action `<kind>.imported`). The outer error is the
    /// transaction's own failure; the inner one names the first item that
    /// failed, and then nothing of the batch was written.
    async fn import(
        &self,
        items: &[ImportItem],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<Vec<Outcome>, ItemFailed>>;
    /// Writes a consistent copy of the database to `path` (a file that
    /// must not exist) while the server keeps serving. SQLite only.
    async fn backup_into(&self, path: &std::path::Path) -> Result<()>;
}

/// Reads the pages of an export from one snapshot; a backend implements it
/// over its read transaction.
#[async_trait]
pub(crate) trait ExportReader: Send + 'static {
    async fn iams(&mut self) -> Result<Vec<IamRecord>>;
    async fn custom_permissions(&mut self) -> Result<Vec<PermissionDef>>;
    async fn users(&mut self, after: Option<Uuid>, limit: u64) -> Result<Vec<UserRecord>>;
    async fn groups(&mut self, after: Option<Uuid>, limit: u64) -> Result<Vec<GroupRecord>>;
    async fn memberships(
        &mut self,
        after: Option<(Uuid, Uuid)>,
        limit: u64,
    ) -> Result<Vec<MembershipRecord>>;
    async fn subscriptions(&mut self, after: Option<Uuid>, limit: u64)
    -> Result<Vec<Subscription>>;
}

/// Where an export stands: the next table and the key read last in it.
enum Phase {
    Start,
    Users(Option<Uuid>),
    Groups(Option<Uuid>),
    Members(Option<(Uuid, Uuid)>),
    Subscriptions(Option<Uuid>),
    Done,
}

/// The pages of an export, read through `open`'s reader in key order.
pub(crate) fn export_pages<R, F>(open: F, page: u64) -> ExportStream<'static>
where
    R: ExportReader,
    F: std::future::Future<Output = Result<R>> + Send + 'static,
{
    let page = page.max(1);
    let start = (None::<R>, Phase::Start, Some(open));
    stream::try_unfold(start, move |(reader, phase, open)| async move {
        let mut reader = match reader {
            Some(r) => r,
            None => match open {
                Some(f) => f.await?,
                None => return Ok(None),
            },
        };
        let mut phase = phase;
        loop {
            let (rows, next) = match phase {
                Phase::Start => {
                    let mut rows: Vec<ExportRecord> = reader
                        .iams()
                        .await?
                        .into_iter()
                        .map(ExportRecord::Iam)
                        .collect();
                    rows.extend(
                        reader
                            .custom_permissions()
                            .await?
                            .into_iter()
                            .map(ExportRecord::Permission),
                    );
                    (rows, Phase::Users(None))
                }
                Phase::Users(after) => {
                    let rows = reader.users(after, page).await?;
                    let next = match rows.last() {
                        Some(last) if rows.len() as u64 == page => Phase::Users(Some(last.id)),
                        _ => Phase::Groups(None),
                    };
                    (rows.into_iter().map(ExportRecord::User).collect(), next)
                }
                Phase::Groups(after) => {
                    let rows = reader.groups(after, page).await?;
                    let next = match rows.last() {
                        Some(last) if rows.len() as u64 == page => Phase::Groups(Some(last.id)),
                        _ => Phase::Members(None),
                    };
                    (rows.into_iter().map(ExportRecord::Group).collect(), next)
                }
                Phase::Members(after) => {
                    let rows = reader.memberships(after, page).await?;
                    let next = match rows.last() {
                        Some(last) if rows.len() as u64 == page => {
                            Phase::Members(Some((last.group, last.member)))
                        }
                        _ => Phase::Subscriptions(None),
                    };
                    (
                        rows.into_iter().map(ExportRecord::Membership).collect(),
                        next,
                    )
                }
                Phase::Subscriptions(after) => {
                    let rows = reader.subscriptions(after, page).await?;
                    let next = match rows.last() {
                        Some(last) if rows.len() as u64 == page => {
                            Phase::Subscriptions(Some(last.id))
                        }
                        _ => Phase::Done,
                    };
                    (
                        rows.into_iter().map(ExportRecord::Subscription).collect(),
                        next,
                    )
                }
                Phase::Done => return Ok(None),
            };
            phase = next;
            if !rows.is_empty() {
                return Ok(Some((rows, (Some(reader), phase, None))));
            }
        }
    })
    .boxed()
}

/// Sorts what two databases may return in different collations into one
/// order, so that records compare equal whichever database they came from.
pub(crate) fn canonical_order(grants: &mut [Grant], attributes: &mut [AttributeValue]) {
    grants.sort_by(|a, b| (&a.permission, &a.source).cmp(&(&b.permission, &b.source)));
    attributes.sort_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
}

/// The audit action of an imported item.
pub(crate) fn imported_entry(audit: &Entry, item: &ImportItem) -> Entry {
    let mut e = audit.clone();
    match item {
        ImportItem::Iam(r) => {
            e = e.target("Iam", r.id);
            e.action = "iam.imported";
        }
        ImportItem::Permission(_) => e.action = "permission.imported",
        ImportItem::User(b) => {
            e = e.target("User", b.0.id);
            e.action = "user.imported";
        }
        ImportItem::Group(b) => {
            e = e.target("Group", b.0.id);
            e.action = "group.imported";
        }
        ImportItem::Membership(m) => {
            e = e.target("Group", m.group).attributes(["members"]);
            e.action = "membership.imported";
        }
        ImportItem::Subscription(s) => {
            e = e.target("User", s.user_id).attributes(["subscriptions"]);
            e.action = "subscription.imported";
        }
    }
    e
}

/// Audit records for the items an import changed: one per item, except
/// that a run of membership rows of one group is one record.
pub(crate) fn imported_entries(
    audit: &Entry,
    items: &[ImportItem],
    outcomes: &[Outcome],
) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut last_group = None;
    for (item, outcome) in items.iter().zip(outcomes) {
        if *outcome == Outcome::Unchanged {
            continue;
        }
        if let ImportItem::Membership(m) = item {
            if last_group == Some(m.group) {
                continue;
            }
            last_group = Some(m.group);
        } else {
            last_group = None;
        }
        out.push(imported_entry(audit, item));
    }
    out
}

/// The row operations an import needs, inside one write transaction; a
/// backend implements them, [`apply_batch`] decides which to run.
#[async_trait]
pub(crate) trait ImportWriter: Send {
    async fn iam_by_name(&mut self, name: &str) -> Result<Option<IamRecord>>;
    async fn insert_iam(&mut self, r: &IamRecord) -> Result<()>;
    /// Sets the display name and settings of the IAM with this id.
    async fn update_iam(&mut self, id: Uuid, r: &IamRecord) -> Result<()>;
    async fn permission(&mut self, name: &str) -> Result<Option<PermissionDef>>;
    async fn insert_permission(&mut self, p: &PermissionDef, now: OffsetDateTime) -> Result<()>;
    async fn update_permission(&mut self, p: &PermissionDef) -> Result<()>;
    /// The users with these ids, with their grants and attributes.
    async fn users_by_ids(&mut self, ids: &[Uuid]) -> Result<Vec<UserRecord>>;
    async fn insert_user(&mut self, r: &UserRecord, w: &UserWrite) -> Result<()>;
    /// Every column but the password hash (kept unless `w` sets one).
    async fn update_user(&mut self, r: &UserRecord, w: &UserWrite) -> Result<()>;
    /// Replaces (`clear`: deletes first) the user's stored grants.
    async fn put_grants(&mut self, user: Uuid, grants: &[Grant], clear: bool) -> Result<()>;
    async fn put_attributes(
        &mut self,
        owner: Uuid,
        attributes: &[AttributeValue],
        clear: bool,
    ) -> Result<()>;
    async fn groups_by_ids(&mut self, ids: &[Uuid]) -> Result<Vec<GroupRecord>>;
    async fn insert_group(&mut self, r: &GroupRecord, w: &GroupWrite) -> Result<()>;
    async fn update_group(&mut self, r: &GroupRecord, w: &GroupWrite) -> Result<()>;
    async fn membership(&mut self, group: Uuid, member: Uuid) -> Result<Option<MembershipRecord>>;
    async fn exists(&mut self, kind: MemberKind, id: Uuid) -> Result<bool>;
    /// Inserts the row, or sets its kind and date.
    async fn put_membership(&mut self, m: &MembershipRecord) -> Result<()>;
    async fn subscription(&mut self, id: Uuid) -> Result<Option<Subscription>>;
    async fn put_subscription(&mut self, s: &Subscription, exists: bool) -> Result<()>;
}

/// What an operator reads when an item is refused.
pub(crate) fn describe(e: &StoreError) -> String {
    match e {
        StoreError::Conflict("users_iam_user_name") => {
            "another user of this IAM already has this userName".into()
        }
        StoreError::Conflict("groups_iam_display_name") => {
            "another group of this IAM already has this displayName".into()
        }
        StoreError::Conflict("iams_name") => "an IAM with this name already exists".into(),
        StoreError::Conflict(other) => format!("unique constraint {other} violated"),
        other => other.to_string(),
    }
}

fn refused(reason: impl Into<String>) -> StoreError {
    StoreError::Config(reason.into())
}

/// Applies a batch through `w` (one transaction, which the caller commits
/// or rolls back): the outcome of every item, or the first that failed.
pub(crate) async fn apply_batch<W: ImportWriter>(
    w: &mut W,
    items: &[ImportItem],
    now: OffsetDateTime,
) -> std::result::Result<Vec<Outcome>, ItemFailed> {
    let fail = |index: usize, e: StoreError| ItemFailed {
        index,
        reason: describe(&e),
    };
    let user_ids: Vec<Uuid> = items
        .iter()
        .filter_map(|i| match i {
            ImportItem::User(b) => Some(b.0.id),
            _ => None,
        })
        .collect();
    let group_ids: Vec<Uuid> = items
        .iter()
        .filter_map(|i| match i {
            ImportItem::Group(b) => Some(b.0.id),
            _ => None,
        })
        .collect();
    let mut users: std::collections::HashMap<Uuid, UserRecord> = if user_ids.is_empty() {
        Default::default()
    } else {
        let found = w.users_by_ids(&user_ids).await.map_err(|e| fail(0, e))?;
        found.into_iter().map(|u| (u.id, u)).collect()
    };
    let mut groups: std::collections::HashMap<Uuid, GroupRecord> = if group_ids.is_empty() {
        Default::default()
    } else {
        let found = w.groups_by_ids(&group_ids).await.map_err(|e| fail(0, e))?;
        found.into_iter().map(|g| (g.id, g)).collect()
    };
    let mut known = Known::new();
    let mut outcomes = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let done = match item {
            ImportItem::Iam(r) => apply_iam(w, r).await,
            ImportItem::Permission(p) => apply_permission(w, p, now).await,
            ImportItem::User(b) => {
                let (r, write) = &**b;
                let done = apply_user(w, &mut known, users.get(&r.id), r, write).await;
                if done.is_ok() {
                    users.insert(r.id, r.clone());
                }
                done
            }
            ImportItem::Group(b) => {
                let (r, write) = &**b;
                let done = apply_group(w, groups.get(&r.id), r, write).await;
                if done.is_ok() {
                    groups.insert(r.id, r.clone());
                }
                done
            }
            ImportItem::Membership(m) => apply_membership(w, m).await,
            ImportItem::Subscription(s) => apply_subscription(w, s).await,
        };
        outcomes.push(done.map_err(|e| fail(index, e))?);
    }
    Ok(outcomes)
}

async fn apply_iam<W: ImportWriter>(w: &mut W, r: &IamRecord) -> Result<Outcome> {
    match w.iam_by_name(&r.name).await? {
        Some(old) if old.display_name == r.display_name && old.settings == r.settings => {
            Ok(Outcome::Unchanged)
        }
        Some(old) => {
            w.update_iam(old.id, r).await?;
            Ok(Outcome::Updated)
        }
        None => {
            w.insert_iam(r).await?;
            Ok(Outcome::Created)
        }
    }
}

async fn apply_permission<W: ImportWriter>(
    w: &mut W,
    p: &PermissionDef,
    now: OffsetDateTime,
) -> Result<Outcome> {
    match w.permission(&p.name).await? {
        Some(old) if old.builtin || old.description == p.description => Ok(Outcome::Unchanged),
        Some(_) => {
            w.update_permission(p).await?;
            Ok(Outcome::Updated)
        }
        None => {
            w.insert_permission(p, now).await?;
            Ok(Outcome::Created)
        }
    }
}

/// Permission names already found in the catalogue during this batch.
type Known = std::collections::HashSet<String>;

async fn check_grants<W: ImportWriter>(
    w: &mut W,
    known: &mut Known,
    grants: &[Grant],
) -> Result<()> {
    for g in grants {
        if known.contains(&g.permission) {
            continue;
        }
        if w.permission(&g.permission).await?.is_some() {
            known.insert(g.permission.clone());
        } else {
            return Err(refused(format!(
                "permission {} is not in the catalogue (a Permission line must come first)",
                g.permission
            )));
        }
    }
    Ok(())
}

async fn apply_user<W: ImportWriter>(
    w: &mut W,
    known: &mut Known,
    old: Option<&UserRecord>,
    r: &UserRecord,
    write: &UserWrite,
) -> Result<Outcome> {
    let Some(old) = old else {
        check_grants(w, known, &r.grants).await?;
        w.insert_user(r, write).await?;
        w.put_grants(r.id, &r.grants, false).await?;
        w.put_attributes(r.id, &r.attributes, false).await?;
        return Ok(Outcome::Created);
    };
    if old == r {
        return Ok(Outcome::Unchanged);
    }
    w.update_user(r, write).await?;
    if old.grants != r.grants {
        check_grants(w, known, &r.grants).await?;
        w.put_grants(r.id, &r.grants, true).await?;
    }
    if old.attributes != r.attributes {
        w.put_attributes(r.id, &r.attributes, true).await?;
    }
    Ok(Outcome::Updated)
}

async fn apply_group<W: ImportWriter>(
    w: &mut W,
    old: Option<&GroupRecord>,
    r: &GroupRecord,
    write: &GroupWrite,
) -> Result<Outcome> {
    let Some(old) = old else {
        w.insert_group(r, write).await?;
        w.put_attributes(r.id, &r.attributes, false).await?;
        return Ok(Outcome::Created);
    };
    if old == r {
        return Ok(Outcome::Unchanged);
    }
    if old.iam != r.iam {
        return Err(refused(format!(
            "group {} exists here in another IAM (groups never move between IAMs)",
            r.id
        )));
    }
    w.update_group(r, write).await?;
    if old.attributes != r.attributes {
        w.put_attributes(r.id, &r.attributes, true).await?;
    }
    Ok(Outcome::Updated)
}

async fn apply_membership<W: ImportWriter>(w: &mut W, m: &MembershipRecord) -> Result<Outcome> {
    match w.membership(m.group, m.member).await? {
        Some(old) if old == *m => return Ok(Outcome::Unchanged),
        Some(_) => {
            w.put_membership(m).await?;
            return Ok(Outcome::Updated);
        }
        None => {}
    }
    if !w.exists(MemberKind::Group, m.group).await? {
        return Err(refused(format!(
            "no group {} (its Group line must come first)",
            m.group
        )));
    }
    if !w.exists(m.kind, m.member).await? {
        return Err(refused(format!(
            "member {} is not a {} here (its line must come first)",
            m.member,
            m.kind.as_str()
        )));
    }
    if m.kind == MemberKind::Group && m.member == m.group {
        return Err(refused("a group cannot contain itself"));
    }
    w.put_membership(m).await?;
    Ok(Outcome::Created)
}

async fn apply_subscription<W: ImportWriter>(w: &mut W, s: &Subscription) -> Result<Outcome> {
    let old = w.subscription(s.id).await?;
    if old.as_ref() == Some(s) {
        return Ok(Outcome::Unchanged);
    }
    if !w.exists(MemberKind::User, s.user_id).await? {
        return Err(refused(format!(
            "no user {} (its User line must come first)",
            s.user_id
        )));
    }
    let exists = old.is_some();
    w.put_subscription(s, exists).await?;
    Ok(if exists {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}
