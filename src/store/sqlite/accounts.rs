//! SQLite: what the internal IAM owns, and the audit log. Every write runs
//! on the one writer connection in an IMMEDIATE transaction that also
//! appends its audit record.

use sqlx::SqliteConnection;

use super::*;
use crate::audit::{Entry, Record};
use crate::store::account_list::{self, SearchPlan};
use crate::store::accounts::*;

const ACCOUNT_COLUMNS: &str = "id, iam_id, deprovisioned_from, deprovisioned, user_name, doc, \
     active, disabled, created, last_modified, version, token_generation";

fn opt_uuid(r: &SqliteRow, col: &str) -> Result<Option<Uuid>> {
    r.try_get::<Option<&str>, _>(col)?
        .map(parse_uuid)
        .transpose()
}

fn account_row(r: &SqliteRow) -> Result<Account> {
    let doc: String = r.try_get("doc")?;
    Ok(Account {
        id: parse_uuid(r.try_get::<&str, _>("id")?)?,
        iam_id: opt_uuid(r, "iam_id")?,
        deprovisioned_from: opt_uuid(r, "deprovisioned_from")?,
        deprovisioned: r
            .try_get::<Option<i64>, _>("deprovisioned")?
            .map(from_micros)
            .transpose()?,
        user_name: r.try_get("user_name")?,
        doc: serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        active: r.try_get("active")?,
        disabled: r.try_get("disabled")?,
        created: from_micros(r.try_get("created")?)?,
        last_modified: from_micros(r.try_get("last_modified")?)?,
        version: r.try_get("version")?,
        token_generation: r.try_get("token_generation")?,
    })
}

