//! The PostgreSQL backend: for deployments that outgrow one machine (several
//! stateless replicas on one database). Native types throughout: uuid ids,
//! timestamptz times (microseconds, like the domain's clock), jsonb
//! documents, boolean, bytea. Conditional writes lock the row they check
//! (`SELECT ... FOR UPDATE`) inside their transaction; unique indexes settle
//! races between creates. A URL may carry `?options=-c%20search_path%3DS`
//! to keep everything, the migrations table included, in schema `S`.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Arguments, AssertSqlSafe, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use serde_json::Value;
use sqlx::PgConnection;

use super::sql::{Backend, Col, Query, Record, Ty};
use super::sql_filter::{self, Bind, Dialect, KeyType};
use super::*;
use crate::audit::Entry;

mod accounts;
mod nesting;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The unique indexes a write can run into, by the name PostgreSQL reports.
const UNIQUE_INDEXES: [&str; 3] = [
    "users_iam_user_name",
    "groups_iam_display_name",
    "iams_name",
];

/// The PostgreSQL database: one pool.
pub struct Postgres {
    pool: PgPool,
}

pub type PgStore = super::sql::SqlStore<Postgres>;

/// Maps a unique violation (SQLSTATE 23505) to the index PostgreSQL names;
/// `fallback` when it names another one (a primary key, in practice).
fn unique(e: sqlx::Error, fallback: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let index = db
                .constraint()
                .and_then(|c| UNIQUE_INDEXES.iter().find(|&&i| i == c).copied());
            StoreError::Conflict(index.unwrap_or(fallback))
        }
        _ => StoreError::Database(e),
    }
}

fn encode_err(e: sqlx::error::BoxDynError) -> StoreError {
    StoreError::Database(sqlx::Error::Encode(e))
}

fn stored(row: &PgRow) -> Result<Stored> {
    Ok(Stored {
        id: row.try_get("id")?,
        doc: row.try_get("doc")?,
        created: row.try_get("created")?,
        last_modified: row.try_get("last_modified")?,
        version: row.try_get("version")?,
    })
}

fn iam_row(r: &PgRow) -> Result<Iam> {
    Ok(Iam {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        display_name: r.try_get("display_name")?,
        created: r.try_get("created")?,
    })
}

fn member_kind(s: &str) -> Result<MemberKind> {
    MemberKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("member kind {s}")))
}

fn args(binds: &[Bind]) -> Result<PgArguments> {
    encode(binds.to_vec())
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
            Bind::Columns(cols) => {
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
    fn opt_text(&self, c: impl Col) -> Result<Option<String>> {
        Ok(self.try_get(c)?)
    }
    fn opt_int(&self, c: impl Col) -> Result<Option<i64>> {
        Ok(self.try_get(c)?)
    }
    fn opt_bool(&self, c: impl Col) -> Result<Option<bool>> {
        Ok(self.try_get(c)?)
    }
    fn opt_bytes(&self, c: impl Col) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(c)?)
    }
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

    async fn writer(&self) -> Result<Self::Read> {
        Ok(self.pool.acquire().await?)
    }

    async fn begin(&self) -> Result<Self::Tx> {
        Ok(self.pool.begin().await?)
    }

    async fn commit(tx: Self::Tx) -> Result<()> {
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
        tx.commit().await?;
        Ok(out)
    }

    async fn execute(conn: &mut PgConnection, q: Query) -> Result<u64> {
        let done = sqlx::query_with(AssertSqlSafe(q.sql), encode(q.binds)?)
            .persistent(q.persistent)
            .execute(conn)
            .await?;
        Ok(done.rows_affected())
    }

    async fn fetch_all(conn: &mut PgConnection, q: Query) -> Result<Vec<PgRow>> {
        Ok(sqlx::query_with(AssertSqlSafe(q.sql), encode(q.binds)?)
            .persistent(q.persistent)
            .fetch_all(conn)
            .await?)
    }

    async fn fetch_optional(conn: &mut PgConnection, q: Query) -> Result<Option<PgRow>> {
        Ok(sqlx::query_with(AssertSqlSafe(q.sql), encode(q.binds)?)
            .persistent(q.persistent)
            .fetch_optional(conn)
            .await?)
    }

    fn fetch_stream(&self, q: Query) -> BoxStream<'_, Result<PgRow>> {
        match encode(q.binds) {
            Ok(args) => sqlx::query_with(AssertSqlSafe(q.sql), args)
                .persistent(q.persistent)
                .fetch(&self.pool)
                .map(|r| r.map_err(StoreError::from))
                .boxed(),
            Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
        }
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        vec![PoolStats {
            pool: "postgres",
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.pool.options().get_max_connections(),
        }]
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn explain(&self, q: Query) -> Result<String> {
        let sql = format!("EXPLAIN {}", q.sql);
        let rows = sqlx::query_with(AssertSqlSafe(sql), encode(q.binds)?)
            .fetch_all(&self.pool)
            .await?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }
}

