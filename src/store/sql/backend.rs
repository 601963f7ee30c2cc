//! What each database does its own way, and nothing else: connecting,
//! beginning a write, encoding values and decoding rows, and running a
//! statement. Every query is written once, in the modules beside this one,
//! against this trait.

use std::ops::DerefMut;

use async_trait::async_trait;
use futures_util::future::BoxFuture;

use super::super::sql_filter::KeyType;
use super::super::{Keyset, PoolStats, Result, StoreError};
use super::dialect::Dialect;
use super::query::{Query, Record};

/// One database: SQLite (`super::super::sqlite`) or PostgreSQL
/// (`super::super::postgres`).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A connection statements run on (inside a transaction or not).
    type Conn: Send;
    /// A write transaction; derefs to its connection.
    type Tx: DerefMut<Target = Self::Conn> + Send;
    /// A pooled read connection; derefs to its connection.
    type Read: DerefMut<Target = Self::Conn> + Send;
    type Row: Record;

    const DIALECT: Dialect;

    /// A connection for reads.
    async fn read(&self) -> Result<Self::Read>;
    /// A connection for a write of one statement, committed by itself.
    async fn writer(&self) -> Result<Self::Read>;
    /// Begins a write transaction (SQLite: IMMEDIATE, on the one writer).
    async fn begin(&self) -> Result<Self::Tx>;
    async fn commit(tx: Self::Tx) -> Result<()>;
    /// Ends a transaction without writing anything of it, and waits until
    /// the database has (the connection is free again, the writer too).
    async fn rollback(tx: Self::Tx) -> Result<()>;
    /// Begins a read-only transaction whose reads all see one snapshot,
    /// however long it stays open (SQLite: a deferred transaction on a
    /// reader, whose WAL snapshot holds from its first read; PostgreSQL:
    /// REPEATABLE READ, READ ONLY).
    async fn snapshot(&self) -> Result<Self::Tx>;
    /// Runs `f` in a write transaction and commits it. SQLite shares one
    /// transaction, and its fsync, among the writes queued meanwhile, each
    /// behind its own savepoint (`sqlite::group_commit`).
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Self::Conn) -> BoxFuture<'c, Result<T>> + Send + 'static;

    /// Runs a list, search or report read, which a read replica may serve
    /// (`store::read_scaling`). `f` may run twice: on a replica, then on
    /// the primary if the replica failed it. Without a replica, on a read
    /// connection.
    async fn scaled<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: for<'c> Fn(&'c mut Self::Conn) -> BoxFuture<'c, Result<T>> + Send + Sync,
    {
        let mut c = self.read().await?;
        f(&mut c).await
    }

    /// The reader `id` sent a write: pins it to the primary until a
    /// replica has replayed it (nothing without a replica).
    async fn wrote_as(&self, _id: uuid::Uuid) {}

    /// What the scaled reads did, when there is a read replica.
    fn scaled_reads(&self) -> Option<super::super::read_scaling::ScaledReads> {
        None
    }

    /// Runs a statement; the number of rows it changed.
    fn execute(conn: &mut Self::Conn, q: Query) -> BoxFuture<'_, Result<u64>>;
    fn fetch_all(conn: &mut Self::Conn, q: Query) -> BoxFuture<'_, Result<Vec<Self::Row>>>;
    fn fetch_optional(conn: &mut Self::Conn, q: Query) -> BoxFuture<'_, Result<Option<Self::Row>>>;
    async fn fetch_one(conn: &mut Self::Conn, q: Query) -> Result<Self::Row> {
        Self::fetch_optional(conn, q)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// Each connection pool's name and use.
    fn pool_stats(&self) -> Vec<PoolStats>;
    /// The migrations this database applies.
    fn migrator(&self) -> &'static sqlx::migrate::Migrator;
    async fn migrate(&self) -> Result<()>;
    /// The database's plan for a statement, one line per step.
    async fn explain(&self, q: Query) -> Result<String> {
        let (prefix, column) = Self::DIALECT.explain();
        let q = Query {
            sql: format!("{prefix} {}", q.sql).into(),
            ..q
        };
        let mut c = self.read().await?;
        let rows = Self::fetch_all(&mut c, q).await?;
        let lines = rows.iter().map(|r| r.text(column));
        Ok(lines.collect::<Result<Vec<_>>>()?.join("\n"))
    }

    /// A row's position in a keyset list: its `id`, and its `sort_key`
    /// when the list has one (`key`), read so that binding it again
    /// compares equal (SQLite keeps the dynamic type it computed the key
    /// with; PostgreSQL returns the key expression's type).
    fn keyset(row: &Self::Row, key: Option<KeyType>) -> Result<Keyset>;
}

/// A backend's `execute`, `fetch_all` and `fetch_optional`: sqlx runs a
/// statement the same way on either connection type, given its encoder.
macro_rules! run_with_sqlx {
    ($conn:ty, $row:ty, $encode:path) => {
        fn execute(conn: &mut $conn, q: Query) -> BoxFuture<'_, Result<u64>> {
            Box::pin(async move {
                let done = sqlx::query_with(sqlx::AssertSqlSafe(q.sql), $encode(q.binds)?)
                    .persistent(q.persistent)
                    .execute(conn)
                    .await?;
                Ok(done.rows_affected())
            })
        }

        fn fetch_all(conn: &mut $conn, q: Query) -> BoxFuture<'_, Result<Vec<$row>>> {
            Box::pin(async move {
                Ok(
                    sqlx::query_with(sqlx::AssertSqlSafe(q.sql), $encode(q.binds)?)
                        .persistent(q.persistent)
                        .fetch_all(conn)
                        .await?,
                )
            })
        }

        fn fetch_optional(conn: &mut $conn, q: Query) -> BoxFuture<'_, Result<Option<$row>>> {
            Box::pin(async move {
                Ok(
                    sqlx::query_with(sqlx::AssertSqlSafe(q.sql), $encode(q.binds)?)
                        .persistent(q.persistent)
                        .fetch_optional(conn)
                        .await?,
                )
            })
        }
    };
}
pub(in crate::store) use run_with_sqlx;

/// Maps a unique-index violation to the index it names (PostgreSQL says
/// which; SQLite does not, and the caller's `fallback` is the one index
/// the statement can hit).
pub fn unique(e: StoreError, fallback: &'static str) -> StoreError {
    const INDEXES: [&str; 4] = [
        "users_iam_user_name",
        "groups_iam_display_name",
        "iams_name",
        "permissions_name",
    ];
    match &e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            let index = db
                .constraint()
                .and_then(|c| INDEXES.iter().find(|&&i| i == c).copied());
            StoreError::Conflict(index.unwrap_or(fallback))
        }
        _ => e,
    }
}
