//! Event streams and their deliveries (issue 19): the streams' rows, the
//! fan-out from the audit log, and the deliveries' claims and attempts.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Backend, Bind, Dialect, Record, SqlStore, Ty, audit, query};
use crate::audit::Entry;
use crate::events::{Change, Snapshot};
use crate::store::Result;
use crate::store::events::{
    Attempt, Delivery, Deriver, Events, NewDelivery, SetKey, Stream, types_of,
};

const STREAM_COLUMNS: &str = "id, format, delivery, endpoint, events, iam_id, full_data, status, \
                              secret, cursor, created, updated, audience, poll_token_hash";

const DELIVERY_COLUMNS: &str = "stream_id, seq, event_id, event_type, resource, status, attempts, \
                                next_at, since, last_status, last_error, updated";

/// A delivery's columns read from `event_deliveries d`, its body (kept in
/// `event_bodies`, migration 0023) looked up by primary key for each row
/// the statement answers.
const DELIVERY_WITH_BODY: &str = "d.stream_id, d.seq, d.event_id, d.event_type, d.resource, \
     d.status, d.attempts, d.next_at, d.since, d.last_status, d.last_error, d.updated, \
     (SELECT b.body FROM event_bodies b WHERE b.stream_id = d.stream_id AND b.seq = d.seq) AS body";

fn stream_row(r: &impl Record) -> Result<Stream> {
    Ok(Stream {
        id: r.uuid("id")?,
        format: r.text("format")?,
        delivery: r.text("delivery")?,
        endpoint: r.opt_text("endpoint")?,
        events: types_of(&r.json("events")?),
        iam: r.opt_uuid("iam_id")?,
        full: r.bool("full_data")?,
        status: r.text("status")?,
        secret: r.text("secret")?,
        audience: r.opt_text("audience")?,
        poll_token_hash: r.opt_text("poll_token_hash")?,
        cursor: r.int("cursor")?,
        created: r.time("created")?,
        updated: r.time("updated")?,
    })
}

/// A delivery as a row of `DELIVERY_WITH_BODY` has it.
fn delivery_row(r: &impl Record) -> Result<Delivery> {
    Ok(Delivery {
        body: r.opt_text("body")?.unwrap_or_default(),
        ..listed_row(r)?
    })
}

/// A delivery as a list shows it: without its body.
fn listed_row(r: &impl Record) -> Result<Delivery> {
    Ok(Delivery {
        stream_id: r.uuid("stream_id")?,
        seq: r.int("seq")?,
        event_id: r.uuid("event_id")?,
        event_type: r.text("event_type")?,
        resource: r.text("resource")?,
        body: String::new(),
        status: r.text("status")?,
        attempts: r.int("attempts")?,
        next_at: r.time("next_at")?,
        since: r.time("since")?,
        last_status: r.opt_int("last_status")?,
        last_error: r.opt_text("last_error")?,
        updated: r.time("updated")?,
    })
}

/// The stream `id`, locked until the transaction ends.
async fn locked<B: Backend>(tx: &mut B::Conn, id: Uuid) -> Result<Option<Stream>> {
    let sql = format!(
        "SELECT {STREAM_COLUMNS} FROM event_streams WHERE id = $1{}",
        B::DIALECT.for_update()
    );
    let row = B::fetch_optional(tx, query(sql).bind(id)).await?;
    row.as_ref().map(stream_row).transpose()
}

