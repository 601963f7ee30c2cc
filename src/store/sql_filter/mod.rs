//! SCIM filter → SQL WHERE clause, and `sortBy` → ORDER BY, for both
//! databases, mirroring `scim::filter::matches` exactly. Filters read the
//! `search` column (the search document: case-insensitive strings folded,
//! dateTimes as fixed-width UTC text), the indexed columns and the
//! membership table. Every value from the request is bound as a parameter;
//! SQL text holds only what this module writes: operators, column names and
//! JSON keys taken from the schema definitions.

mod computed;
mod json;
mod leaf;
mod page;
mod sort;
#[cfg(test)]
mod tests;

use time::OffsetDateTime;
use uuid::Uuid;

use super::ResourceKind;
use crate::scim::ScimError;
use crate::scim::filter::{AttrPath, AttrTest, Filter, Literal, ResolvedPath, resolve_path};
use crate::scim::schema::{AttrDef, AttrType, GROUP_RESOURCE, ResourceTypeDef, USER_RESOURCE};

pub use page::{ListSql, invalid_cursor, list_sql, seek_condition};
pub use sort::{KeyType, SortKey, order_by, order_clause, sort_key};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder. Each store encodes it natively (a
/// `Time` is INTEGER microseconds in SQLite, timestamptz in PostgreSQL; a
/// list is a JSON array for SQLite's `json_each`, an array for
/// PostgreSQL's `unnest`).
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Uuid(Uuid),
    Int(i64),
    Real(f64),
    Bool(bool),
    Time(OffsetDateTime),
    Bytes(Vec<u8>),
    /// A document: TEXT in SQLite, jsonb in PostgreSQL.
    Json(serde_json::Value),
    /// A NULL of this type (PostgreSQL types every parameter).
    Null(Ty),
    Uuids(Vec<Uuid>),
    OptUuids(Vec<Option<Uuid>>),
    Texts(Vec<Option<String>>),
    Ints(Vec<i64>),
    Times(Vec<OffsetDateTime>),
    Jsons(Vec<serde_json::Value>),
    /// Rows given as equally long lists, one per column (each a list
    /// variant above), read through `Dialect::rows`: one array parameter
    /// per column in PostgreSQL, one JSON array of rows in SQLite.
    Columns(Vec<Bind>),
    /// One row's values, one per column (each a value variant above), read
    /// through `Dialect::row`: one parameter each.
    Row(Vec<Bind>),
}

/// The type of a bound value or of a column of bound lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Text,
    Uuid,
    Int,
    Bool,
    Time,
    Bytes,
    Json,
}

/// A translated filter: SQL text with `$n` placeholders and their values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub sql: String,
    pub binds: Vec<Bind>,
}

pub fn resource_type(kind: ResourceKind) -> &'static ResourceTypeDef {
    match kind {
        ResourceKind::User => &USER_RESOURCE,
        ResourceKind::Group => &GROUP_RESOURCE,
    }
}

/// The table a resource kind lives in. Filters qualify its columns with
/// this name, so the list query must not alias it.
pub fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "groups",
    }
}

/// Translates a parsed filter. `first_param` is the number of the first
/// placeholder this condition may use (the caller binds the ones before).
/// Filters on `meta.location` and `$ref` need the base URL: see
/// [`translate_at`].
pub fn translate(
    filter: &Filter,
    kind: ResourceKind,
    dialect: Dialect,
    first_param: usize,
) -> Result<Condition, ScimError> {
    translate_at(filter, kind, dialect, first_param, None)
}

/// [`translate`], with the SCIM base URL (`https://host/scim/v2`) that
/// `meta.location` and the `$ref` of groups and members start with.
pub fn translate_at(
    filter: &Filter,
    kind: ResourceKind,
    dialect: Dialect,
    first_param: usize,
    base_url: Option<&str>,
) -> Result<Condition, ScimError> {
    translate_in(
        filter,
        kind,
        resource_type(kind),
        dialect,
        first_param,
        base_url,
    )
}

