//! `sortBy`/`sortOrder` → ORDER BY (RFC 7644 §3.4.2.3). A multi-valued
//! attribute sorts by its primary value, else its first; strings by their
//! search form (folded unless caseExact) in code point order; resources
//! without a value come last ascending and first descending, as the RFC
//! says ("ordered last if ascending and first if descending"); ties are
//! always broken by id ascending, in both directions, so pages are stable.
//! The key is exposed with its SQL type so that a cursor can carry a row's
//! key and bind it again (`page.rs` builds the keyset condition).

use super::json::{Base, JsonRef};
use super::{Dialect, sql_name, table};
use crate::scim::ScimError;
use crate::scim::schema::{AttrDef, AttrType};
use crate::store::{ResourceKind, Sort};

/// The SQL type of a sort key, which says how a key value read back from
/// a row is bound again. SQLite's values keep their dynamic type whatever
/// this says; PostgreSQL's keys are typed by their expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// text (`COLLATE "C"` in PostgreSQL).
    Text,
    /// bigint / INTEGER.
    Int,
    /// timestamptz; INTEGER microseconds in SQLite.
    Time,
    /// PostgreSQL numeric (JSON numbers), carried as text.
    Numeric,
    /// PostgreSQL boolean (JSON booleans).
    Bool,
    /// A JSON value in SQLite: text, integer or real as the document holds.
    Dynamic,
}

/// The expression a list is ordered by (before the id tie-break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub sql: String,
    pub ty: KeyType,
    /// False for NOT NULL columns: keyset conditions then skip the NULL
    /// branches, which keeps them index range seeks.
    pub nullable: bool,
}

/// The ORDER BY list (without the keywords) for a list query.
pub fn order_by(
    sort: Option<&Sort>,
    kind: ResourceKind,
    dialect: Dialect,
) -> Result<String, ScimError> {
    let key = sort_key(sort, kind, dialect)?;
    Ok(order_clause(
        key.as_ref(),
        sort.is_some_and(|s| s.descending),
        false,
        kind,
    ))
}

/// The ORDER BY list for a key; `reversed` walks the same order backwards
/// (a previous page is read nearest-first, then turned around).
pub fn order_clause(
    key: Option<&SortKey>,
    descending: bool,
    reversed: bool,
    kind: ResourceKind,
) -> String {
    let t = table(kind);
    let id_dir = if reversed { " DESC" } else { "" };
    let Some(key) = key else {
        return format!("{t}.id{id_dir}");
    };
    let dir = if descending != reversed {
        "DESC NULLS FIRST"
    } else {
        "ASC NULLS LAST"
    };
    format!("{} {dir}, {t}.id{id_dir}", key.sql)
}

/// The sort key of a `sortBy`; None when the list is ordered by id alone
/// (no `sortBy`, or one that is the same for every resource or orders as
/// the id does).
pub fn sort_key(
    sort: Option<&Sort>,
    kind: ResourceKind,
    dialect: Dialect,
) -> Result<Option<SortKey>, ScimError> {
    match sort {
        None => Ok(None),
        Some(s) => key(s, kind, dialect),
    }
}