/// The audit records after `cursor`, with the IAM their target is in now
/// (or was deprovisioned from; none once deleted for good).
async fn changes_after<B: Backend>(
    tx: &mut B::Conn,
    cursor: i64,
    limit: i64,
) -> Result<Vec<Change>> {
    let sql = "SELECT a.seq, a.id, a.at, a.actor, a.action, a.outcome, a.target_kind, a.target_id,
                      a.attributes, a.txn, a.via,
                      COALESCE(u.iam_id, u.deprovisioned_from, g.iam_id) AS target_iam,
                      COALESCE(u.external_id, g.external_id) AS external_id,
                      s.seq AS snap_seq, s.doc AS snap_doc, s.created AS snap_created,
                      s.last_modified AS snap_modified, s.version AS snap_version
               FROM audit_log a
               LEFT JOIN users u ON a.target_kind = 'User' AND u.id = a.target_id
               LEFT JOIN groups g ON a.target_kind = 'Group' AND g.id = a.target_id
               LEFT JOIN event_snapshots s ON s.seq = a.seq
               WHERE a.seq > $1 ORDER BY a.seq LIMIT $2";
    let rows = B::fetch_all(tx, query(sql).bind(cursor).bind(limit)).await?;
    rows.iter()
        .map(|r| {
            Ok(Change {
                seq: r.int("seq")?,
                id: r.uuid("id")?,
                at: r.time("at")?,
                actor: r.text("actor")?,
                action: r.text("action")?,
                outcome: r.text("outcome")?,
                target_kind: r.opt_text("target_kind")?,
                target_id: r.opt_uuid("target_id")?,
                attributes: types_of(&r.json("attributes")?),
                target_iam: r.opt_uuid("target_iam")?,
                txn: r.opt_text("txn")?,
                via: r.opt_text("via")?,
                external_id: r.opt_text("external_id")?,
                snapshot: match r.opt_int("snap_seq")? {
                    None => None,
                    Some(_) => Some(Snapshot {
                        doc: r.json("snap_doc")?,
                        created: r.time("snap_created")?,
                        last_modified: r.time("snap_modified")?,
                        version: r.int("snap_version")?,
                    }),
                },
            })
        })
        .collect()
}

/// Inserts a stream's new deliveries, due `now`, and their bodies.
async fn insert_deliveries<B: Backend>(
    tx: &mut B::Conn,
    stream: Uuid,
    now: OffsetDateTime,
    new: Vec<(i64, NewDelivery)>,
) -> Result<()> {
    if new.is_empty() {
        return Ok(());
    }
    if B::DIALECT == Dialect::Sqlite {
        // A statement a delivery, run where the writer's connection is:
        // a list bound as JSON would have each body escaped into it, then
        // parsed out of it again.
        let sql = B::DIALECT.together(
            &format!(
                "INSERT INTO event_deliveries ({DELIVERY_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, NULL, NULL, $6)
                 ON CONFLICT (stream_id, seq) DO NOTHING"
            ),
            "INSERT INTO event_bodies (stream_id, seq, body) VALUES ($1, $2, $7)
             ON CONFLICT (stream_id, seq) DO NOTHING",
        );
        for (seq, d) in new {
            let q = query(sql.clone())
                .bind(stream)
                .bind(seq)
                .bind(d.event_id)
                .bind(d.event_type)
                .bind(d.resource)
                .bind(now)
                .bind(d.body);
            B::execute(tx, q).await?;
        }
        return Ok(());
    }
    // PostgreSQL: one statement (one round trip) for the batch.
    let rows = B::DIALECT.rows(
        3,
        &[
            ("seq", Ty::Int),
            ("event_id", Ty::Uuid),
            ("event_type", Ty::Text),
            ("resource", Ty::Text),
            ("body", Ty::Text),
        ],
    );
    let sql = B::DIALECT.together(
        &format!(
            "INSERT INTO event_deliveries ({DELIVERY_COLUMNS})
             SELECT $1, t.seq, t.event_id, t.event_type, t.resource, 'pending', 0, $2, $2,
                    NULL, NULL, $2 FROM {rows}
             ON CONFLICT (stream_id, seq) DO NOTHING"
        ),
        &format!(
            "INSERT INTO event_bodies (stream_id, seq, body) SELECT $1, t.seq, t.body FROM {rows}
             ON CONFLICT (stream_id, seq) DO NOTHING"
        ),
    );
    let mut seq = Vec::new();
    let mut id = Vec::new();
    let mut kind = Vec::new();
    let mut resource = Vec::new();
    let mut body = Vec::new();
    for (s, d) in new {
        seq.push(s);
        id.push(d.event_id);
        kind.push(Some(d.event_type));
        resource.push(Some(d.resource));
        body.push(Some(d.body));
    }
    let columns = Bind::Columns(vec![
        Bind::Ints(seq),
        Bind::Uuids(id),
        Bind::Texts(kind),
        Bind::Texts(resource),
        Bind::Texts(body),
    ]);
    B::execute(tx, query(sql).bind(stream).bind(now).bind(columns)).await?;
    Ok(())
}

