//! Roles, the roles accounts hold, and the grants held roles bring (rows
//! of `user_permissions` with source `role:<name>`), rewritten in the
//! transaction that changes a role or a holding.

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, Ty, audit, query, unique};
use super::grants::{grant, grant_all, revoke};
use super::{last_admin, user_exists};
use crate::audit::Entry;
use crate::store::Result;
use crate::store::StoreError;
use crate::store::accounts::LastAdmin;
use crate::store::roles::{
    Expansion, HeldRoles, RoleDef, RoleDelta, RoleWrite, Roles, role_source,
};

#[async_trait]
impl<B: Backend> Roles for SqlStore<B> {
    async fn roles(&self) -> Result<Vec<RoleDef>> {
        let rows = self
            .read_all(query(
                "SELECT name, id, description, created, modified FROM roles ORDER BY name",
            ))
            .await?;
        let mut out: BTreeMap<String, RoleDef> = BTreeMap::new();
        for r in &rows {
            let name = r.text("name")?;
            out.insert(
                name.clone(),
                RoleDef {
                    id: r.uuid("id")?,
                    name,
                    description: r.text("description")?,
                    permissions: Vec::new(),
                    roles: Vec::new(),
                    created: r.time("created")?,
                    modified: r.time("modified")?,
                },
            );
        }
        for (table, column, is_role) in [
            ("role_permissions", "permission", false),
            ("role_roles", "member", true),
        ] {
            let sql = format!("SELECT role, {column} AS item FROM {table} ORDER BY role, item");
            for r in &self.read_all(query(sql)).await? {
                if let Some(def) = out.get_mut(&r.text("role")?) {
                    let item = r.text("item")?;
                    if is_role {
                        def.roles.push(item);
                    } else {
                        def.permissions.push(item);
                    }
                }
            }
        }
        // Bytewise, whatever the database's collation.
        for def in out.values_mut() {
            def.permissions.sort();
            def.roles.sort();
        }
        Ok(out.into_values().collect())
    }

    async fn put_role(&self, w: &RoleWrite<'_>, replace: bool, now: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin().await?;
        let role = w.role;
        if replace {
            let n = B::execute(
                &mut tx,
                query("UPDATE roles SET description = $1, modified = $2 WHERE name = $3")
                    .bind(&role.description)
                    .bind(now)
                    .bind(&role.name),
            )
            .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            for table in ["role_permissions", "role_roles"] {
                let sql = format!("DELETE FROM {table} WHERE role = $1");
                B::execute(&mut tx, query(sql).bind(&role.name)).await?;
            }
        } else {
            B::execute(
                &mut tx,
                query(
                    "INSERT INTO roles (name, id, description, created, modified)
                     VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(&role.name)
                .bind(role.id)
                .bind(&role.description)
                .bind(now),
            )
            .await
            .map_err(|e| match unique(e, "roles_name") {
                StoreError::Conflict(_) => StoreError::Conflict("roles_name"),
                other => other,
            })?;
        }
        for p in &role.permissions {
            B::execute(
                &mut tx,
                query("INSERT INTO role_permissions (role, permission) VALUES ($1, $2)")
                    .bind(&role.name)
                    .bind(p),
            )
            .await?;
        }
        for r in &role.roles {
            B::execute(
                &mut tx,
                query("INSERT INTO role_roles (role, member) VALUES ($1, $2)")
                    .bind(&role.name)
                    .bind(r),
            )
            .await?;
        }
        for e in w.expansions {
            rewrite_expansion::<B>(&mut tx, e, now).await?;
        }
        if let Some(guard) = w.last_admin {
            last_admin::remains::<B>(&mut tx, guard).await?;
        }
        audit::append::<B>(&mut tx, w.audit, now).await?;
        B::commit(tx).await
    }

    async fn delete_role(
        &self,
        name: &str,
        guard: Option<LastAdmin<'_>>,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        B::execute(
            &mut tx,
            query("DELETE FROM user_permissions WHERE source = $1").bind(role_source(name)),
        )
        .await?;
        B::execute(
            &mut tx,
            query("DELETE FROM user_roles WHERE role = $1").bind(name),
        )
        .await?;
        let n = B::execute(
            &mut tx,
            query("DELETE FROM roles WHERE name = $1").bind(name),
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(guard) = guard {
            last_admin::remains::<B>(&mut tx, guard).await?;
        }
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await
    }

    async fn user_roles(&self, user: Uuid) -> Result<Vec<(String, String)>> {
        let rows = self
            .read_all(
                query(
                    "SELECT role, source FROM user_roles WHERE user_id = $1 ORDER BY role, source",
                )
                .bind(user),
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("role")?, r.text("source")?)))
            .collect()
    }

    async fn change_user_roles(
        &self,
        user: Uuid,
        change: &HeldRoles<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        user_exists::<B>(&mut tx, user).await?;
        let entries = change_held_in::<B>(&mut tx, user, change, now).await?;
        audit::append_all::<B>(&mut tx, &entries, now).await?;
        B::commit(tx).await
    }
}

