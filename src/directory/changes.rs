//! The audit records of writes: which action each one records, its target,
//! and the names (never the values) of what changed, from the document the
//! domain read before writing or from what storage found the write did
//! (members, grants, attribute keys, import outcomes). Storage appends
//! them as given, in the write's own transaction.

use serde_json::Value;
use uuid::Uuid;

use crate::audit::{Entry, changed, present};
use crate::ids::DataSourceId;
use crate::store::accounts::{AttributeDelta, GrantDelta};
use crate::store::governance::{DataSource, StoredPolicy, Tag};
use crate::store::roles::RoleDelta;
use crate::store::transfer::{ImportItem, Outcome};
use crate::store::{GroupWrite, MemberDelta, MemberKind, UserWrite};

/// `audit` (who acts, in which request) recording `action` on a target.
fn record(audit: &Entry, action: &'static str, kind: &'static str, id: Uuid) -> Entry {
    let mut e = audit.clone().target(kind, id);
    e.action = action;
    e
}

/// A user created: every attribute it has, and the userName's flags.
pub fn user_created(audit: &Entry, id: Uuid, u: &UserWrite) -> Entry {
    user_record(audit, id, "user.created", present(&u.doc), u)
}

/// A user replaced over `old`, the stored document the write is
/// conditional on: the attributes that differ, `password` when one is set
/// or cleared, and the userName's flags when the userName is among them.
pub fn user_updated(audit: &Entry, id: Uuid, old: &Value, u: &UserWrite) -> Entry {
    let mut names = changed(old, &u.doc);
    if u.password_hash.is_some() {
        names.push("password".into());
    }
    let sets_active = names.iter().any(|n| n == "active");
    let mut e = user_record(audit, id, "user.updated", names, u);
    // The event says which way `active` went (RFC 9967 prov:activate,
    // prov:deactivate); the record's attributes name it only.
    if sets_active {
        e.via = Some(match (e.via == Some("PUT"), u.active) {
            (true, true) => "PUT activate",
            (true, false) => "PUT deactivate",
            (false, true) => "PATCH activate",
            (false, false) => "PATCH deactivate",
        });
    }
    e
}

fn user_record(
    audit: &Entry,
    id: Uuid,
    action: &'static str,
    names: Vec<String>,
    u: &UserWrite,
) -> Entry {
    let sets_name = names.iter().any(|n| n == "userName");
    let mut e = record(audit, action, "User", id).attributes(names);
    if sets_name {
        e = e.flags(u.user_name.audit_flags());
    }
    e
}

/// A group created: every attribute it has, then one record per member.
pub fn group_created(
    audit: &Entry,
    id: Uuid,
    g: &GroupWrite,
    members: &[(Uuid, MemberKind)],
) -> Vec<Entry> {
    let created = record(audit, "group.created", "Group", id).attributes(present(&g.doc));
    let joined = members.iter().map(|(m, _)| *m);
    let mut out = vec![created];
    out.extend(member_records(audit, id, "group.member_added", joined));
    out
}

pub fn group_deleted(audit: &Entry, id: Uuid) -> Entry {
    record(audit, "group.deleted", "Group", id)
}

/// The records of a group replaced or patched, once storage has found
/// which members the write removed and added: the attributes that changed,
/// if any, then one record per member that left, then per member that
/// joined. A change with no records changed nothing.
#[derive(Debug, Clone)]
pub struct GroupChange {
    audit: Entry,
    id: Uuid,
    names: Vec<String>,
}

impl GroupChange {
    /// `docs`: the stored document the write is conditional on and the one
    /// it writes; None when the document is not written.
    pub fn new(audit: &Entry, id: Uuid, docs: Option<(&Value, &Value)>) -> Self {
        GroupChange {
            audit: audit.clone(),
            id,
            names: docs.map_or_else(Vec::new, |(old, new)| changed(old, new)),
        }
    }

