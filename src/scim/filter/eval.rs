//! Evaluation over canonical SCIM documents: the reference semantics that
//! the SQL translation must agree with (see [`matches`]).

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::resolve::{
    Loc, Operand, ResolvedPath, Scope, check, compare_target, element_sub, locate, parse_time,
    resolve, str_bool, value_path_parent,
};
use super::{AttrTest, CompareOp, Filter, Literal};
use crate::scim::error::ScimError;
use crate::scim::resource::fold_case;
use crate::scim::schema::{AttrDef, ResourceTypeDef};

/// Whether `resource`, a canonical document of type `rt`, matches.
///
/// Semantics (the SQL translation mirrors them):
/// - a multi-valued attribute matches when any of its values does; a complex
///   attribute compared without a sub-attribute compares its `value`;
/// - `ne` is the negation of `eq`: it matches absent attributes, and a
///   multi-valued attribute when none of its values is equal;
/// - `pr` means present and not empty (not null, "", [] or {});
///   `eq null` means not `pr`, `ne null` means `pr`;
/// - strings compare after NFC and Unicode case folding unless the
///   attribute is caseExact; `gt`/`ge`/`lt`/`le` order them by code point;
/// - dateTime values compare as instants, numbers numerically, booleans
///   (also written `"True"`/`"false"`) only with `eq`/`ne`;
/// - `a[f]` matches when one value of `a` satisfies `f`; `a[f].s test`
///   when one value satisfies both `f` and `s test`.
pub fn matches(filter: &Filter, rt: &ResourceTypeDef, resource: &Value) -> Result<bool, ScimError> {
    resolve(filter, rt)?;
    eval(filter, Scope::Resource(rt), resource)
}

/// Checks a value filter's inner filter (`type eq "work"` of
/// `emails[type eq "work"]`) against the complex attribute `parent`,
/// without any value: its paths must be bare sub-attribute names.
pub fn check_element(filter: &Filter, parent: &'static AttrDef) -> Result<(), ScimError> {
    check(filter, Scope::Element(parent))
}

/// Whether one value of the complex attribute `parent` satisfies `filter`,
/// with the semantics of [`matches`]: what PATCH value paths select.
pub fn matches_element(
    filter: &Filter,
    parent: &'static AttrDef,
    element: &Value,
) -> Result<bool, ScimError> {
    check_element(filter, parent)?;
    eval(filter, Scope::Element(parent), element)
}

impl Operand<'_> {
    /// Compares one JSON value with the operand; `op` is never `Ne`.
    fn test(&self, op: CompareOp, v: &Value) -> bool {
        match self {
            Operand::Text { lit, fold } => match v.as_str() {
                Some(s) if *fold => folded_test(op, s, lit),
                Some(s) => str_test(op, s, lit),
                None => false,
            },
            Operand::Bool(b) => json_bool(v) == Some(*b),
            Operand::Num(n) => v
                .as_number()
                .and_then(|x| num_cmp(x, n))
                .is_some_and(|o| ord_test(op, o)),
            Operand::Time(t) => v
                .as_str()
                .and_then(parse_time)
                .is_some_and(|x| ord_test(op, x.cmp(t))),
        }
    }
}

fn eval(filter: &Filter, scope: Scope<'_>, doc: &Value) -> Result<bool, ScimError> {
    Ok(match filter {
        Filter::Compare { path, op, value } => {
            let loc = compare_target(locate(scope, path)?, value)?;
            compare(loc, *op, value, doc)?
        }
        Filter::Present(path) => any_value(doc, &locate(scope, path)?, is_present),
        Filter::And(a, b) => eval(a, scope, doc)? && eval(b, scope, doc)?,
        Filter::Or(a, b) => eval(a, scope, doc)? || eval(b, scope, doc)?,
        Filter::Not(inner) => !eval(inner, scope, doc)?,
        Filter::ValuePath { attr, filter } => {
            let parent = value_path_parent(scope, attr)?;
            for elem in elements(doc, &parent) {
                if eval(filter, Scope::Element(parent.attr), elem)? {
                    return Ok(true);
                }
            }
            false
        }
        Filter::ValuePathSub {
            attr,
            filter,
            sub,
            test,
        } => {
            let parent = value_path_parent(scope, attr)?;
            let loc = Loc::Element {
                parent: parent.attr,
                def: element_sub(parent.attr, sub)?,
            };
            for elem in elements(doc, &parent) {
                if !eval(filter, Scope::Element(parent.attr), elem)? {
                    continue;
                }
                let hit = match test {
                    AttrTest::Present => any_value(elem, &loc, is_present),
                    AttrTest::Compare(op, value) => {
                        compare(compare_target(loc, value)?, *op, value, elem)?
                    }
                };
                if hit {
                    return Ok(true);
                }
            }
            false
        }
    })
}

