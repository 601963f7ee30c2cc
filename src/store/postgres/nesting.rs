//! The nesting check of group writes on PostgreSQL. At READ COMMITTED two
//! transactions (A gets B, B gets A) would each miss the other's
//! uncommitted membership and together make a cycle. So every write that
//! adds a group to a group first takes a transaction-scoped advisory lock
//! for its IAM, before it writes any membership: such writes of one IAM
//! run one at a time, and the check (its statements start after the lock
//! is held) sees every membership committed before. An advisory lock
//! rather than SERIALIZABLE: only these rare writes wait, only on the same
//! IAM, and nothing has to be retried; writes that add users never take it.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::store::nesting::{self, EDGES_ABOVE, EDGES_BELOW};
use crate::store::{MemberKind, Result, StoreError};

/// The first key of the nesting locks (`pg_advisory_xact_lock(int, int)`);
/// the second is drawn from the IAM's id. 7213 guards the last USER_ADMIN.
const NESTING_LOCK: i32 = 7214;

/// Takes the nesting lock of `iam` when `members` holds a group: to be
/// called before the transaction writes memberships, so that it never waits
/// for the lock while holding rows another holder could wait for.
pub(super) async fn lock(
    tx: &mut PgConnection,
    iam: Uuid,
    members: &[(Uuid, MemberKind)],
) -> Result<()> {
    if members.iter().any(|(_, k)| *k == MemberKind::Group) {
        lock_iams(tx, &[iam]).await?;
    }
    Ok(())
}

/// Takes the nesting locks of `iams`, in one order whoever asks, so that
/// two holders of several never wait for each other.
pub(super) async fn lock_iams(tx: &mut PgConnection, iams: &[Uuid]) -> Result<()> {
    let mut keys: Vec<i32> = iams.iter().map(|iam| lock_key(*iam)).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(NESTING_LOCK)
            .bind(key)
            .execute(&mut *tx)
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
/// groups deeper than the limit. The caller holds the IAM's nesting lock.
pub(super) async fn check(
    tx: &mut PgConnection,
    group: Uuid,
    members: &[(Uuid, MemberKind)],
    added: &[Uuid],
) -> Result<()> {
    let groups = nesting::added_groups(members, added);
    if groups.is_empty() {
        return Ok(());
    }
    let above: Vec<(Uuid, Uuid)> = sqlx::query_as(EDGES_ABOVE)
        .bind(group)
        .fetch_all(&mut *tx)
        .await?;
    let below: Vec<(Uuid, Uuid)> = sqlx::query_as(EDGES_BELOW)
        .bind(group)
        .fetch_all(&mut *tx)
        .await?;
    let Some(judgement) = nesting::judge(group, &groups, &above, &below) else {
        return Ok(());
    };
    let names: HashMap<Uuid, String> =
        sqlx::query_as("SELECT id, display_name FROM groups WHERE id = ANY($1)")
            .bind(judgement.groups(group))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    Err(StoreError::Nesting(judgement.name(group, &names)))
}
