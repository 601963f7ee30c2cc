//! SQLite connections that run their statements where they are held: a
//! reader runs each statement inline on the task that leased it (an indexed
//! read takes microseconds, less than a hand-off to another thread and
//! back), the writer on its own thread (`group_commit`), where a task that
//! holds a write transaction sends each statement.
//!
//! A value is stored as sqlx stored it, so that files and tests stay as
//! they were: ids as hyphenated text, times as microseconds since the epoch
//! (INTEGER), documents as JSON text, lists as one JSON array of their
//! values.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::super::sql::{Col, Query, Record};
use super::super::sql_filter::Bind;
use super::super::{Result, StoreError};
use super::group_commit::Session;
use super::{from_micros, id_text, json_list, micros, parse_uuid, rows_json};

/// How long a statement waits for the write lock that another process (the
/// CLI, a test) holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read waits for a free reader connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Prepared statements kept per connection (sqlx kept 100); the store has
/// about that many distinct statements, filters aside.
const STATEMENT_CACHE: usize = 256;

/// A connection statements run on.
pub struct SqliteConn(pub(super) Inner);

pub(super) enum Inner {
    /// Held by this task (a reader), or the writer on its own thread:
    /// statements run inline.
    Local(Connection),
    /// The writer, from a task holding a write transaction or a one-off
    /// write: each statement goes to the writer's thread and back.
    Writer(Session),
}

/// What a statement is run for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Want {
    /// The number of rows it changed.
    Changes,
    /// Every row.
    All,
    /// The first row, if any.
    First,
}

/// What a statement returned: the rows wanted, and the rows it changed.
#[derive(Default)]
pub(super) struct Outcome {
    pub changes: u64,
    pub rows: Vec<SqliteRow>,
}

impl SqliteConn {
    /// Whether a transaction is open on it (only a local connection can
    /// tell; the writer's session knows on its thread).
    pub(super) fn in_transaction(&self) -> bool {
        match &self.0 {
            Inner::Local(c) => !c.is_autocommit(),
            Inner::Writer(_) => false,
        }
    }

    pub(super) async fn run(&mut self, q: Query, want: Want) -> Result<Outcome> {
        match &mut self.0 {
            Inner::Local(c) => run(c, q, want),
            Inner::Writer(s) => s.run(q, want).await,
        }
    }
}

/// Runs a statement on `conn`, prepared once per connection. A string of
/// several statements (`Dialect::together`) runs them in turn, each
/// binding its `$n` from the same values, as sqlx did: their changes add
/// up, their rows come one after the other.
pub(super) fn run(conn: &Connection, q: Query, want: Want) -> Result<Outcome> {
    let mut values = Vec::with_capacity(q.binds.len());
    flatten(q.binds, &mut values)?;
    let mut out = Outcome {
        changes: 0,
        rows: Vec::new(),
    };
    let mut next = 0;
    for sql in statements(&q.sql) {
        step(conn, sql, &values, want, &mut next, &mut out)?;
    }
    Ok(out)
}