/// [`translate_at`] against `rt`, a resource type of `kind` with the
/// schema extensions an IAM declared.
pub fn translate_in(
    filter: &Filter,
    kind: ResourceKind,
    rt: &'static ResourceTypeDef,
    dialect: Dialect,
    first_param: usize,
    base_url: Option<&str>,
) -> Result<Condition, ScimError> {
    crate::scim::filter::resolve(filter, rt)?;
    let mut t = Translator {
        kind,
        rt,
        dialect,
        first_param,
        base_url,
        binds: Vec::new(),
        aliases: 0,
    };
    let sql = t.filter(filter, &Scope::Resource)?;
    Ok(Condition {
        sql,
        binds: t.binds,
    })
}

/// Where a filter's paths are resolved: the resource, or one value of a
/// multi-valued or complex attribute inside `attr[…]`.
#[derive(Debug, Clone)]
pub(super) enum Scope {
    Resource,
    /// One JSON value of `parent` (an object), reached through `at`.
    Json {
        parent: &'static AttrDef,
        at: json::JsonRef,
    },
    /// `meta[…]`: its sub-attributes are the resource's columns.
    Meta,
    /// One row of a user's groups (`a`: closure row, `g`: the group).
    Groups {
        a: String,
        g: String,
    },
    /// One row of a group's members (`m`: membership, `u`/`g`: the member).
    Members {
        m: String,
        u: String,
        g: String,
    },
}

/// Candidate values of a leaf attribute, as SQL.
#[derive(Debug, Clone)]
pub(super) enum Val {
    /// A JSON value of the search document.
    Json(json::JsonRef),
    /// A text expression in search form (folded where the attribute is
    /// case-insensitive); `nullable` when it can be NULL (absent).
    Text { expr: String, nullable: bool },
    /// The id column.
    Id,
    /// A timestamp column.
    Time(&'static str),
    /// The version column; its SCIM form is the ETag `W/"n"`.
    Version,
    /// `meta.resourceType`: the same for every row.
    ResourceType,
    /// A complex attribute every resource has (`meta`).
    Always,
}

/// Where a leaf's values come from: one value, or any row of a set.
#[derive(Debug, Clone)]
pub(super) enum Source {
    One(Val),
    /// `{select} FROM {from} WHERE {guard} AND test(val))`, where `select`
    /// is `EXISTS (SELECT 1` or `users.id IN (SELECT …`.
    Each {
        select: String,
        from: String,
        guard: String,
        val: Val,
    },
}

/// How `attr[…]` iterates the values of a complex attribute.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    /// `EXISTS (SELECT 1` or `users.id IN (SELECT …`; unused without `from`.
    pub select: String,
    /// None: the attribute is singular, its one value is in the row.
    pub from: Option<String>,
    pub guard: String,
    pub scope: Scope,
}

pub(super) struct Translator<'b> {
    pub kind: ResourceKind,
    rt: &'static ResourceTypeDef,
    pub dialect: Dialect,
    first_param: usize,
    pub base_url: Option<&'b str>,
    binds: Vec<Bind>,
    aliases: usize,
}

