//! The PostgreSQL backend: for deployments that outgrow one machine (several
//! stateless replicas on one database). Native types throughout: uuid ids,
//! timestamptz times (microseconds, like the domain's clock), jsonb
//! documents, boolean, bytea. Conditional writes lock the row they check
//! (`SELECT ... FOR UPDATE`) inside their transaction; unique indexes settle
//! races between creates. A URL may carry `?options=-c%20search_path%3DS`
//! to keep everything, the migrations table included, in schema `S`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Arguments, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::PgConnection;

use super::sql::backend::run_with_sqlx;
use super::sql::query::same_getters;
use super::sql::{Backend, Col, Query, Record, Ty};
use super::sql_filter::{Bind, Dialect, KeyType};
use super::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL database: one pool, and a read replica's when
/// `database_read_url` is set.
pub struct Postgres {
    pool: PgPool,
    reads: Option<super::read_scaling::ReadRoute>,
}

pub type PgStore = super::sql::SqlStore<Postgres>;

fn encode_err(e: sqlx::error::BoxDynError) -> StoreError {
    StoreError::Database(sqlx::Error::Encode(e))
}

fn encode(binds: Vec<Bind>) -> Result<PgArguments> {
    let mut args = PgArguments::default();
    for b in binds {
        add(&mut args, b)?;
    }
    Ok(args)
}

fn add(args: &mut PgArguments, b: Bind) -> Result<()> {
    {
        match b {
            Bind::Text(s) => args.add(s),
            Bind::Uuid(u) => args.add(u),
            Bind::Int(i) => args.add(i),
            Bind::Real(f) => args.add(f),
            Bind::Bool(b) => args.add(b),
            Bind::Time(t) => args.add(t),
            Bind::Bytes(b) => args.add(b),
            Bind::Json(v) => args.add(v),
            Bind::Null(ty) => match ty {
                Ty::Text => args.add(Option::<String>::None),
                Ty::Uuid => args.add(Option::<Uuid>::None),
                Ty::Int => args.add(Option::<i64>::None),
                Ty::Bool => args.add(Option::<bool>::None),
                Ty::Time => args.add(Option::<OffsetDateTime>::None),
                Ty::Bytes => args.add(Option::<Vec<u8>>::None),
                Ty::Json => args.add(Option::<Value>::None),
            },
            Bind::Uuids(v) => args.add(v),
            Bind::OptUuids(v) => args.add(v),
            Bind::Texts(v) => args.add(v),
            Bind::Ints(v) => args.add(v),
            Bind::Times(v) => args.add(v),
            Bind::Jsons(v) => args.add(v),
            Bind::Columns(cols) | Bind::Row(cols) => {
                for c in cols {
                    add(args, c)?;
                }
                Ok(())
            }
        }
        .map_err(encode_err)
    }
}

impl Record for PgRow {
    fn opt_uuid(&self, c: impl Col) -> Result<Option<Uuid>> {
        Ok(self.try_get(c)?)
    }
    fn opt_time(&self, c: impl Col) -> Result<Option<OffsetDateTime>> {
        Ok(self.try_get(c)?)
    }
    fn opt_json(&self, c: impl Col) -> Result<Option<Value>> {
        Ok(self.try_get(c)?)
    }
    same_getters!();
}

#[async_trait]
impl Backend for Postgres {
    type Conn = PgConnection;
    type Tx = sqlx::Transaction<'static, sqlx::Postgres>;
    type Read = sqlx::pool::PoolConnection<sqlx::Postgres>;
    type Row = PgRow;

    const DIALECT: Dialect = Dialect::Postgres;

    async fn read(&self) -> Result<Self::Read> {
        Ok(self.pool.acquire().await?)
    }

    /// Its statements commit by themselves: from here on a failed
    /// attempt may have written (`attempt`).
    async fn writer(&self) -> Result<Self::Read> {
        let c = self.pool.acquire().await?;
        super::attempt::writing();
        Ok(c)
    }

    async fn begin(&self) -> Result<Self::Tx> {
        Ok(self.pool.begin().await?)
    }