/// The statements of `sql`, split at each `;` outside quotes (our SQL has
/// no comments and no triggers' bodies).
fn statements(sql: &str) -> Vec<&str> {
    if !sql.contains(';') {
        return vec![sql];
    }
    let mut out = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (i, ch) in sql.char_indices() {
        match (quote, ch) {
            (None, '\'' | '"') => quote = Some(ch),
            (Some(q), _) if q == ch => quote = None,
            (None, ';') => {
                out.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&sql[start..]);
    out.retain(|s| !s.trim().is_empty());
    out
}

fn step(
    conn: &Connection,
    sql: &str,
    values: &[Sql],
    want: Want,
    next: &mut usize,
    out: &mut Outcome,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    // `$n` names the n-th value wherever it stands (SQLite numbers named
    // parameters in the order they first appear); a plain `?` takes the
    // next one. A parameter past the values is NULL, as with sqlx.
    for i in 1..=stmt.parameter_count() {
        let n = match stmt.parameter_name(i) {
            Some(name) => name[1..]
                .parse::<usize>()
                .map_err(|_| StoreError::Corrupt(format!("unsupported SQL parameter {name}")))?,
            None => {
                *next += 1;
                *next
            }
        };
        let Some(v) = n.checked_sub(1).and_then(|n| values.get(n)) else {
            break;
        };
        stmt.raw_bind_parameter(i, v).map_err(db)?;
    }
    let columns: Arc<[Box<str>]> = match want {
        Want::Changes => Arc::from([]),
        _ => stmt.column_names().into_iter().map(Box::from).collect(),
    };
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(db)? {
        if matches!(want, Want::Changes) {
            continue;
        }
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(owned))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        out.rows.push(SqliteRow {
            columns: columns.clone(),
            values,
        });
        if matches!(want, Want::First) {
            break;
        }
    }
    drop(rows);
    out.changes += conn.changes();
    Ok(())
}

/// A value out of a row, kept (text that is not UTF-8 as bytes).
fn owned(v: ValueRef<'_>) -> Sql {
    match v {
        ValueRef::Null => Sql::Null,
        ValueRef::Integer(i) => Sql::Integer(i),
        ValueRef::Real(f) => Sql::Real(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Sql::Text(s.to_owned()),
            Err(_) => Sql::Blob(t.to_vec()),
        },
        ValueRef::Blob(b) => Sql::Blob(b.to_vec()),
    }
}

/// The values of `binds` in placeholder order, each in its SQLite
/// encoding; a [`Bind::Row`] is one value per column.
fn flatten(binds: Vec<Bind>, out: &mut Vec<Sql>) -> Result<()> {
    for b in binds {
        out.push(match b {
            Bind::Text(s) => Sql::Text(s),
            Bind::Uuid(u) => Sql::Text(id_text(u)),
            Bind::Int(i) => Sql::Integer(i),
            Bind::Real(f) => Sql::Real(f),
            Bind::Bool(b) => Sql::Integer(b.into()),
            Bind::Time(t) => Sql::Integer(micros(t)),
            Bind::Bytes(b) => Sql::Blob(b),
            Bind::Json(v) => Sql::Text(v.to_string()),
            Bind::Null(_) => Sql::Null,
            Bind::Uuids(v) => Sql::Text(json_list(v, |u| Value::from(id_text(u)))),
            Bind::OptUuids(v) => Sql::Text(json_list(v, |u| {
                u.map_or(Value::Null, |u| Value::from(id_text(u)))
            })),
            Bind::Texts(v) => Sql::Text(json_list(v, Value::from)),
            Bind::Ints(v) => Sql::Text(json_list(v, Value::from)),
            Bind::Times(v) => Sql::Text(json_list(v, |t| Value::from(micros(t)))),
            Bind::Jsons(v) => Sql::Text(Value::Array(v).to_string()),
            Bind::Columns(cols) => Sql::Text(rows_json(cols)?),
            Bind::Row(values) => {
                flatten(values, out)?;
                continue;
            }
        });
    }
    Ok(())
}

/// A result row: its values as SQLite typed them, and the statement's
/// column names (shared by its rows).
#[derive(Debug, Clone)]
pub struct SqliteRow {
    columns: Arc<[Box<str>]>,
    values: Vec<Sql>,
}

impl SqliteRow {
    /// The value in column `c`.
    pub(super) fn value(&self, c: impl Col) -> Result<&Sql> {
        c.position(&self.columns)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| StoreError::Corrupt(format!("no column {c}")))
    }

    fn get<T>(&self, c: impl Col, f: impl FnOnce(&Sql) -> Option<T>) -> Result<Option<T>> {
        match self.value(c)? {
            Sql::Null => Ok(None),
            v => f(v)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("column {c}: unexpected {v:?}"))),
        }
    }

    fn str(&self, c: impl Col) -> Result<Option<&str>> {
        match self.value(c)? {
            Sql::Null => Ok(None),
            Sql::Text(s) => Ok(Some(s)),
            Sql::Blob(b) => std::str::from_utf8(b)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("column {c}: {e}"))),
            v => Err(StoreError::Corrupt(format!("column {c}: not text: {v:?}"))),
        }
    }
}

