//! PostgreSQL: export pages read in one REPEATABLE READ, READ ONLY
//! transaction (one snapshot), import batches written in one transaction.
//! Backups are pg_dump's job.

use sqlx::{Postgres, Transaction};

use super::*;
use crate::store::accounts::{Grant, PermissionDef, Subscription};
use crate::store::transfer::*;

pub(super) struct PgTx(pub(super) Transaction<'static, Postgres>);

const USER_COLUMNS: &str = "id, iam_id, deprovisioned_from, deprovisioned, doc, disabled, \
     created, last_modified, version";
const GROUP_COLUMNS: &str = "id, iam_id, doc, created, last_modified, version";

fn user_record(r: &PgRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: r.try_get("id")?,
        iam: r.try_get("iam_id")?,
        deprovisioned_from: r.try_get("deprovisioned_from")?,
        deprovisioned: r.try_get("deprovisioned")?,
        doc: r.try_get("doc")?,
        disabled: r.try_get("disabled")?,
        created: r.try_get("created")?,
        last_modified: r.try_get("last_modified")?,
        version: r.try_get("version")?,
        grants: Vec::new(),
        attributes: Vec::new(),
    })
}

fn group_record(r: &PgRow) -> Result<GroupRecord> {
    Ok(GroupRecord {
        id: r.try_get("id")?,
        iam: r.try_get("iam_id")?,
        doc: r.try_get("doc")?,
        created: r.try_get("created")?,
        last_modified: r.try_get("last_modified")?,
        version: r.try_get("version")?,
        attributes: Vec::new(),
    })
}

fn subscription(r: &PgRow) -> Result<Subscription> {
    Ok(Subscription {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        data_source: r.try_get("data_source")?,
        role: r.try_get("role")?,
        subscribed: r.try_get("subscribed")?,
        expires: r.try_get("expires")?,
    })
}

impl PgTx {
    /// The managed attributes of these owners, by owner.
    async fn attributes_of(&mut self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<AttributeValue>>> {
        let rows = sqlx::query(
            "SELECT owner_id, key, value, added FROM attributes
             WHERE owner_id = ANY($1)",
        )
        .bind(ids.to_vec())
        .fetch_all(&mut *self.0)
        .await?;
        let mut out: HashMap<Uuid, Vec<AttributeValue>> = HashMap::new();
        for r in rows {
            out.entry(r.try_get::<Uuid, _>(0)?)
                .or_default()
                .push(AttributeValue {
                    key: r.try_get(1)?,
                    value: r.try_get(2)?,
                    added: r.try_get(3)?,
                });
        }
        Ok(out)
    }

    async fn fill_users(&mut self, mut users: Vec<UserRecord>) -> Result<Vec<UserRecord>> {
        if users.is_empty() {
            return Ok(users);
        }
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let rows = sqlx::query(
            "SELECT user_id, permission, source, granted FROM user_permissions
             WHERE user_id = ANY($1)",
        )
        .bind(ids.clone())
        .fetch_all(&mut *self.0)
        .await?;
        let mut grants: HashMap<Uuid, Vec<Grant>> = HashMap::new();
        for r in rows {
            grants
                .entry(r.try_get::<Uuid, _>(0)?)
                .or_default()
                .push(Grant {
                    permission: r.try_get(1)?,
                    source: r.try_get(2)?,
                    granted: r.try_get(3)?,
                });
        }
        let mut attributes = self.attributes_of(&ids).await?;
        for u in &mut users {
            u.grants = grants.remove(&u.id).unwrap_or_default();
            u.attributes = attributes.remove(&u.id).unwrap_or_default();
            canonical_order(&mut u.grants, &mut u.attributes);
        }
        Ok(users)
    }

    async fn fill_groups(&mut self, mut groups: Vec<GroupRecord>) -> Result<Vec<GroupRecord>> {
        if groups.is_empty() {
            return Ok(groups);
        }
        let ids: Vec<Uuid> = groups.iter().map(|g| g.id).collect();
        let mut attributes = self.attributes_of(&ids).await?;
        for g in &mut groups {
            g.attributes = attributes.remove(&g.id).unwrap_or_default();
            canonical_order(&mut [], &mut g.attributes);
        }
        Ok(groups)
    }
}

#[async_trait]
impl ExportReader for PgTx {
    async fn iams(&mut self) -> Result<Vec<IamRecord>> {
        let rows =
            sqlx::query("SELECT id, name, display_name, created, settings FROM iams ORDER BY name")
                .fetch_all(&mut *self.0)
                .await?;
        rows.iter().map(iam_record).collect()
    }

