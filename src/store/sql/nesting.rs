//! The nesting check of group writes, on either database: the edges around
//! a group read inside the write's transaction and judged by
//! `store::nesting`, and the locks that make that read see every membership
//! a concurrent write could add.
//!
//! SQLite's one writer begins every write IMMEDIATE, so no other write can
//! add a membership between the check and the commit. PostgreSQL at READ
//! COMMITTED would let two transactions (A gets B, B gets A) each miss the
//! other's uncommitted membership and together make a cycle. So there every
//! write that adds a group to a group first takes a transaction-scoped
//! advisory lock for its IAM, before it writes any membership: such writes
//! of one IAM run one at a time, and the check (its statements start after
//! the lock is held) sees every membership committed before. An advisory
//! lock rather than SERIALIZABLE: only these rare writes wait, only on the
//! same IAM, and nothing has to be retried; writes that add users never
//! take it.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Backend, Record, Ty, query};
use crate::ids::IamId;
use crate::store::nesting::{self, EDGES_ABOVE, EDGES_BELOW};
use crate::store::{MemberKind, Result, StoreError};

/// The class of the nesting locks (`Dialect::xact_lock`'s `$1`); the key
/// is drawn from the IAM's id. 7213 guards the last USER_ADMIN.
const NESTING_LOCK: i32 = 7214;

/// Takes the nesting lock of `iam` when `members` holds a group: to be
/// called before the transaction writes memberships, so that it never waits
/// for the lock while holding rows another holder could wait for.
pub async fn lock<B: Backend>(
    tx: &mut B::Conn,
    iam: IamId,
    members: &[(Uuid, MemberKind)],
) -> Result<()> {
    if members.iter().any(|(_, k)| *k == MemberKind::Group) {
        lock_iams::<B>(tx, &[iam.uuid()]).await?;
    }
    Ok(())
}

/// Takes the nesting locks of every IAM: a write that may nest groups of
/// any of them (an import). The IAMs are not even read where the database
/// needs no lock.
pub async fn lock_all<B: Backend>(tx: &mut B::Conn) -> Result<()> {
    if B::DIALECT.xact_lock().is_none() {
        return Ok(());
    }
    let rows = B::fetch_all(tx, query("SELECT id FROM iams")).await?;
    let iams = rows
        .iter()
        .map(|r| r.uuid("id"))
        .collect::<Result<Vec<_>>>()?;
    lock_iams::<B>(tx, &iams).await
}

/// Takes the nesting locks of `iams`, in one order whoever asks, so that
/// two holders of several never wait for each other.
async fn lock_iams<B: Backend>(tx: &mut B::Conn, iams: &[Uuid]) -> Result<()> {
    let Some(sql) = B::DIALECT.xact_lock() else {
        return Ok(());
    };
    let mut keys: Vec<i32> = iams.iter().map(|iam| lock_key(*iam)).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        B::execute(
            tx,
            query(sql)
                .bind(i64::from(NESTING_LOCK))
                .bind(i64::from(key)),
        )
        .await?;
    }
    Ok(())
}

/// The last four bytes of the id: random in a v7 UUID. Two IAMs that share
/// a key only wait for each other now and then.
fn lock_key(iam: Uuid) -> i32 {
    let b = iam.as_bytes();
    i32::from_be_bytes([b[12], b[13], b[14], b[15]])
}

/// Refuses, before its transaction commits, a write that just added
/// `added` to `group` when a group among them closes a cycle or nests
/// groups deeper than the limit. Users added cost nothing here. On
/// PostgreSQL the caller holds the IAM's nesting lock.
pub async fn check<B: Backend>(
    tx: &mut B::Conn,
    group: Uuid,
    members: &[(Uuid, MemberKind)],
    added: &[Uuid],
) -> Result<()> {
    let groups = nesting::added_groups(members, added);
    if groups.is_empty() {
        return Ok(());
    }
    let above = edges::<B>(tx, EDGES_ABOVE, group).await?;
    let below = edges::<B>(tx, EDGES_BELOW, group).await?;
    let Some(judgement) = nesting::judge(group, &groups, &above, &below) else {
        return Ok(());
    };
    let sql = format!(
        "SELECT id, display_name FROM groups WHERE id IN ({})",
        B::DIALECT.each(1, Ty::Uuid)
    );
    let rows = B::fetch_all(tx, query(sql).bind(judgement.groups(group))).await?;
    let names: HashMap<Uuid, String> = rows
        .iter()
        .map(|r| Ok((r.uuid("id")?, r.text("display_name")?)))
        .collect::<Result<_>>()?;
    Err(StoreError::Nesting(judgement.name(group, &names)))
}

/// The edges `sql` reads around `group`, as (member, parent).
async fn edges<B: Backend>(
    tx: &mut B::Conn,
    sql: &'static str,
    group: Uuid,
) -> Result<Vec<(Uuid, Uuid)>> {
    let rows = B::fetch_all(tx, query(sql).bind(group)).await?;
    rows.iter().map(|r| Ok((r.uuid(0)?, r.uuid(1)?))).collect()
}
