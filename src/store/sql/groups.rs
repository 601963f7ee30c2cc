//! Writing groups: creates with their members, replaces, PATCHes that cost
//! the rows they change (never the group's size), deletes. A write that
//! adds groups as members takes the nesting lock before it writes any.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lists::{self, check_version, conditional, created, locked, update_row, updated};
use super::{Backend, Query, Record, SqlStore, audit, members, query, unique};
use crate::audit::Entry;
use crate::ids::{GroupId, IamId};
use crate::store::{
    GroupPatch, GroupRecords, GroupWrite, Groups, Keep, MemberDelta, MemberKind, Result,
    StoreError, Stored,
};

/// The unique index a group's write can hit (its displayName in its IAM).
const INDEX: &str = "groups_iam_display_name";

/// The rows of a new group and its members, inside the caller's transaction.
pub(super) async fn insert_group_rows<B: Backend>(
    tx: &mut B::Conn,
    iam: IamId,
    id: Uuid,
    g: &GroupWrite,
    members: &[(Uuid, MemberKind)],
    now: OffsetDateTime,
) -> Result<()> {
    B::execute(
        tx,
        query(
            "INSERT INTO groups (id, iam_id, display_name, display_name_folded, external_id, doc,
                                 created, last_modified, version, search)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8)",
        )
        .bind(id)
        .bind(iam)
        .bind(&g.display_name)
        .bind(&g.display_name_folded)
        .bind(&g.external_id)
        .bind(&g.doc)
        .bind(now)
        .bind(&g.search),
    )
    .await
    .map_err(|e| unique(e, INDEX))?;
    members::insert::<B>(tx, id, members, now).await?;
    Ok(())
}

#[async_trait]
impl<B: Backend> Groups for SqlStore<B> {
    /// Creates a group with its members through `Backend::write` (group
    /// commit on SQLite).
    async fn insert_group(
        &self,
        iam: IamId,
        id: GroupId,
        g: &GroupWrite,
        members: &[(Uuid, MemberKind)],
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let (g, members, records) = (g.clone(), members.to_vec(), records.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                super::nesting::lock::<B>(tx, iam, &members).await?;
                insert_group_rows::<B>(tx, iam, id.uuid(), &g, &members, now).await?;
                audit::append_all::<B>(tx, &records, now).await?;
                Ok(created(id.uuid(), g.doc, now))
            })
        })
        .await
    }

    async fn get_group(&self, iam: IamId, id: GroupId) -> Result<Option<Stored>> {
        lists::get(self, "groups", iam, id.uuid()).await
    }

    /// Replaces a group and its member list through `Backend::write`
    /// (group commit on SQLite). The UPDATE itself checks the IAM and the
    /// version, so the write reads nothing of the group first.
    async fn replace_group(
        &self,
        iam: IamId,
        id: GroupId,
        g: &GroupWrite,
        members: &[(Uuid, MemberKind)],
        if_version: Option<i64>,
        records: GroupRecords,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let (g, members) = (g.clone(), members.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                super::nesting::lock::<B>(tx, iam, &members).await?;
                let update = update_group(iam, id, &g, if_version, now);
                let row = update_row::<B>(tx, "groups", INDEX, iam, id.uuid(), update).await?;
                let stored = updated(&row, id.uuid(), g.doc, now)?;
                // Keep the rows of members that stay, so their join dates
                // survive.
                let stay: Vec<Uuid> = members.iter().map(|(m, _)| *m).collect();
                let removed = members::delete::<B>(tx, id.uuid(), &stay, Keep::Listed).await?;
                let added = members::insert::<B>(tx, id.uuid(), &members, now).await?;
                let entries = records(&MemberDelta {
                    removed: &removed,
                    added: &added,
                });
                audit::append_all::<B>(tx, &entries, now).await?;
                Ok(stored)
            })
        })
        .await
    }

    /// Applies a PATCH through `Backend::write` (group commit on SQLite).
    async fn patch_group(
        &self,
        iam: IamId,
        id: GroupId,
        p: &GroupPatch<'_>,
        if_version: Option<i64>,
        records: GroupRecords,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let group = p.group.cloned();
        let (add, remove, remove_all) = (p.add.to_vec(), p.remove.to_vec(), p.remove_all);
        self.write(move |tx| {
            Box::pin(async move {
                super::nesting::lock::<B>(tx, iam, &add).await?;
                // PostgreSQL: the row locked first, so that concurrent
                // PATCHes of one group change its members one after the
                // other (not in an order that deadlocks). SQLite's one
                // writer needs no lock, and the UPDATE below checks the
                // version: the row is not read there.
                if !B::DIALECT.for_update().is_empty() {
                    check_version::<B>(tx, "groups", iam, id.uuid(), if_version).await?;
                }
                let removed = if remove_all {
                    // Replacing the members: those that stay keep their rows
                    // (and join dates) and are neither removed nor added.
                    let stay: Vec<Uuid> = add.iter().map(|(m, _)| *m).collect();
                    members::delete::<B>(tx, id.uuid(), &stay, Keep::Listed).await?
                } else {
                    members::delete::<B>(tx, id.uuid(), &remove, Keep::Others).await?
                };
                // A group deleted since the domain read it has no row to
                // add members to.
                let added = members::insert::<B>(tx, id.uuid(), &add, now)
                    .await
                    .map_err(gone)?;
                let entries = records(&MemberDelta {
                    removed: &removed,
                    added: &added,
                });
                // What the domain records nothing of changed nothing: a
                // group document that came back equal, and no member that
                // came or went. The row as it stands is the answer.
                if entries.is_empty() {
                    return locked::<B>(tx, "groups", iam, id.uuid(), if_version).await;
                }
                audit::append_all::<B>(tx, &entries, now).await?;
                let update = match &group {
                    Some(g) => update_group(iam, id, g, if_version, now),
                    None => touch_group(iam, id, if_version, now),
                };
                let row = update_row::<B>(tx, "groups", INDEX, iam, id.uuid(), update).await?;
                let doc = match group {
                    Some(g) => g.doc,
                    None => row.json("doc")?,
                };
                updated(&row, id.uuid(), doc, now)
            })
        })
        .await
    }

    /// Deletes a group through `Backend::write` (group commit on SQLite).
    async fn delete_group(
        &self,
        iam: IamId,
        id: GroupId,
        if_version: Option<i64>,
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<()> {
        let records = records.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                check_version::<B>(tx, "groups", iam, id.uuid(), if_version).await?;
                B::execute(
                    tx,
                    query("DELETE FROM attributes WHERE owner_id = $1").bind(id),
                )
                .await?;
                audit::append_all::<B>(tx, &records, now).await?;
                B::execute(
                    tx,
                    query("DELETE FROM group_members WHERE member_id = $1 OR group_id = $1")
                        .bind(id),
                )
                .await?;
                B::execute(tx, query("DELETE FROM groups WHERE id = $1").bind(id)).await?;
                Ok(())
            })
        })
        .await
    }
}

