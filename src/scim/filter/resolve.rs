//! Filter paths resolved against a resource type and literals checked
//! against attribute types, without any document: what `resolve` validates
//! once per request, and what the SQL translation relies on.

use serde_json::Number;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::{AttrPath, AttrTest, CompareOp, Filter, Literal};
use crate::scim::error::ScimError;
use crate::scim::schema::{AttrDef, AttrType, ResourceTypeDef, Returned, SchemaDef};

/// A filter path resolved against a resource type: the canonical
/// definitions and where the attribute lives in a document.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedPath {
    pub schema: &'static SchemaDef,
    /// True for extension attributes, which live under their schema URN's
    /// key; core and common attributes live at the top level.
    pub in_extension: bool,
    pub attr: &'static AttrDef,
    pub sub: Option<&'static AttrDef>,
}

impl ResolvedPath {
    /// The attribute the path designates: the sub-attribute if there is one.
    pub fn leaf(&self) -> &'static AttrDef {
        self.sub.unwrap_or(self.attr)
    }
}

/// Resolves a top-level path, names case-insensitively. A name without URN
/// is looked up in the core schema and the common attributes, then, if
/// still unknown, in the extensions (when exactly one has it). Attributes
/// that are never returned (password) cannot be filtered on.
pub fn resolve_path(path: &AttrPath, rt: &ResourceTypeDef) -> Result<ResolvedPath, ScimError> {
    let found = rt
        .resolve(path.urn.as_deref(), &path.attr, path.sub.as_deref())
        .or_else(|| {
            path.urn
                .is_none()
                .then(|| in_one_extension(path, rt))
                .flatten()
        });
    let Some((schema, attr, sub)) = found else {
        return Err(match path.urn.as_deref() {
            Some(urn) if rt.schema_by_urn(urn).is_none() => ScimError::invalid_filter(format!(
                "unknown schema '{urn}' in filter path '{path}' for resource type {}",
                rt.name
            )),
            _ => ScimError::invalid_filter(format!(
                "unknown attribute '{path}' in filter for resource type {}",
                rt.name
            )),
        });
    };
    let resolved = ResolvedPath {
        schema,
        in_extension: !schema.id.eq_ignore_ascii_case(rt.schema.id),
        attr,
        sub,
    };
    if attr.returned == Returned::Never || sub.is_some_and(|s| s.returned == Returned::Never) {
        return Err(ScimError::invalid_filter(format!(
            "attribute '{path}' cannot be used in a filter"
        )));
    }
    Ok(resolved)
}

type Found = (
    &'static SchemaDef,
    &'static AttrDef,
    Option<&'static AttrDef>,
);

fn in_one_extension(path: &AttrPath, rt: &ResourceTypeDef) -> Option<Found> {
    let mut hits = rt.extensions.iter().filter_map(|&(schema, _)| {
        let attr = schema.attr(&path.attr)?;
        let sub = match path.sub.as_deref() {
            Some(name) => Some(attr.sub(name)?),
            None => None,
        };
        Some((schema, attr, sub))
    });
    let first = hits.next()?;
    hits.next().is_none().then_some(first)
}

/// Checks every path, operator and literal of `filter` against the resource
/// type, without a document: call once before translating to SQL.
pub fn resolve(filter: &Filter, rt: &ResourceTypeDef) -> Result<(), ScimError> {
    check(filter, Scope::Resource(rt))
}

/// Where paths are resolved: the resource, or one value of a complex
/// attribute inside `[…]`.
#[derive(Clone, Copy)]
pub(super) enum Scope<'r> {
    Resource(&'r ResourceTypeDef),
    Element(&'static AttrDef),
}

/// A located attribute.
#[derive(Clone, Copy)]
pub(super) enum Loc {
    Resource(ResolvedPath),
    Element {
        parent: &'static AttrDef,
        def: &'static AttrDef,
    },
}

impl Loc {
    pub(super) fn leaf(&self) -> &'static AttrDef {
        match self {
            Loc::Resource(r) => r.leaf(),
            Loc::Element { def, .. } => def,
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            Loc::Resource(ResolvedPath {
                attr, sub: None, ..
            }) => attr.name.to_owned(),
            Loc::Resource(ResolvedPath {
                attr, sub: Some(s), ..
            })
            | Loc::Element {
                parent: attr,
                def: s,
            } => format!("{}.{}", attr.name, s.name),
        }
    }
}

pub(super) fn locate(scope: Scope<'_>, path: &AttrPath) -> Result<Loc, ScimError> {
    match scope {
        Scope::Resource(rt) => resolve_path(path, rt).map(Loc::Resource),
        Scope::Element(parent) => {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "inside '{}[…]' use plain sub-attribute names, not '{path}'",
                    parent.name
                )));
            }
            element_sub(parent, &path.attr).map(|def| Loc::Element { parent, def })
        }
    }
}

pub(super) fn element_sub(
    parent: &'static AttrDef,
    name: &str,
) -> Result<&'static AttrDef, ScimError> {
    match parent.sub(name) {
        Some(def) if def.returned != Returned::Never => Ok(def),
        Some(_) => Err(ScimError::invalid_filter(format!(
            "attribute '{}.{name}' cannot be used in a filter",
            parent.name
        ))),
        None => Err(ScimError::invalid_filter(format!(
            "unknown sub-attribute '{}.{name}' in filter",
            parent.name
        ))),
    }
}

