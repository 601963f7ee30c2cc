//! The SQLite backend: the embedded default. One writer connection (writes
//! are serialised in-process instead of spinning on the file lock), a pool
//! of readers, WAL with `synchronous=FULL` so an acknowledged write survives
//! power loss, and IMMEDIATE write transactions so another process (the CLI)
//! waits on the busy timeout instead of failing mid-transaction.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Arguments, AssertSqlSafe, Row, SqlitePool, TypeInfo, ValueRef};
use time::OffsetDateTime;
use uuid::Uuid;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::SqliteConnection;

use super::sql::{Backend, Col, Query, Record};
use super::sql_filter::{self, Bind, Dialect};
use super::*;
use crate::audit::Entry;

mod accounts;

pub mod backup;
mod group_commit;
mod nesting;

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

/// Maps a unique-index violation to the index's name.
fn unique(e: sqlx::Error, index: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(index),
        _ => StoreError::Database(e),
    }
}

fn stored(row: &SqliteRow) -> Result<Stored> {
    let doc: String = row.try_get("doc")?;
    Ok(Stored {
        id: parse_uuid(row.try_get::<&str, _>("id")?)?,
        doc: serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created: from_micros(row.try_get("created")?)?,
        last_modified: from_micros(row.try_get("last_modified")?)?,
        version: row.try_get("version")?,
    })
}

fn args(binds: &[Bind]) -> Result<SqliteArguments> {
    encode(binds.to_vec())
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
        }
        .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
    }
    Ok(args)
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

    async fn execute(conn: &mut SqliteConnection, q: Query) -> Result<u64> {
        let done = sqlx::query_with(AssertSqlSafe(q.sql), encode(q.binds)?)
            .execute(conn)
            .await?;
        Ok(done.rows_affected())
    }

    async fn fetch_all(conn: &mut SqliteConnection, q: Query) -> Result<Vec<SqliteRow>> {
        Ok(sqlx::query_with(AssertSqlSafe(q.sql), encode(q.binds)?)
            .fetch_all(conn)
            .await?)
    }

    async fn fetch_optional(conn: &mut SqliteConnection, q: Query) -> Result<Option<SqliteRow>> {
        Ok(sqlx::query_with(AssertSqlSafe(q.sql), encode(q.binds)?)
            .fetch_optional(conn)
            .await?)
    }

    fn fetch_stream(&self, q: Query) -> BoxStream<'_, Result<SqliteRow>> {
        match encode(q.binds) {
            Ok(args) => sqlx::query_with(AssertSqlSafe(q.sql), args)
                .fetch(&self.reader)
                .map(|r| r.map_err(StoreError::from))
                .boxed(),
            Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
        }
    }

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

    async fn explain(&self, q: Query) -> Result<String> {
        let sql = format!("EXPLAIN QUERY PLAN {}", q.sql);
        let rows = sqlx::query_with(AssertSqlSafe(sql), encode(q.binds)?)
            .fetch_all(&self.reader)
            .await?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(3))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }
}

/// A row's position in a keyset list. The key keeps the dynamic type
/// SQLite computed it with, so that binding it again compares equal.
fn keyset(row: &SqliteRow, keyed: bool) -> Result<Keyset> {
    let id = parse_uuid(row.try_get::<&str, _>("id")?)?;
    if !keyed {
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

    async fn list(&self, kind: ResourceKind, iam: Uuid, q: &ListQuery) -> Result<ListPage> {
        let ls = sql_filter::list_sql(kind, Dialect::Sqlite, iam, q).map_err(StoreError::Filter)?;
        let mut conn = self.reader.acquire().await?;
        let mut rows = Vec::new();
        if let Some(page) = &ls.page {
            rows = sqlx::query_with(AssertSqlSafe(page.sql.clone()), args(&page.binds)?)
                .fetch_all(&mut *conn)
                .await?;
        }
        let (items, bounds, more) = if ls.keyed {
            let keyed = rows
                .iter()
                .map(|r| Ok((stored(r)?, keyset(r, ls.key.is_some())?)))
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
                    .bind(id_text(iam))
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
            .bind(id_text(id))
            .bind(id_text(iam))
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(stored).transpose()
    }
}

/// Checks the version a conditional write expects, inside its transaction.
async fn check_version(
    tx: &mut sqlx::SqliteConnection,
    table: &'static str,
    iam: Uuid,
    id: Uuid,
    if_version: Option<i64>,
) -> Result<i64> {
    let sql = format!("SELECT version FROM {table} WHERE id = $1 AND iam_id = $2");
    let current: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(id_text(id))
        .bind(id_text(iam))
        .fetch_optional(&mut *tx)
        .await?;
    let current = current.ok_or(StoreError::NotFound)?;
    match if_version {
        Some(v) if v != current => Err(StoreError::VersionMismatch),
        _ => Ok(current),
    }
}

/// Rewrites the `user_emails` rows of a user from its search document.
async fn write_emails(tx: &mut sqlx::SqliteConnection, user: Uuid, search: &Value) -> Result<()> {
    sqlx::query("DELETE FROM user_emails WHERE user_id = $1")
        .bind(id_text(user))
        .execute(&mut *tx)
        .await?;
    insert_emails(tx, &id_text(user), search).await
}

/// Adds the `user_emails` rows of a user's search document, in one
/// statement whatever their number.
async fn insert_emails(tx: &mut sqlx::SqliteConnection, user: &str, search: &Value) -> Result<()> {
    let values = email_values(search);
    if values.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO user_emails (value, user_id) SELECT value, $2 FROM json_each($1)
         WHERE true ON CONFLICT DO NOTHING",
    )
    .bind(Value::from(values).to_string())
    .bind(user)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A row of the member queries: id, kind, display.
fn member_row(r: &SqliteRow) -> Result<Member> {
    let kind: &str = r.try_get(1)?;
    Ok(Member {
        id: parse_uuid(r.try_get::<&str, _>(0)?)?,
        kind: MemberKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("member kind {kind}")))?,
        display: r.try_get(2)?,
    })
}

