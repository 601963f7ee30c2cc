//! Reading the audit log (reports, chain verification) and recording a
//! refused attempt. Writes append through `sql::audit` in their own
//! transaction.

use time::OffsetDateTime;

use super::super::{Backend, Bind, Query, Record, SqlStore, audit, query};
use crate::audit::{self as log, Entry};
use crate::store::accounts::AuditQuery;
use crate::store::{Result, StoreError};

/// Records an attempt that changed nothing, in its own transaction.
pub(super) async fn append<B: Backend>(
    s: &SqlStore<B>,
    entry: &Entry,
    now: OffsetDateTime,
) -> Result<()> {
    let mut tx = s.begin().await?;
    audit::append::<B>(&mut tx, entry, now).await?;
    B::commit(tx).await
}

/// A page of the records a report asks for, newest first, and their total.
pub(super) async fn records<B: Backend>(
    s: &SqlStore<B>,
    q: &AuditQuery,
) -> Result<(Vec<log::Record>, u64)> {
    let (filter, mut binds) = q.filter();
    let mut c = s.read().await?;
    let count = Query::with(
        format!("SELECT COUNT(*) FROM audit_log {filter}"),
        binds.clone(),
    );
    let total = B::fetch_one(&mut c, count).await?.int(0)?;
    let page = format!(
        "SELECT * FROM audit_log {filter} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
        binds.len() + 1,
        binds.len() + 2
    );
    binds.push(Bind::Int(q.limit as i64));
    binds.push(Bind::Int(q.offset as i64));
    let rows = B::fetch_all(&mut c, Query::with(page, binds)).await?;
    let items = rows.iter().map(record).collect::<Result<_>>()?;
    Ok((items, total as u64))
}

/// The records with `seq` > `after`, at most `limit`, in order.
pub(super) async fn chain<B: Backend>(
    s: &SqlStore<B>,
    after: i64,
    limit: u64,
) -> Result<Vec<log::Record>> {
    let rows = s
        .read_all(
            query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(limit as i64),
        )
        .await?;
    rows.iter().map(record).collect()
}

/// The chain's head: last seq and hash.
pub(super) async fn head<B: Backend>(s: &SqlStore<B>) -> Result<(i64, String)> {
    let mut c = s.read().await?;
    let r = B::fetch_one(
        &mut c,
        query("SELECT seq, hash FROM audit_head WHERE id = 1"),
    )
    .await?;
    Ok((r.int("seq")?, r.text("hash")?))
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