/// The complex attribute a value filter `[…]` applies to.
pub(super) fn value_path_parent(
    scope: Scope<'_>,
    attr: &AttrPath,
) -> Result<ResolvedPath, ScimError> {
    let Scope::Resource(rt) = scope else {
        return Err(ScimError::invalid_filter("value filters cannot be nested"));
    };
    let r = resolve_path(attr, rt)?;
    if r.sub.is_some() || r.attr.ty != AttrType::Complex {
        return Err(ScimError::invalid_filter(format!(
            "'{attr}[…]' needs a complex attribute, and '{attr}' is not one"
        )));
    }
    Ok(r)
}

/// A comparison with a complex attribute compares its `value`; only the
/// presence tests (`eq null`, `ne null`) look at the attribute itself.
pub(super) fn compare_target(loc: Loc, value: &Literal) -> Result<Loc, ScimError> {
    let leaf = loc.leaf();
    if leaf.ty != AttrType::Complex || *value == Literal::Null {
        return Ok(loc);
    }
    match (loc, leaf.sub("value")) {
        (Loc::Resource(r), Some(v)) if r.sub.is_none() => {
            Ok(Loc::Resource(ResolvedPath { sub: Some(v), ..r }))
        }
        _ => Err(ScimError::invalid_filter(format!(
            "'{}' is a complex attribute: compare one of its sub-attributes",
            loc.name()
        ))),
    }
}

pub(super) fn check(filter: &Filter, scope: Scope<'_>) -> Result<(), ScimError> {
    match filter {
        Filter::Compare { path, op, value } => {
            let loc = compare_target(locate(scope, path)?, value)?;
            check_test(loc, *op, value)
        }
        Filter::Present(path) => locate(scope, path).map(drop),
        Filter::And(a, b) | Filter::Or(a, b) => {
            check(a, scope)?;
            check(b, scope)
        }
        Filter::Not(inner) => check(inner, scope),
        Filter::ValuePath { attr, filter } => {
            let parent = value_path_parent(scope, attr)?;
            check(filter, Scope::Element(parent.attr))
        }
        Filter::ValuePathSub {
            attr,
            filter,
            sub,
            test,
        } => {
            let parent = value_path_parent(scope, attr)?.attr;
            check(filter, Scope::Element(parent))?;
            let def = element_sub(parent, sub)?;
            match test {
                AttrTest::Present => Ok(()),
                AttrTest::Compare(op, value) => {
                    let loc = compare_target(Loc::Element { parent, def }, value)?;
                    check_test(loc, *op, value)
                }
            }
        }
    }
}

fn check_test(loc: Loc, op: CompareOp, value: &Literal) -> Result<(), ScimError> {
    if *value == Literal::Null {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(()),
            _ => Err(ScimError::invalid_filter(format!(
                "'{}' {op} null: only eq and ne can compare with null",
                loc.name()
            ))),
        };
    }
    Operand::new(loc, op, value).map(drop)
}

/// A literal checked against the attribute it is compared with.
pub(super) enum Operand<'l> {
    Text { lit: &'l str, fold: bool },
    Bool(bool),
    Num(&'l Number),
    Time(OffsetDateTime),
}

impl<'l> Operand<'l> {
    pub(super) fn new(loc: Loc, op: CompareOp, value: &'l Literal) -> Result<Self, ScimError> {
        use CompareOp::*;
        let def = loc.leaf();
        let fail = |why: &str| {
            Err(ScimError::invalid_filter(format!(
                "'{} {op}': {why}",
                loc.name()
            )))
        };
        let ordered = matches!(op, Eq | Ne | Gt | Ge | Lt | Le);
        match (def.ty, value) {
            (AttrType::String | AttrType::Reference, Literal::String(s)) => Ok(Operand::Text {
                lit: s,
                fold: def.is_case_insensitive_string(),
            }),
            (AttrType::String | AttrType::Reference, _) => {
                fail("compare a string attribute with a quoted string")
            }
            (AttrType::Binary, Literal::String(s)) if matches!(op, Eq | Ne) => Ok(Operand::Text {
                lit: s,
                fold: false,
            }),
            (AttrType::Binary, _) => {
                fail("a binary attribute compares only with eq or ne and a quoted string")
            }
            (AttrType::Boolean, _) if !matches!(op, Eq | Ne) => {
                fail("a boolean attribute compares only with eq or ne")
            }
            (AttrType::Boolean, v) => match json_bool_literal(v) {
                Some(b) => Ok(Operand::Bool(b)),
                None => fail("compare a boolean attribute with true or false"),
            },
            (AttrType::Integer | AttrType::Decimal, Literal::Number(n)) if ordered => {
                Ok(Operand::Num(n))
            }
            (AttrType::Integer | AttrType::Decimal, _) if !ordered => {
                fail("co, sw and ew apply only to strings")
            }
            (AttrType::Integer | AttrType::Decimal, _) => {
                fail("compare a number attribute with a number")
            }
            (AttrType::DateTime, _) if !ordered => fail("co, sw and ew apply only to strings"),
            (AttrType::DateTime, Literal::String(s)) => match parse_time(s) {
                Some(t) => Ok(Operand::Time(t)),
                None => fail(
                    "compare a dateTime attribute with an RFC 3339 timestamp such as \"2024-01-31T09:30:00Z\"",
                ),
            },
            (AttrType::DateTime, _) => {
                fail("compare a dateTime attribute with a quoted RFC 3339 timestamp")
            }
            (AttrType::Complex, _) => fail("compare one of the complex attribute's sub-attributes"),
        }
    }
}

/// `true`/`false`, or the strings "True"/"false" in any case (Entra ID).
fn json_bool_literal(v: &Literal) -> Option<bool> {
    match v {
        Literal::Bool(b) => Some(*b),
        Literal::String(s) => str_bool(s),
        _ => None,
    }
}

pub(super) fn str_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// RFC 3339; a timestamp without offset (xsd:dateTime allows it) is UTC.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let local = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(s, local)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}