    async fn commit(tx: Self::Tx) -> Result<()> {
        super::attempt::writing();
        Ok(tx.commit().await?)
    }

    async fn rollback(tx: Self::Tx) -> Result<()> {
        Ok(tx.rollback().await?)
    }

    async fn snapshot(&self) -> Result<Self::Tx> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?)
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let mut tx = self.pool.begin().await?;
        let out = f(&mut tx).await?;
        Self::commit(tx).await?;
        Ok(out)
    }

    async fn scaled<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: for<'c> Fn(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send + Sync,
    {
        use super::read_scaling::Route;
        if let Some(reads) = &self.reads
            && let Route::Replica(mut c) = reads.replica().await
        {
            match f(&mut c).await {
                Ok(out) => {
                    reads.served();
                    return Ok(out);
                }
                // A query the database refused is refused on the primary
                // too; anything else, the primary may answer.
                Err(e @ (StoreError::Filter(_) | StoreError::NotFound)) => return Err(e),
                Err(e) => reads.failed(&e),
            }
        }
        let mut c = self.read().await?;
        f(&mut c).await
    }

    async fn wrote_as(&self, id: Uuid) {
        if let Some(reads) = &self.reads {
            reads.pin(id).await;
        }
    }

    fn scaled_reads(&self) -> Option<super::read_scaling::ScaledReads> {
        self.reads.as_ref().map(|r| r.counts())
    }

    run_with_sqlx!(PgConnection, PgRow, encode);

    fn pool_stats(&self) -> Vec<PoolStats> {
        let stats = |pool: &'static str, p: &PgPool| PoolStats {
            pool,
            size: p.size(),
            idle: p.num_idle() as u32,
            max: p.options().get_max_connections(),
        };
        let mut out = vec![stats("postgres", &self.pool)];
        if let Some(reads) = &self.reads {
            out.push(stats("postgres_read", reads.pool()));
        }
        out
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The key read as the type the key expression has (numeric arrives
    /// as its exact text form).
    fn keyset(row: &PgRow, key: Option<KeyType>) -> Result<Keyset> {
        let id = row.try_get("id")?;
        let Some(ty) = key else {
            return Ok(Keyset { key: None, id });
        };
        let k = "sort_key";
        let value = match ty {
            KeyType::Text | KeyType::Dynamic => {
                row.try_get::<Option<String>, _>(k)?.map(KeyValue::Text)
            }
            KeyType::Numeric => row.try_get::<Option<String>, _>(k)?.map(KeyValue::Numeric),
            KeyType::Int => row.try_get::<Option<i64>, _>(k)?.map(KeyValue::Int),
            KeyType::Time => row
                .try_get::<Option<OffsetDateTime>, _>(k)?
                .map(KeyValue::Time),
            KeyType::Bool => row.try_get::<Option<bool>, _>(k)?.map(KeyValue::Bool),
        };
        Ok(Keyset {
            key: Some(value.unwrap_or(KeyValue::Null)),
            id,
        })
    }
}

impl PgStore {
    /// The primary at `url`; with `read`, list, search and report reads
    /// may be served by the replica it names (`read_scaling`).
    pub async fn connect(
        url: &str,
        pool_size: u32,
        read: Option<&super::read_scaling::ReadReplica>,
    ) -> Result<Self> {
        // `options` (e.g. `-c search_path=...`) travels in the startup
        // packet, so every pooled connection gets it.
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            // Short enough that a request meets a database that does not
            // answer (a failover) well within its deadline, with room to
            // run again (`http::retry`).
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let reads = match read {
            Some(r) => {
                // Connected on first use: a replica that is down when the
                // server starts only sends its reads to the primary.
                let replica = PgPoolOptions::new()
                    .max_connections(pool_size.max(1))
                    .acquire_timeout(super::read_scaling::ACQUIRE_TIMEOUT)
                    .connect_lazy_with(PgConnectOptions::from_str(&r.url)?);
                Some(super::read_scaling::ReadRoute::new(
                    replica,
                    pool.clone(),
                    r.max_lag,
                ))
            }
            None => None,
        };
        Ok(super::sql::SqlStore::new(Postgres { pool, reads }))
    }
}