fn compare(loc: Loc, op: CompareOp, value: &Literal, doc: &Value) -> Result<bool, ScimError> {
    if *value == Literal::Null {
        let present = any_value(doc, &loc, is_present);
        return Ok(present == (op == CompareOp::Ne));
    }
    let operand = Operand::new(loc, op, value)?;
    if op == CompareOp::Ne {
        return Ok(!any_value(doc, &loc, |v| operand.test(CompareOp::Eq, v)));
    }
    Ok(any_value(doc, &loc, |v| operand.test(op, v)))
}

/// A member of a JSON object: the exact key first, then any case.
fn member<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    let map = obj.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The attribute's own value in a resource document.
fn attr_value<'v>(doc: &'v Value, r: &ResolvedPath) -> Option<&'v Value> {
    let container = if r.in_extension {
        member(doc, r.schema.id)?
    } else {
        doc
    };
    member(container, r.attr.name)
}

/// The values of a complex attribute, single- or multi-valued.
fn elements<'v>(doc: &'v Value, r: &ResolvedPath) -> impl Iterator<Item = &'v Value> {
    let all: &[Value] = match attr_value(doc, r) {
        Some(Value::Array(items)) => items,
        Some(v @ Value::Object(_)) => std::slice::from_ref(v),
        _ => &[],
    };
    all.iter().filter(|v| v.is_object())
}

/// Whether `f` holds for any value at `loc`, arrays flattened one level.
fn any_value(doc: &Value, loc: &Loc, mut f: impl FnMut(&Value) -> bool) -> bool {
    let mut each = |v: &Value| match v {
        Value::Array(items) => items.iter().any(&mut f),
        v => f(v),
    };
    match loc {
        Loc::Element { def, .. } => member(doc, def.name).is_some_and(each),
        Loc::Resource(r) => match (attr_value(doc, r), r.sub) {
            (None, _) => false,
            (Some(v), None) => each(v),
            (Some(Value::Array(items)), Some(sub)) => items
                .iter()
                .any(|item| member(item, sub.name).is_some_and(&mut each)),
            (Some(v), Some(sub)) => member(v, sub.name).is_some_and(each),
        },
    }
}

/// Present means there is something: not null, "", [] or {} (nor an array
/// or object holding only those).
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(map) => map.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn ord_test(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn str_test(op: CompareOp, v: &str, lit: &str) -> bool {
    match op {
        CompareOp::Co => v.contains(lit),
        CompareOp::Sw => v.starts_with(lit),
        CompareOp::Ew => v.ends_with(lit),
        _ => ord_test(op, v.cmp(lit)),
    }
}

/// Case-insensitive comparison. ASCII folds to ASCII lower case, so the
/// common all-ASCII case needs no allocation.
fn folded_test(op: CompareOp, v: &str, lit: &str) -> bool {
    // `fold_case` is the resource module's, shared with the stored folded
    // columns, so memory and SQL agree on non-ASCII text.
    if !(v.is_ascii() && lit.is_ascii()) {
        return str_test(op, &fold_case(v), &fold_case(lit));
    }
    let (v, l) = (v.as_bytes(), lit.as_bytes());
    match op {
        CompareOp::Eq => v.eq_ignore_ascii_case(l),
        CompareOp::Sw => v.len() >= l.len() && v[..l.len()].eq_ignore_ascii_case(l),
        CompareOp::Ew => v.len() >= l.len() && v[v.len() - l.len()..].eq_ignore_ascii_case(l),
        CompareOp::Co => l.is_empty() || v.windows(l.len()).any(|w| w.eq_ignore_ascii_case(l)),
        _ => {
            let (v, l) = (v.iter(), l.iter());
            ord_test(
                op,
                v.map(u8::to_ascii_lowercase)
                    .cmp(l.map(u8::to_ascii_lowercase)),
            )
        }
    }
}

fn json_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => str_bool(s),
        _ => None,
    }
}

/// Integers exactly (i64 and u64 alike), anything else as f64.
fn num_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}
