//! Reading users and groups: one by id, a page of a filtered and sorted
//! list (with its total), the plan of that page's query; and what a write
//! checks of the row it changes (its version).

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Backend, Query, Record, SqlStore, query, unique};
use crate::ids::IamId;
use std::sync::Arc;

use crate::store::sql_filter::{ListSql, list_sql};
use crate::store::{
    ListPage, ListQuery, Lists, ResourceKind, Result, StoreError, Stored, Window, keyset_page,
};

/// A row of `users` or `groups` as the domain reads it.
pub(super) fn stored(r: &impl Record) -> Result<Stored> {
    Ok(Stored {
        id: r.uuid("id")?,
        doc: r.json("doc")?,
        created: r.time("created")?,
        last_modified: r.time("last_modified")?,
        version: r.int("version")?,
    })
}

/// A user or group just inserted, as the domain reads it.
pub(super) fn created(id: Uuid, doc: Value, now: OffsetDateTime) -> Stored {
    Stored {
        id,
        doc,
        created: now,
        last_modified: now,
        version: 1,
    }
}

/// A user or group just rewritten, from the `RETURNING created, version`
/// of its UPDATE.
pub(super) fn updated(
    row: &impl Record,
    id: Uuid,
    doc: Value,
    now: OffsetDateTime,
) -> Result<Stored> {
    Ok(Stored {
        id,
        doc,
        created: row.time("created")?,
        last_modified: now,
        version: row.int("version")?,
    })
}

/// A user or group of the IAM (`table` is `users` or `groups`).
pub(super) async fn get<B: Backend>(
    db: &SqlStore<B>,
    table: &'static str,
    iam: IamId,
    id: Uuid,
) -> Result<Option<Stored>> {
    let row = db
        .read_optional(
            query(format!(
                "SELECT id, doc, created, last_modified, version FROM {table} \
                 WHERE id = $1 AND iam_id = $2"
            ))
            .bind(id)
            .bind(iam),
        )
        .await?;
    row.as_ref().map(stored).transpose()
}

/// Checks the version a conditional write expects, inside its transaction,
/// and (PostgreSQL) locks the row until the transaction ends.
pub async fn check_version<B: Backend>(
    tx: &mut B::Conn,
    table: &'static str,
    iam: IamId,
    id: Uuid,
    if_version: Option<i64>,
) -> Result<i64> {
    let sql = format!(
        "SELECT version FROM {table} WHERE id = $1 AND iam_id = $2{}",
        B::DIALECT.for_update()
    );
    let row = B::fetch_optional(tx, query(sql).bind(id).bind(iam)).await?;
    let current = row.ok_or(StoreError::NotFound)?.int("version")?;
    match if_version {
        Some(v) if v != current => Err(StoreError::VersionMismatch),
        _ => Ok(current),
    }
}

/// The row a write changes, read and (PostgreSQL) locked until its
/// transaction ends, after the version check of [`check_version`].
pub(super) async fn locked<B: Backend>(
    tx: &mut B::Conn,
    table: &'static str,
    iam: IamId,
    id: Uuid,
    if_version: Option<i64>,
) -> Result<Stored> {
    let sql = format!(
        "SELECT id, doc, created, last_modified, version FROM {table}
         WHERE id = $1 AND iam_id = $2{}",
        B::DIALECT.for_update()
    );
    let row = B::fetch_optional(tx, query(sql).bind(id).bind(iam)).await?;
    let row = stored(&row.ok_or(StoreError::NotFound)?)?;
    match if_version {
        Some(v) if v != row.version => Err(StoreError::VersionMismatch),
        _ => Ok(row),
    }
}

/// The clause that makes an UPDATE of a row conditional on its version
/// (bound as `$n`), when the caller names one.
pub(super) fn conditional(n: usize, if_version: Option<i64>) -> String {
    if_version.map_or_else(String::new, |_| format!(" AND version = ${n}"))
}