    pub fn records(&self, delta: &MemberDelta<'_>) -> Vec<Entry> {
        let (audit, id) = (&self.audit, self.id);
        let mut out = Vec::new();
        if !self.names.is_empty() {
            let names = self.names.iter().cloned();
            out.push(record(audit, "group.updated", "Group", id).attributes(names));
        }
        let left = delta.removed.iter().copied();
        out.extend(member_records(audit, id, "group.member_removed", left));
        let joined = delta.added.iter().copied();
        out.extend(member_records(audit, id, "group.member_added", joined));
        out
    }
}

/// One record per member added to or removed from `group`, so the log says
/// who joined or left and the daily usage counts count members, not
/// requests. The member is named by id, as a SCIM path.
fn member_records(
    audit: &Entry,
    group: Uuid,
    action: &'static str,
    members: impl IntoIterator<Item = Uuid>,
) -> Vec<Entry> {
    let mut seen = std::collections::HashSet::new();
    members
        .into_iter()
        .filter(|m| seen.insert(*m))
        .map(|m| {
            let path = format!("members[value eq \"{m}\"]");
            record(audit, action, "Group", group).attributes([path])
        })
        .collect()
}

/// One record per permission a grant change took from `user`, then one
/// per permission it gave, each naming `permissions.<name>`.
pub fn grants_changed(audit: &Entry, user: Uuid, d: &GrantDelta<'_>) -> Vec<Entry> {
    let taken = d.removed.iter().map(|p| ("permission.removed", p));
    let given = d.added.iter().map(|p| ("permission.added", p));
    taken
        .chain(given)
        .map(|(action, p)| {
            record(audit, action, "User", user).attributes([format!("permissions.{p}")])
        })
        .collect()
}

/// One record per role an account gave up, then per role it came to
/// hold, each naming `roles.<name>`.
/// The permissions the same source took and gave are recorded as any
/// grant is (`permission.removed`, `permission.added`).
pub fn roles_changed(audit: &Entry, user: Uuid, d: &RoleDelta<'_>) -> Vec<Entry> {
    let taken = d.removed.iter().map(|r| ("role.removed", r));
    let given = d.added.iter().map(|r| ("role.added", r));
    let mut out: Vec<Entry> = taken
        .chain(given)
        .map(|(action, r)| record(audit, action, "User", user).attributes([format!("roles.{r}")]))
        .collect();
    out.extend(grants_changed(
        audit,
        user,
        &GrantDelta {
            removed: d.revoked,
            added: d.granted,
        },
    ));
    out
}

