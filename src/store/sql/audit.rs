//! Appending to the audit log's hash chain inside a write's transaction.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Backend, Bind, Record, Ty, query};
use crate::audit::{self, Entry};
use crate::store::Result;

/// How many audit records one INSERT carries (a membership change of a
/// million members appends a million records, a chunk at a time).
const AUDIT_CHUNK: usize = 2_000;

/// The columns of an audit record as a write binds them.
const COLUMNS: [(&str, Ty); 14] = [
    ("seq", Ty::Int),
    ("id", Ty::Uuid),
    ("at", Ty::Time),
    ("actor", Ty::Text),
    ("action", Ty::Text),
    ("target_kind", Ty::Text),
    ("target_id", Ty::Uuid),
    ("outcome", Ty::Text),
    ("request_id", Ty::Text),
    ("attributes", Ty::Json),
    ("prev_hash", Ty::Text),
    ("hash", Ty::Text),
    ("txn", Ty::Text),
    ("via", Ty::Text),
];

/// Appends an audit record inside the caller's write transaction.
pub async fn append<B: Backend>(tx: &mut B::Conn, e: &Entry, now: OffsetDateTime) -> Result<()> {
    append_all::<B>(tx, std::slice::from_ref(e), now).await
}

/// Appends audit records in order inside the caller's write transaction:
/// the chain's head is read (and, in PostgreSQL, locked) once, and moves
/// with each chunk of records, in the statement that inserts them. Several
/// writes of one SQLite group commit append in turn inside its one
/// transaction, each behind its own savepoint: a write that rolls back
/// takes its records and its move of the head with it, so the next write
/// links to the last record that stands.
pub async fn append_all<B: Backend>(
    tx: &mut B::Conn,
    entries: &[Entry],
    now: OffsetDateTime,
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let head = B::fetch_one(
        tx,
        query(format!(
            "SELECT seq, hash FROM audit_head WHERE id = 1{}",
            B::DIALECT.for_update()
        )),
    )
    .await?;
    let (mut seq, mut hash) = (head.int("seq")?, head.text("hash")?);
    // The head ($1, $2: the chunk's last record) moves with the records.
    let statement = |from: String| {
        let insert = format!(
            "INSERT INTO audit_log (seq, id, at, actor, action, target_kind, target_id, outcome,
                                    request_id, attributes, prev_hash, hash, txn, via)
             SELECT t.seq, t.id, t.at, t.actor, t.action, t.target_kind, t.target_id, t.outcome,
                    t.request_id, t.attributes, t.prev_hash, t.hash, t.txn, t.via FROM {from}"
        );
        B::DIALECT.together(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &insert,
        )
    };
    // The records whose resource a `full` stream would send (see below).
    let mut snapshot = (Vec::new(), Vec::new(), Vec::new());
    for chunk in entries.chunks(AUDIT_CHUNK) {
        let mut c = Columns::default();
        for e in chunk {
            let r = audit::chain(e, Uuid::now_v7(), now, seq, &hash);
            if let (Some(kind), Some(target)) = (e.target_kind, e.target_id)
                && crate::events::snapshots(e.action, kind, e.outcome)
            {
                snapshot.0.push(r.seq);
                snapshot.1.push(Some(kind.to_owned()));
                snapshot.2.push(target);
            }
            c.seq.push(r.seq);
            c.id.push(r.id);
            c.at.push(r.at);
            c.actor.push(Some(r.actor));
            c.action.push(Some(r.action));
            c.target_kind.push(r.target_kind);
            c.target_id.push(r.target_id);
            c.outcome.push(Some(r.outcome));
            c.request_id.push(r.request_id);
            c.attributes.push(serde_json::json!(r.attributes));
            c.prev_hash.push(Some(r.prev_hash));
            (seq, hash) = (r.seq, r.hash.clone());
            c.hash.push(Some(r.hash));
            c.txn.push(e.txn.clone());
            c.via.push(e.via.map(str::to_owned));
        }
        // One record (most writes) as plain parameters; more as lists.
        let (from, values) = match chunk.len() {
            1 => (B::DIALECT.row(3, &COLUMNS), c.into_row()),
            _ => (B::DIALECT.rows(3, &COLUMNS), c.into_bind()),
        };
        let q = query(statement(from))
            .bind(seq)
            .bind(hash.as_str())
            .bind(values);
        B::execute(tx, q).await?;
    }
    if !snapshot.0.is_empty() {
        snapshots::<B>(tx, snapshot).await?;
    }
    Ok(())
}

