//! Storage's last-admin check: inside a write's transaction, refuses a
//! change that would leave no enabled, active account holding the guarded
//! permission (see `LAST_USER_ADMIN`). Which permission that is, the
//! domain says.

use uuid::Uuid;

use super::super::{Backend, Record, Ty, query};
use crate::store::accounts::{LAST_USER_ADMIN, LastAdmin};
use crate::store::{Result, StoreError};

/// A [`LastAdmin`] owned, for a write that runs on another task (SQLite's
/// group commit).
pub(super) struct Guard {
    permission: String,
    admins_after: Vec<Uuid>,
}

impl From<LastAdmin<'_>> for Guard {
    fn from(g: LastAdmin<'_>) -> Self {
        Guard {
            permission: g.permission.to_owned(),
            admins_after: g.admins_after.to_vec(),
        }
    }
}

impl Guard {
    pub fn get(&self) -> LastAdmin<'_> {
        LastAdmin {
            permission: &self.permission,
            admins_after: &self.admins_after,
        }
    }
}

/// The key of the lock that runs these checks one at a time.
const LAST_ADMIN_LOCK: i64 = 7213;

/// Refuses when `user` holds the permission directly and no other enabled,
/// active account would hold it after the change (the account itself
/// counts when the domain found it keeps the permission through a group).
pub(super) async fn check<B: Backend>(
    tx: &mut B::Conn,
    user: Uuid,
    guard: LastAdmin<'_>,
) -> Result<()> {
    // Only an account that holds the permission directly pays for the lock
    // and the count (an identity provider's every DELETE comes through here).
    let holds = B::fetch_one(
        tx,
        query(
            "SELECT EXISTS (SELECT 1 FROM users u JOIN user_permissions p ON p.user_id = u.id
                            WHERE u.id = $1 AND p.permission = $2
                              AND NOT u.disabled AND u.deprovisioned IS NULL AND u.active)",
        )
        .bind(user)
        .bind(guard.permission),
    )
    .await?
    .bool(0)?;
    if !holds {
        return Ok(());
    }
    // One such check at a time across replicas: two admins taking the
    // permission from each other at once must not both succeed. The count
    // after the lock sees what the other committed.
    if let Some(lock) = B::DIALECT.xact_lock_on(LAST_ADMIN_LOCK) {
        B::execute(tx, query(lock)).await?;
    }
    let sql = format!(
        "SELECT COUNT(*) FROM users u
         WHERE NOT u.disabled AND u.deprovisioned IS NULL AND u.active
           AND ((u.id <> $1 AND EXISTS (SELECT 1 FROM user_permissions p
                        WHERE p.user_id = u.id AND p.permission = $2))
                OR u.id IN ({}))",
        B::DIALECT.each(3, Ty::Uuid)
    );
    let others = B::fetch_one(
        tx,
        query(sql)
            .bind(user)
            .bind(guard.permission)
            .bind(guard.admins_after),
    )
    .await?
    .int(0)?;
    if others == 0 {
        return Err(StoreError::Conflict(LAST_USER_ADMIN));
    }
    Ok(())
}

/// After a change that may have taken the guarded permission from any
/// number of accounts (a role's permissions changed, a role deleted or
/// given up), inside its transaction: refuses when no enabled, active
/// account holds it any more, by a grant or (`admins_after`) through a
/// group mapping.
pub(super) async fn remains<B: Backend>(tx: &mut B::Conn, guard: LastAdmin<'_>) -> Result<()> {
    if let Some(lock) = B::DIALECT.xact_lock_on(LAST_ADMIN_LOCK) {
        B::execute(tx, query(lock)).await?;
    }
    let sql = format!(
        "SELECT COUNT(*) FROM users u
         WHERE NOT u.disabled AND u.deprovisioned IS NULL AND u.active
           AND (EXISTS (SELECT 1 FROM user_permissions p
                        WHERE p.user_id = u.id AND p.permission = $1)
                OR u.id IN ({}))",
        B::DIALECT.each(2, Ty::Uuid)
    );
    let holders = B::fetch_one(
        tx,
        query(sql).bind(guard.permission).bind(guard.admins_after),
    )
    .await?
    .int(0)?;
    if holders == 0 {
        return Err(StoreError::Conflict(LAST_USER_ADMIN));
    }
    Ok(())
}