/// The sort key; None when it is the same for every resource or orders as
/// the id does (`meta.resourceType`, `meta.location`, `id`).
fn key(sort: &Sort, kind: ResourceKind, dialect: Dialect) -> Result<Option<SortKey>, ScimError> {
    let r = sort.path;
    let t = table(kind);
    let leaf = r.leaf();
    if leaf.ty == AttrType::Complex {
        return Err(ScimError::invalid_value(format!(
            "sortBy '{}' names a complex attribute: name one of its sub-attributes",
            r.attr.name
        )));
    }
    let text = |col: &str, nullable: bool| {
        Some(SortKey {
            sql: match dialect {
                Dialect::Sqlite => format!("{t}.{col}"),
                Dialect::Postgres => format!("{t}.{col} COLLATE \"C\""),
            },
            ty: KeyType::Text,
            nullable,
        })
    };
    let column = |col: &str, ty: KeyType| {
        Some(SortKey {
            sql: format!("{t}.{col}"),
            ty,
            nullable: false,
        })
    };
    if !r.in_extension {
        match (kind, r.attr.name, r.sub.map(|s| s.name)) {
            (_, "id", None) | (_, "meta", Some("resourceType" | "location")) => return Ok(None),
            (_, "externalId", None) => return Ok(text("external_id", true)),
            (ResourceKind::User, "userName", None) => return Ok(text("user_name_folded", false)),
            (ResourceKind::User, "displayName", None) => {
                return Ok(text("display_name_folded", true));
            }
            (ResourceKind::Group, "displayName", None) => {
                return Ok(text("display_name_folded", false));
            }
            (_, "meta", Some("created")) => return Ok(column("created", KeyType::Time)),
            (_, "meta", Some("lastModified")) => {
                return Ok(column("last_modified", KeyType::Time));
            }
            (_, "meta", Some("version")) => return Ok(column("version", KeyType::Int)),
            (ResourceKind::User, "groups", _) | (ResourceKind::Group, "members", _) => {
                return Err(ScimError::invalid_value(format!(
                    "sorting by {} is not supported",
                    r.attr.name
                )));
            }
            _ => {}
        }
    }
    let mut path = Vec::new();
    if r.in_extension {
        path.push(sql_name(r.schema.id)?);
    }
    path.push(sql_name(r.attr.name)?);
    let at = JsonRef {
        base: Base::Doc(format!("{t}.search")),
        path,
    };
    let sub = r.sub.map(|s| sql_name(s.name)).transpose()?;
    if !r.attr.multi_valued {
        let j = match sub {
            Some(s) => at.child(s),
            None => at,
        };
        return Ok(Some(json_key(typed(dialect, &j, leaf), dialect, leaf)));
    }
    // The primary value, else the first.
    let elem = JsonRef {
        base: Base::Elem("s".to_owned()),
        path: Vec::new(),
    };
    let v = match sub {
        Some(s) => elem.child(s),
        None => elem.clone(),
    };
    let sql = match dialect {
        Dialect::Sqlite => format!(
            "(SELECT CASE WHEN s.type = 'object' OR {nosub} THEN {val} END FROM json_each({args}) AS s \
             ORDER BY (s.type = 'object' AND COALESCE(json_type(s.value, '$.\"primary\"'), '') = 'true') DESC, s.key LIMIT 1)",
            nosub = if sub.is_none() { "1 = 1" } else { "1 = 0" },
            val = typed(dialect, &v, leaf),
            args = at.sqlite_each_args(),
        ),
        Dialect::Postgres => {
            let j = at.pg();
            format!(
                "(SELECT {val} FROM jsonb_array_elements(CASE WHEN jsonb_typeof({j}) = 'array' THEN {j} ELSE '[]'::jsonb END) \
                 WITH ORDINALITY AS s(value, n) \
                 ORDER BY COALESCE(s.value -> 'primary' = 'true'::jsonb, FALSE) DESC, s.n LIMIT 1)",
                val = typed(dialect, &v, leaf)
            )
        }
    };
    Ok(Some(json_key(sql, dialect, leaf)))
}

/// A key read from the search document: typed as `typed` makes it.
fn json_key(sql: String, dialect: Dialect, def: &AttrDef) -> SortKey {
    let ty = match (dialect, def.ty) {
        (Dialect::Sqlite, _) => KeyType::Dynamic,
        (Dialect::Postgres, AttrType::Boolean) => KeyType::Bool,
        (Dialect::Postgres, AttrType::Integer | AttrType::Decimal) => KeyType::Numeric,
        (Dialect::Postgres, _) => KeyType::Text,
    };
    SortKey {
        sql,
        ty,
        nullable: true,
    }
}

/// A JSON value as a sortable SQL value of the attribute's type.
fn typed(dialect: Dialect, j: &JsonRef, def: &AttrDef) -> String {
    match dialect {
        // json_extract yields text, integers, reals, and 0/1 for booleans.
        Dialect::Sqlite => j.sqlite().0,
        Dialect::Postgres => {
            let x = j.pg();
            match def.ty {
                AttrType::Boolean => {
                    format!("(CASE WHEN jsonb_typeof({x}) = 'boolean' THEN ({x})::boolean END)")
                }
                AttrType::Integer | AttrType::Decimal => {
                    format!("(CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x})::numeric END)")
                }
                _ => format!(
                    "(CASE WHEN jsonb_typeof({x}) = 'string' THEN {x} #>> '{{}}' END) COLLATE \"C\""
                ),
            }
        }
    }
}
