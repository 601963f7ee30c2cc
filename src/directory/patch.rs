//! PATCH on users and groups: read the stored document, apply the pure
//! engine (`scim::patch`), validate the result exactly as a PUT body, and
//! write it conditionally on the version read, so that a concurrent writer
//! can never be overwritten by a stale read. A lost race is retried when
//! the client named no version (If-Match). Group members reach storage as
//! deltas, never as the whole list.

use serde_json::Value;
use uuid::Uuid;

use super::governance::Touched;
use super::groups::group_write;
use super::users::{Kept, Resource};
use super::{Directory, Error, Result, Scope, changes, parse_id};
use crate::scim::patch::{self, PatchRequest};
use crate::scim::projection::Projection;
use crate::scim::schema::GROUP_RESOURCE;
use crate::store::{GroupPatch, StoreError};

/// How many times a PATCH without If-Match re-reads after losing a race.
/// Each round of writers racing on one resource lets at least one of them
/// through, so this many concurrent writers (e.g. from several replicas)
/// all get their turn; 4 answered 412 to a third of 24 concurrent PATCHes
/// that named no version.
const RETRIES: u32 = 32;

/// Waits a random moment before a retry, so that the writers that lost
/// together do not all read and collide again.
async fn back_off(attempt: u32) {
    let max_micros = 250 * u64::from(attempt.min(16) + 1);
    let micros = rand::random::<u64>() % max_micros;
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

/// What a group PATCH answers with.
#[derive(Debug, Clone)]
pub enum Patched {
    Resource(Resource),
    /// The group has more members than the response may list: 204 with
    /// this version as ETag (Entra prefers 204 to begin with).
    NoContent {
        version: i64,
    },
}

/// Whether a conditional write lost to a concurrent one and may read again:
/// only when the client named no version, and not forever.
fn lost_race(e: &StoreError, if_version: Option<i64>, attempt: u32) -> bool {
    matches!(e, StoreError::VersionMismatch) && if_version.is_none() && attempt < RETRIES
}

/// Runs `attempt` (read the resource, judge the change against it, write
/// conditionally on the version read) until its write does not lose a race
/// to a concurrent writer. A lost race is tried again, from the read, after
/// [`back_off`], when the client named no version (If-Match) and at most
/// [`RETRIES`] times; after that it is the store's answer (412).
///
/// `attempt` answers an error of its own (a refused change: no retry),
/// else what its write answered (or the resource as read, when nothing
/// needs writing).
///
/// A closure returning a future rather than an async closure: the futures
/// of an async closure that borrows are not known to be `Send` (rustc
/// issue 139475), and every handler's must be.
pub(super) async fn retry_on_lost_race<T, Fut>(
    if_version: Option<i64>,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T>
where
    Fut: Future<Output = Result<std::result::Result<T, StoreError>>>,
{
    let mut retries = 0;
    loop {
        match attempt().await? {
            Ok(t) => return Ok(t),
            Err(e) if lost_race(&e, if_version, retries) => {
                retries += 1;
                back_off(retries).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl Directory {
    pub async fn patch_user(
        &self,
        scope: &Scope,
        id: &str,
        body: &serde_json::Value,
        if_version: Option<i64>,
        proj: &Projection,
    ) -> Result<Resource> {
        let uuid = parse_id(id)?;
        let req = PatchRequest::parse_bounded(
            body,
            &self.limits.filter,
            self.limits.patch_max_operations,
        )?;
        let req = &req;
        let stored = retry_on_lost_race(if_version, move || async move {
            let stored = self
                .store
                .get_user(scope.iam, uuid)
                .await?
                .ok_or_else(|| Error::not_found(format!("no user with id {uuid}")))?;
            if if_version.is_some_and(|v| v != stored.version) {
                return Err(Error::precondition_failed());
            }
            let out = patch::apply(scope.types.user, &stored.doc, &uuid.to_string(), req)?;
            let kept = stored.doc.get("userName").and_then(Value::as_str);
            let mut write = self
                .user_write(
                    scope.types.user,
                    &out.doc,
                    false,
                    kept.map_or(Kept::None, Kept::Name),
                )
                .await?;
            if out.clear_password && write.password_hash.is_none() {
                write.password_hash = Some(None);
            }
            if write.doc == stored.doc && write.password_hash.is_none() {
                // Nothing changed: no write, no new version.
                return Ok(Ok(stored));
            }
            self.replace_read_user(scope, &stored, &mut write, "PATCH")
                .await
        })
        .await?;
        self.updated_user(scope, stored, proj).await
    }

    /// `members_limit`: above this many members a response that would list
    /// them is a 204 instead (see [`Patched`]).
    pub async fn patch_group(
        &self,
        scope: &Scope,
        id: &str,
        body: &serde_json::Value,
        if_version: Option<i64>,
        proj: &Projection,
        members_limit: u64,
    ) -> Result<Patched> {
        let uuid = parse_id(id)?;
        let req = PatchRequest::parse_bounded(
            body,
            &self.limits.filter,
            self.limits.patch_max_operations,
        )?;
        let req = &req;
        let touched = &Touched::default();
        let stored = retry_on_lost_race(if_version, move || async move {
            let stored = self
                .store
                .get_group(scope.iam, uuid)
                .await?
                .ok_or_else(|| Error::not_found(format!("no group with id {uuid}")))?;
            if if_version.is_some_and(|v| v != stored.version) {
                return Err(Error::precondition_failed());
            }
            let out = patch::apply(scope.types.group, &stored.doc, &uuid.to_string(), req)?;
            let kept = stored.doc.get("displayName").and_then(Value::as_str);
            let (write, _) = group_write(scope.types.group, &out.doc, kept)?;
            let doc_changed = write.doc != stored.doc;
            // A value that is not one of our ids names no member here.
            let ids = |set: &std::collections::BTreeSet<String>| -> Vec<Uuid> {
                set.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect()
            };
            let add = self
                .existing_members(scope, uuid, &ids(&out.members.add))
                .await?;
            let remove = ids(&out.members.remove);
            if !doc_changed && add.is_empty() && remove.is_empty() && !out.members.remove_all {
                return Ok(Ok(stored));
            }
            let kept: Vec<Uuid> = add.iter().map(|(m, _)| *m).collect();
            let renamed = stored
                .doc
                .get("displayName")
                .and_then(serde_json::Value::as_str)
                .filter(|old| *old != write.display_name)
                .map(|_| write.display_name.as_str());
            if renamed.is_some() {
                // Policies name groups by displayName: every account in
                // it is reached.
                touched.note([uuid.uuid()]);
            }
            self.guard_group_change(
                scope.iam,
                uuid,
                super::guard::GroupChange {
                    removed: &remove,
                    keep: out.members.remove_all.then_some(kept.as_slice()),
                    deleted: false,
                    renamed,
                },
            )
            .await?;
            let p = GroupPatch {
                group: doc_changed.then_some(&write),
                add: &add,
                remove: &remove,
                remove_all: out.members.remove_all,
            };
            // Member deltas do not depend on what was read; a new document
            // (and the record of what in it changed) does, so it is written
            // only over the version it came from.
            let expect = if doc_changed {
                Some(stored.version)
            } else {
                if_version
            };
            let docs = doc_changed.then_some((&stored.doc, &write.doc));
            let audit = scope.audit().via("PATCH");
            let change = changes::GroupChange::new(&audit, uuid.uuid(), docs);
            Ok(self
                .store
                .patch_group(
                    scope.iam,
                    uuid,
                    &p,
                    expect,
                    touched.records(change),
                    self.now(),
                )
                .await)
        })
        .await?;
        self.resubscribe_touched(&scope.audit(), touched).await?;
        if proj.includes(&GROUP_RESOURCE, None, "members") {
            let cap = members_limit.saturating_add(1);
            if self.store.count_members(scope.iam, uuid, cap).await? > members_limit {
                return Ok(Patched::NoContent {
                    version: stored.version,
                });
            }
        }
        Ok(Patched::Resource(
            self.group_resource(scope, &stored, proj).await?,
        ))
    }
}