/// Runs the UPDATE of a user or group of the IAM (`table`) that returns
/// its `created, version`: the row, or why it changed none (the unique
/// `index` is taken, the version moved on, no such row in the IAM).
pub(super) async fn update_row<B: Backend>(
    tx: &mut B::Conn,
    table: &'static str,
    index: &'static str,
    iam: IamId,
    id: Uuid,
    update: Query,
) -> Result<B::Row> {
    let row = B::fetch_optional(tx, update)
        .await
        .map_err(|e| unique(e, index))?;
    match row {
        Some(row) => Ok(row),
        None => Err(missed::<B>(tx, table, iam, id).await),
    }
}

/// Why an UPDATE conditional on the IAM (and version) changed no row: the
/// version moved on, or there is no such row in the IAM. Read only then.
async fn missed<B: Backend>(
    tx: &mut B::Conn,
    table: &'static str,
    iam: IamId,
    id: Uuid,
) -> StoreError {
    let sql = format!("SELECT 1 AS found FROM {table} WHERE id = $1 AND iam_id = $2");
    match B::fetch_optional(tx, query(sql).bind(id).bind(iam)).await {
        Ok(Some(_)) => StoreError::VersionMismatch,
        Ok(None) => StoreError::NotFound,
        Err(e) => e,
    }
}

/// A page of users or groups, and the number of all that match: a read a
/// replica may serve (`Backend::scaled`).
async fn list<B: Backend>(
    db: &SqlStore<B>,
    kind: ResourceKind,
    iam: IamId,
    q: &ListQuery,
) -> Result<ListPage> {
    let ls = list_sql(kind, B::DIALECT, iam.uuid(), q).map_err(StoreError::Filter)?;
    let read = Arc::new((ls, q.clone()));
    db.scaled(move |conn| {
        let read = read.clone();
        Box::pin(async move { page::<B>(conn, &read.0, iam, kind, &read.1).await })
    })
    .await
}

/// The statements of a list, run on `conn`.
async fn page<B: Backend>(
    conn: &mut B::Conn,
    ls: &ListSql,
    iam: IamId,
    kind: ResourceKind,
    q: &ListQuery,
) -> Result<ListPage> {
    let mut rows = Vec::new();
    if let Some(page) = &ls.page {
        rows = B::fetch_all(conn, Query::with(page.sql.clone(), page.binds.clone())).await?;
    }
    let (items, bounds, more) = if ls.keyed {
        let key = ls.key.as_ref().map(|k| k.ty);
        let keyed = rows
            .iter()
            .map(|r| Ok((stored(r)?, B::keyset(r, key)?)))
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
        let counted = query("SELECT n FROM resource_counts WHERE iam_id = $1 AND kind = $2")
            .bind(iam)
            .bind(kind.as_str());
        match B::fetch_optional(conn, counted).await? {
            Some(r) => r.int("n")?,
            None => 0,
        }
    } else {
        let count = Query::with(ls.count.sql.clone(), ls.count.binds.clone());
        B::fetch_one(conn, count).await?.int(0usize)?
    };
    Ok(ListPage {
        total: total as u64,
        items,
        bounds,
        more,
    })
}

#[async_trait]
impl<B: Backend> Lists for SqlStore<B> {
    async fn list_users(&self, iam: IamId, q: &ListQuery) -> Result<ListPage> {
        list(self, ResourceKind::User, iam, q).await
    }

    async fn list_groups(&self, iam: IamId, q: &ListQuery) -> Result<ListPage> {
        list(self, ResourceKind::Group, iam, q).await
    }

    async fn explain_list(&self, kind: ResourceKind, iam: IamId, q: &ListQuery) -> Result<String> {
        let ls = list_sql(kind, B::DIALECT, iam.uuid(), q).map_err(StoreError::Filter)?;
        match ls.page {
            Some(page) => self.explain(Query::with(page.sql, page.binds)).await,
            None => Ok(String::new()),
        }
    }
}