/// Per attribute operation on `owner` (a `User` or `Group`, as `kind`
/// says): a record when its key lost values, then one when it gained
/// some, each naming `attributes.<key>`.
pub fn attributes_changed(
    audit: &Entry,
    kind: &'static str,
    owner: Uuid,
    deltas: &[AttributeDelta<'_>],
) -> Vec<Entry> {
    let mut out = Vec::new();
    for d in deltas {
        for (did, action) in [
            (d.removed, "attribute.removed"),
            (d.added, "attribute.added"),
        ] {
            if did {
                let name = format!("attributes.{}", d.key);
                out.push(record(audit, action, kind, owner).attributes([name]));
            }
        }
    }
    out
}

/// One `action` record per tag (`tag.created` for the tags a create made
/// or restored, its missing ancestors included; `tag.deleted` for the tag
/// and those below it).
pub fn tags_changed(audit: &Entry, action: &'static str, tags: &[Tag]) -> Vec<Entry> {
    tags.iter()
        .map(|t| {
            let mut names = vec!["name"];
            if t.description.is_some() {
                names.push("description");
            }
            record(audit, action, "Tag", t.id).attributes(names)
        })
        .collect()
}

/// A data source registered: its name, each tag on it (`tags.<name>`),
/// and whether it has columns and owners.
pub fn data_source_created(audit: &Entry, s: &DataSource) -> Entry {
    let mut names = vec!["name".to_owned()];
    names.extend(s.tags.iter().map(|t| format!("tags.{t}")));
    if !s.columns.is_empty() {
        names.push("columns".to_owned());
    }
    if !s.owners.is_empty() {
        names.push("owners".to_owned());
    }
    record(audit, "data_source.created", "DataSource", s.id.uuid()).attributes(names)
}

/// One `data_source.tagged` record per tag a write put on a data source
/// (that did not carry it), naming `tags.<name>`.
pub fn data_source_tagged(audit: &Entry, id: DataSourceId, tags: &[String]) -> Vec<Entry> {
    tags.iter()
        .map(|t| tag_record(audit, "data_source.tagged", id, t))
        .collect()
}

pub fn data_source_untagged(audit: &Entry, id: DataSourceId, tag: &str) -> Entry {
    tag_record(audit, "data_source.untagged", id, tag)
}

fn tag_record(audit: &Entry, action: &'static str, id: DataSourceId, tag: &str) -> Entry {
    record(audit, action, "DataSource", id.uuid()).attributes([format!("tags.{tag}")])
}

pub fn data_source_deleted(audit: &Entry, id: DataSourceId) -> Entry {
    record(audit, "data_source.deleted", "DataSource", id.uuid())
}

/// A subscription a policy added or removed (`action`) for an account:
/// which policy, by the subscription's source (`policy:<policyKey>`).
pub fn policy_subscription(audit: &Entry, action: &'static str, user: Uuid, source: &str) -> Entry {
    record(audit, action, "User", user).attributes(["subscriptions", source])
}

/// A policy created: the fields of its canonical document.
pub fn policy_created(audit: &Entry, p: &StoredPolicy) -> Entry {
    record(audit, "policy.created", "Policy", p.id).attributes(present(&p.document))
}

/// A policy replaced over `old`: the fields of its document that differ.
pub fn policy_updated(audit: &Entry, old: &StoredPolicy, document: &Value) -> Entry {
    record(audit, "policy.updated", "Policy", old.id).attributes(changed(&old.document, document))
}

pub fn policy_deleted(audit: &Entry, old: &StoredPolicy) -> Entry {
    record(audit, "policy.deleted", "Policy", old.id)
}

/// A change to an event stream (`event_stream.created`, `.updated`,
/// `.deleted`, `.retried`): the names of the members it set.
pub fn event_stream<S: Into<String>>(
    audit: &Entry,
    action: &'static str,
    id: Uuid,
    names: impl IntoIterator<Item = S>,
) -> Entry {
    record(audit, action, "EventStream", id).attributes(names)
}

/// The record of one imported item, as `<kind>.imported` (by the command
/// line: `audit` says so).
fn imported(audit: &Entry, item: &ImportItem) -> Entry {
    let mut e = match item {
        ImportItem::Iam(r) => audit.clone().target("Iam", r.id),
        ImportItem::Permission(_) => audit.clone(),
        ImportItem::User(b) => audit
            .clone()
            .target("User", b.0.id)
            .flags(b.1.user_name.audit_flags()),
        ImportItem::Group(b) => audit.clone().target("Group", b.0.id),
        ImportItem::Membership(m) => audit
            .clone()
            .target("Group", m.group)
            .attributes(["members"]),
        ImportItem::Subscription(s) => audit
            .clone()
            .target("User", s.subscription.user_id)
            .attributes(["subscriptions"]),
        ImportItem::Tag(t) => audit.clone().target("Tag", t.id),
        ImportItem::Policy(p) => audit.clone().target("Policy", p.id),
        ImportItem::DataSource(s) => audit.clone().target("DataSource", s.id.uuid()),
    };
    e.action = match item {
        ImportItem::Iam(_) => "iam.imported",
        ImportItem::Permission(_) => "permission.imported",
        ImportItem::User(_) => "user.imported",
        ImportItem::Group(_) => "group.imported",
        ImportItem::Membership(_) => "membership.imported",
        ImportItem::Subscription(_) => "subscription.imported",
        ImportItem::Tag(_) => "tag.imported",
        ImportItem::Policy(_) => "policy.imported",
        ImportItem::DataSource(_) => "data_source.imported",
    };
    e
}

/// The records of an import batch, given each item's outcome: one per item
/// created or updated, except that a run of membership rows of one group
/// is one record.
pub fn imports(audit: &Entry, items: &[ImportItem], outcomes: &[Outcome]) -> Vec<Entry> {
    let mut out = Vec::new();
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
        out.push(imported(audit, item));
    }
    out
}