impl<B: Backend> SqlStore<B> {
    /// Records a batch of attempts in one statement (PostgreSQL: one
    /// round trip rather than one a delivery).
    async fn record_attempts_at_once(
        &self,
        stream: Uuid,
        attempts: &[(i64, Attempt)],
        now: OffsetDateTime,
    ) -> Result<()> {
        let rows = B::DIALECT.rows(
            3,
            &[
                ("seq", Ty::Int),
                ("status", Ty::Text),
                ("http_status", Ty::Int),
                ("error", Ty::Text),
                ("next_at", Ty::Time),
            ],
        );
        // An HTTP status of 0 is none.
        let sql = format!(
            "UPDATE event_deliveries
             SET status = t.status, attempts = event_deliveries.attempts + 1,
                 last_status = NULLIF(t.http_status, 0), last_error = t.error,
                 next_at = t.next_at, updated = $2
             FROM {rows}
             WHERE event_deliveries.stream_id = $1 AND event_deliveries.seq = t.seq
               AND event_deliveries.status = 'pending'"
        );
        let mut c = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (seq, a) in attempts {
            c.0.push(*seq);
            c.1.push(Some(a.status.to_owned()));
            c.2.push(a.http_status.unwrap_or(0));
            c.3.push(a.error.clone());
            c.4.push(a.next_at);
        }
        let columns = Bind::Columns(vec![
            Bind::Ints(c.0),
            Bind::Texts(c.1),
            Bind::Ints(c.2),
            Bind::Texts(c.3),
            Bind::Times(c.4),
        ]);
        // Planned for the table as it is at each run: the generic plan
        // PostgreSQL keeps for a prepared statement, made while the table
        // was small (or never analyzed), joined the list to every
        // delivery of the stream (300 ms a round with 100,000 of them,
        // in psql; 0.3 ms planned for the values).
        let q = query(sql)
            .bind(stream)
            .bind(now)
            .bind(columns)
            .planned_each_time();
        self.write_one(q).await?;
        Ok(())
    }
}

#[async_trait]
impl<B: Backend> Events for SqlStore<B> {
    async fn create_stream(&self, s: &Stream, record: &Entry) -> Result<()> {
        let mut tx = self.begin().await?;
        audit::append::<B>(&mut tx, record, s.created).await?;
        let sql = format!(
            "INSERT INTO event_streams ({STREAM_COLUMNS})
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, seq, $10, $10, $11, $12
             FROM audit_head WHERE id = 1"
        );
        let q = query(sql)
            .bind(s.id)
            .bind(&s.format)
            .bind(&s.delivery)
            .bind(&s.endpoint)
            .bind(serde_json::json!(s.events))
            .bind(s.iam)
            .bind(s.full)
            .bind(&s.status)
            .bind(&s.secret)
            .bind(s.created)
            .bind(&s.audience)
            .bind(&s.poll_token_hash);
        B::execute(&mut tx, q).await?;
        B::commit(tx).await
    }

    async fn streams(&self) -> Result<Vec<Stream>> {
        let sql = format!("SELECT {STREAM_COLUMNS} FROM event_streams ORDER BY id");
        let rows = self.read_all(query(sql)).await?;
        rows.iter().map(stream_row).collect()
    }

