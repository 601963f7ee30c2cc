//! The database's health and migrations, IAMs, SCIM tokens and the signing
//! key; the other traits of `Store` are implemented in the modules beside
//! this one.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Backend, Record, SqlStore, audit, query, unique};
use crate::audit::Entry;
use crate::store::{
    Database, Iam, Iams, NewToken, PoolStats, Result, TokenInfo, TokenSecret, Tokens,
    migrations::Applied,
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
impl<B: Backend> Database for SqlStore<B> {
    async fn migrate(&self) -> Result<()> {
        self.db.migrate().await
    }

    /// Answers, and takes writes: a standby or a primary being demoted
    /// is unavailable (`/readyz` is not ready while no primary answers).
    async fn ping(&self) -> Result<()> {
        let row = self.read_one(query(B::DIALECT.writable_probe())).await?;
        if !row.bool("writable")? {
            return Err(crate::store::attempt::unavailable(
                "the database is read-only (not the primary)".into(),
            ));
        }
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

    async fn wrote_as(&self, id: Uuid) {
        self.db.wrote_as(id).await
    }

    fn scaled_reads(&self) -> Option<crate::store::read_scaling::ScaledReads> {
        self.db.scaled_reads()
    }
}

#[async_trait]
impl<B: Backend> Iams for SqlStore<B> {
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
}

#[async_trait]
impl<B: Backend> Tokens for SqlStore<B> {
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

    /// Read first: a key made once is only read again, so that a server
    /// starting while the database is read-only (a failover) still
    /// verifies admin tokens.
    async fn signing_key(&self) -> Result<Vec<u8>> {
        let read = query("SELECT secret FROM signing_keys WHERE id = 1");
        if let Some(row) = self.read_optional(read.clone()).await? {
            return row.bytes("secret");
        }
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
        let row = B::fetch_one(&mut c, read).await?;
        row.bytes("secret")
    }
}
