//! The SQLite backend: the embedded default. One writer connection on a
//! thread of its own (writes are serialised in-process instead of spinning
//! on the file lock, and queued writes share a transaction and its fsync:
//! `group_commit`), a pool of readers whose statements run inline on the
//! task that reads (`conn`), WAL with `synchronous=FULL` so an acknowledged
//! write survives power loss, and IMMEDIATE write transactions so another
//! process (the CLI) waits on the busy timeout instead of failing
//! mid-transaction. Statements run through rusqlite; the migrations through
//! sqlx, on a connection of their own, to the same file with the same
//! SQLite library.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use rusqlite::types::Value as Sql;
use serde_json::Value;
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use time::OffsetDateTime;
use uuid::Uuid;

use super::sql::{Backend, Query, Record, query};
use super::sql_filter::{Bind, Dialect, KeyType};
use super::*;

pub mod backup;
mod conn;
mod group_commit;

pub use conn::{Lease, SqliteConn, SqliteRow};
use conn::{Opener, Readers, Want};
use group_commit::GroupCommit;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// The SQLite database: one writer, a pool of readers.
pub struct Sqlite {
    readers: Arc<Readers>,
    /// The writer's thread: writes that share their transaction's fsync
    /// with others queued meanwhile, and the sessions of `begin`/`writer`.
    commits: GroupCommit,
    /// How the migrations' sqlx connection opens the file.
    options: SqliteConnectOptions,
}

pub type SqliteStore = super::sql::SqlStore<Sqlite>;

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

fn from_micros(us: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {us}: {e}")))
}

fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("id {s}: {e}")))
}

fn id_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

/// A list as SQLite's `json_each` reads it: a JSON array of each value's
/// SQLite encoding.
fn json_list<T>(items: Vec<T>, f: impl Fn(T) -> Value) -> String {
    Value::Array(items.into_iter().map(f).collect()).to_string()
}

/// The rows of a [`Bind::Columns`] as one JSON array of arrays, each
/// value in its SQLite encoding (a document as its text), for
/// `Dialect::rows` to read with `->>`.
fn rows_json(cols: Vec<Bind>) -> Result<String> {
    let cols = cols
        .into_iter()
        .map(|c| {
            Ok(match c {
                Bind::Uuids(v) => v.into_iter().map(|u| Value::from(id_text(u))).collect(),
                Bind::OptUuids(v) => v
                    .into_iter()
                    .map(|u| u.map_or(Value::Null, |u| Value::from(id_text(u))))
                    .collect(),
                Bind::Texts(v) => v.into_iter().map(Value::from).collect(),
                Bind::Ints(v) => v.into_iter().map(Value::from).collect(),
                Bind::Times(v) => v.into_iter().map(|t| Value::from(micros(t))).collect(),
                Bind::Jsons(v) => v.into_iter().map(|j| Value::from(j.to_string())).collect(),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "a column of rows must be a list, not {other:?}"
                    )));
                }
            })
        })
        .collect::<Result<Vec<Vec<Value>>>>()?;
    let n = cols.first().map_or(0, Vec::len);
    if cols.iter().any(|c| c.len() != n) {
        return Err(StoreError::Corrupt(
            "columns of rows differ in length".into(),
        ));
    }
    let mut cols: Vec<_> = cols.into_iter().map(Vec::into_iter).collect();
    let rows: Vec<Value> = (0..n)
        .map(|_| Value::Array(cols.iter_mut().filter_map(Iterator::next).collect()))
        .collect();
    Ok(Value::Array(rows).to_string())
}

#[async_trait]
impl Backend for Sqlite {
    type Conn = SqliteConn;
    type Tx = Lease;
    type Read = Lease;
    type Row = SqliteRow;

    const DIALECT: Dialect = Dialect::Sqlite;

    async fn read(&self) -> Result<Lease> {
        self.readers.lease().await
    }

    async fn writer(&self) -> Result<Lease> {
        Ok(Lease::writer(self.commits.session()?))
    }

    async fn begin(&self) -> Result<Lease> {
        let mut tx = self.writer().await?;
        tx.run(query(BEGIN_IMMEDIATE), Want::Changes).await?;
        Ok(tx)
    }

    async fn commit(mut tx: Lease) -> Result<()> {
        tx.run(query("COMMIT"), Want::Changes).await.map(drop)
    }

    async fn rollback(mut tx: Lease) -> Result<()> {
        tx.run(query("ROLLBACK"), Want::Changes).await.map(drop)
    }

    async fn snapshot(&self) -> Result<Lease> {
        let mut tx = self.readers.lease().await?;
        tx.run(query("BEGIN"), Want::Changes).await?;
        Ok(tx)
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.commits.write(f).await
    }

    fn execute(conn: &mut SqliteConn, q: Query) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move { Ok(conn.run(q, Want::Changes).await?.changes) })
    }

    fn fetch_all(conn: &mut SqliteConn, q: Query) -> BoxFuture<'_, Result<Vec<SqliteRow>>> {
        Box::pin(async move { Ok(conn.run(q, Want::All).await?.rows) })
    }

    fn fetch_optional(conn: &mut SqliteConn, q: Query) -> BoxFuture<'_, Result<Option<SqliteRow>>> {
        Box::pin(async move { Ok(conn.run(q, Want::First).await?.rows.into_iter().next()) })
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let (size, idle, max) = self.readers.stats();
        vec![
            PoolStats {
                pool: "writer",
                size: 1,
                idle: u32::from(!self.commits.busy()),
                max: 1,
            },
            PoolStats {
                pool: "reader",
                size,
                idle,
                max,
            },
        ]
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    async fn migrate(&self) -> Result<()> {
        let mut c = self.options.connect().await?;
        MIGRATOR.run_direct(None, &mut c, false).await?;
        sqlx::Connection::close(c).await?;
        Ok(())
    }

    /// The key keeps the dynamic type SQLite computed it with, so that
    /// binding it again compares equal.
    fn keyset(row: &SqliteRow, key: Option<KeyType>) -> Result<Keyset> {
        let id = row.uuid("id")?;
        if key.is_none() {
            return Ok(Keyset { key: None, id });
        }
        let key = match row.value("sort_key")? {
            Sql::Null => KeyValue::Null,
            Sql::Integer(i) => KeyValue::Int(*i),
            Sql::Real(f) => KeyValue::Real(*f),
            Sql::Text(s) => KeyValue::Text(s.clone()),
            Sql::Blob(_) => return Err(StoreError::Corrupt("sort key of type BLOB".into())),
        };
        Ok(Keyset { key: Some(key), id })
    }
}

impl SqliteStore {
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let opener = Opener {
            path: options.get_filename().to_path_buf(),
        };
        let commits = GroupCommit::start(opener.writer()?)?;
        let readers = Readers::new(opener, pool_size.max(1));
        Ok(super::sql::SqlStore::new(Sqlite {
            readers,
            commits,
            options,
        }))
    }
}