    async fn stream(&self, id: Uuid) -> Result<Option<Stream>> {
        let sql = format!("SELECT {STREAM_COLUMNS} FROM event_streams WHERE id = $1");
        let row = self.read_optional(query(sql).bind(id)).await?;
        row.as_ref().map(stream_row).transpose()
    }

    async fn set_stream_status(
        &self,
        id: Uuid,
        status: &str,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<Option<Stream>> {
        let mut tx = self.begin().await?;
        let Some(old) = locked::<B>(&mut tx, id).await? else {
            B::rollback(tx).await?;
            return Ok(None);
        };
        audit::append::<B>(&mut tx, record, now).await?;
        // Back from disabled: what changed meanwhile was dropped.
        let cursor = if old.status == "disabled" && status != "disabled" {
            "(SELECT seq FROM audit_head WHERE id = 1)"
        } else {
            "cursor"
        };
        let sql = format!(
            "UPDATE event_streams SET status = $2, updated = $3, cursor = {cursor} WHERE id = $1"
        );
        B::execute(&mut tx, query(sql).bind(id).bind(status).bind(now)).await?;
        let new = locked::<B>(&mut tx, id).await?;
        B::commit(tx).await?;
        Ok(new)
    }

    async fn delete_stream(&self, id: Uuid, record: &Entry, now: OffsetDateTime) -> Result<bool> {
        let mut tx = self.begin().await?;
        if locked::<B>(&mut tx, id).await?.is_none() {
            B::rollback(tx).await?;
            return Ok(false);
        }
        let sql = "DELETE FROM event_bodies WHERE stream_id = $1";
        B::execute(&mut tx, query(sql).bind(id)).await?;
        let sql = B::DIALECT.together(
            "DELETE FROM event_deliveries WHERE stream_id = $1",
            "DELETE FROM event_streams WHERE id = $1",
        );
        B::execute(&mut tx, query(sql).bind(id)).await?;
        audit::append::<B>(&mut tx, record, now).await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn audit_seq(&self) -> Result<i64> {
        let row = self
            .read_one(query("SELECT seq FROM audit_head WHERE id = 1"))
            .await?;
        row.int("seq")
    }

    async fn fan_out(
        &self,
        stream: Uuid,
        limit: i64,
        now: OffsetDateTime,
        derive: &Deriver<'_>,
    ) -> Result<Option<usize>> {
        // The records are read and the bodies made outside the writer:
        // then one write (group commit) moves the cursor and stores the
        // deliveries, only if the stream is still as it was read. Moved
        // by another replica, or its status changed meanwhile: nothing is
        // stored, and the next round reads again.
        let Some(s) = self.stream(stream).await? else {
            return Ok(Some(0));
        };
        let changes = {
            let mut c = self.db.read().await?;
            changes_after::<B>(&mut c, s.cursor, limit).await?
        };
        let Some(last) = changes.last().map(|c| c.seq) else {
            return Ok(Some(0));
        };
        let new: Vec<(i64, NewDelivery)> = if s.status == "disabled" {
            Vec::new()
        } else {
            changes
                .iter()
                .filter_map(|c| derive(c).map(|d| (c.seq, d)))
                .collect()
        };
        let (cursor, status) = (s.cursor, s.status);
        let moved = self
            .write(move |tx| {
                Box::pin(async move {
                    let sql = "UPDATE event_streams SET cursor = $2
                               WHERE id = $1 AND cursor = $3 AND status = $4";
                    let q = query(sql).bind(stream).bind(last).bind(cursor).bind(status);
                    if B::execute(tx, q).await? == 0 {
                        return Ok(false);
                    }
                    insert_deliveries::<B>(tx, stream, now, new).await?;
                    // The resources kept for `full` streams go once every
                    // one of them has read past them (all of them when
                    // none is left).
                    let sql = "DELETE FROM event_snapshots WHERE seq <= COALESCE(
                                   (SELECT MIN(cursor) FROM event_streams WHERE full_data),
                                   (SELECT seq FROM audit_head WHERE id = 1))";
                    B::execute(tx, query(sql)).await?;
                    Ok(true)
                })
            })
            .await?;
        Ok(moved.then_some(changes.len()))
    }

    async fn claim_deliveries(
        &self,
        stream: Uuid,
        now: OffsetDateTime,
        lease: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        // Through the writer (group commit): on SQLite the statements run
        // where the connection is, with no hand-off each, and the COMMIT's
        // fsync is shared with the writes queued meanwhile.
        self.write(move |tx| {
            Box::pin(async move {
                let enabled = locked::<B>(tx, stream)
                    .await?
                    .is_some_and(|s| s.status == "enabled");
                if !enabled {
                    return Ok(Vec::new());
                }
                // Only pending deliveries are read (two partial indexes),
                // however many the stream has made. Whether a delivery is
                // the first pending one of its resource is the smallest
                // `seq` of the resource's pending ones: a lookup of one
                // entry of `event_deliveries_pending` per delivery read,
                // whatever the statistics say. (As a NOT EXISTS, a plan
                // PostgreSQL cached while the table was small, or never
                // analyzed, read every pending delivery of the stream for
                // each one it answered: 126 events/s with 100,000
                // pending.)
                let sql = format!(
                    "SELECT {DELIVERY_WITH_BODY} FROM event_deliveries d{due}
                     WHERE d.stream_id = $1 AND d.status = 'pending' AND d.next_at <= $2
                       AND d.seq = (SELECT MIN(p.seq) FROM event_deliveries p{pending}
                                    WHERE p.stream_id = d.stream_id AND p.resource = d.resource
                                      AND p.status = 'pending')
                     ORDER BY d.seq LIMIT $3",
                    due = B::DIALECT.indexed_by("event_deliveries_due"),
                    pending = B::DIALECT.indexed_by("event_deliveries_pending"),
                );
                let rows = B::fetch_all(tx, query(sql).bind(stream).bind(now).bind(limit)).await?;
                let due: Vec<Delivery> = rows.iter().map(delivery_row).collect::<Result<_>>()?;
                if !due.is_empty() {
                    let seqs: Vec<i64> = due.iter().map(|d| d.seq).collect();
                    let sql = format!(
                        "UPDATE event_deliveries SET next_at = $2
                         WHERE stream_id = $1 AND seq IN ({})",
                        B::DIALECT.each(3, Ty::Int)
                    );
                    B::execute(
                        tx,
                        query(sql).bind(stream).bind(lease).bind(Bind::Ints(seqs)),
                    )
                    .await?;
                }
                Ok(due)
            })
        })
        .await
    }

    async fn record_attempts(
        &self,
        stream: Uuid,
        attempts: &[(i64, Attempt)],
        now: OffsetDateTime,
    ) -> Result<()> {
        if B::DIALECT == Dialect::Postgres {
            return self.record_attempts_at_once(stream, attempts, now).await;
        }
        // One transaction (one commit) for the batch, a statement a row:
        // each finds its row by its primary key (SQLite plans an UPDATE
        // ... FROM a JSON list as a scan of the deliveries per row). Run
        // by the writer itself (group commit), so a statement costs no
        // hand-off between threads.
        let attempts = attempts.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                let sql = "UPDATE event_deliveries
                           SET status = $3, attempts = attempts + 1, last_status = $4,
                               last_error = $5, next_at = $6, updated = $7
                           WHERE stream_id = $1 AND seq = $2 AND status = 'pending'";
                for (seq, a) in attempts {
                    let q = query(sql)
                        .bind(stream)
                        .bind(seq)
                        .bind(a.status)
                        .bind(a.http_status)
                        .bind(a.error)
                        .bind(a.next_at)
                        .bind(now);
                    B::execute(tx, q).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn forget_delivered(
        &self,
        stream: Uuid,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<u64> {
        // The oldest delivered ones, and their bodies, by the same
        // choice (the bodies first: it reads the deliveries).
        let chosen = "SELECT seq FROM event_deliveries
                      WHERE stream_id = $1 AND status = 'delivered' AND updated < $2
                      ORDER BY seq LIMIT $3";
        self.write(move |tx| {
            Box::pin(async move {
                let bodies =
                    format!("DELETE FROM event_bodies WHERE stream_id = $1 AND seq IN ({chosen})");
                let q = query(bodies).bind(stream).bind(before).bind(limit);
                B::execute(tx, q).await?;
                let rows = format!(
                    "DELETE FROM event_deliveries WHERE stream_id = $1 AND seq IN ({chosen})"
                );
                B::execute(tx, query(rows).bind(stream).bind(before).bind(limit)).await
            })
        })
        .await
    }

    async fn deliveries(
        &self,
        stream: Uuid,
        status: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let filter = if status.is_some() {
            " AND status = $4"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM event_deliveries WHERE stream_id = $1{filter}
             ORDER BY seq DESC LIMIT $2 OFFSET $3"
        );
        let mut q = query(sql).bind(stream).bind(limit).bind(offset);
        if let Some(s) = status {
            q = q.bind(s);
        }
        let rows = self.read_all(q).await?;
        rows.iter().map(listed_row).collect()
    }

    async fn retry_delivery(
        &self,
        stream: Uuid,
        event: Uuid,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let sql = "UPDATE event_deliveries SET status = 'pending', next_at = $3, since = $3,
                          updated = $3
                   WHERE stream_id = $1 AND event_id = $2 AND status = 'failed'";
        let n = B::execute(&mut tx, query(sql).bind(stream).bind(event).bind(now)).await?;
        if n == 0 {
            B::rollback(tx).await?;
            return Ok(false);
        }
        audit::append::<B>(&mut tx, record, now).await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn delivery_counts(&self, stream: Uuid) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT status, COUNT(*) AS n FROM event_deliveries WHERE stream_id = $1
                   GROUP BY status ORDER BY status";
        let rows = self.read_all(query(sql).bind(stream)).await?;
        rows.iter()
            .map(|r| Ok((r.text("status")?, r.int("n")?)))
            .collect()
    }

    async fn open_delivery_counts(&self) -> Result<Vec<(Uuid, String, i64)>> {
        let sql = "SELECT stream_id, status, COUNT(*) AS n FROM event_deliveries
                   WHERE status IN ('pending', 'failed') GROUP BY stream_id, status";
        let rows = self.read_all(query(sql)).await?;
        rows.iter()
            .map(|r| Ok((r.uuid("stream_id")?, r.text("status")?, r.int("n")?)))
            .collect()
    }

    async fn queue_verification(
        &self,
        stream: Uuid,
        delivery: &NewDelivery,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        if locked::<B>(&mut tx, stream).await?.is_none() {
            B::rollback(tx).await?;
            return Ok(false);
        }
        audit::append::<B>(&mut tx, record, now).await?;
        // Numbered as its record, which is no event: the fan-out skips it.
        let sql = B::DIALECT.together(
            &format!(
                "INSERT INTO event_deliveries ({DELIVERY_COLUMNS})
                 SELECT $1, seq, $2, $3, $4, 'pending', 0, $6, $6, NULL, NULL, $6
                 FROM audit_head WHERE id = 1"
            ),
            "INSERT INTO event_bodies (stream_id, seq, body)
             SELECT $1, seq, $5 FROM audit_head WHERE id = 1",
        );
        let q = query(sql)
            .bind(stream)
            .bind(delivery.event_id)
            .bind(&delivery.event_type)
            .bind(&delivery.resource)
            .bind(&delivery.body)
            .bind(now);
        B::execute(&mut tx, q).await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn poll(
        &self,
        stream: Uuid,
        acks: &[Uuid],
        errors: &[(Uuid, String)],
        max: i64,
        now: OffsetDateTime,
    ) -> Result<(Vec<Delivery>, bool)> {
        let mut tx = self.begin().await?;
        if !acks.is_empty() {
            let sql = format!(
                "UPDATE event_deliveries SET status = 'delivered', updated = $2
                 WHERE stream_id = $1 AND status = 'pending' AND event_id IN ({})",
                B::DIALECT.each(3, Ty::Uuid)
            );
            let q = query(sql)
                .bind(stream)
                .bind(now)
                .bind(Bind::Uuids(acks.to_vec()));
            B::execute(&mut tx, q).await?;
        }
        for (event, error) in errors {
            let sql = "UPDATE event_deliveries SET status = 'failed', last_error = $3, updated = $4
                       WHERE stream_id = $1 AND event_id = $2 AND status = 'pending'";
            let q = query(sql).bind(stream).bind(*event).bind(error).bind(now);
            B::execute(&mut tx, q).await?;
        }
        let sql = format!(
            "SELECT {DELIVERY_WITH_BODY} FROM event_deliveries d{due}
             WHERE d.stream_id = $1 AND d.status = 'pending' ORDER BY d.seq LIMIT $2",
            due = B::DIALECT.indexed_by("event_deliveries_due"),
        );
        let rows = B::fetch_all(&mut tx, query(sql).bind(stream).bind(max + 1)).await?;
        let mut due: Vec<Delivery> = rows.iter().map(delivery_row).collect::<Result<_>>()?;
        let more = due.len() as i64 > max;
        due.truncate(usize::try_from(max).unwrap_or(0));
        if !due.is_empty() {
            let seqs: Vec<i64> = due.iter().map(|d| d.seq).collect();
            let sql = format!(
                "UPDATE event_deliveries SET attempts = attempts + 1, updated = $2
                 WHERE stream_id = $1 AND seq IN ({})",
                B::DIALECT.each(3, Ty::Int)
            );
            B::execute(
                &mut tx,
                query(sql).bind(stream).bind(now).bind(Bind::Ints(seqs)),
            )
            .await?;
        }
        B::commit(tx).await?;
        Ok((due, more))
    }

    async fn set_keys(&self) -> Result<Vec<SetKey>> {
        let sql = "SELECT kid, private_pem, public_jwk, created FROM set_keys
                   WHERE retired IS NULL ORDER BY created DESC, kid";
        let rows = self.read_all(query(sql)).await?;
        rows.iter()
            .map(|r| {
                Ok(SetKey {
                    kid: r.text("kid")?,
                    private_pem: r.text("private_pem")?,
                    public_jwk: r.text("public_jwk")?,
                    created: r.time("created")?,
                })
            })
            .collect()
    }

    async fn add_set_key(&self, key: &SetKey, record: Option<&Entry>) -> Result<()> {
        let mut tx = self.begin().await?;
        if let Some(record) = record {
            audit::append::<B>(&mut tx, record, key.created).await?;
        }
        let sql = "INSERT INTO set_keys (kid, private_pem, public_jwk, created, retired)
                   VALUES ($1, $2, $3, $4, NULL)";
        let q = query(sql)
            .bind(&key.kid)
            .bind(&key.private_pem)
            .bind(&key.public_jwk)
            .bind(key.created);
        B::execute(&mut tx, q).await?;
        B::commit(tx).await
    }

    async fn retire_set_key(&self, kid: &str, record: &Entry, now: OffsetDateTime) -> Result<bool> {
        let mut tx = self.begin().await?;
        let sql = "UPDATE set_keys SET retired = $2 WHERE kid = $1 AND retired IS NULL";
        if B::execute(&mut tx, query(sql).bind(kid).bind(now)).await? == 0 {
            B::rollback(tx).await?;
            return Ok(false);
        }
        audit::append::<B>(&mut tx, record, now).await?;
        B::commit(tx).await?;
        Ok(true)
    }
}
