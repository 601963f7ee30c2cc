//! A list's SQL: the page query (by offset, or by keyset after or before a
//! position) and its count. The keyset condition mirrors ORDER BY exactly
//! (nulls placement, and the id tie-break that is ascending in both
//! directions), so a cursor page is exactly the rows on one side of a
//! position, found by an index range seek where an index has the order.

use uuid::Uuid;

use super::sort::{KeyType, SortKey, order_clause, sort_key};
use super::{Bind, Condition, Dialect, resource_type, table, translate_in};
use crate::scim::{ScimError, ScimType};
use crate::store::{Direction, KeyValue, ListQuery, ResourceKind, Seek, Window};

/// The statements of one list request.
#[derive(Debug, Clone)]
pub struct ListSql {
    /// The page query; None when the page holds no rows (`count=0`).
    pub page: Option<Condition>,
    /// `SELECT count(*)` of every match, whatever the window.
    pub count: Condition,
    /// The sort key, selected as the column `sort_key` in keyset windows.
    pub key: Option<SortKey>,
    /// A keyset window: the page query reads `limit + 1` rows.
    pub keyed: bool,
    /// A previous page: the page query reads the order backwards.
    pub reversed: bool,
}

pub fn invalid_cursor() -> ScimError {
    ScimError::bad(
        ScimType::InvalidCursor,
        "the cursor does not fit this query: send a nextCursor or previousCursor of a previous \
         response, with the query's other parameters unchanged",
    )
}

pub fn list_sql(
    kind: ResourceKind,
    dialect: Dialect,
    iam: Uuid,
    q: &ListQuery,
) -> Result<ListSql, ScimError> {
    let t = table(kind);
    let mut binds = vec![Bind::Uuid(iam)];
    let mut where_sql = String::from("iam_id = $1");
    if let Some(f) = &q.filter {
        let rt = q.resource.unwrap_or(resource_type(kind));
        let c = translate_in(f, kind, rt, dialect, 2, q.base_url.as_deref())?;
        where_sql.push_str(" AND ");
        where_sql.push_str(&c.sql);
        binds.extend(c.binds);
    }
    let count = Condition {
        sql: format!("SELECT count(*) FROM {t} WHERE {where_sql}"),
        binds: binds.clone(),
    };
    let key = sort_key(q.sort.as_ref(), kind, dialect)?;
    let descending = q.sort.as_ref().is_some_and(|s| s.descending);
    // The page's size is written into the statement, not bound: SQLite
    // (3.51, as bundled) reads a bound LIMIT while planning and marks the
    // statement stale whenever that parameter is bound again, so a bound
    // LIMIT cost a whole re-prepare on every request (26% of a
    // `userName eq` lookup's instructions). Clients use a few page sizes,
    // each one statement in the connection's cache.
    let limit = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let cols = "id, doc, created, last_modified, version";
    let (keyed, reversed) = match &q.window {
        Window::Offset(_) => (false, false),
        Window::Keyset(seek) => (
            true,
            seek.as_ref()
                .is_some_and(|s| s.direction == Direction::Before),
        ),
    };
    let page = if q.limit == 0 {
        None
    } else {
        let order = order_clause(key.as_ref(), descending, reversed, kind);
        Some(match &q.window {
            Window::Offset(offset) => {
                let n = binds.len() + 1;
                binds.push(Bind::Int(limit(*offset)));
                let rows = limit(q.limit);
                Condition {
                    sql: format!(
                        "SELECT {cols} FROM {t} WHERE {where_sql} ORDER BY {order} LIMIT {rows} OFFSET ${n}"
                    ),
                    binds,
                }
            }
            Window::Keyset(seek) => {
                if let Some(seek) = seek {
                    let c = seek_condition(
                        key.as_ref(),
                        descending,
                        seek,
                        kind,
                        dialect,
                        binds.len() + 1,
                    )?;
                    where_sql.push_str(" AND ");
                    where_sql.push_str(&c.sql);
                    binds.extend(c.binds);
                }
                let select_key = match &key {
                    None => String::new(),
                    Some(k) if k.ty == KeyType::Numeric => {
                        format!(", ({})::text AS sort_key", k.sql)
                    }
                    Some(k) => format!(", {} AS sort_key", k.sql),
                };
                let rows = limit(q.limit.saturating_add(1));
                Condition {
                    sql: format!(
                        "SELECT {cols}{select_key} FROM {t} WHERE {where_sql} ORDER BY {order} LIMIT {rows}"
                    ),
                    binds,
                }
            }
        })
    };
    Ok(ListSql {
        page,
        count,
        key,
        keyed,
        reversed,
    })
}

