//! The audit records of SCIM user and group writes: which action each one
//! records, its target, and the names (never the values) of what changed,
//! from the document the domain read before writing. Storage appends them
//! as given, in the write's own transaction.

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Entry, changed, present};
use crate::store::{GroupWrite, MemberDelta, MemberKind, Store, Stored, UserWrite};

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
    user_record(audit, id, "user.updated", names, u)
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

impl dyn Store {
    /// Creates a user with its `user.created` record, `audit` naming who
    /// acts: the bridge's account creation (`accounts.rs`) still calls this
    /// until its own records move into the domain.
    pub async fn insert_user(
        &self,
        iam: Uuid,
        id: Uuid,
        u: &UserWrite,
        grants: &[String],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> crate::store::Result<Stored> {
        let records = [user_created(audit, id, u)];
        self.create_user(iam, id, u, grants, &records, now).await
    }
}