/// Changes the roles an account holds from one source inside a
/// transaction, with the grants they bring; the domain's records of what
/// came and went, for the caller to append.
pub(crate) async fn change_held_in<B: Backend>(
    tx: &mut B::Conn,
    user: Uuid,
    change: &HeldRoles<'_>,
    now: OffsetDateTime,
) -> Result<Vec<Entry>> {
    let mut removed = Vec::new();
    for role in change.remove {
        let n = B::execute(
            tx,
            query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2 AND source = $3")
                .bind(user)
                .bind(role)
                .bind(change.source),
        )
        .await?;
        if n == 0 {
            continue;
        }
        removed.push(role.clone());
        // Held from another source still, it still brings its grants.
        B::execute(
            tx,
            query(
                "DELETE FROM user_permissions WHERE user_id = $1 AND source = $2
                 AND NOT EXISTS (SELECT 1 FROM user_roles WHERE user_id = $1 AND role = $3)",
            )
            .bind(user)
            .bind(role_source(role))
            .bind(role),
        )
        .await?;
    }
    let mut added = Vec::new();
    for e in change.add {
        let n = B::execute(
            tx,
            query(
                "INSERT INTO user_roles (user_id, role, source, granted)
                 SELECT $1, name, $3, $4 FROM roles WHERE name = $2
                 ON CONFLICT DO NOTHING",
            )
            .bind(user)
            .bind(&e.role)
            .bind(change.source)
            .bind(now),
        )
        .await?;
        if n == 0 {
            continue;
        }
        added.push(e.role.clone());
        grant_all::<B>(tx, user, &e.permissions, &role_source(&e.role), now).await?;
    }
    let mut revoked = Vec::new();
    for p in change.revoke {
        if revoke::<B>(tx, user, p, &[change.source]).await? {
            revoked.push(p.clone());
        }
    }
    let mut granted = Vec::new();
    for p in change.grant {
        if grant::<B>(tx, user, p, change.source, now).await? {
            granted.push(p.clone());
        }
    }
    if let Some(guard) = change.last_admin {
        last_admin::remains::<B>(tx, guard).await?;
    }
    Ok((change.records)(&RoleDelta {
        removed: &removed,
        added: &added,
        revoked: &revoked,
        granted: &granted,
    }))
}

/// Makes every holder's `role:<name>` grants what the role brings now.
async fn rewrite_expansion<B: Backend>(
    tx: &mut B::Conn,
    e: &Expansion,
    now: OffsetDateTime,
) -> Result<()> {
    let source = role_source(&e.role);
    let sql = format!(
        "DELETE FROM user_permissions WHERE source = $1 AND permission NOT IN ({})",
        B::DIALECT.each(2, Ty::Text)
    );
    B::execute(tx, query(sql).bind(&source).bind(e.permissions.clone())).await?;
    for p in &e.permissions {
        B::execute(
            tx,
            query(
                "INSERT INTO user_permissions (user_id, permission, source, granted)
                 SELECT DISTINCT user_id, $2, $3, $4 FROM user_roles WHERE role = $1
                 ON CONFLICT DO NOTHING",
            )
            .bind(&e.role)
            .bind(p)
            .bind(&source)
            .bind(now),
        )
        .await?;
    }
    Ok(())
}