impl Translator<'_> {
    pub fn rt(&self) -> &'static ResourceTypeDef {
        self.rt
    }

    pub fn table(&self) -> &'static str {
        table(self.kind)
    }

    /// Binds a value; returns its placeholder.
    pub fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.first_param + self.binds.len() - 1)
    }

    /// A fresh table alias for a subquery.
    pub fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    pub fn truth(&self, b: bool) -> String {
        (if b { "1 = 1" } else { "1 = 0" }).to_owned()
    }

    /// `FALSE` when `cond` is NULL: every atom is two-valued, so `NOT` and
    /// `ne` negate exactly.
    pub fn definitely(&self, cond: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("COALESCE({cond}, 0)"),
            Dialect::Postgres => format!("COALESCE({cond}, FALSE)"),
        }
    }

    fn filter(&mut self, f: &Filter, scope: &Scope) -> Result<String, ScimError> {
        Ok(match f {
            Filter::And(a, b) => format!(
                "({} AND {})",
                self.filter(a, scope)?,
                self.filter(b, scope)?
            ),
            Filter::Or(a, b) => {
                format!("({} OR {})", self.filter(a, scope)?, self.filter(b, scope)?)
            }
            Filter::Not(inner) => format!("NOT ({})", self.filter(inner, scope)?),
            Filter::Present(path) => {
                let (def, source) = self.locate(scope, path)?;
                self.any(&source, |t, v| t.present(v, def))?
            }
            Filter::Compare { path, op, value } => {
                let (def, source) = match scope {
                    Scope::Resource => {
                        let r = compare_target(resolve_path(path, self.rt())?, value)?;
                        if let Some(sql) = self.emails_value_eq(r, *op, value) {
                            return Ok(sql);
                        }
                        self.resource_source(r)?
                    }
                    _ => self.locate(scope, path)?,
                };
                self.compare(def, source, *op, value)?
            }
            Filter::ValuePath { attr, filter } => self.value_path(scope, attr, filter, None)?,
            Filter::ValuePathSub {
                attr,
                filter,
                sub,
                test,
            } => self.value_path(scope, attr, filter, Some((sub, test)))?,
        })
    }

    /// A comparison: `eq null` / `ne null` test presence, `ne` negates `eq`.
    fn compare(
        &mut self,
        def: &'static AttrDef,
        source: Source,
        op: crate::scim::filter::CompareOp,
        value: &Literal,
    ) -> Result<String, ScimError> {
        use crate::scim::filter::CompareOp::{Eq, Ne};
        if *value == Literal::Null {
            let present = self.any(&source, |t, v| t.present(v, def))?;
            return Ok(if op == Ne {
                present
            } else {
                format!("NOT ({present})")
            });
        }
        if op == Ne {
            let eq = self.any(&source, |t, v| t.test(v, def, Eq, value))?;
            return Ok(format!("NOT ({eq})"));
        }
        self.any(&source, |t, v| t.test(v, def, op, value))
    }

    /// Whether any value of `source` satisfies `test`.
    pub fn any(
        &mut self,
        source: &Source,
        test: impl FnOnce(&mut Self, &Val) -> Result<String, ScimError>,
    ) -> Result<String, ScimError> {
        Ok(match source {
            Source::One(v) => test(self, v)?,
            Source::Each {
                select,
                from,
                guard,
                val,
            } => {
                let cond = test(self, val)?;
                format!("{select} FROM {from} WHERE {guard} AND {cond})")
            }
        })
    }

    /// Resolves a path in `scope` to its leaf definition and its values.
    /// A complex attribute compared with a value compares its `value`
    /// sub-attribute (`filter::resolve` has checked that it has one).
    fn locate(
        &mut self,
        scope: &Scope,
        path: &AttrPath,
    ) -> Result<(&'static AttrDef, Source), ScimError> {
        match scope {
            Scope::Resource => {
                let r = resolve_path(path, self.rt())?;
                self.resource_source(r)
            }
            _ => {
                let def = element_sub(scope, &path.attr)?;
                let val = self.element_val(scope, def)?;
                Ok((def, Source::One(val)))
            }
        }
    }

    fn resource_source(
        &mut self,
        r: ResolvedPath,
    ) -> Result<(&'static AttrDef, Source), ScimError> {
        if let Some(source) = self.computed_source(r)? {
            return Ok((r.leaf(), source));
        }
        Ok((r.leaf(), json::resource_source(self, r)?))
    }

    /// `a[f]` and `a[f].s test`: some value of `a` satisfies `f` (and `s
    /// test`, on that same value).
    fn value_path(
        &mut self,
        scope: &Scope,
        attr: &AttrPath,
        filter: &Filter,
        then: Option<(&String, &AttrTest)>,
    ) -> Result<String, ScimError> {
        if !matches!(scope, Scope::Resource) {
            return Err(ScimError::invalid_filter("value filters cannot be nested"));
        }
        let r = resolve_path(attr, self.rt())?;
        if r.sub.is_some() || r.attr.ty != AttrType::Complex {
            return Err(ScimError::invalid_filter(format!(
                "'{attr}[…]' needs a complex attribute, and '{attr}' is not one"
            )));
        }
        let frame = self.element_scope(r)?;
        let inner = frame.scope.clone();
        let mut cond = self.filter(filter, &inner)?;
        if let Some((sub, test)) = then {
            let path = AttrPath::name(sub.clone());
            let t = match test {
                AttrTest::Present => self.filter(&Filter::Present(path), &inner)?,
                AttrTest::Compare(op, value) => self.filter(
                    &Filter::Compare {
                        path,
                        op: *op,
                        value: value.clone(),
                    },
                    &inner,
                )?,
            };
            cond = format!("({cond} AND {t})");
        }
        let prefilter = self.index_prefilter(r, filter, then)?;
        let guard = &frame.guard;
        let exists = match &frame.from {
            Some(from) => format!("{} FROM {from} WHERE {guard} AND {cond})", frame.select),
            None => format!("({guard} AND {cond})"),
        };
        Ok(match prefilter {
            Some(p) => format!("({p} AND {exists})"),
            None => exists,
        })
    }

    /// How the values of complex attribute `r` are iterated.
    fn element_scope(&mut self, r: ResolvedPath) -> Result<Frame, ScimError> {
        if let Some(frame) = self.computed_elements(r)? {
            return Ok(frame);
        }
        json::element_scope(self, r)
    }

    /// The SQL for a sub-attribute inside `[…]`.
    fn element_val(&mut self, scope: &Scope, def: &'static AttrDef) -> Result<Val, ScimError> {
        match scope {
            Scope::Json { at, .. } => Ok(Val::Json(at.child(def.name))),
            _ => self.computed_element_val(scope, def),
        }
    }
}

