//! Global subscription policies: canonical documents by key.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use super::super::{Backend, Record, SqlStore, audit, query, unique};
use crate::audit::Entry;
use crate::store::governance::{Policies, PolicyRecord, StoredPolicy};
use crate::store::{Result, StoreError};

pub(in crate::store::sql) const POLICY_COLUMNS: &str = "id, policy_key, document, created, updated";

pub(in crate::store::sql) fn policy_row(r: &impl Record) -> Result<StoredPolicy> {
    Ok(StoredPolicy {
        id: r.uuid("id")?,
        key: r.text("policy_key")?,
        document: r.json("document")?,
        created: r.time("created")?,
        updated: r.time("updated")?,
    })
}

/// The policy of `key`, locked until the transaction ends; NotFound
/// without one.
async fn locked<B: Backend>(tx: &mut B::Conn, key: &str) -> Result<StoredPolicy> {
    let sql = format!(
        "SELECT {POLICY_COLUMNS} FROM policies WHERE policy_key = $1{}",
        B::DIALECT.for_update()
    );
    let row = B::fetch_optional(tx, query(sql).bind(key)).await?;
    row.as_ref()
        .map(policy_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl<B: Backend> Policies for SqlStore<B> {
    async fn create_policy(&self, p: &StoredPolicy, record: &Entry) -> Result<()> {
        let mut tx = self.begin().await?;
        let sql = format!("INSERT INTO policies ({POLICY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
        B::execute(
            &mut tx,
            query(sql)
                .bind(p.id)
                .bind(&p.key)
                .bind(&p.document)
                .bind(p.created)
                .bind(p.updated),
        )
        .await
        .map_err(|e| unique(e, "policies_key"))?;
        audit::append::<B>(&mut tx, record, p.created).await?;
        B::commit(tx).await
    }

    async fn policies(&self) -> Result<Vec<StoredPolicy>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policies ORDER BY policy_key{}",
            B::DIALECT.bytewise()
        );
        let rows = self.read_all(query(sql)).await?;
        rows.iter().map(policy_row).collect()
    }

    async fn policy(&self, key: &str) -> Result<Option<StoredPolicy>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM policies WHERE policy_key = $1");
        let row = self.read_optional(query(sql).bind(key)).await?;
        row.as_ref().map(policy_row).transpose()
    }

    async fn replace_policy(
        &self,
        key: &str,
        document: &Value,
        record: &PolicyRecord<'_>,
        now: OffsetDateTime,
    ) -> Result<StoredPolicy> {
        let mut tx = self.begin().await?;
        let old = locked::<B>(&mut tx, key).await?;
        B::execute(
            &mut tx,
            query("UPDATE policies SET document = $1, updated = $2 WHERE id = $3")
                .bind(document)
                .bind(now)
                .bind(old.id),
        )
        .await?;
        audit::append::<B>(&mut tx, &record(&old), now).await?;
        B::commit(tx).await?;
        Ok(StoredPolicy {
            document: document.clone(),
            updated: now,
            ..old
        })
    }

    async fn delete_policy(
        &self,
        key: &str,
        record: &PolicyRecord<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let old = locked::<B>(&mut tx, key).await?;
        B::execute(
            &mut tx,
            query("DELETE FROM policies WHERE id = $1").bind(old.id),
        )
        .await?;
        audit::append::<B>(&mut tx, &record(&old), now).await?;
        B::commit(tx).await
    }
}