/// A row's position in a keyset list, its key read as the type the key
/// expression has (numeric arrives as its exact text form).
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

impl PgStore {
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        // `options` (e.g. `-c search_path=...`) travels in the startup
        // packet, so every pooled connection gets it.
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok(super::sql::SqlStore::new(Postgres { pool }))
    }

    async fn list(&self, kind: ResourceKind, iam: Uuid, q: &ListQuery) -> Result<ListPage> {
        let ls =
            sql_filter::list_sql(kind, Dialect::Postgres, iam, q).map_err(StoreError::Filter)?;
        let mut conn = self.pool.acquire().await?;
        let mut rows = Vec::new();
        if let Some(page) = &ls.page {
            rows = sqlx::query_with(AssertSqlSafe(page.sql.clone()), args(&page.binds)?)
                .fetch_all(&mut *conn)
                .await?;
        }
        let (items, bounds, more) = if ls.keyed {
            let keyed = rows
                .iter()
                .map(|r| Ok((stored(r)?, keyset(r, ls.key.as_ref().map(|k| k.ty))?)))
                .collect::<Result<Vec<_>>>()?;
            keyset_page(keyed, q.limit, ls.reversed)
        } else {
            let items = rows.iter().map(stored).collect::<Result<Vec<_>>>()?;
            (items, None, false)
        };
        // A short page read from the start holds every match, so no count is
        // needed: the common case of an identity provider's `userName eq`.
        let from_start = match &q.window {
            Window::Offset(o) => *o == 0,
            Window::Keyset(seek) => seek.is_none(),
        };
        let total: i64 = if let Some(known) = q.known_total {
            i64::try_from(known).unwrap_or(i64::MAX)
        } else if from_start && q.limit > 0 && (items.len() as u64) < q.limit {
            items.len() as i64
        } else if q.filter.is_none() {
            // Unfiltered: the IAM's count, kept by triggers (0003_counts).
            let n: Option<i64> =
                sqlx::query_scalar("SELECT n FROM resource_counts WHERE iam_id = $1 AND kind = $2")
                    .bind(iam)
                    .bind(kind.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
            n.unwrap_or(0)
        } else {
            sqlx::query_scalar_with(AssertSqlSafe(ls.count.sql), args(&ls.count.binds)?)
                .fetch_one(&mut *conn)
                .await?
        };
        Ok(ListPage {
            total: total as u64,
            items,
            bounds,
            more,
        })
    }

    async fn get(&self, table: &'static str, iam: Uuid, id: Uuid) -> Result<Option<Stored>> {
        let sql = format!(
            "SELECT id, doc, created, last_modified, version FROM {table} WHERE id = $1 AND iam_id = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .bind(iam)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stored).transpose()
    }
}

/// Checks the version a conditional write expects, inside its transaction,
/// and locks the row until the transaction ends.
async fn check_version(
    tx: &mut sqlx::PgConnection,
    table: &'static str,
    iam: Uuid,
    id: Uuid,
    if_version: Option<i64>,
) -> Result<i64> {
    let sql = format!("SELECT version FROM {table} WHERE id = $1 AND iam_id = $2 FOR UPDATE");
    let current: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(id)
        .bind(iam)
        .fetch_optional(&mut *tx)
        .await?;
    let current = current.ok_or(StoreError::NotFound)?;
    match if_version {
        Some(v) if v != current => Err(StoreError::VersionMismatch),
        _ => Ok(current),
    }
}

/// Adds members in one statement; members already in the group keep their row.
/// Rewrites the `user_emails` rows of a user from its search document.
async fn write_emails(tx: &mut sqlx::PgConnection, user: Uuid, search: &Value) -> Result<()> {
    sqlx::query("DELETE FROM user_emails WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let values = email_values(search);
    if !values.is_empty() {
        sqlx::query(
            "INSERT INTO user_emails (value, user_id) SELECT v, $2 FROM unnest($1::text[]) AS v ON CONFLICT DO NOTHING",
        )
        .bind(values)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A row of the member queries: id, kind, display.
fn member_row(r: &PgRow) -> Result<Member> {
    Ok(Member {
        id: r.try_get(0)?,
        kind: member_kind(r.try_get(1)?)?,
        display: r.try_get(2)?,
    })
}

/// A group's members with what `members[].display` shows, by member id.
const MEMBERS_SQL: &str =
    "SELECT m.member_id, m.member_kind, COALESCE(u.user_name, g.display_name) AS display
     FROM group_members m
     JOIN groups owner ON owner.id = m.group_id AND owner.iam_id = $2
     LEFT JOIN users u ON m.member_kind = 'User' AND u.id = m.member_id
     LEFT JOIN groups g ON m.member_kind = 'Group' AND g.id = m.member_id
     WHERE m.group_id = $1 ORDER BY m.member_id";

async fn insert_members(
    tx: &mut sqlx::PgConnection,
    group: Uuid,
    members: &[(Uuid, MemberKind)],
    now: OffsetDateTime,
) -> Result<Vec<Uuid>> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = members.iter().map(|(id, _)| *id).collect();
    let kinds: Vec<&str> = members.iter().map(|(_, k)| k.as_str()).collect();
    // The members it added (not those already there) come back, and the
    // groups among them are judged before the caller can commit (under the
    // nesting lock, which the caller took first: `nesting::lock`).
    let added: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO group_members (group_id, member_id, member_kind, added)
         SELECT $1, m.id, m.kind, $4 FROM UNNEST($2::uuid[], $3::text[]) AS m(id, kind)
         ON CONFLICT DO NOTHING RETURNING member_id",
    )
    .bind(group)
    .bind(ids)
    .bind(kinds)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    nesting::check(&mut *tx, group, members, &added).await?;
    Ok(added)
}

/// Removes members of a group and returns those that were there: the
/// members listed in `ids`, or, with `Keep::Listed`, every member not
/// listed (all of them when `ids` is empty).
async fn delete_members(
    tx: &mut sqlx::PgConnection,
    group: Uuid,
    ids: &[Uuid],
    keep: Keep,
) -> Result<Vec<Uuid>> {
    if ids.is_empty() && keep == Keep::Others {
        return Ok(Vec::new());
    }
    let sql = match keep {
        Keep::Others => {
            "DELETE FROM group_members WHERE group_id = $1 AND member_id = ANY($2) RETURNING member_id"
        }
        Keep::Listed => {
            "DELETE FROM group_members WHERE group_id = $1 AND member_id <> ALL($2) RETURNING member_id"
        }
    };
    Ok(sqlx::query_scalar(sql)
        .bind(group)
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?)
}

/// The rows of a new user, inside the caller's transaction.
async fn insert_user_rows(
    tx: &mut sqlx::PgConnection,
    iam: Uuid,
    id: Uuid,
    u: &UserWrite,
    now: OffsetDateTime,
) -> Result<Stored> {
    sqlx::query(
        "INSERT INTO users (id, iam_id, user_name, user_name_folded, external_id, display_name_folded,
                            active, doc, password_hash, created, last_modified, version, search)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 1, $11)",
    )
    .bind(id)
    .bind(iam)
    .bind(u.user_name.as_str())
    .bind(u.user_name.folded())
    .bind(&u.external_id)
    .bind(&u.display_name_folded)
    .bind(u.active)
    .bind(&u.doc)
    .bind(u.password_hash.clone().flatten())
    .bind(now)
    .bind(&u.search)
    .execute(&mut *tx)
    .await
    .map_err(|e| unique(e, "users_iam_user_name"))?;
    write_emails(&mut *tx, id, &u.search).await?;
    Ok(Stored {
        id,
        doc: u.doc.clone(),
        created: now,
        last_modified: now,
        version: 1,
    })
}