/// A group's members with what `members[].display` shows, by member id
/// (the primary key's order, so the database reads no more than it sends).
const MEMBERS_SQL: &str =
    "SELECT m.member_id, m.member_kind, COALESCE(u.user_name, g.display_name) AS display
     FROM group_members m
     JOIN groups owner ON owner.id = m.group_id AND owner.iam_id = $2
     LEFT JOIN users u ON m.member_kind = 'User' AND u.id = m.member_id
     LEFT JOIN groups g ON m.member_kind = 'Group' AND g.id = m.member_id
     WHERE m.group_id = $1 ORDER BY m.member_id";

async fn insert_members(
    tx: &mut sqlx::SqliteConnection,
    group: Uuid,
    members: &[(Uuid, MemberKind)],
    now: i64,
) -> Result<Vec<Uuid>> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    // One statement for any number of members: [[id, kind], …]; the
    // members it added (not those already there) come back, and the groups
    // among them are judged before the caller can commit.
    let rows: Vec<Value> = members
        .iter()
        .map(|(m, k)| Value::from(vec![id_text(*m), k.as_str().to_owned()]))
        .collect();
    let added: Vec<String> = sqlx::query_scalar(
        "INSERT INTO group_members (group_id, member_id, member_kind, added)
         SELECT $1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), $3 FROM json_each($2)
         WHERE true ON CONFLICT DO NOTHING RETURNING member_id",
    )
    .bind(id_text(group))
    .bind(Value::from(rows).to_string())
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let added = added
        .iter()
        .map(|m| parse_uuid(m))
        .collect::<Result<Vec<_>>>()?;
    nesting::check(&mut *tx, group, members, &added).await?;
    Ok(added)
}

/// Removes members of a group and returns those that were there: the
/// members listed in `ids`, or, with `Keep::Listed`, every member not
/// listed (all of them when `ids` is empty).
async fn delete_members(
    tx: &mut sqlx::SqliteConnection,
    group: Uuid,
    ids: &[Uuid],
    keep: Keep,
) -> Result<Vec<Uuid>> {
    if ids.is_empty() && keep == Keep::Others {
        return Ok(Vec::new());
    }
    let sql = match keep {
        Keep::Others => {
            "DELETE FROM group_members
             WHERE group_id = $1 AND member_id IN (SELECT value FROM json_each($2))
             RETURNING member_id"
        }
        Keep::Listed => {
            "DELETE FROM group_members
             WHERE group_id = $1 AND member_id NOT IN (SELECT value FROM json_each($2))
             RETURNING member_id"
        }
    };
    let ids: Vec<String> = ids.iter().map(|m| id_text(*m)).collect();
    let gone: Vec<String> = sqlx::query_scalar(sql)
        .bind(id_text(group))
        .bind(Value::from(ids).to_string())
        .fetch_all(&mut *tx)
        .await?;
    gone.iter().map(|m| parse_uuid(m)).collect()
}