/// A comparison with a complex attribute compares its `value`; only the
/// presence tests (`eq null`, `ne null`) look at the attribute itself.
fn compare_target(r: ResolvedPath, value: &Literal) -> Result<ResolvedPath, ScimError> {
    if r.sub.is_some() || r.attr.ty != AttrType::Complex || *value == Literal::Null {
        return Ok(r);
    }
    match r.attr.sub("value") {
        Some(v) => Ok(ResolvedPath { sub: Some(v), ..r }),
        None => Err(ScimError::invalid_filter(format!(
            "'{}' is a complex attribute: compare one of its sub-attributes",
            r.attr.name
        ))),
    }
}

/// A sub-attribute of the attribute a scope iterates.
fn element_sub(scope: &Scope, name: &str) -> Result<&'static AttrDef, ScimError> {
    let parent = match scope {
        Scope::Json { parent, .. } => *parent,
        Scope::Meta => computed::meta_def(),
        Scope::Groups { .. } => computed::groups_def(),
        Scope::Members { .. } => computed::members_def(),
        Scope::Resource => unreachable_scope()?,
    };
    parent.sub(name).ok_or_else(|| {
        ScimError::invalid_filter(format!(
            "unknown sub-attribute '{}.{name}' in filter",
            parent.name
        ))
    })
}

fn unreachable_scope() -> Result<&'static AttrDef, ScimError> {
    Err(ScimError::invalid_filter(
        "a plain attribute name needs a value filter around it",
    ))
}

/// A schema name fit to be written into SQL text: every name the schema
/// defines is one; the check keeps it that way.
pub(super) fn sql_name(name: &'static str) -> Result<&'static str, ScimError> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":._$-".contains(c))
    {
        Ok(name)
    } else {
        Err(ScimError::invalid_filter(format!(
            "attribute '{name}' cannot be searched"
        )))
    }
}
