//! Writing groups: creates with their members, replaces, PATCHes that cost
//! the rows they change (never the group's size), deletes. A write that
//! adds groups as members takes the nesting lock before it writes any.

use time::OffsetDateTime;
use uuid::Uuid;

use super::lists::{check_version, old_doc, stored};
use super::{Backend, Query, Record, SqlStore, audit, members, query, unique};
use crate::audit::Entry;
use crate::store::{GroupPatch, GroupWrite, Keep, MemberKind, Result, Stored, member_entries};

/// The rows of a new group and its members, inside the caller's transaction.
async fn insert_group_rows<B: Backend>(
    tx: &mut B::Conn,
    iam: Uuid,
    id: Uuid,
    g: &GroupWrite,
    members: &[(Uuid, MemberKind)],
    now: OffsetDateTime,
) -> Result<Stored> {
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
    .map_err(|e| unique(e, "groups_iam_display_name"))?;
    members::insert::<B>(tx, id, members, now).await?;
    Ok(Stored {
        id,
        doc: g.doc.clone(),
        created: now,
        last_modified: now,
        version: 1,
    })
}

/// A new group with its members, and its audit records (for the caller to
/// append): the creation, then one per member.
pub(super) async fn create_group_rows<B: Backend>(
    tx: &mut B::Conn,
    iam: Uuid,
    id: Uuid,
    g: &GroupWrite,
    members: &[(Uuid, MemberKind)],
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<(Stored, Vec<Entry>)> {
    let stored = insert_group_rows::<B>(tx, iam, id, g, members, now).await?;
    let mut e = audit
        .clone()
        .target("Group", id)
        .attributes(crate::audit::present(&g.doc));
    e.action = "group.created";
    let mut entries = vec![e];
    entries.extend(member_entries(
        audit,
        id,
        "group.member_added",
        members.iter().map(|(m, _)| *m),
    ));
    Ok((stored, entries))
}

pub(super) async fn insert<B: Backend>(
    db: &SqlStore<B>,
    iam: Uuid,
    id: Uuid,
    g: &GroupWrite,
    members: &[(Uuid, MemberKind)],
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<Stored> {
    let mut tx = db.begin().await?;
    super::nesting::lock::<B>(&mut tx, iam, members).await?;
    let (stored, entries) =
        create_group_rows::<B>(&mut tx, iam, id, g, members, audit, now).await?;
    audit::append_all::<B>(&mut tx, &entries, now).await?;
    B::commit(tx).await?;
    Ok(stored)
}

/// The audit records of a group write: its changed attributes, if any,
/// then the members that left and those that joined.
fn change_entries(
    audit: &Entry,
    id: Uuid,
    names: Vec<String>,
    gone: Vec<Uuid>,
    added: Vec<Uuid>,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    if !names.is_empty() {
        let mut e = audit.clone().target("Group", id).attributes(names);
        e.action = "group.updated";
        entries.push(e);
    }
    entries.extend(member_entries(audit, id, "group.member_removed", gone));
    entries.extend(member_entries(audit, id, "group.member_added", added));
    entries
}

/// The statement that sets a group's document, indexed columns, version
/// and lastModified.
fn update_group(
    id: Uuid,
    g: &GroupWrite,
    version: i64,
    now: OffsetDateTime,
    returning: &'static str,
) -> Query {
    query(format!(
        "UPDATE groups SET display_name = $1, display_name_folded = $2, external_id = $3,
                doc = $4, last_modified = $5, version = $6, search = $8
         WHERE id = $7{returning}"
    ))
    .bind(&g.display_name)
    .bind(&g.display_name_folded)
    .bind(&g.external_id)
    .bind(&g.doc)
    .bind(now)
    .bind(version)
    .bind(id)
    .bind(&g.search)
}

// One transaction's inputs: the group, its members, the version it
// must still have, and who changes it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn replace<B: Backend>(
    db: &SqlStore<B>,
    iam: Uuid,
    id: Uuid,
    g: &GroupWrite,
    members: &[(Uuid, MemberKind)],
    if_version: Option<i64>,
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<Stored> {
    let mut tx = db.begin().await?;
    super::nesting::lock::<B>(&mut tx, iam, members).await?;
    let version = check_version::<B>(&mut tx, "groups", iam, id, if_version).await? + 1;
    let names = crate::audit::changed(&old_doc::<B>(&mut tx, "groups", id).await?, &g.doc);
    let update = update_group(id, g, version, now, " RETURNING created");
    let created = B::fetch_one(&mut tx, update)
        .await
        .map_err(|e| unique(e, "groups_iam_display_name"))?
        .time("created")?;
    // Keep the rows of members that stay, so their join dates survive.
    let stay: Vec<Uuid> = members.iter().map(|(m, _)| *m).collect();
    let gone = members::delete::<B>(&mut tx, id, &stay, Keep::Listed).await?;
    let added = members::insert::<B>(&mut tx, id, members, now).await?;
    let entries = change_entries(audit, id, names, gone, added);
    audit::append_all::<B>(&mut tx, &entries, now).await?;
    B::commit(tx).await?;
    Ok(Stored {
        id,
        doc: g.doc.clone(),
        created,
        last_modified: now,
        version,
    })
}

pub(super) async fn patch<B: Backend>(
    db: &SqlStore<B>,
    iam: Uuid,
    id: Uuid,
    p: &GroupPatch<'_>,
    if_version: Option<i64>,
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<Stored> {
    let mut tx = db.begin().await?;
    super::nesting::lock::<B>(&mut tx, iam, p.add).await?;
    let version = check_version::<B>(&mut tx, "groups", iam, id, if_version).await?;
    let names = match p.group {
        Some(g) => crate::audit::changed(&old_doc::<B>(&mut tx, "groups", id).await?, &g.doc),
        None => Vec::new(),
    };
    let gone = if p.remove_all {
        // Replacing the members: those that stay keep their rows (and
        // join dates) and are neither removed nor added.
        let stay: Vec<Uuid> = p.add.iter().map(|(m, _)| *m).collect();
        members::delete::<B>(&mut tx, id, &stay, Keep::Listed).await?
    } else {
        members::delete::<B>(&mut tx, id, p.remove, Keep::Others).await?
    };
    let added = members::insert::<B>(&mut tx, id, p.add, now).await?;
    let entries = change_entries(audit, id, names, gone, added);
    // A group document that came back equal, and no member that came
    // or went, is no change.
    if !entries.is_empty() {
        audit::append_all::<B>(&mut tx, &entries, now).await?;
        match p.group {
            Some(g) => {
                let update = update_group(id, g, version + 1, now, "");
                B::execute(&mut tx, update)
                    .await
                    .map_err(|e| unique(e, "groups_iam_display_name"))?;
            }
            None => {
                let touch =
                    query("UPDATE groups SET last_modified = $1, version = $2 WHERE id = $3")
                        .bind(now)
                        .bind(version + 1)
                        .bind(id);
                B::execute(&mut tx, touch).await?;
            }
        }
    }
    let row = B::fetch_one(
        &mut tx,
        query("SELECT id, doc, created, last_modified, version FROM groups WHERE id = $1").bind(id),
    )
    .await?;
    let out = stored(&row)?;
    B::commit(tx).await?;
    Ok(out)
}

pub(super) async fn delete<B: Backend>(
    db: &SqlStore<B>,
    iam: Uuid,
    id: Uuid,
    if_version: Option<i64>,
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<()> {
    let mut tx = db.begin().await?;
    check_version::<B>(&mut tx, "groups", iam, id, if_version).await?;
    B::execute(
        &mut tx,
        query("DELETE FROM attributes WHERE owner_id = $1").bind(id),
    )
    .await?;
    let mut e = audit.clone().target("Group", id);
    e.action = "group.deleted";
    audit::append::<B>(&mut tx, &e, now).await?;
    B::execute(
        &mut tx,
        query("DELETE FROM group_members WHERE member_id = $1 OR group_id = $1").bind(id),
    )
    .await?;
    B::execute(&mut tx, query("DELETE FROM groups WHERE id = $1").bind(id)).await?;
    B::commit(tx).await
}