    async fn custom_permissions(&mut self) -> Result<Vec<PermissionDef>> {
        let rows = sqlx::query(
            "SELECT name, description, builtin FROM permissions WHERE NOT builtin ORDER BY name",
        )
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PermissionDef {
                    name: r.try_get(0)?,
                    description: r.try_get(1)?,
                    builtin: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn users(&mut self, after: Option<Uuid>, limit: u64) -> Result<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after.unwrap_or_default())
            .bind(limit as i64)
            .fetch_all(&mut *self.0)
            .await?;
        let users = rows.iter().map(user_record).collect::<Result<Vec<_>>>()?;
        self.fill_users(users).await
    }

    async fn groups(&mut self, after: Option<Uuid>, limit: u64) -> Result<Vec<GroupRecord>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after.unwrap_or_default())
            .bind(limit as i64)
            .fetch_all(&mut *self.0)
            .await?;
        let groups = rows.iter().map(group_record).collect::<Result<Vec<_>>>()?;
        self.fill_groups(groups).await
    }

    async fn memberships(
        &mut self,
        after: Option<(Uuid, Uuid)>,
        limit: u64,
    ) -> Result<Vec<MembershipRecord>> {
        let (g, m) = after.unwrap_or_default();
        let rows = sqlx::query(
            "SELECT group_id, member_id, member_kind, added FROM group_members
             WHERE (group_id, member_id) > ($1, $2) ORDER BY group_id, member_id LIMIT $3",
        )
        .bind(g)
        .bind(m)
        .bind(limit as i64)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter().map(membership_record).collect()
    }

    async fn subscriptions(
        &mut self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(
            "SELECT id, user_id, data_source, role, subscribed, expires FROM subscriptions
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or_default())
        .bind(limit as i64)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter().map(subscription).collect()
    }
}

fn iam_record(r: &PgRow) -> Result<IamRecord> {
    Ok(IamRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        display_name: r.try_get("display_name")?,
        created: r.try_get("created")?,
        settings: r.try_get("settings")?,
    })
}

fn membership_record(r: &PgRow) -> Result<MembershipRecord> {
    let kind: &str = r.try_get(2)?;
    Ok(MembershipRecord {
        group: r.try_get(0)?,
        member: r.try_get(1)?,
        kind: MemberKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("member kind {kind}")))?,
        added: r.try_get(3)?,
    })
}

