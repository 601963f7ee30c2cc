//! Reading the audit log (reports, chain verification) and recording a
//! refused attempt. Writes append through `sql::audit` in their own
//! transaction.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::super::{Backend, Bind, Query, Record, SqlStore, audit, query};
use crate::audit::{self as log, Entry};
use crate::store::accounts::{AuditLog, AuditQuery};
use crate::store::{Result, StoreError};

#[async_trait]
impl<B: Backend> AuditLog for SqlStore<B> {
    async fn audit_append(&self, entry: &Entry, now: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin().await?;
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await
    }

    /// A report read a replica may serve (`Backend::scaled`).
    async fn audit_records(&self, q: &AuditQuery) -> Result<(Vec<log::Record>, u64)> {
        let (filter, mut binds) = q.filter();
        let count = Query::with(
            format!("SELECT COUNT(*) FROM audit_log {filter}"),
            binds.clone(),
        );
        let page = format!(
            "SELECT * FROM audit_log {filter} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        binds.push(Bind::Int(q.limit as i64));
        binds.push(Bind::Int(q.offset as i64));
        let page = Query::with(page, binds);
        self.scaled(move |c| {
            let (count, page) = (count.clone(), page.clone());
            Box::pin(async move {
                let total = B::fetch_one(c, count).await?.int(0)?;
                let rows = B::fetch_all(c, page).await?;
                let items = rows.iter().map(record).collect::<Result<_>>()?;
                Ok((items, total as u64))
            })
        })
        .await
    }

    async fn audit_chain(&self, after: i64, limit: u64) -> Result<Vec<log::Record>> {
        let rows = self
            .read_all(
                query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind(after)
                    .bind(limit as i64),
            )
            .await?;
        rows.iter().map(record).collect()
    }

    async fn audit_head(&self) -> Result<(i64, String)> {
        let mut c = self.read().await?;
        let r = B::fetch_one(
            &mut c,
            query("SELECT seq, hash FROM audit_head WHERE id = 1"),
        )
        .await?;
        Ok((r.int("seq")?, r.text("hash")?))
    }
}

fn record(r: &impl Record) -> Result<log::Record> {
    Ok(log::Record {
        seq: r.int("seq")?,
        id: r.uuid("id")?,
        at: r.time("at")?,
        actor: r.text("actor")?,
        action: r.text("action")?,
        target_kind: r.opt_text("target_kind")?,
        target_id: r.opt_uuid("target_id")?,
        outcome: r.text("outcome")?,
        request_id: r.opt_text("request_id")?,
        attributes: serde_json::from_value(r.json("attributes")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        prev_hash: r.text("prev_hash")?,
        hash: r.text("hash")?,
    })
}
