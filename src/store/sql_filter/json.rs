//! Reaching into the search document: JSON paths for SQLite's json1
//! functions and PostgreSQL's jsonb operators. Keys come from the schema
//! definitions only (checked by `sql_name`), never from the request.

use super::{Dialect, Scope, Source, Translator, Val, sql_name};
use crate::scim::filter::ResolvedPath;

/// Where a JSON value is: a document (or object) expression and the keys
/// under it, or one row of `json_each`/`jsonb_array_elements`.
#[derive(Debug, Clone)]
pub(crate) struct JsonRef {
    pub base: Base,
    pub path: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub(crate) enum Base {
    /// A column holding JSON (`users.search`).
    Doc(String),
    /// The alias of a row of `json_each` (columns `value`, `type`) or of
    /// `jsonb_array_elements` (column `value`).
    Elem(String),
}

impl JsonRef {
    pub fn child(&self, name: &'static str) -> JsonRef {
        let mut path = self.path.clone();
        path.push(name);
        JsonRef {
            base: self.base.clone(),
            path,
        }
    }

    /// `'$."a"."b"'`: keys are schema names, so quoting cannot break out.
    fn sqlite_path(&self) -> String {
        let mut p = String::from("'$");
        for k in &self.path {
            p.push_str(&format!(".\"{k}\""));
        }
        p.push('\'');
        p
    }

    /// SQLite: the JSON text or SQL value the path holds, and its
    /// `json_type` ('null', 'true', 'false', 'integer', 'real', 'text',
    /// 'array', 'object'; NULL when absent).
    pub fn sqlite(&self) -> (String, String) {
        match (&self.base, self.path.is_empty()) {
            (Base::Elem(a), true) => (format!("{a}.value"), format!("{a}.type")),
            (Base::Elem(a), false) => {
                let p = self.sqlite_path();
                (
                    format!("json_extract({a}.value, {p})"),
                    format!("json_type({a}.value, {p})"),
                )
            }
            (Base::Doc(d), _) => {
                let p = self.sqlite_path();
                (
                    format!("json_extract({d}, {p})"),
                    format!("json_type({d}, {p})"),
                )
            }
        }
    }

    /// The document and path arguments of `json_each(doc, path)`.
    pub fn sqlite_each_args(&self) -> String {
        match &self.base {
            Base::Elem(a) => format!("{a}.value, {}", self.sqlite_path()),
            Base::Doc(d) => format!("{d}, {}", self.sqlite_path()),
        }
    }

    /// PostgreSQL: the jsonb value (NULL when absent).
    pub fn pg(&self) -> String {
        let mut j = match &self.base {
            Base::Doc(d) => d.clone(),
            Base::Elem(a) => format!("{a}.value"),
        };
        for k in &self.path {
            j = format!("({j} -> '{k}')");
        }
        j
    }
}

/// The FROM item iterating the elements of the JSON array at `r`, as `alias`.
pub(crate) fn each(t: &Translator<'_>, r: &JsonRef, alias: &str) -> String {
    match t.dialect {
        Dialect::Sqlite => format!("json_each({}) AS {alias}", r.sqlite_each_args()),
        Dialect::Postgres => {
            let j = r.pg();
            format!(
                "jsonb_array_elements(CASE WHEN jsonb_typeof({j}) = 'array' THEN {j} ELSE '[]'::jsonb END) AS {alias}"
            )
        }
    }
}

/// The guard that an element row is an object (SQLite's `json_extract`
/// fails on text that is not JSON, so sub-attributes need it).
pub(crate) fn is_object_row(t: &Translator<'_>, alias: &str) -> String {
    match t.dialect {
        Dialect::Sqlite => format!("{alias}.type = 'object'"),
        Dialect::Postgres => format!("jsonb_typeof({alias}.value) = 'object'"),
    }
}

fn doc_ref(t: &Translator<'_>, r: &ResolvedPath) -> Result<JsonRef, crate::scim::ScimError> {
    let mut path = Vec::new();
    if r.in_extension {
        path.push(sql_name(r.schema.id)?);
    }
    path.push(sql_name(r.attr.name)?);
    Ok(JsonRef {
        base: Base::Doc(format!("{}.search", t.table())),
        path,
    })
}

/// The values of a resource attribute kept in the search document.
pub(crate) fn resource_source(
    t: &mut Translator<'_>,
    r: ResolvedPath,
) -> Result<Source, crate::scim::ScimError> {
    let at = doc_ref(t, &r)?;
    let sub = r.sub.map(|s| sql_name(s.name)).transpose()?;
    if r.attr.multi_valued {
        let alias = t.alias("e");
        let elem = JsonRef {
            base: Base::Elem(alias.clone()),
            path: Vec::new(),
        };
        let (guard, val) = match sub {
            Some(s) => (is_object_row(t, &alias), elem.child(s)),
            None => ("1 = 1".to_owned(), elem),
        };
        return Ok(Source::Each {
            select: "EXISTS (SELECT 1".to_owned(),
            from: each(t, &at, &alias),
            guard,
            val: Val::Json(val),
        });
    }
    let val = match sub {
        Some(s) => at.child(s),
        None => at,
    };
    Ok(Source::One(Val::Json(val)))
}

/// How `attr[…]` iterates the values of a complex attribute in the
/// document: a FROM item (None for a singular attribute: its one object)
/// and the guard that a value is an object.
pub(crate) fn element_scope(
    t: &mut Translator<'_>,
    r: ResolvedPath,
) -> Result<super::Frame, crate::scim::ScimError> {
    let at = doc_ref(t, &r)?;
    if r.attr.multi_valued {
        let alias = t.alias("e");
        return Ok(super::Frame {
            select: "EXISTS (SELECT 1".to_owned(),
            from: Some(each(t, &at, &alias)),
            guard: is_object_row(t, &alias),
            scope: Scope::Json {
                parent: r.attr,
                at: JsonRef {
                    base: Base::Elem(alias),
                    path: Vec::new(),
                },
            },
        });
    }
    let guard = match t.dialect {
        Dialect::Sqlite => format!("COALESCE({}, '') = 'object'", at.sqlite().1),
        Dialect::Postgres => format!("COALESCE(jsonb_typeof({}), '') = 'object'", at.pg()),
    };
    Ok(super::Frame {
        select: String::new(),
        from: None,
        guard,
        scope: Scope::Json { parent: r.attr, at },
    })
}