/// The rows of a new group and its members, inside the caller's transaction.
async fn insert_group_rows(
    tx: &mut sqlx::PgConnection,
    iam: Uuid,
    id: Uuid,
    g: &GroupWrite,
    members: &[(Uuid, MemberKind)],
    now: OffsetDateTime,
) -> Result<Stored> {
    sqlx::query(
        "INSERT INTO groups (id, iam_id, display_name, display_name_folded, external_id, doc, created, last_modified, version, search)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8)",
    )
    .bind(id)
    .bind(iam)
    .bind(&g.display_name)
    .bind(&g.display_name_folded)
    .bind(&g.external_id)
    .bind(&g.doc)
    .bind(now)
    .bind(&g.search)
    .execute(&mut *tx)
    .await
    .map_err(|e| unique(e, "groups_iam_display_name"))?;
    insert_members(&mut *tx, id, members, now).await?;
    Ok(Stored {
        id,
        doc: g.doc.clone(),
        created: now,
        last_modified: now,
        version: 1,
    })
}

/// A new user with its default grants, and its audit record (for the
/// caller to append).
async fn create_user_rows(
    tx: &mut sqlx::PgConnection,
    iam: Uuid,
    id: Uuid,
    u: &UserWrite,
    grants: &[String],
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<(Stored, Entry)> {
    let stored = insert_user_rows(&mut *tx, iam, id, u, now).await?;
    accounts::grant_defaults(&mut *tx, id, grants, now).await?;
    let e = super::user_entry(audit, id, "user.created", crate::audit::present(&u.doc), u);
    Ok((stored, e))
}

/// A new group with its members, and its audit records (for the caller to
/// append): the creation, then one per member.
async fn create_group_rows(
    tx: &mut sqlx::PgConnection,
    iam: Uuid,
    id: Uuid,
    g: &GroupWrite,
    members: &[(Uuid, MemberKind)],
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<(Stored, Vec<Entry>)> {
    let stored = insert_group_rows(&mut *tx, iam, id, g, members, now).await?;
    let mut e = audit
        .clone()
        .target("Group", id)
        .attributes(crate::audit::present(&g.doc));
    e.action = "group.created";
    let mut entries = vec![e];
    entries.extend(member_entries(
        audit,
        id,
        "group.member_added",
        members.iter().map(|(m, _)| *m),
    ));
    Ok((stored, entries))
}

/// The stored document of a row, read inside a write transaction.
async fn old_doc(tx: &mut sqlx::PgConnection, table: &'static str, id: Uuid) -> Result<Value> {
    let sql = format!("SELECT doc FROM {table} WHERE id = $1");
    Ok(sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?)
}

/// One create of a batch, behind its own savepoint: a failed statement
/// aborts a PostgreSQL transaction, and rolling back to the savepoint is
/// what makes it usable again for the next item.
async fn insert_batch_item(
    tx: &mut sqlx::PgConnection,
    iam: Uuid,
    item: &NewResource<'_>,
    audit: &Entry,
    now: OffsetDateTime,
) -> Result<Result<(Stored, Vec<Entry>)>> {
    sqlx::query("SAVEPOINT batch_item")
        .execute(&mut *tx)
        .await?;
    let done = match *item {
        NewResource::User { id, user, grants } => {
            create_user_rows(&mut *tx, iam, id, user, grants, audit, now)
                .await
                .map(|(stored, e)| (stored, vec![e]))
        }
        NewResource::Group { id, group, members } => {
            create_group_rows(&mut *tx, iam, id, group, members, audit, now).await
        }
    };
    if done.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT batch_item")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("RELEASE SAVEPOINT batch_item")
        .execute(&mut *tx)
        .await?;
    Ok(done)
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<()> {
        // The migrator serialises on an advisory lock keyed by the database
        // name; its table lands in the first schema of the search path.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        vec![PoolStats {
            pool: "postgres",
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.pool.options().get_max_connections(),
        }]
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn applied_migrations(&self) -> Result<Vec<super::migrations::Applied>> {
        let rows: Vec<(i64, bool, Vec<u8>)> = sqlx::query_as(
            "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(version, success, checksum)| super::migrations::Applied {
                version,
                success,
                checksum,
            })
            .collect())
    }

    fn embedded_migrations(&self) -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    async fn create_iam(
        &self,
        id: Uuid,
        name: &str,
        display_name: Option<&str>,
        audit: &crate::audit::Entry,
        now: OffsetDateTime,
    ) -> Result<Iam> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO iams (id, name, display_name, created) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(display_name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique(e, "iams_name"))?;
        accounts::append_audit(&mut tx, &audit.clone().target("Iam", id), now).await?;
        tx.commit().await?;
        Ok(Iam {
            id,
            name: name.to_owned(),
            display_name: display_name.map(str::to_owned),
            created: now,
        })
    }

    async fn list_iams(&self) -> Result<Vec<Iam>> {
        let rows = sqlx::query(
            r#"SELECT id, name, display_name, created FROM iams ORDER BY name COLLATE "C""#,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(iam_row).collect()
    }

    async fn iam_by_name(&self, name: &str) -> Result<Option<Iam>> {
        let row = sqlx::query("SELECT id, name, display_name, created FROM iams WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(iam_row).transpose()
    }

    async fn create_token(&self, t: &NewToken, audit: &crate::audit::Entry) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO scim_tokens (id, iam_id, label, secret_hash, created) VALUES ($1, $2, $3, $4, $5)")
            .bind(t.id)
            .bind(t.iam_id)
            .bind(&t.label)
            .bind(&t.secret_hash)
            .bind(t.created)
            .execute(&mut *tx)
            .await?;
        accounts::append_audit(&mut tx, audit, t.created).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn token_secret(&self, id: Uuid) -> Result<Option<TokenSecret>> {
        let row = sqlx::query("SELECT iam_id, secret_hash, revoked IS NOT NULL AS revoked, last_used FROM scim_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(TokenSecret {
                iam_id: r.try_get("iam_id")?,
                secret_hash: r.try_get("secret_hash")?,
                revoked: r.try_get("revoked")?,
                last_used: r.try_get("last_used")?,
            })
        })
        .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.id, t.iam_id, i.name AS iam_name, t.label, t.created, t.revoked, t.last_used
             FROM scim_tokens t JOIN iams i ON i.id = t.iam_id ORDER BY t.created, t.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    iam_id: r.try_get("iam_id")?,
                    iam_name: r.try_get("iam_name")?,
                    label: r.try_get("label")?,
                    created: r.try_get("created")?,
                    revoked: r.try_get("revoked")?,
                    last_used: r.try_get("last_used")?,
                })
            })
            .collect()
    }

    async fn token_used(&self, id: Uuid, now: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE scim_tokens SET last_used = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_token(
        &self,
        id: Uuid,
        audit: &crate::audit::Entry,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("UPDATE scim_tokens SET revoked = $1 WHERE id = $2 AND revoked IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        accounts::append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_user(
        &self,
        iam: Uuid,
        id: Uuid,
        u: &UserWrite,
        grants: &[String],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let mut tx = self.pool.begin().await?;
        let (stored, entry) = create_user_rows(&mut tx, iam, id, u, grants, audit, now).await?;
        accounts::append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn get_user(&self, iam: Uuid, id: Uuid) -> Result<Option<Stored>> {
        self.get("users", iam, id).await
    }

    async fn replace_user(
        &self,
        iam: Uuid,
        id: Uuid,
        u: &UserWrite,
        if_version: Option<i64>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let mut tx = self.pool.begin().await?;
        let version = check_version(&mut tx, "users", iam, id, if_version).await? + 1;
        let mut names = crate::audit::changed(&old_doc(&mut tx, "users", id).await?, &u.doc);
        if u.password_hash.is_some() {
            names.push("password".into());
        }
        let created: OffsetDateTime = sqlx::query_scalar(
            "UPDATE users SET user_name = $1, user_name_folded = $2, external_id = $3, display_name_folded = $4,
                    active = $5, doc = $6, password_hash = CASE WHEN $7 THEN $8 ELSE password_hash END,
                    last_modified = $9, version = $10, search = $12
             WHERE id = $11 RETURNING created",
        )
        .bind(u.user_name.as_str())
        .bind(u.user_name.folded())
        .bind(&u.external_id)
        .bind(&u.display_name_folded)
        .bind(u.active)
        .bind(&u.doc)
        .bind(u.password_hash.is_some())
        .bind(u.password_hash.clone().flatten())
        .bind(now)
        .bind(version)
        .bind(id)
        .bind(&u.search)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique(e, "users_iam_user_name"))?;
        write_emails(&mut tx, id, &u.search).await?;
        let e = super::user_entry(audit, id, "user.updated", names, u);
        accounts::append_audit(&mut tx, &e, now).await?;
        tx.commit().await?;
        Ok(Stored {
            id,
            doc: u.doc.clone(),
            created,
            last_modified: now,
            version,
        })
    }

    async fn list_users(&self, iam: Uuid, q: &ListQuery) -> Result<ListPage> {
        self.list(ResourceKind::User, iam, q).await
    }

    async fn groups_of_users(
        &self,
        iam: Uuid,
        users: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<GroupRef>>> {
        let mut out: HashMap<Uuid, Vec<GroupRef>> = HashMap::new();
        if users.is_empty() {
            return Ok(out);
        }
        // Walk up the nesting, each (member, group, direct) once: `UNION`
        // ends cycles stored before writes refused them, and counts no
        // depth, so a diamond costs nothing and nothing deep is cut.
        let rows = sqlx::query(
            r#"WITH RECURSIVE up(member_id, group_id, direct) AS (
                   SELECT member_id, group_id, 1 FROM group_members WHERE member_id = ANY($2)
                   UNION
                   SELECT up.member_id, gm.group_id, 0
                   FROM up JOIN group_members gm ON gm.member_id = up.group_id
               )
               SELECT up.member_id, g.id, g.display_name, MAX(up.direct) = 1 AS direct
               FROM up JOIN groups g ON g.id = up.group_id AND g.iam_id = $1
               GROUP BY up.member_id, g.id, g.display_name
               ORDER BY g.display_name_folded COLLATE "C", g.id"#,
        )
        .bind(iam)
        .bind(users)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let user: Uuid = r.try_get(0)?;
            out.entry(user).or_default().push(GroupRef {
                id: r.try_get(1)?,
                display_name: r.try_get(2)?,
                direct: r.try_get(3)?,
            });
        }
        Ok(out)
    }

    async fn insert_group(
        &self,
        iam: Uuid,
        id: Uuid,
        g: &GroupWrite,
        members: &[(Uuid, MemberKind)],
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let mut tx = self.pool.begin().await?;
        nesting::lock(&mut tx, iam, members).await?;
        let (stored, entries) = create_group_rows(&mut tx, iam, id, g, members, audit, now).await?;
        accounts::append_audits(&mut tx, &entries, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn get_group(&self, iam: Uuid, id: Uuid) -> Result<Option<Stored>> {
        self.get("groups", iam, id).await
    }

    // One transaction's inputs: the group, its members, the version it
    // must still have, and who changes it.
    #[allow(clippy::too_many_arguments)]
    async fn replace_group(
        &self,
        iam: Uuid,
        id: Uuid,
        g: &GroupWrite,
        members: &[(Uuid, MemberKind)],
        if_version: Option<i64>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let mut tx = self.pool.begin().await?;
        nesting::lock(&mut tx, iam, members).await?;
        let version = check_version(&mut tx, "groups", iam, id, if_version).await? + 1;
        let names = crate::audit::changed(&old_doc(&mut tx, "groups", id).await?, &g.doc);
        let created: OffsetDateTime = sqlx::query_scalar(
            "UPDATE groups SET display_name = $1, display_name_folded = $2, external_id = $3, doc = $4,
                    last_modified = $5, version = $6, search = $8
             WHERE id = $7 RETURNING created",
        )
        .bind(&g.display_name)
        .bind(&g.display_name_folded)
        .bind(&g.external_id)
        .bind(&g.doc)
        .bind(now)
        .bind(version)
        .bind(id)
        .bind(&g.search)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique(e, "groups_iam_display_name"))?;
        // Keep the rows of members that stay, so their join dates survive.
        let stay: Vec<Uuid> = members.iter().map(|(m, _)| *m).collect();
        let gone = delete_members(&mut tx, id, &stay, Keep::Listed).await?;
        let added = insert_members(&mut tx, id, members, now).await?;
        let mut entries = Vec::new();
        if !names.is_empty() {
            let mut e = audit.clone().target("Group", id).attributes(names);
            e.action = "group.updated";
            entries.push(e);
        }
        entries.extend(member_entries(audit, id, "group.member_removed", gone));
        entries.extend(member_entries(audit, id, "group.member_added", added));
        accounts::append_audits(&mut tx, &entries, now).await?;
        tx.commit().await?;
        Ok(Stored {
            id,
            doc: g.doc.clone(),
            created,
            last_modified: now,
            version,
        })
    }

    async fn patch_group(
        &self,
        iam: Uuid,
        id: Uuid,
        p: &GroupPatch<'_>,
        if_version: Option<i64>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let mut tx = self.pool.begin().await?;
        nesting::lock(&mut tx, iam, p.add).await?;
        let version = check_version(&mut tx, "groups", iam, id, if_version).await?;
        let names = match p.group {
            Some(g) => crate::audit::changed(&old_doc(&mut tx, "groups", id).await?, &g.doc),
            None => Vec::new(),
        };
        let gone = if p.remove_all {
            // Replacing the members: those that stay keep their rows (and
            // join dates) and are neither removed nor added.
            let stay: Vec<Uuid> = p.add.iter().map(|(m, _)| *m).collect();
            delete_members(&mut tx, id, &stay, Keep::Listed).await?
        } else {
            delete_members(&mut tx, id, p.remove, Keep::Others).await?
        };
        let added = insert_members(&mut tx, id, p.add, now).await?;
        let mut entries = Vec::new();
        if !names.is_empty() {
            let mut e = audit.clone().target("Group", id).attributes(names);
            e.action = "group.updated";
            entries.push(e);
        }
        entries.extend(member_entries(audit, id, "group.member_removed", gone));
        entries.extend(member_entries(audit, id, "group.member_added", added));
        // A group document that came back equal, and no member that came
        // or went, is no change.
        if !entries.is_empty() {
            accounts::append_audits(&mut tx, &entries, now).await?;
            match p.group {
                Some(g) => {
                    sqlx::query(
                        "UPDATE groups SET display_name = $1, display_name_folded = $2, external_id = $3, doc = $4,
                                last_modified = $5, version = $6, search = $8
                         WHERE id = $7",
                    )
                    .bind(&g.display_name)
                    .bind(&g.display_name_folded)
                    .bind(&g.external_id)
                    .bind(&g.doc)
                    .bind(now)
                    .bind(version + 1)
                    .bind(id)
                    .bind(&g.search)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique(e, "groups_iam_display_name"))?;
                }
                None => {
                    sqlx::query("UPDATE groups SET last_modified = $1, version = $2 WHERE id = $3")
                        .bind(now)
                        .bind(version + 1)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        let row = sqlx::query(
            "SELECT id, doc, created, last_modified, version FROM groups WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let out = stored(&row)?;
        tx.commit().await?;
        Ok(out)
    }

    async fn count_members(&self, iam: Uuid, group: Uuid, cap: u64) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM group_members m
                 JOIN groups g ON g.id = m.group_id AND g.iam_id = $2
                 WHERE m.group_id = $1 LIMIT $3) AS capped",
        )
        .bind(group)
        .bind(iam)
        .bind(cap.min(i64::MAX as u64) as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    async fn delete_group(
        &self,
        iam: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        check_version(&mut tx, "groups", iam, id, if_version).await?;
        sqlx::query("DELETE FROM attributes WHERE owner_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let mut e = audit.clone().target("Group", id);
        e.action = "group.deleted";
        accounts::append_audit(&mut tx, &e, now).await?;
        sqlx::query("DELETE FROM group_members WHERE member_id = $1 OR group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_groups(&self, iam: Uuid, q: &ListQuery) -> Result<ListPage> {
        self.list(ResourceKind::Group, iam, q).await
    }

    async fn explain_list(&self, kind: ResourceKind, iam: Uuid, q: &ListQuery) -> Result<String> {
        let ls =
            sql_filter::list_sql(kind, Dialect::Postgres, iam, q).map_err(StoreError::Filter)?;
        let Some(page) = ls.page else {
            return Ok(String::new());
        };
        let lines: Vec<String> = sqlx::query_scalar_with(
            AssertSqlSafe(format!("EXPLAIN {}", page.sql)),
            args(&page.binds)?,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(lines.join("\n"))
    }

    async fn group_members(&self, iam: Uuid, group: Uuid) -> Result<Vec<Member>> {
        let rows = sqlx::query(MEMBERS_SQL)
            .bind(group)
            .bind(iam)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(member_row).collect()
    }

    async fn resolve_members(&self, iam: Uuid, ids: &[Uuid]) -> Result<HashMap<Uuid, MemberKind>> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let rows = sqlx::query(
            "SELECT id, 'User'::text FROM users WHERE iam_id = $1 AND id = ANY($2)
             UNION ALL
             SELECT id, 'Group'::text FROM groups WHERE iam_id = $1 AND id = ANY($2)",
        )
        .bind(iam)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            out.insert(r.try_get(0)?, member_kind(r.try_get(1)?)?);
        }
        Ok(out)
    }

    async fn signing_key(&self) -> Result<Vec<u8>> {
        let fresh: [u8; 32] = rand::random();
        sqlx::query("INSERT INTO signing_keys (id, secret, created) VALUES (1, $1, $2) ON CONFLICT DO NOTHING")
            .bind(fresh.to_vec())
            .bind(OffsetDateTime::now_utc())
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT secret FROM signing_keys WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn insert_batch(
        &self,
        iam: Uuid,
        items: &[NewResource<'_>],
        max_errors: usize,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<Vec<Result<Stored>>> {
        let mut out = Vec::with_capacity(items.len());
        if items.is_empty() {
            return Ok(out);
        }
        let mut errors = 0;
        let mut entries = Vec::new();
        let mut tx = self.pool.begin().await?;
        // The nesting lock, before any item writes rows and outside their
        // savepoints (rolling one back would give the lock back early).
        let members: Vec<(Uuid, MemberKind)> = items
            .iter()
            .filter_map(|i| match i {
                NewResource::Group { members, .. } => members
                    .iter()
                    .find(|(_, k)| *k == MemberKind::Group)
                    .copied(),
                NewResource::User { .. } => None,
            })
            .take(1)
            .collect();
        nesting::lock(&mut tx, iam, &members).await?;
        for item in items {
            let done = insert_batch_item(&mut tx, iam, item, audit, now).await?;
            errors += usize::from(done.is_err());
            out.push(done.map(|(stored, items)| {
                entries.extend(items);
                stored
            }));
            if errors >= max_errors {
                break;
            }
        }
        accounts::append_audits(&mut tx, &entries, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    fn stream_members(&self, iam: Uuid, group: Uuid) -> MemberStream<'_> {
        sqlx::query(MEMBERS_SQL)
            .bind(group)
            .bind(iam)
            .fetch(&self.pool)
            .map(|row| member_row(&row?))
            .boxed()
    }

    async fn insert_users(
        &self,
        iam: Uuid,
        users: &[(Uuid, UserWrite)],
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (id, u) in users {
            insert_user_rows(&mut tx, iam, *id, u, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