/// The statement that moves a group's version and lastModified when its
/// members changed and its document did not, and returns its document,
/// when it was created and its new version; no row as [`update_group`].
fn touch_group(iam: IamId, id: GroupId, if_version: Option<i64>, now: OffsetDateTime) -> Query {
    let update = query(format!(
        "UPDATE groups SET last_modified = $1, version = version + 1
         WHERE id = $2 AND iam_id = $3{} RETURNING doc, created, version",
        conditional(4, if_version)
    ))
    .bind(now)
    .bind(id)
    .bind(iam);
    match if_version {
        Some(v) => update.bind(v),
        None => update,
    }
}

/// A foreign key the write broke: the group it writes to is gone.
fn gone(e: StoreError) -> StoreError {
    match &e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            StoreError::NotFound
        }
        _ => e,
    }
}

/// The statement that sets a group's document and indexed columns, moves
/// its version and lastModified, and returns when it was created and its
/// new version; no row when the group is not in the IAM or (`if_version`)
/// is at another version.
fn update_group(
    iam: IamId,
    id: GroupId,
    g: &GroupWrite,
    if_version: Option<i64>,
    now: OffsetDateTime,
) -> Query {
    let update = query(format!(
        "UPDATE groups SET display_name = $1, display_name_folded = $2, external_id = $3,
                doc = $4, last_modified = $5, version = version + 1, search = $6
         WHERE id = $7 AND iam_id = $8{} RETURNING created, version",
        conditional(9, if_version)
    ))
    .bind(&g.display_name)
    .bind(&g.display_name_folded)
    .bind(&g.external_id)
    .bind(&g.doc)
    .bind(now)
    .bind(&g.search)
    .bind(id)
    .bind(iam);
    match if_version {
        Some(v) => update.bind(v),
        None => update,
    }
}