/// The rows strictly after (or before) `seek.from` in the order
/// `order_clause(key, descending, false)` defines; with `inclusive`, the
/// row at the position too.
pub fn seek_condition(
    key: Option<&SortKey>,
    descending: bool,
    seek: &Seek,
    kind: ResourceKind,
    dialect: Dialect,
    first_param: usize,
) -> Result<Condition, ScimError> {
    let t = table(kind);
    let ahead = seek.direction == Direction::After;
    let id_op = match (ahead, seek.inclusive) {
        (true, false) => ">",
        (true, true) => ">=",
        (false, false) => "<",
        (false, true) => "<=",
    };
    let mut binds = vec![Bind::Uuid(seek.from.id)];
    let id_test = format!("{t}.id {id_op} ${first_param}");
    let (key, k0) = match (key, &seek.from.key) {
        (None, None) => {
            return Ok(Condition {
                sql: id_test,
                binds,
            });
        }
        (Some(k), Some(v)) => (k, v),
        _ => return Err(invalid_cursor()),
    };
    let k = &key.sql;
    // Travelling towards larger keys (ascending, next page; descending,
    // previous page) is travelling towards the NULLs, which sort last
    // ascending and first descending.
    let towards_nulls = ahead != descending;
    let sql = if *k0 == KeyValue::Null {
        if towards_nulls {
            format!("({k} IS NULL AND {id_test})")
        } else {
            format!("({k} IS NOT NULL OR ({k} IS NULL AND {id_test}))")
        }
    } else {
        let (p, b) = key_param(key, dialect, k0, first_param + 1)?;
        binds.push(b);
        let (op, op_eq) = if towards_nulls {
            (">", ">=")
        } else {
            ("<", "<=")
        };
        // `K >= p AND (K > p OR id > q)` is `K > p OR (K = p AND id > q)`
        // for a non-NULL K, written so that an index on K bounds the scan.
        let tuple = format!("({k} {op_eq} {p} AND ({k} {op} {p} OR {id_test}))");
        if towards_nulls && key.nullable {
            format!("({tuple} OR {k} IS NULL)")
        } else {
            tuple
        }
    };
    Ok(Condition { sql, binds })
}

/// The placeholder and value of a boundary key, bound with the type the
/// key expression has. A value of another type cannot come from this
/// query's rows: the cursor is not this query's.
fn key_param(
    key: &SortKey,
    dialect: Dialect,
    v: &KeyValue,
    n: usize,
) -> Result<(String, Bind), ScimError> {
    let p = format!("${n}");
    let bind = match (dialect, key.ty, v) {
        (Dialect::Sqlite, _, KeyValue::Text(s)) => Bind::Text(s.clone()),
        (Dialect::Sqlite, _, KeyValue::Int(i)) => Bind::Int(*i),
        (Dialect::Sqlite, _, KeyValue::Real(f)) => Bind::Real(*f),
        (Dialect::Postgres, KeyType::Text, KeyValue::Text(s)) => Bind::Text(s.clone()),
        (Dialect::Postgres, KeyType::Int, KeyValue::Int(i)) => Bind::Int(*i),
        (Dialect::Postgres, KeyType::Time, KeyValue::Time(t)) => Bind::Time(*t),
        (Dialect::Postgres, KeyType::Bool, KeyValue::Bool(b)) => Bind::Bool(*b),
        (Dialect::Postgres, KeyType::Numeric, KeyValue::Numeric(s)) => {
            return Ok((format!("CAST({p} AS numeric)"), Bind::Text(s.clone())));
        }
        _ => return Err(invalid_cursor()),
    };
    Ok((p, bind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Keyset;

    fn seek(key: Option<KeyValue>) -> Seek {
        Seek {
            direction: Direction::After,
            inclusive: false,
            from: Keyset {
                key,
                id: Uuid::nil(),
            },
        }
    }

    fn numeric() -> SortKey {
        SortKey {
            sql: "k".into(),
            ty: KeyType::Numeric,
            nullable: true,
        }
    }

    #[test]
    fn keys_are_bound_with_their_type_or_refused() {
        let c = seek_condition(
            Some(&numeric()),
            false,
            &seek(Some(KeyValue::Numeric("1.50".into()))),
            ResourceKind::User,
            Dialect::Postgres,
            4,
        )
        .unwrap();
        assert_eq!(
            c.sql,
            "((k >= CAST($5 AS numeric) AND (k > CAST($5 AS numeric) OR users.id > $4)) OR k IS NULL)"
        );
        assert_eq!(
            c.binds,
            [Bind::Uuid(Uuid::nil()), Bind::Text("1.50".into())]
        );
        // A key of another type, or a key where the order has none (and
        // the reverse), cannot come from this query.
        for (key, value) in [
            (Some(numeric()), Some(KeyValue::Text("1".into()))),
            (Some(numeric()), None),
            (None, Some(KeyValue::Int(1))),
        ] {
            let e = seek_condition(
                key.as_ref(),
                false,
                &seek(value),
                ResourceKind::User,
                Dialect::Postgres,
                2,
            )
            .unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidCursor));
        }
    }

    #[test]
    fn nulls_are_tested_not_bound() {
        let c = seek_condition(
            Some(&numeric()),
            true,
            &seek(Some(KeyValue::Null)),
            ResourceKind::Group,
            Dialect::Sqlite,
            2,
        )
        .unwrap();
        // Descending, NULLs come first: after a NULL, the remaining NULLs
        // by id, then every value.
        assert_eq!(c.sql, "(k IS NOT NULL OR (k IS NULL AND groups.id > $2))");
        assert_eq!(c.binds, [Bind::Uuid(Uuid::nil())]);
    }
}
