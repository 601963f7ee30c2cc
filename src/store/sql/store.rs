//! The storage trait, implemented once: the health of the database and its
//! migrations, IAMs, SCIM tokens and the signing key here; users, groups,
//! members, lists and batches in the modules beside this one.

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Backend, Record, SqlStore, audit, batch, groups, lists, members, query, unique, users,
};
use crate::audit::Entry;
use crate::store::{
    GroupPatch, GroupRecords, GroupRef, GroupWrite, Iam, ListPage, ListQuery, Member, MemberKind,
    MemberStream, NewResource, NewToken, PoolStats, ResourceKind, Result, Store, Stored, TokenInfo,
    TokenSecret, UserWrite, accounts::Accounts, migrations::Applied, transfer::Transfer,
};

fn iam_row(r: &impl Record) -> Result<Iam> {
    Ok(Iam {
        id: r.uuid("id")?,
        name: r.text("name")?,
        display_name: r.opt_text("display_name")?,
        created: r.time("created")?,
    })
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B>
where
    Self: Accounts + Transfer,
{
    async fn migrate(&self) -> Result<()> {
        self.db.migrate().await
    }

    async fn ping(&self) -> Result<()> {
        self.read_one(query("SELECT 1")).await?;
        Ok(())
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        self.db.pool_stats()
    }

    async fn applied_migrations(&self) -> Result<Vec<Applied>> {
        let rows = self
            .read_all(query(
                "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version",
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Applied {
                    version: r.int("version")?,
                    success: r.bool("success")?,
                    checksum: r.bytes("checksum")?,
                })
            })
            .collect()
    }

    fn embedded_migrations(&self) -> &'static sqlx::migrate::Migrator {
        self.db.migrator()
    }

    async fn create_iam(
        &self,
        id: Uuid,
        name: &str,
        display_name: Option<&str>,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<Iam> {
        let mut tx = self.begin().await?;
        B::execute(
            &mut tx,
            query("INSERT INTO iams (id, name, display_name, created) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(name)
                .bind(display_name)
                .bind(now),
        )
        .await
        .map_err(|e| unique(e, "iams_name"))?;
        audit::append::<B>(&mut tx, record, now).await?;
        B::commit(tx).await?;
        Ok(Iam {
            id,
            name: name.to_owned(),
            display_name: display_name.map(str::to_owned),
            created: now,
        })
    }

    async fn list_iams(&self) -> Result<Vec<Iam>> {
        let sql = format!(
            "SELECT id, name, display_name, created FROM iams ORDER BY name{}",
            B::DIALECT.bytewise()
        );
        let rows = self.read_all(query(sql)).await?;
        rows.iter().map(iam_row).collect()
    }

    async fn iam_by_name(&self, name: &str) -> Result<Option<Iam>> {
        let row = self
            .read_optional(
                query("SELECT id, name, display_name, created FROM iams WHERE name = $1")
                    .bind(name),
            )
            .await?;
        row.as_ref().map(iam_row).transpose()
    }

    async fn create_token(&self, t: &NewToken, record: &Entry) -> Result<()> {
        let mut tx = self.begin().await?;
        B::execute(
            &mut tx,
            query(
                "INSERT INTO scim_tokens (id, iam_id, label, secret_hash, created)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(t.id)
            .bind(t.iam_id)
            .bind(&t.label)
            .bind(&t.secret_hash)
            .bind(t.created),
        )
        .await?;
        audit::append::<B>(&mut tx, record, t.created).await?;
        B::commit(tx).await
    }

    async fn token_secret(&self, id: Uuid) -> Result<Option<TokenSecret>> {
        let row = self
            .read_optional(
                query(
                    "SELECT iam_id, secret_hash, revoked IS NOT NULL AS revoked, last_used
                     FROM scim_tokens WHERE id = $1",
                )
                .bind(id),
            )
            .await?;
        row.map(|r| {
            Ok(TokenSecret {
                iam_id: r.uuid("iam_id")?,
                secret_hash: r.bytes("secret_hash")?,
                revoked: r.bool("revoked")?,
                last_used: r.opt_time("last_used")?,
            })
        })
        .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = self
            .read_all(query(
                "SELECT t.id, t.iam_id, i.name AS iam_name, t.label, t.created, t.revoked,
                        t.last_used
                 FROM scim_tokens t JOIN iams i ON i.id = t.iam_id ORDER BY t.created, t.id",
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.uuid("id")?,
                    iam_id: r.uuid("iam_id")?,
                    iam_name: r.text("iam_name")?,
                    label: r.opt_text("label")?,
                    created: r.time("created")?,
                    revoked: r.opt_time("revoked")?,
                    last_used: r.opt_time("last_used")?,
                })
            })
            .collect()
    }

    async fn token_used(&self, id: Uuid, now: OffsetDateTime) -> Result<()> {
        self.write_one(
            query("UPDATE scim_tokens SET last_used = $1 WHERE id = $2")
                .bind(now)
                .bind(id),
        )
        .await?;
        Ok(())
    }

    async fn revoke_token(&self, id: Uuid, record: &Entry, now: OffsetDateTime) -> Result<bool> {
        let mut tx = self.begin().await?;
        let changed = B::execute(
            &mut tx,
            query("UPDATE scim_tokens SET revoked = $1 WHERE id = $2 AND revoked IS NULL")
                .bind(now)
                .bind(id),
        )
        .await?;
        if changed != 1 {
            return Ok(false);
        }
        audit::append::<B>(&mut tx, record, now).await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn create_user(
        &self,
        iam: Uuid,
        id: Uuid,
        u: &UserWrite,
        grants: &[String],
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Stored> {
        users::insert(self, iam, id, u, grants, records, now).await
    }

    async fn get_user(&self, iam: Uuid, id: Uuid) -> Result<Option<Stored>> {
        lists::get(self, "users", iam, id).await
    }

    async fn get_user_with_groups(
        &self,
        iam: Uuid,
        id: Uuid,
    ) -> Result<Option<(Stored, Vec<GroupRef>)>> {
        lists::user_with_groups(self, iam, id).await
    }

    async fn replace_user(
        &self,
        iam: Uuid,
        id: Uuid,
        u: &UserWrite,
        if_version: Option<i64>,
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Stored> {
        users::replace(self, iam, id, u, if_version, records, now).await
    }

    async fn list_users(&self, iam: Uuid, q: &ListQuery) -> Result<ListPage> {
        lists::list(self, ResourceKind::User, iam, q).await
    }

    async fn groups_of_users(
        &self,
        iam: Uuid,
        users: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<GroupRef>>> {
        users::groups_of(self, iam, users).await
    }

    async fn insert_group(
        &self,
        iam: Uuid,
        id: Uuid,
        g: &GroupWrite,
        members: &[(Uuid, MemberKind)],
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Stored> {
        groups::insert(self, iam, id, g, members, records, now).await
    }

    async fn get_group(&self, iam: Uuid, id: Uuid) -> Result<Option<Stored>> {
        lists::get(self, "groups", iam, id).await
    }

    // One transaction's inputs: the group, its members, the version it
    // must still have, and its records.
    #[allow(clippy::too_many_arguments)]
    async fn replace_group(
        &self,
        iam: Uuid,
        id: Uuid,
        g: &GroupWrite,
        members: &[(Uuid, MemberKind)],
        if_version: Option<i64>,
        records: &GroupRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        groups::replace(self, iam, id, g, members, if_version, records, now).await
    }

    async fn patch_group(
        &self,
        iam: Uuid,
        id: Uuid,
        p: &GroupPatch<'_>,
        if_version: Option<i64>,
        records: &GroupRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        groups::patch(self, iam, id, p, if_version, records, now).await
    }

    async fn count_members(&self, iam: Uuid, group: Uuid, cap: u64) -> Result<u64> {
        members::count(self, iam, group, cap).await
    }

    async fn delete_group(
        &self,
        iam: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<()> {
        groups::delete(self, iam, id, if_version, records, now).await
    }

    async fn list_groups(&self, iam: Uuid, q: &ListQuery) -> Result<ListPage> {
        lists::list(self, ResourceKind::Group, iam, q).await
    }

    async fn explain_list(&self, kind: ResourceKind, iam: Uuid, q: &ListQuery) -> Result<String> {
        lists::explain(self, kind, iam, q).await
    }

    async fn group_members(&self, iam: Uuid, group: Uuid) -> Result<Vec<Member>> {
        members::all(self, iam, group).await
    }

    async fn resolve_members(&self, iam: Uuid, ids: &[Uuid]) -> Result<HashMap<Uuid, MemberKind>> {
        members::resolve(self, iam, ids).await
    }

    async fn signing_key(&self) -> Result<Vec<u8>> {
        let fresh: [u8; 32] = rand::random();
        self.write_one(
            query(
                "INSERT INTO signing_keys (id, secret, created) VALUES (1, $1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(fresh.to_vec())
            .bind(OffsetDateTime::now_utc()),
        )
        .await?;
        let mut c = self.writer().await?;
        let row = B::fetch_one(
            &mut c,
            query("SELECT secret FROM signing_keys WHERE id = 1"),
        )
        .await?;
        row.bytes("secret")
    }

    async fn insert_batch(
        &self,
        iam: Uuid,
        items: &[NewResource<'_>],
        max_errors: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Result<Stored>>> {
        batch::insert(self, iam, items, max_errors, now).await
    }

    fn stream_members(&self, iam: Uuid, group: Uuid) -> MemberStream<'_> {
        members::stream(self, iam, group)
    }

    async fn insert_users(
        &self,
        iam: Uuid,
        users: &[(Uuid, UserWrite)],
        now: OffsetDateTime,
    ) -> Result<()> {
        users::insert_many(self, iam, users, now).await
    }
}
