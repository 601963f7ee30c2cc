//! `sortBy`/`sortOrder` → ORDER BY (RFC 7644 §3.4.2.3). A multi-valued
//! attribute sorts by its primary value, else its first; strings by their
//! search form (folded unless caseExact) in code point order; resources
//! without a value come last ascending and first descending, as the RFC
//! says ("ordered last if ascending and first if descending"); ties are
//! always broken by id ascending, in both directions, so pages are stable.

use super::json::{Base, JsonRef};
use super::{Dialect, sql_name, table};
use crate::scim::ScimError;
use crate::scim::schema::{AttrDef, AttrType};
use crate::store::{ResourceKind, Sort};

/// The ORDER BY list (without the keywords) for a list query.
pub fn order_by(
    sort: Option<&Sort>,
    kind: ResourceKind,
    dialect: Dialect,
) -> Result<String, ScimError> {
    let t = table(kind);
    let tie = format!("{t}.id");
    let Some(sort) = sort else {
        return Ok(tie);
    };
    let Some(key) = key(sort, kind, dialect)? else {
        return Ok(tie);
    };
    let dir = if sort.descending {
        "DESC NULLS FIRST"
    } else {
        "ASC NULLS LAST"
    };
    Ok(format!("{key} {dir}, {tie}"))
}

/// The sort key; None when it is the same for every resource or orders as
/// the id does (`meta.resourceType`, `meta.location`, `id`).
fn key(sort: &Sort, kind: ResourceKind, dialect: Dialect) -> Result<Option<String>, ScimError> {
    let r = sort.path;
    let t = table(kind);
    let leaf = r.leaf();
    if leaf.ty == AttrType::Complex {
        return Err(ScimError::invalid_value(format!(
            "sortBy '{}' names a complex attribute: name one of its sub-attributes",
            r.attr.name
        )));
    }
    let text = |col: &str| match dialect {
        Dialect::Sqlite => format!("{t}.{col}"),
        Dialect::Postgres => format!("{t}.{col} COLLATE \"C\""),
    };
    if !r.in_extension {
        match (kind, r.attr.name, r.sub.map(|s| s.name)) {
            (_, "id", None) | (_, "meta", Some("resourceType" | "location")) => return Ok(None),
            (_, "externalId", None) => return Ok(Some(text("external_id"))),
            (ResourceKind::User, "userName", None) => return Ok(Some(text("user_name_folded"))),
            (_, "displayName", None) => return Ok(Some(text("display_name_folded"))),
            (_, "meta", Some("created")) => return Ok(Some(format!("{t}.created"))),
            (_, "meta", Some("lastModified")) => return Ok(Some(format!("{t}.last_modified"))),
            (_, "meta", Some("version")) => return Ok(Some(format!("{t}.version"))),
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
        return Ok(Some(typed(dialect, &j, leaf)));
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
    Ok(Some(match dialect {
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
    }))
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