#[async_trait]
impl ImportWriter for PgTx {
    async fn iam_by_name(&mut self, name: &str) -> Result<Option<IamRecord>> {
        let row = sqlx::query(
            "SELECT id, name, display_name, created, settings FROM iams WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&mut *self.0)
        .await?;
        row.as_ref().map(iam_record).transpose()
    }

    async fn insert_iam(&mut self, r: &IamRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO iams (id, name, display_name, created, settings) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(r.id)
        .bind(&r.name)
        .bind(&r.display_name)
        .bind(r.created)
        .bind(&r.settings)
        .execute(&mut *self.0)
        .await
        .map_err(|e| unique(e, "iams_name"))?;
        Ok(())
    }

    async fn update_iam(&mut self, id: Uuid, r: &IamRecord) -> Result<()> {
        sqlx::query("UPDATE iams SET display_name = $2, settings = $3 WHERE id = $1")
            .bind(id)
            .bind(&r.display_name)
            .bind(&r.settings)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn permission(&mut self, name: &str) -> Result<Option<PermissionDef>> {
        let row: Option<(String, bool)> =
            sqlx::query_as("SELECT description, builtin FROM permissions WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *self.0)
                .await?;
        Ok(row.map(|(description, builtin)| PermissionDef {
            name: name.to_owned(),
            description,
            builtin,
        }))
    }

    async fn insert_permission(&mut self, p: &PermissionDef, now: OffsetDateTime) -> Result<()> {
        sqlx::query(
            "INSERT INTO permissions (name, description, builtin, created) VALUES ($1, $2, false, $3)",
        )
        .bind(&p.name)
        .bind(&p.description)
        .bind(now)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn update_permission(&mut self, p: &PermissionDef) -> Result<()> {
        sqlx::query("UPDATE permissions SET description = $2 WHERE name = $1 AND NOT builtin")
            .bind(&p.name)
            .bind(&p.description)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn users_by_ids(&mut self, ids: &[Uuid]) -> Result<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ANY($1)");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(ids.to_vec())
            .fetch_all(&mut *self.0)
            .await?;
        let users = rows.iter().map(user_record).collect::<Result<Vec<_>>>()?;
        self.fill_users(users).await
    }

    async fn insert_user(&mut self, r: &UserRecord, w: &UserWrite) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, iam_id, user_name, user_name_folded, external_id,
                                display_name_folded, active, doc, search, password_hash,
                                created, last_modified, version, disabled, deprovisioned,
                                deprovisioned_from)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(r.id)
        .bind(r.iam)
        .bind(w.user_name.as_str())
        .bind(w.user_name.folded())
        .bind(&w.external_id)
        .bind(&w.display_name_folded)
        .bind(w.active)
        .bind(&r.doc)
        .bind(&w.search)
        .bind(w.password_hash.clone().flatten())
        .bind(r.created)
        .bind(r.last_modified)
        .bind(r.version)
        .bind(r.disabled)
        .bind(r.deprovisioned)
        .bind(r.deprovisioned_from)
        .execute(&mut *self.0)
        .await
        .map_err(|e| unique(e, "users_iam_user_name"))?;
        let values = email_values(&w.search);
        if !values.is_empty() {
            // A new user: nothing to delete first.
            sqlx::query(
                "INSERT INTO user_emails (value, user_id) SELECT v, $2 FROM unnest($1::text[]) AS v
                 ON CONFLICT DO NOTHING",
            )
            .bind(values)
            .bind(r.id)
            .execute(&mut *self.0)
            .await?;
        }
        Ok(())
    }

    async fn update_user(&mut self, r: &UserRecord, w: &UserWrite) -> Result<()> {
        sqlx::query(
            "UPDATE users SET iam_id = $2, user_name = $3, user_name_folded = $4,
                 external_id = $5, display_name_folded = $6, active = $7, doc = $8,
                 search = $9, password_hash = COALESCE($10, password_hash), created = $11,
                 last_modified = $12, version = $13, disabled = $14, deprovisioned = $15,
                 deprovisioned_from = $16,
                 -- as a disable or enable would: no token outlives the change
                 token_generation = token_generation
                     + CASE WHEN disabled <> $14 THEN 1 ELSE 0 END
             WHERE id = $1",
        )
        .bind(r.id)
        .bind(r.iam)
        .bind(w.user_name.as_str())
        .bind(w.user_name.folded())
        .bind(&w.external_id)
        .bind(&w.display_name_folded)
        .bind(w.active)
        .bind(&r.doc)
        .bind(&w.search)
        .bind(w.password_hash.clone().flatten())
        .bind(r.created)
        .bind(r.last_modified)
        .bind(r.version)
        .bind(r.disabled)
        .bind(r.deprovisioned)
        .bind(r.deprovisioned_from)
        .execute(&mut *self.0)
        .await
        .map_err(|e| unique(e, "users_iam_user_name"))?;
        write_emails(&mut self.0, r.id, &w.search).await
    }

    async fn put_grants(&mut self, user: Uuid, grants: &[Grant], clear: bool) -> Result<()> {
        if clear {
            sqlx::query("DELETE FROM user_permissions WHERE user_id = $1")
                .bind(user)
                .execute(&mut *self.0)
                .await?;
        }
        if grants.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO user_permissions (user_id, permission, source, granted)
             SELECT $1, p, s, g FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS t (p, s, g)",
        )
        .bind(user)
        .bind(grants.iter().map(|g| g.permission.clone()).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.source.clone()).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.granted).collect::<Vec<_>>())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn put_attributes(
        &mut self,
        owner: Uuid,
        attributes: &[AttributeValue],
        clear: bool,
    ) -> Result<()> {
        if clear {
            sqlx::query("DELETE FROM attributes WHERE owner_id = $1")
                .bind(owner)
                .execute(&mut *self.0)
                .await?;
        }
        if attributes.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO attributes (owner_id, key, value, added)
             SELECT $1, k, v, a FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS t (k, v, a)",
        )
        .bind(owner)
        .bind(attributes.iter().map(|a| a.key.clone()).collect::<Vec<_>>())
        .bind(attributes.iter().map(|a| a.value.clone()).collect::<Vec<_>>())
        .bind(attributes.iter().map(|a| a.added).collect::<Vec<_>>())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn groups_by_ids(&mut self, ids: &[Uuid]) -> Result<Vec<GroupRecord>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = ANY($1)");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(ids.to_vec())
            .fetch_all(&mut *self.0)
            .await?;
        let groups = rows.iter().map(group_record).collect::<Result<Vec<_>>>()?;
        self.fill_groups(groups).await
    }

    async fn insert_group(&mut self, r: &GroupRecord, w: &GroupWrite) -> Result<()> {
        sqlx::query(
            "INSERT INTO groups (id, iam_id, display_name, display_name_folded, external_id, doc,
                                 search, created, last_modified, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(r.id)
        .bind(r.iam)
        .bind(&w.display_name)
        .bind(&w.display_name_folded)
        .bind(&w.external_id)
        .bind(&r.doc)
        .bind(&w.search)
        .bind(r.created)
        .bind(r.last_modified)
        .bind(r.version)
        .execute(&mut *self.0)
        .await
        .map_err(|e| unique(e, "groups_iam_display_name"))?;
        Ok(())
    }

    async fn update_group(&mut self, r: &GroupRecord, w: &GroupWrite) -> Result<()> {
        sqlx::query(
            "UPDATE groups SET display_name = $2, display_name_folded = $3, external_id = $4,
                 doc = $5, search = $6, created = $7, last_modified = $8, version = $9
             WHERE id = $1",
        )
        .bind(r.id)
        .bind(&w.display_name)
        .bind(&w.display_name_folded)
        .bind(&w.external_id)
        .bind(&r.doc)
        .bind(&w.search)
        .bind(r.created)
        .bind(r.last_modified)
        .bind(r.version)
        .execute(&mut *self.0)
        .await
        .map_err(|e| unique(e, "groups_iam_display_name"))?;
        Ok(())
    }

    async fn membership(&mut self, group: Uuid, member: Uuid) -> Result<Option<MembershipRecord>> {
        let row = sqlx::query(
            "SELECT group_id, member_id, member_kind, added FROM group_members
             WHERE group_id = $1 AND member_id = $2",
        )
        .bind(group)
        .bind(member)
        .fetch_optional(&mut *self.0)
        .await?;
        row.as_ref().map(membership_record).transpose()
    }

    async fn exists(&mut self, kind: MemberKind, id: Uuid) -> Result<bool> {
        let sql = match kind {
            MemberKind::User => "SELECT 1::int8 FROM users WHERE id = $1",
            MemberKind::Group => "SELECT 1::int8 FROM groups WHERE id = $1",
        };
        let found: Option<i64> = sqlx::query_scalar(sql)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(found.is_some())
    }

    async fn put_membership(&mut self, m: &MembershipRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_members (group_id, member_id, member_kind, added)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_id, member_id)
             DO UPDATE SET member_kind = excluded.member_kind, added = excluded.added",
        )
        .bind(m.group)
        .bind(m.member)
        .bind(m.kind.as_str())
        .bind(m.added)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn check_nesting(&mut self, group: Uuid, member: Uuid) -> Result<()> {
        let member = [(member, MemberKind::Group)];
        super::nesting::check(&mut self.0, group, &member, &[member[0].0]).await
    }

    async fn subscription(&mut self, id: Uuid) -> Result<Option<Subscription>> {
        let row = sqlx::query(
            "SELECT id, user_id, data_source, role, subscribed, expires FROM subscriptions
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.0)
        .await?;
        row.as_ref().map(subscription).transpose()
    }

    async fn put_subscription(&mut self, s: &Subscription, exists: bool) -> Result<()> {
        if exists {
            sqlx::query("DELETE FROM subscriptions WHERE id = $1")
                .bind(s.id)
                .execute(&mut *self.0)
                .await?;
        }
        sqlx::query(
            "INSERT INTO subscriptions (id, user_id, data_source, role, subscribed, expires)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.id)
        .bind(s.user_id)
        .bind(&s.data_source)
        .bind(&s.role)
        .bind(s.subscribed)
        .bind(s.expires)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Transfer for PgStore {
    fn export(&self, page: u64) -> ExportStream<'_> {
        let pool = self.pool.clone();
        export_pages(
            async move {
                Ok(PgTx(
                    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                        .await?,
                ))
            },
            page,
        )
    }

    async fn import(
        &self,
        items: &[ImportItem],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<Vec<Outcome>, ItemFailed>> {
        let mut tx = PgTx(self.pool.begin().await?);
        // Memberships of groups in groups are judged under the nesting
        // locks, taken before any row is written (see `nesting`); an import
        // may touch any IAM, so it takes them all.
        let nests = items
            .iter()
            .any(|i| matches!(i, ImportItem::Membership(m) if m.kind == MemberKind::Group));
        if nests {
            let iams: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM iams")
                .fetch_all(&mut *tx.0)
                .await?;
            super::nesting::lock_iams(&mut tx.0, &iams).await?;
        }
        let outcomes = match apply_batch(&mut tx, items, now).await {
            Ok(o) => o,
            Err(failed) => {
                tx.0.rollback().await?;
                return Ok(Err(failed));
            }
        };
        let entries = imported_entries(audit, items, &outcomes);
        if entries.is_empty() {
            // Nothing changed: nothing to make durable.
            tx.0.rollback().await?;
            return Ok(Ok(outcomes));
        }
        accounts::append_audits(&mut tx.0, &entries, now).await?;
        tx.0.commit().await?;
        Ok(Ok(outcomes))
    }

    async fn backup_into(&self, _path: &std::path::Path) -> Result<()> {
        Err(StoreError::Config(
            "backup copies SQLite databases; for PostgreSQL use pg_dump \
             (pg_dump --format=custom --file=scim-bridge.dump DBNAME; see docs/BACKUPS.md)"
                .into(),
        ))
    }
}
