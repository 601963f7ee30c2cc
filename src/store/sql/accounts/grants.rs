//! The permission catalogue and the grants of accounts: direct ones and
//! an IAM's defaults (group-derived permissions are not stored).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, Ty, audit, query, unique};
use super::{last_admin, user_exists};
use crate::audit::Entry;
use crate::store::Result;
use crate::store::accounts::{
    Grant, GrantDelta, GrantRecords, Grants, LastAdmin, PermissionDef, SOURCE_DIRECT,
    SOURCE_IAM_DEFAULT,
};

#[async_trait]
impl<B: Backend> Grants for SqlStore<B> {
    async fn permission_catalogue(&self) -> Result<Vec<PermissionDef>> {
        let rows = self
            .read_all(query(
                "SELECT name, description, builtin FROM permissions ORDER BY name",
            ))
            .await?;
        rows.iter().map(permission_def).collect()
    }

    async fn add_permission(
        &self,
        def: &PermissionDef,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        B::execute(
            &mut tx,
            query(
                "INSERT INTO permissions (name, description, builtin, created) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&def.name)
            .bind(&def.description)
            .bind(false)
            .bind(now),
        )
        .await
        .map_err(|e| unique(e, "permissions_name"))?;
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await
    }

    async fn grants(&self, user: Uuid) -> Result<Vec<Grant>> {
        let rows = self
            .read_all(
                query(
                    "SELECT permission, source, granted FROM user_permissions
                     WHERE user_id = $1 ORDER BY permission, source",
                )
                .bind(user),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Grant {
                    permission: r.text("permission")?,
                    source: r.text("source")?,
                    granted: r.time("granted")?,
                })
            })
            .collect()
    }

    async fn change_grants(
        &self,
        user: Uuid,
        add: &[(String, &'static str)],
        remove: &[String],
        last_admin: LastAdmin<'_>,
        records: &GrantRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        user_exists::<B>(&mut tx, user).await?;
        let entries = change_in::<B>(&mut tx, user, add, remove, last_admin, records, now).await?;
        audit::append_all::<B>(&mut tx, &entries, now).await?;
        B::commit(tx).await
    }
}

/// A row of `permissions` (name, description, builtin).
pub(crate) fn permission_def(r: &impl Record) -> Result<PermissionDef> {
    Ok(PermissionDef {
        name: r.text("name")?,
        description: r.text("description")?,
        builtin: r.bool("builtin")?,
    })
}

/// Grants and withdraws permissions inside a transaction; the domain's
/// records of what came and went, for the caller to append.
pub(super) async fn change_in<B: Backend>(
    tx: &mut B::Conn,
    user: Uuid,
    add: &[(String, &'static str)],
    remove: &[String],
    guard: LastAdmin<'_>,
    records: &GrantRecords<'_>,
    now: OffsetDateTime,
) -> Result<Vec<Entry>> {
    if remove.iter().any(|p| p == guard.permission) && !kept_otherwise::<B>(tx, user, guard).await?
    {
        last_admin::check::<B>(tx, user, guard).await?;
    }
    // Only what a statement changed is in the delta: a permission not
    // held is not taken, one held is not given.
    let mut removed = Vec::new();
    for p in remove {
        if revoke::<B>(tx, user, p, &[SOURCE_DIRECT, SOURCE_IAM_DEFAULT]).await? {
            removed.push(p.clone());
        }
    }
    let mut added = Vec::new();
    for (p, source) in add {
        if grant::<B>(tx, user, p, source, now).await? {
            added.push(p.clone());
        }
    }
    Ok(records(&GrantDelta {
        removed: &removed,
        added: &added,
    }))
}

/// Takes a permission's grants from these sources; whether there was one.
pub(super) async fn revoke<B: Backend>(
    tx: &mut B::Conn,
    user: Uuid,
    permission: &str,
    sources: &[&str],
) -> Result<bool> {
    let sql = format!(
        "DELETE FROM user_permissions WHERE user_id = $1 AND permission = $2
         AND source IN ({})",
        B::DIALECT.each(3, Ty::Text)
    );
    let sources: Vec<String> = sources.iter().map(|s| (*s).to_owned()).collect();
    let n = B::execute(tx, query(sql).bind(user).bind(permission).bind(sources)).await?;
    Ok(n > 0)
}

/// Grants a permission of the catalogue from a source; whether it was
/// not held from it already.
pub(super) async fn grant<B: Backend>(
    tx: &mut B::Conn,
    user: Uuid,
    permission: &str,
    source: &str,
    now: OffsetDateTime,
) -> Result<bool> {
    Ok(grant_all::<B>(tx, user, &[permission.to_owned()], source, now).await? > 0)
}

/// Grants the permissions of the catalogue among these from a source
/// (names not in it are skipped); how many it was not held from already.
pub(super) async fn grant_all<B: Backend>(
    tx: &mut B::Conn,
    user: Uuid,
    permissions: &[String],
    source: &str,
    now: OffsetDateTime,
) -> Result<u64> {
    if permissions.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO user_permissions (user_id, permission, source, granted)
         SELECT $1, name, $3, $4 FROM permissions WHERE name IN ({})
         ON CONFLICT DO NOTHING",
        B::DIALECT.each(2, Ty::Text)
    );
    B::execute(
        tx,
        query(sql)
            .bind(user)
            .bind(permissions.to_vec())
            .bind(source)
            .bind(now),
    )
    .await
}

/// Whether the account holds the guarded permission from a source a
/// withdrawal leaves alone (a role, its identity provider): then taking
/// its direct grant takes nothing.
async fn kept_otherwise<B: Backend>(
    tx: &mut B::Conn,
    user: Uuid,
    guard: LastAdmin<'_>,
) -> Result<bool> {
    let row = B::fetch_optional(
        tx,
        query(
            "SELECT 1 FROM user_permissions WHERE user_id = $1 AND permission = $2
             AND source NOT IN ($3, $4)",
        )
        .bind(user)
        .bind(guard.permission)
        .bind(SOURCE_DIRECT)
        .bind(SOURCE_IAM_DEFAULT),
    )
    .await?;
    Ok(row.is_some())
}

/// Grants an IAM's default permissions to a new user (names not in the
/// catalogue are skipped).
pub(crate) async fn grant_defaults<B: Backend>(
    tx: &mut B::Conn,
    user: Uuid,
    grants: &[String],
    now: OffsetDateTime,
) -> Result<()> {
    grant_all::<B>(tx, user, grants, SOURCE_IAM_DEFAULT, now).await?;
    Ok(())
}
