//! The SQLite backend: the embedded default. One writer connection (writes
//! are serialised in-process instead of spinning on the file lock), a pool
//! of readers, WAL with `synchronous=FULL` so an acknowledged write survives
//! power loss, and IMMEDIATE write transactions so another process (the CLI)
//! waits on the busy timeout instead of failing mid-transaction.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Arguments, Row, SqlitePool, TypeInfo, ValueRef};
use time::OffsetDateTime;
use uuid::Uuid;

use futures_util::future::BoxFuture;
use sqlx::SqliteConnection;

use super::sql::backend::run_with_sqlx;
use super::sql::query::same_getters;
use super::sql::{Backend, Col, Query, Record};
use super::sql_filter::{Bind, Dialect, KeyType};
use super::*;

pub mod backup;
mod group_commit;

use group_commit::GroupCommit;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// The SQLite database: one writer connection, a pool of readers.
pub struct Sqlite {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Writes that share their transaction's fsync with others queued
    /// meanwhile; see `group_commit`.
    commits: GroupCommit,
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

fn encode(binds: Vec<Bind>) -> Result<SqliteArguments> {
    let mut args = SqliteArguments::default();
    for b in binds {
        add(&mut args, b)?;
    }
    Ok(args)
}

fn add(args: &mut SqliteArguments, b: Bind) -> Result<()> {
    {
        match b {
            Bind::Text(s) => args.add(s),
            Bind::Uuid(u) => args.add(id_text(u)),
            Bind::Int(i) => args.add(i),
            Bind::Real(f) => args.add(f),
            Bind::Bool(b) => args.add(b),
            Bind::Time(t) => args.add(micros(t)),
            Bind::Bytes(b) => args.add(b),
            Bind::Json(v) => args.add(v.to_string()),
            Bind::Null(_) => args.add(Option::<i64>::None),
            Bind::Uuids(v) => args.add(json_list(v, |u| Value::from(id_text(u)))),
            Bind::OptUuids(v) => args.add(json_list(v, |u| {
                u.map_or(Value::Null, |u| Value::from(id_text(u)))
            })),
            Bind::Texts(v) => args.add(json_list(v, Value::from)),
            Bind::Ints(v) => args.add(json_list(v, Value::from)),
            Bind::Times(v) => args.add(json_list(v, |t| Value::from(micros(t)))),
            Bind::Jsons(v) => args.add(Value::Array(v).to_string()),
            Bind::Columns(cols) => args.add(rows_json(cols)?),
            Bind::Row(values) => {
                for v in values {
                    add(args, v)?;
                }
                Ok(())
            }
        }
        .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))
    }
}

impl Record for SqliteRow {
    fn opt_uuid(&self, c: impl Col) -> Result<Option<Uuid>> {
        self.try_get::<Option<&str>, _>(c)?
            .map(parse_uuid)
            .transpose()
    }
    fn opt_time(&self, c: impl Col) -> Result<Option<OffsetDateTime>> {
        self.try_get::<Option<i64>, _>(c)?
            .map(from_micros)
            .transpose()
    }
    fn opt_json(&self, c: impl Col) -> Result<Option<Value>> {
        self.try_get::<Option<&str>, _>(c)?
            .map(|s| serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }
    same_getters!();
}

#[async_trait]
impl Backend for Sqlite {
    type Conn = SqliteConnection;
    type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;
    type Read = sqlx::pool::PoolConnection<sqlx::Sqlite>;
    type Row = SqliteRow;

    const DIALECT: Dialect = Dialect::Sqlite;

    async fn read(&self) -> Result<Self::Read> {
        Ok(self.reader.acquire().await?)
    }

    async fn writer(&self) -> Result<Self::Read> {
        Ok(self.writer.acquire().await?)
    }

    async fn begin(&self) -> Result<Self::Tx> {
        Ok(self.writer.begin_with(BEGIN_IMMEDIATE).await?)
    }

    async fn commit(tx: Self::Tx) -> Result<()> {
        Ok(tx.commit().await?)
    }

    async fn rollback(tx: Self::Tx) -> Result<()> {
        Ok(tx.rollback().await?)
    }

    async fn snapshot(&self) -> Result<Self::Tx> {
        Ok(self.reader.begin().await?)
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.commits.write(f).await
    }

    run_with_sqlx!(SqliteConnection, SqliteRow, encode);

    fn pool_stats(&self) -> Vec<PoolStats> {
        [("writer", &self.writer), ("reader", &self.reader)]
            .into_iter()
            .map(|(pool, p)| PoolStats {
                pool,
                size: p.size(),
                idle: p.num_idle() as u32,
                max: p.options().get_max_connections(),
            })
            .collect()
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    /// The key keeps the dynamic type SQLite computed it with, so that
    /// binding it again compares equal.
    fn keyset(row: &SqliteRow, key: Option<KeyType>) -> Result<Keyset> {
        let id = row.uuid("id")?;
        if key.is_none() {
            return Ok(Keyset { key: None, id });
        }
        let raw = row.try_get_raw("sort_key")?;
        let key = if raw.is_null() {
            KeyValue::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" => KeyValue::Int(row.try_get("sort_key")?),
                "REAL" => KeyValue::Real(row.try_get("sort_key")?),
                "TEXT" => KeyValue::Text(row.try_get("sort_key")?),
                other => {
                    return Err(StoreError::Corrupt(format!("sort key of type {other}")));
                }
            }
        };
        Ok(Keyset { key: Some(key), id })
    }
}

impl SqliteStore {
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        let base = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // No ping before each acquire: a connection to a local file does
        // not go stale, and the ping is a round trip to the connection's
        // thread on every query.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(pool_size.max(1))
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.read_only(true))
            .await?;
        let commits = GroupCommit::start(writer.clone());
        Ok(super::sql::SqlStore::new(Sqlite {
            writer,
            reader,
            commits,
        }))
    }
}