/// Ends the account's console sessions when its token generation moves on
/// (the generation check alone would refuse them; this also frees the rows).
async fn end_sessions(tx: &mut SqliteConnection, user: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM console_sessions WHERE account_id = $1")
        .bind(id_text(user))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn record_row(r: &SqliteRow) -> Result<Record> {
    let attributes: String = r.try_get("attributes")?;
    Ok(Record {
        seq: r.try_get("seq")?,
        id: parse_uuid(r.try_get::<&str, _>("id")?)?,
        at: from_micros(r.try_get("at")?)?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target_kind: r.try_get("target_kind")?,
        target_id: opt_uuid(r, "target_id")?,
        outcome: r.try_get("outcome")?,
        request_id: r.try_get("request_id")?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// Appends an audit record inside the caller's write transaction.
pub(super) async fn append_audit(
    tx: &mut SqliteConnection,
    e: &Entry,
    now: OffsetDateTime,
) -> Result<()> {
    append_audits(tx, std::slice::from_ref(e), now).await
}

/// Appends audit records in order inside the caller's write transaction.
pub(super) async fn append_audits(
    tx: &mut SqliteConnection,
    entries: &[Entry],
    now: OffsetDateTime,
) -> Result<()> {
    crate::store::sql::audit::append_all::<super::Sqlite>(tx, entries, now).await
}

/// Grants an IAM's default permissions to a new user (names not in the
/// catalogue are skipped).
pub(super) async fn grant_defaults(
    tx: &mut SqliteConnection,
    user: Uuid,
    grants: &[String],
    now: OffsetDateTime,
) -> Result<()> {
    if grants.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO user_permissions (user_id, permission, source, granted)
         SELECT $1, name, $3, $4 FROM permissions WHERE name IN (SELECT value FROM json_each($2))
         ON CONFLICT DO NOTHING",
    )
    .bind(id_text(user))
    .bind(serde_json::json!(grants).to_string())
    .bind(SOURCE_IAM_DEFAULT)
    .bind(micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn user_exists(tx: &mut SqliteConnection, user: Uuid) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
        .bind(id_text(user))
        .fetch_optional(&mut *tx)
        .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// Refuses a change that would leave no enabled, active account holding
/// USER_ADMIN when this one holds it directly (see `LAST_USER_ADMIN`; the
/// account itself counts when the domain found it keeps USER_ADMIN through
/// a group).
async fn guard_last_admin(
    tx: &mut SqliteConnection,
    user: Uuid,
    admins_after: &[Uuid],
) -> Result<()> {
    // Only an account that holds USER_ADMIN directly pays for the count
    // (an identity provider's every DELETE comes through here).
    let is_admin: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users u JOIN user_permissions p ON p.user_id = u.id
                        WHERE u.id = $1 AND p.permission = 'USER_ADMIN'
                          AND u.disabled = 0 AND u.deprovisioned IS NULL AND u.active = 1)",
    )
    .bind(id_text(user))
    .fetch_one(&mut *tx)
    .await?;
    if !is_admin {
        return Ok(());
    }
    let also: Vec<String> = admins_after.iter().map(|u| id_text(*u)).collect();
    let others: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u
         WHERE u.disabled = 0 AND u.deprovisioned IS NULL AND u.active = 1
           AND ((u.id <> $1 AND EXISTS (SELECT 1 FROM user_permissions p
                        WHERE p.user_id = u.id AND p.permission = 'USER_ADMIN'))
                OR u.id IN (SELECT value FROM json_each($2)))",
    )
    .bind(id_text(user))
    .bind(serde_json::to_string(&also).unwrap_or_else(|_| "[]".into()))
    .fetch_one(&mut *tx)
    .await?;
    if others == 0 {
        return Err(StoreError::Conflict(LAST_USER_ADMIN));
    }
    Ok(())
}

/// Grants and withdraws permissions inside a transaction; the audit
/// records of what came and went, for the caller to append.
async fn grants_in(
    tx: &mut SqliteConnection,
    user: Uuid,
    add: &[(String, &'static str)],
    remove: &[String],
    admins_after: &[Uuid],
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<Vec<Entry>> {
    if remove
        .iter()
        .any(|p| p == crate::directory::admins::USER_ADMIN)
    {
        guard_last_admin(tx, user, admins_after).await?;
    }
    // One audit record per permission that came or went.
    let mut entries = Vec::new();
    for p in remove {
        let done =
            sqlx::query("DELETE FROM user_permissions WHERE user_id = $1 AND permission = $2")
                .bind(id_text(user))
                .bind(p)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() > 0 {
            entries.push(grant_entry(audit, user, "permission.removed", p));
        }
    }
    for (p, source) in add {
        let done = sqlx::query(
            "INSERT INTO user_permissions (user_id, permission, source, granted)
             SELECT $1, name, $3, $4 FROM permissions WHERE name = $2
             ON CONFLICT DO NOTHING",
        )
        .bind(id_text(user))
        .bind(p)
        .bind(*source)
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            entries.push(grant_entry(audit, user, "permission.added", p));
        }
    }
    Ok(entries)
}

/// Disables or enables inside a transaction (never the last USER_ADMIN).
async fn disabled_in(
    tx: &mut SqliteConnection,
    user: Uuid,
    disabled: bool,
    admins_after: &[Uuid],
) -> Result<()> {
    if disabled {
        guard_last_admin(tx, user, admins_after).await?;
    }
    // A change of state revokes what the account was issued; setting
    // what already holds (a routine sync's `disabled: false`) does not.
    let changed = sqlx::query(
        "UPDATE users SET disabled = $1, token_generation = token_generation + 1 \
         WHERE id = $2 AND disabled <> $1",
    )
    .bind(disabled)
    .bind(id_text(user))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if changed {
        end_sessions(tx, user).await?;
    }
    Ok(())
}

/// Applies attribute operations in order inside a transaction; the audit
/// records of what changed, for the caller to append.
async fn attributes_in(
    tx: &mut SqliteConnection,
    owner: Uuid,
    ops: &[AttributeOp],
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<Vec<Entry>> {
    let owner = id_text(owner);
    // One audit record per key that gained values and one per key that
    // lost some, for each operation.
    let mut entries = Vec::new();
    for op in ops {
        let (key, values, drop) = match op {
            AttributeOp::Add { key, values } => (key, values, Discard::Nothing),
            AttributeOp::Replace { key, values } => (key, values, Discard::AllBut),
            AttributeOp::Remove { key, values } if values.is_empty() => {
                (key, values, Discard::AllBut)
            }
            AttributeOp::Remove { key, values } => (key, values, Discard::These),
        };
        let mut removed = 0;
        if drop != Discard::Nothing {
            let held: Vec<String> =
                sqlx::query_scalar("SELECT value FROM attributes WHERE owner_id = $1 AND key = $2")
                    .bind(&owner)
                    .bind(key)
                    .fetch_all(&mut *tx)
                    .await?;
            for v in held {
                let listed = values.contains(&v);
                if listed == (drop == Discard::These) {
                    removed += sqlx::query(
                        "DELETE FROM attributes WHERE owner_id = $1 AND key = $2 AND value = $3",
                    )
                    .bind(&owner)
                    .bind(key)
                    .bind(&v)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
            }
        }
        let mut added = 0;
        if !matches!(op, AttributeOp::Remove { .. }) {
            for v in values {
                added += sqlx::query(
                    "INSERT INTO attributes (owner_id, key, value, added) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                )
                .bind(&owner)
                .bind(key)
                .bind(v)
                .bind(micros(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
        }
        for (n, action) in [(removed, "attribute.removed"), (added, "attribute.added")] {
            if n > 0 {
                let mut e = audit.clone().attributes([format!("attributes.{key}")]);
                e.action = action;
                entries.push(e);
            }
        }
    }
    Ok(entries)
}

#[async_trait]
impl Accounts for SqliteStore {
    async fn iam_settings(&self, iam: Uuid) -> Result<Option<Value>> {
        let s: Option<String> = sqlx::query_scalar("SELECT settings FROM iams WHERE id = $1")
            .bind(id_text(iam))
            .fetch_optional(&self.reader)
            .await?;
        s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn set_iam_settings(
        &self,
        iam: Uuid,
        settings: &Value,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        let done = sqlx::query("UPDATE iams SET settings = $1 WHERE id = $2")
            .bind(settings.to_string())
            .bind(id_text(iam))
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn permission_catalogue(&self) -> Result<Vec<PermissionDef>> {
        let rows = sqlx::query("SELECT name, description, builtin FROM permissions ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PermissionDef {
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    builtin: r.try_get("builtin")?,
                })
            })
            .collect()
    }

    async fn add_permission(
        &self,
        def: &PermissionDef,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        sqlx::query(
            "INSERT INTO permissions (name, description, builtin, created) VALUES ($1, $2, 0, $3)",
        )
        .bind(&def.name)
        .bind(&def.description)
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| unique(e, "permissions_name"))?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account(&self, id: Uuid) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id_text(id))
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(account_row).transpose()
    }

    async fn list_accounts(&self, q: &AccountQuery) -> Result<(Vec<Account>, u64)> {
        let seek = self.account_seek(q).await?;
        let plan = self.search_plan(q).await?;
        let page = account_list::page(q, seek.as_ref(), ACCOUNT_COLUMNS, Dialect::Sqlite, plan);
        let rows = sqlx::query_with(AssertSqlSafe(page.sql), args(&page.binds)?)
            .fetch_all(&self.reader)
            .await?;
        let mut items: Vec<Account> = rows.iter().map(account_row).collect::<Result<_>>()?;
        if seek.as_ref().is_some_and(|s| s.before) {
            items.reverse();
        }
        let total = total_statement(q, plan);
        let total: i64 = sqlx::query_scalar_with(AssertSqlSafe(total.sql), args(&total.binds)?)
            .fetch_one(&self.reader)
            .await?;
        Ok((items, total.max(0) as u64))
    }

    async fn explain_accounts(&self, q: &AccountQuery) -> Result<String> {
        let seek = self.account_seek(q).await?;
        let plan = self.search_plan(q).await?;
        let page = account_list::page(q, seek.as_ref(), ACCOUNT_COLUMNS, Dialect::Sqlite, plan);
        let mut out = Vec::new();
        for st in [page, total_statement(q, plan)] {
            let rows = sqlx::query_with(
                AssertSqlSafe(format!("EXPLAIN QUERY PLAN {}", st.sql)),
                args(&st.binds)?,
            )
            .fetch_all(&self.reader)
            .await?;
            for r in &rows {
                out.push(r.try_get::<String, _>(3)?);
            }
            out.push("--".to_owned());
        }
        Ok(out.join("\n"))
    }

    async fn grants(&self, user: Uuid) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT permission, source, granted FROM user_permissions
             WHERE user_id = $1 ORDER BY permission, source",
        )
        .bind(id_text(user))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Grant {
                    permission: r.try_get("permission")?,
                    source: r.try_get("source")?,
                    granted: from_micros(r.try_get("granted")?)?,
                })
            })
            .collect()
    }

    async fn change_grants(
        &self,
        user: Uuid,
        add: &[(String, &'static str)],
        remove: &[String],
        admins_after: &[Uuid],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        user_exists(&mut tx, user).await?;
        let entries = grants_in(&mut tx, user, add, remove, admins_after, audit, now).await?;
        append_audits(&mut tx, &entries, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_account(
        &self,
        user: Uuid,
        c: &AccountChange<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        user_exists(&mut tx, user).await?;
        let mut entries = grants_in(
            &mut tx,
            user,
            c.grants_add,
            c.grants_remove,
            c.admins_after,
            c.grants_audit,
            now,
        )
        .await?;
        entries.extend(attributes_in(&mut tx, user, c.attributes, c.attributes_audit, now).await?);
        if let Some((disabled, audit)) = c.disabled {
            disabled_in(&mut tx, user, disabled, c.admins_after).await?;
            entries.push(audit.clone());
        }
        append_audits(&mut tx, &entries, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_disabled(
        &self,
        user: Uuid,
        disabled: bool,
        admins_after: &[Uuid],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        user_exists(&mut tx, user).await?;
        disabled_in(&mut tx, user, disabled, admins_after).await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_sessions(&self, user: Uuid, audit: &Entry, now: OffsetDateTime) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        user_exists(&mut tx, user).await?;
        sqlx::query("UPDATE users SET token_generation = token_generation + 1 WHERE id = $1")
            .bind(id_text(user))
            .execute(&mut *tx)
            .await?;
        end_sessions(&mut tx, user).await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_account(
        &self,
        user: Uuid,
        scim: Option<(Uuid, Option<i64>)>,
        admins_after: &[Uuid],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        match scim {
            Some((iam, version)) => {
                super::check_version(&mut tx, "users", iam, user, version).await?;
            }
            None => user_exists(&mut tx, user).await?,
        }
        guard_last_admin(&mut tx, user, admins_after).await?;
        for sql in [
            "DELETE FROM group_members WHERE member_id = $1",
            "DELETE FROM attributes WHERE owner_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(id_text(user))
                .execute(&mut *tx)
                .await?;
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn deprovision_user(
        &self,
        iam: Uuid,
        user: Uuid,
        if_version: Option<i64>,
        admins_after: &[Uuid],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        super::check_version(&mut tx, "users", iam, user, if_version).await?;
        guard_last_admin(&mut tx, user, admins_after).await?;
        sqlx::query(
            "DELETE FROM group_members WHERE member_id = $1
               AND group_id IN (SELECT id FROM groups WHERE iam_id = $2)",
        )
        .bind(id_text(user))
        .bind(id_text(iam))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE users SET iam_id = NULL, deprovisioned = $1, deprovisioned_from = $2,
                 last_modified = $1, version = version + 1
             WHERE id = $3",
        )
        .bind(micros(now))
        .bind(id_text(iam))
        .bind(id_text(user))
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn migrate_account(
        &self,
        user: Uuid,
        to: &Migration<'_>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let u = to.user;
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        user_exists(&mut tx, user).await?;
        sqlx::query(
            "UPDATE users SET iam_id = $1, deprovisioned = NULL, deprovisioned_from = NULL,
                 user_name = $2, user_name_folded = $3, external_id = $4,
                 display_name_folded = $5, active = $6, doc = $7, search = $8,
                 last_modified = $9, version = version + 1
             WHERE id = $10",
        )
        .bind(id_text(to.iam))
        .bind(u.user_name.as_str())
        .bind(u.user_name.folded())
        .bind(&u.external_id)
        .bind(&u.display_name_folded)
        .bind(u.active)
        .bind(u.doc.to_string())
        .bind(u.search.to_string())
        .bind(micros(now))
        .bind(id_text(user))
        .execute(&mut *tx)
        .await
        .map_err(|e| unique(e, "users_iam_user_name"))?;
        write_emails(&mut tx, user, &u.search).await?;
        sqlx::query(
            "DELETE FROM group_members WHERE member_id = $1
               AND group_id IN (SELECT id FROM groups WHERE iam_id <> $2)",
        )
        .bind(id_text(user))
        .bind(id_text(BUILT_IN_IAM_ID))
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn group_exists(&self, id: Uuid) -> Result<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM groups WHERE id = $1)")
                .bind(id_text(id))
                .fetch_one(&self.reader)
                .await?,
        )
    }

    async fn group_iam(&self, id: Uuid) -> Result<Option<Uuid>> {
        let iam: Option<String> = sqlx::query_scalar("SELECT iam_id FROM groups WHERE id = $1")
            .bind(id_text(id))
            .fetch_optional(&self.reader)
            .await?;
        iam.as_deref().map(parse_uuid).transpose()
    }

    async fn membership_dates(&self, user: Uuid) -> Result<HashMap<Uuid, OffsetDateTime>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT group_id, added FROM group_members WHERE member_id = $1")
                .bind(id_text(user))
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter()
            .map(|(g, t)| Ok((parse_uuid(&g)?, from_micros(t)?)))
            .collect()
    }

    async fn attributes(&self, owner: Uuid) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT key, value FROM attributes WHERE owner_id = $1 ORDER BY key, value",
        )
        .bind(id_text(owner))
        .fetch_all(&self.reader)
        .await?)
    }

    async fn patch_attributes(
        &self,
        owner: Uuid,
        ops: &[AttributeOp],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM users WHERE id = $1 UNION ALL SELECT 1 FROM groups WHERE id = $1",
        )
        .bind(id_text(owner))
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        let entries = attributes_in(&mut tx, owner, ops, audit, now).await?;
        append_audits(&mut tx, &entries, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn subscriptions(&self, user: Uuid) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(
            "SELECT id, user_id, data_source, role, subscribed, expires FROM subscriptions
             WHERE user_id = $1 ORDER BY subscribed, id",
        )
        .bind(id_text(user))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Subscription {
                    id: parse_uuid(r.try_get::<&str, _>("id")?)?,
                    user_id: parse_uuid(r.try_get::<&str, _>("user_id")?)?,
                    data_source: r.try_get("data_source")?,
                    role: r.try_get("role")?,
                    subscribed: from_micros(r.try_get("subscribed")?)?,
                    expires: r
                        .try_get::<Option<i64>, _>("expires")?
                        .map(from_micros)
                        .transpose()?,
                })
            })
            .collect()
    }

    async fn add_subscription(
        &self,
        s: &Subscription,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        user_exists(&mut tx, s.user_id).await?;
        sqlx::query(
            "INSERT INTO subscriptions (id, user_id, data_source, role, subscribed, expires)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_text(s.id))
        .bind(id_text(s.user_id))
        .bind(&s.data_source)
        .bind(&s.role)
        .bind(micros(s.subscribed))
        .bind(s.expires.map(micros))
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_subscription(
        &self,
        user: Uuid,
        id: Uuid,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        let done = sqlx::query("DELETE FROM subscriptions WHERE id = $1 AND user_id = $2")
            .bind(id_text(id))
            .bind(id_text(user))
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn audit_append(&self, audit: &Entry, now: OffsetDateTime) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_records(&self, q: &AuditQuery) -> Result<(Vec<Record>, u64)> {
        let (filter, mut binds) = q.filter();
        let count = format!("SELECT COUNT(*) FROM audit_log {filter}");
        let total: i64 = sqlx::query_scalar_with(AssertSqlSafe(count), args(&binds)?)
            .fetch_one(&self.reader)
            .await?;
        let page = format!(
            "SELECT * FROM audit_log {filter} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        binds.push(Bind::Int(q.limit as i64));
        binds.push(Bind::Int(q.offset as i64));
        let rows = sqlx::query_with(AssertSqlSafe(page), args(&binds)?)
            .fetch_all(&self.reader)
            .await?;
        let items = rows.iter().map(record_row).collect::<Result<_>>()?;
        Ok((items, total as u64))
    }

    async fn audit_chain(&self, after: i64, limit: u64) -> Result<Vec<Record>> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(record_row).collect()
    }

    async fn audit_head(&self) -> Result<(i64, String)> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    async fn add_usage(&self, day: time::Date, counts: &[(String, i64)]) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        let rows: Vec<Value> = counts
            .iter()
            .map(|(name, n)| serde_json::json!([name, n]))
            .collect();
        sqlx::query(
            "INSERT INTO usage_counts (day, name, shard, n)
             SELECT $1, value ->> 0, 0, SUM(value ->> 1) FROM json_each($2) WHERE true GROUP BY value ->> 0
             ON CONFLICT (day, name, shard) DO UPDATE SET n = n + excluded.n",
        )
        .bind(day_text(day))
        .bind(Value::from(rows).to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn usage(
        &self,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<(time::Date, String, i64)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT day, name, SUM(n) FROM usage_counts WHERE day BETWEEN $1 AND $2
             GROUP BY day, name ORDER BY day, name",
        )
        .bind(day_text(from))
        .bind(day_text(to))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(day, name, n)| {
                let day = time::Date::parse(&day, DAY)
                    .map_err(|e| StoreError::Corrupt(format!("usage day {day}: {e}")))?;
                Ok((day, name, n))
            })
            .collect()
    }
}

const DAY: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn day_text(day: time::Date) -> String {
    day.format(DAY).unwrap_or_default()
}

/// The total a list shows: kept counts for an unfiltered list, else a
/// count (capped when asked).
fn total_statement(q: &AccountQuery, plan: SearchPlan) -> account_list::Statement {
    if account_list::kept_total(q) {
        account_list::kept_total_statement(q, Dialect::Sqlite)
    } else {
        account_list::count_statement(q, q.count_cap, Dialect::Sqlite, plan)
    }
}

impl SqliteStore {
    /// How the list finds a search's rows: through the trigram index when
    /// it holds few candidates for the substring.
    async fn search_plan(&self, q: &AccountQuery) -> Result<SearchPlan> {
        let Some(probe) = account_list::trigram_probe(q) else {
            return Ok(SearchPlan::Walk);
        };
        let n: i64 = sqlx::query_scalar_with(AssertSqlSafe(probe.sql), args(&probe.binds)?)
            .fetch_one(&self.reader)
            .await?;
        Ok(account_list::plan_for(Some(n.max(0) as u64)))
    }

    /// The sort key of the row a page starts from; None when the row is
    /// gone (the page then starts at the beginning).
    async fn account_seek(&self, q: &AccountQuery) -> Result<Option<account_list::AccountSeek>> {
        let Some(from) = q.from else { return Ok(None) };
        let sql = format!(
            "SELECT {} FROM users WHERE id = $1",
            account_list::key_column(q.sort)
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id_text(from.id))
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let key = match q.sort {
            AccountSort::UserName => Bind::Text(row.try_get(0)?),
            AccountSort::Created | AccountSort::LastModified => Bind::Int(row.try_get(0)?),
        };
        Ok(Some(account_list::AccountSeek {
            key,
            id: from.id,
            before: from.before,
        }))
    }
}