impl Record for SqliteRow {
    fn opt_uuid(&self, c: impl Col) -> Result<Option<Uuid>> {
        self.str(c)?.map(parse_uuid).transpose()
    }
    fn opt_time(&self, c: impl Col) -> Result<Option<OffsetDateTime>> {
        self.opt_int(c)?.map(from_micros).transpose()
    }
    fn opt_json(&self, c: impl Col) -> Result<Option<Value>> {
        self.str(c)?
            .map(|s| serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }
    fn opt_text(&self, c: impl Col) -> Result<Option<String>> {
        self.get(c, |v| match v {
            Sql::Text(s) => Some(s.clone()),
            Sql::Integer(i) => Some(i.to_string()),
            Sql::Real(f) => Some(f.to_string()),
            Sql::Blob(b) => String::from_utf8(b.clone()).ok(),
            Sql::Null => None,
        })
    }
    fn opt_int(&self, c: impl Col) -> Result<Option<i64>> {
        self.get(c, |v| match v {
            Sql::Integer(i) => Some(*i),
            Sql::Real(f) => Some(*f as i64),
            Sql::Text(s) => s.parse().ok(),
            _ => None,
        })
    }
    fn opt_bool(&self, c: impl Col) -> Result<Option<bool>> {
        Ok(self.opt_int(c)?.map(|i| i != 0))
    }
    fn opt_bytes(&self, c: impl Col) -> Result<Option<Vec<u8>>> {
        self.get(c, |v| match v {
            Sql::Blob(b) => Some(b.clone()),
            Sql::Text(s) => Some(s.clone().into_bytes()),
            _ => None,
        })
    }
}

/// A SQLite error as sqlx reports one, so that the store maps unique and
/// foreign-key violations alike on both backends.
#[derive(Debug)]
pub struct SqliteError {
    code: Option<i32>,
    message: String,
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "(code: {code}) {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SqliteError {}

impl sqlx::error::DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.code.map(|c| c.to_string().into())
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.code {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// A rusqlite error as a store error.
pub(super) fn db(e: rusqlite::Error) -> StoreError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
        _ => None,
    };
    let message = match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m,
        e => e.to_string(),
    };
    StoreError::Database(sqlx::Error::Database(Box::new(SqliteError {
        code,
        message,
    })))
}

/// The database file and how its connections are set up.
#[derive(Debug, Clone)]
pub(super) struct Opener {
    pub path: PathBuf,
}

impl Opener {
    /// The writer: creates the file, WAL with `synchronous=FULL` (each
    /// COMMIT waits for an fsync of the log), foreign keys enforced.
    pub fn writer(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let c = self.open(flags)?;
        c.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        Ok(c)
    }

    /// A reader: opened read-only, so nothing can write through it.
    pub fn reader(&self) -> Result<Connection> {
        self.open(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
    }

    fn open(&self, flags: OpenFlags) -> Result<Connection> {
        let c = Connection::open_with_flags(&self.path, flags).map_err(db)?;
        c.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        c.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        c.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(c)
    }
}

/// The reader connections: opened on demand up to `max`, each lent to one
/// task at a time.
pub(super) struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    opener: Opener,
    opened: AtomicU32,
    max: u32,
}

impl Readers {
    pub fn new(opener: Opener, max: u32) -> Arc<Self> {
        Arc::new(Readers {
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max as usize)),
            opener,
            opened: AtomicU32::new(0),
            max,
        })
    }

    pub async fn lease(self: &Arc<Self>) -> Result<Lease> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
                .await
                .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?
                .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?,
        };
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = self.opener.reader()?;
                self.opened.fetch_add(1, Ordering::Relaxed);
                c
            }
        };
        Ok(Lease {
            conn: Some(SqliteConn(Inner::Local(conn))),
            home: Some((self.clone(), permit)),
        })
    }

    /// Opened, idle, most.
    pub fn stats(&self) -> (u32, u32, u32) {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).len();
        (self.opened.load(Ordering::Relaxed), idle as u32, self.max)
    }
}

/// A connection lent to a task: a reader, back to its pool when dropped,
/// or the writer, free for the next write when dropped. A transaction left
/// open is rolled back first.
pub struct Lease {
    conn: Option<SqliteConn>,
    home: Option<(Arc<Readers>, OwnedSemaphorePermit)>,
}

impl Lease {
    pub(super) fn writer(session: Session) -> Lease {
        Lease {
            conn: Some(SqliteConn(Inner::Writer(session))),
            home: None,
        }
    }
}

impl std::ops::Deref for Lease {
    type Target = SqliteConn;
    fn deref(&self) -> &SqliteConn {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut SqliteConn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // The writer's session rolls back on its own thread when its
        // sender goes.
        if let Some(SqliteConn(Inner::Local(c))) = self.conn.take()
            && let Some((readers, permit)) = self.home.take()
        {
            if !c.is_autocommit() && c.execute_batch("ROLLBACK").is_err() {
                // A connection that cannot end its transaction would hold
                // its snapshot (and the log) forever: closed instead.
                readers.opened.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            readers
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(c);
            drop(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Each connection keeps a page cache of its own: with
    /// SQLITE_ENABLE_MEMORY_MANAGEMENT (libsqlite3-sys's default, undone by
    /// `.cargo/config.toml`) the caches share one pool that large write
    /// transactions leave over its size, and a reader then caches two or
    /// three pages (a million-member group GET: 2.5 million reads instead
    /// of 130,000).
    #[test]
    fn the_bundled_sqlite_keeps_a_page_cache_per_connection() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let mut s = c.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = s
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o.starts_with("THREADSAFE=")),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "built with SQLITE_ENABLE_MEMORY_MANAGEMENT: {options:?}"
        );
    }
}