/// Keeps the resources of `records` (seq, kind, id) as this transaction
/// leaves them, while a stream that is not disabled sends events with
/// their resource (`full`): an event's `data` is then what its change
/// made, whatever happens to the resource before the event is delivered.
/// One statement; it writes nothing when no stream asks for `full`.
async fn snapshots<B: Backend>(
    tx: &mut B::Conn,
    records: (Vec<i64>, Vec<Option<String>>, Vec<Uuid>),
) -> Result<()> {
    const SNAPSHOT: [(&str, Ty); 3] = [("seq", Ty::Int), ("kind", Ty::Text), ("target", Ty::Uuid)];
    // One record (most writes) as plain parameters; more as lists.
    let (rows, values) = match (&records.0[..], &records.1[..], &records.2[..]) {
        ([seq], [Some(kind)], [target]) => (
            B::DIALECT.row(1, &SNAPSHOT),
            Bind::Row(vec![
                Bind::Int(*seq),
                Bind::Text(kind.clone()),
                Bind::Uuid(*target),
            ]),
        ),
        _ => (
            B::DIALECT.rows(1, &SNAPSHOT),
            Bind::Columns(vec![
                Bind::Ints(records.0),
                Bind::Texts(records.1),
                Bind::Uuids(records.2),
            ]),
        ),
    };
    let sql = format!(
        "INSERT INTO event_snapshots (seq, doc, created, last_modified, version)
         SELECT t.seq, COALESCE(u.doc, g.doc), COALESCE(u.created, g.created),
                COALESCE(u.last_modified, g.last_modified), COALESCE(u.version, g.version)
         FROM {rows}
         LEFT JOIN users u ON t.kind = 'User' AND u.id = t.target
         LEFT JOIN groups g ON t.kind = 'Group' AND g.id = t.target
         WHERE EXISTS (SELECT 1 FROM event_streams WHERE full_data AND status <> 'disabled')
           AND COALESCE(u.id, g.id) IS NOT NULL"
    );
    B::execute(tx, query(sql).bind(values)).await?;
    Ok(())
}

/// A chunk of audit records as column lists.
#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    id: Vec<Uuid>,
    at: Vec<OffsetDateTime>,
    actor: Vec<Option<String>>,
    action: Vec<Option<String>>,
    target_kind: Vec<Option<String>>,
    target_id: Vec<Option<Uuid>>,
    outcome: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
    attributes: Vec<serde_json::Value>,
    prev_hash: Vec<Option<String>>,
    hash: Vec<Option<String>>,
    txn: Vec<Option<String>>,
    via: Vec<Option<String>>,
}

impl Columns {
    /// The one record of a chunk as one parameter per column.
    fn into_row(self) -> Bind {
        let text = |v: Vec<Option<String>>| match v.into_iter().next().flatten() {
            Some(t) => Bind::Text(t),
            None => Bind::Null(Ty::Text),
        };
        Bind::Row(vec![
            self.seq
                .first()
                .map_or(Bind::Null(Ty::Int), |&n| Bind::Int(n)),
            self.id
                .first()
                .map_or(Bind::Null(Ty::Uuid), |&u| Bind::Uuid(u)),
            self.at
                .first()
                .map_or(Bind::Null(Ty::Time), |&t| Bind::Time(t)),
            text(self.actor),
            text(self.action),
            text(self.target_kind),
            self.target_id
                .first()
                .copied()
                .flatten()
                .map_or(Bind::Null(Ty::Uuid), Bind::Uuid),
            text(self.outcome),
            text(self.request_id),
            self.attributes
                .into_iter()
                .next()
                .map_or(Bind::Null(Ty::Json), Bind::Json),
            text(self.prev_hash),
            text(self.hash),
            text(self.txn),
            text(self.via),
        ])
    }

    fn into_bind(self) -> Bind {
        Bind::Columns(vec![
            Bind::Ints(self.seq),
            Bind::Uuids(self.id),
            Bind::Times(self.at),
            Bind::Texts(self.actor),
            Bind::Texts(self.action),
            Bind::Texts(self.target_kind),
            Bind::OptUuids(self.target_id),
            Bind::Texts(self.outcome),
            Bind::Texts(self.request_id),
            Bind::Jsons(self.attributes),
            Bind::Texts(self.prev_hash),
            Bind::Texts(self.hash),
            Bind::Texts(self.txn),
            Bind::Texts(self.via),
        ])
    }
}