/// The rows of a new user, inside the caller's transaction.
async fn insert_user_rows(
    tx: &mut sqlx::SqliteConnection,
    iam: Uuid,
    id: Uuid,
    u: &UserWrite,
    now: OffsetDateTime,
) -> Result<Stored> {
    let t = micros(now);
    sqlx::query(
        "INSERT INTO users (id, iam_id, user_name, user_name_folded, external_id, display_name_folded,
                            active, doc, password_hash, created, last_modified, version, search)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 1, $11)",
    )
    .bind(id_text(id))
    .bind(id_text(iam))
    .bind(u.user_name.as_str())
    .bind(u.user_name.folded())
    .bind(&u.external_id)
    .bind(&u.display_name_folded)
    .bind(u.active)
    .bind(u.doc.to_string())
    .bind(u.password_hash.clone().flatten())
    .bind(t)
    .bind(u.search.to_string())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique(e, "users_iam_user_name"))?;
    // A new user has no rows to delete first.
    insert_emails(&mut *tx, &id_text(id), &u.search).await?;
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
    tx: &mut sqlx::SqliteConnection,
    iam: Uuid,
    id: Uuid,
    g: &GroupWrite,
    members: &[(Uuid, MemberKind)],
    now: OffsetDateTime,
) -> Result<Stored> {
    let t = micros(now);
    sqlx::query(
        "INSERT INTO groups (id, iam_id, display_name, display_name_folded, external_id, doc, created, last_modified, version, search)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8)",
    )
    .bind(id_text(id))
    .bind(id_text(iam))
    .bind(&g.display_name)
    .bind(&g.display_name_folded)
    .bind(&g.external_id)
    .bind(g.doc.to_string())
    .bind(t)
    .bind(g.search.to_string())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique(e, "groups_iam_display_name"))?;
    insert_members(&mut *tx, id, members, t).await?;
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
    tx: &mut sqlx::SqliteConnection,
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
    tx: &mut sqlx::SqliteConnection,
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
async fn old_doc(tx: &mut sqlx::SqliteConnection, table: &'static str, id: Uuid) -> Result<Value> {
    let sql = format!("SELECT doc FROM {table} WHERE id = $1");
    let doc: String = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(id_text(id))
        .fetch_one(&mut *tx)
        .await?;
    serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// One create of a batch, behind its own savepoint so that its failure
/// undoes it alone and leaves the transaction usable.
async fn insert_batch_item(
    tx: &mut sqlx::SqliteConnection,
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
        sqlx::query("ROLLBACK TO batch_item")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("RELEASE batch_item").execute(&mut *tx).await?;
    Ok(done)
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

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

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn applied_migrations(&self) -> Result<Vec<super::migrations::Applied>> {
        let rows: Vec<(i64, bool, Vec<u8>)> = sqlx::query_as(
            "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&self.reader)
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
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        sqlx::query("INSERT INTO iams (id, name, display_name, created) VALUES ($1, $2, $3, $4)")
            .bind(id_text(id))
            .bind(name)
            .bind(display_name)
            .bind(micros(now))
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
        let rows = sqlx::query("SELECT id, name, display_name, created FROM iams ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(iam_row).collect()
    }

    async fn iam_by_name(&self, name: &str) -> Result<Option<Iam>> {
        let row = sqlx::query("SELECT id, name, display_name, created FROM iams WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(iam_row).transpose()
    }

    async fn create_token(&self, t: &NewToken, audit: &crate::audit::Entry) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        sqlx::query("INSERT INTO scim_tokens (id, iam_id, label, secret_hash, created) VALUES ($1, $2, $3, $4, $5)")
            .bind(id_text(t.id))
            .bind(id_text(t.iam_id))
            .bind(&t.label)
            .bind(&t.secret_hash)
            .bind(micros(t.created))
            .execute(&mut *tx)
            .await?;
        accounts::append_audit(&mut tx, audit, t.created).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn token_secret(&self, id: Uuid) -> Result<Option<TokenSecret>> {
        let row = sqlx::query(
            "SELECT iam_id, secret_hash, revoked, last_used FROM scim_tokens WHERE id = $1",
        )
        .bind(id_text(id))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(TokenSecret {
                iam_id: parse_uuid(r.try_get::<&str, _>("iam_id")?)?,
                secret_hash: r.try_get("secret_hash")?,
                revoked: r.try_get::<Option<i64>, _>("revoked")?.is_some(),
                last_used: r
                    .try_get::<Option<i64>, _>("last_used")?
                    .map(from_micros)
                    .transpose()?,
            })
        })
        .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.id, t.iam_id, i.name AS iam_name, t.label, t.created, t.revoked, t.last_used
             FROM scim_tokens t JOIN iams i ON i.id = t.iam_id ORDER BY t.created, t.id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: parse_uuid(r.try_get::<&str, _>("id")?)?,
                    iam_id: parse_uuid(r.try_get::<&str, _>("iam_id")?)?,
                    iam_name: r.try_get("iam_name")?,
                    label: r.try_get("label")?,
                    created: from_micros(r.try_get("created")?)?,
                    revoked: r
                        .try_get::<Option<i64>, _>("revoked")?
                        .map(from_micros)
                        .transpose()?,
                    last_used: r
                        .try_get::<Option<i64>, _>("last_used")?
                        .map(from_micros)
                        .transpose()?,
                })
            })
            .collect()
    }

    async fn token_used(&self, id: Uuid, now: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE scim_tokens SET last_used = $1 WHERE id = $2")
            .bind(micros(now))
            .bind(id_text(id))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn revoke_token(
        &self,
        id: Uuid,
        audit: &crate::audit::Entry,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        let done =
            sqlx::query("UPDATE scim_tokens SET revoked = $1 WHERE id = $2 AND revoked IS NULL")
                .bind(micros(now))
                .bind(id_text(id))
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
        // Through group commit: one fsync covers the creates queued meanwhile.
        let (u, grants, audit) = (u.clone(), grants.to_vec(), audit.clone());
        self.commits
            .write(move |tx| {
                Box::pin(async move {
                    let (stored, entry) =
                        create_user_rows(&mut *tx, iam, id, &u, &grants, &audit, now).await?;
                    accounts::append_audit(tx, &entry, now).await?;
                    Ok(stored)
                })
            })
            .await
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
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        let version = check_version(&mut tx, "users", iam, id, if_version).await? + 1;
        let mut names = crate::audit::changed(&old_doc(&mut tx, "users", id).await?, &u.doc);
        if u.password_hash.is_some() {
            names.push("password".into());
        }
        let created: i64 = sqlx::query_scalar(
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
        .bind(u.doc.to_string())
        .bind(u.password_hash.is_some())
        .bind(u.password_hash.clone().flatten())
        .bind(micros(now))
        .bind(version)
        .bind(id_text(id))
        .bind(u.search.to_string())
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
            created: from_micros(created)?,
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
        let placeholders: Vec<String> = (0..users.len()).map(|i| format!("${}", i + 2)).collect();
        // Walk up the nesting, each (member, group, direct) once: `UNION`
        // ends cycles stored before writes refused them, and counts no
        // depth, so a diamond costs nothing and nothing deep is cut.
        let sql = format!(
            "WITH RECURSIVE up(member_id, group_id, direct) AS (
                 SELECT member_id, group_id, 1 FROM group_members WHERE member_id IN ({})
                 UNION
                 SELECT up.member_id, gm.group_id, 0
                 FROM up JOIN group_members gm ON gm.member_id = up.group_id
             )
             SELECT up.member_id, g.id, g.display_name, MAX(up.direct) AS direct
             FROM up JOIN groups g ON g.id = up.group_id AND g.iam_id = $1
             GROUP BY up.member_id, g.id, g.display_name
             ORDER BY g.display_name_folded, g.id",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(id_text(iam));
        for u in users {
            q = q.bind(id_text(*u));
        }
        for r in q.fetch_all(&self.reader).await? {
            let user = parse_uuid(r.try_get::<&str, _>(0)?)?;
            out.entry(user).or_default().push(GroupRef {
                id: parse_uuid(r.try_get::<&str, _>(1)?)?,
                display_name: r.try_get(2)?,
                direct: r.try_get::<i64, _>(3)? == 1,
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
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
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
        let t = micros(now);
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        let version = check_version(&mut tx, "groups", iam, id, if_version).await? + 1;
        let names = crate::audit::changed(&old_doc(&mut tx, "groups", id).await?, &g.doc);
        let created: i64 = sqlx::query_scalar(
            "UPDATE groups SET display_name = $1, display_name_folded = $2, external_id = $3, doc = $4,
                    last_modified = $5, version = $6, search = $8
             WHERE id = $7 RETURNING created",
        )
        .bind(&g.display_name)
        .bind(&g.display_name_folded)
        .bind(&g.external_id)
        .bind(g.doc.to_string())
        .bind(t)
        .bind(version)
        .bind(id_text(id))
        .bind(g.search.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique(e, "groups_iam_display_name"))?;
        // Keep the rows of members that stay, so their join dates survive.
        let stay: Vec<Uuid> = members.iter().map(|(m, _)| *m).collect();
        let gone = delete_members(&mut tx, id, &stay, Keep::Listed).await?;
        let added = insert_members(&mut tx, id, members, t).await?;
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
            created: from_micros(created)?,
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
        let t = micros(now);
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
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
        let added = insert_members(&mut tx, id, p.add, t).await?;
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
                    .bind(g.doc.to_string())
                    .bind(t)
                    .bind(version + 1)
                    .bind(id_text(id))
                    .bind(g.search.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique(e, "groups_iam_display_name"))?;
                }
                None => {
                    sqlx::query("UPDATE groups SET last_modified = $1, version = $2 WHERE id = $3")
                        .bind(t)
                        .bind(version + 1)
                        .bind(id_text(id))
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        let row = sqlx::query(
            "SELECT id, doc, created, last_modified, version FROM groups WHERE id = $1",
        )
        .bind(id_text(id))
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
                 WHERE m.group_id = $1 LIMIT $3)",
        )
        .bind(id_text(group))
        .bind(id_text(iam))
        .bind(cap.min(i64::MAX as u64) as i64)
        .fetch_one(&self.reader)
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
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        check_version(&mut tx, "groups", iam, id, if_version).await?;
        sqlx::query("DELETE FROM attributes WHERE owner_id = $1")
            .bind(id_text(id))
            .execute(&mut *tx)
            .await?;
        let mut e = audit.clone().target("Group", id);
        e.action = "group.deleted";
        accounts::append_audit(&mut tx, &e, now).await?;
        sqlx::query("DELETE FROM group_members WHERE member_id = $1 OR group_id = $1")
            .bind(id_text(id))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id_text(id))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_groups(&self, iam: Uuid, q: &ListQuery) -> Result<ListPage> {
        self.list(ResourceKind::Group, iam, q).await
    }

    async fn explain_list(&self, kind: ResourceKind, iam: Uuid, q: &ListQuery) -> Result<String> {
        let ls = sql_filter::list_sql(kind, Dialect::Sqlite, iam, q).map_err(StoreError::Filter)?;
        let Some(page) = ls.page else {
            return Ok(String::new());
        };
        let rows = sqlx::query_with(
            AssertSqlSafe(format!("EXPLAIN QUERY PLAN {}", page.sql)),
            args(&page.binds)?,
        )
        .fetch_all(&self.reader)
        .await?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(3))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }

    async fn group_members(&self, iam: Uuid, group: Uuid) -> Result<Vec<Member>> {
        let rows = sqlx::query(MEMBERS_SQL)
            .bind(id_text(group))
            .bind(id_text(iam))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(member_row).collect()
    }

    async fn resolve_members(&self, iam: Uuid, ids: &[Uuid]) -> Result<HashMap<Uuid, MemberKind>> {
        let list: Vec<String> = ids.iter().map(|i| id_text(*i)).collect();
        let rows = sqlx::query(
            "SELECT id, 'User' FROM users WHERE iam_id = $1 AND id IN (SELECT value FROM json_each($2))
             UNION ALL
             SELECT id, 'Group' FROM groups WHERE iam_id = $1 AND id IN (SELECT value FROM json_each($2))",
        )
        .bind(id_text(iam))
        .bind(Value::from(list).to_string())
        .fetch_all(&self.reader)
        .await?;
        let mut out = HashMap::new();
        for r in rows {
            let kind: &str = r.try_get(1)?;
            let kind = MemberKind::parse(kind)
                .ok_or_else(|| StoreError::Corrupt(format!("member kind {kind}")))?;
            out.insert(parse_uuid(r.try_get::<&str, _>(0)?)?, kind);
        }
        Ok(out)
    }

    async fn signing_key(&self) -> Result<Vec<u8>> {
        let fresh: [u8; 32] = rand::random();
        sqlx::query("INSERT INTO signing_keys (id, secret, created) VALUES (1, $1, $2) ON CONFLICT DO NOTHING")
            .bind(fresh.to_vec())
            .bind(micros(OffsetDateTime::now_utc()))
            .execute(&self.writer)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT secret FROM signing_keys WHERE id = 1")
                .fetch_one(&self.writer)
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
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
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
            .bind(id_text(group))
            .bind(id_text(iam))
            .fetch(&self.reader)
            .map(|row| member_row(&row?))
            .boxed()
    }

    async fn insert_users(
        &self,
        iam: Uuid,
        users: &[(Uuid, UserWrite)],
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        for (id, u) in users {
            insert_user_rows(&mut tx, iam, *id, u, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn iam_row(r: &SqliteRow) -> Result<Iam> {
    Ok(Iam {
        id: parse_uuid(r.try_get::<&str, _>("id")?)?,
        name: r.try_get("name")?,
        display_name: r.try_get("display_name")?,
        created: from_micros(r.try_get("created")?)?,
    })
}
