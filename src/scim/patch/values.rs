//! Editing the values of multi-valued attributes: the set-like add (one
//! primary, one value per canonical type, in place), what a value filter
//! selects and what it creates when it selects nothing, and pruning what
//! became empty.

use serde_json::{Map, Value};

use super::OpKind;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{self, Filter, Literal};
use crate::scim::resource;
use crate::scim::schema::AttrDef;

/// Applies one filtered operation to the selected values (`hits`) of
/// `list`. The error (its detail only) means no value was selected and
/// none could be created.
pub(super) fn edit_matches(
    op: OpKind,
    def: &'static AttrDef,
    sub: Option<&'static AttrDef>,
    f: &Filter,
    list: &mut Vec<Value>,
    hits: &[usize],
    v: Option<Value>,
) -> Result<(), ScimError> {
    let nothing = || ScimError::bad(ScimType::NoTarget, "the filter matches no value");
    match (op, sub, v) {
        (OpKind::Remove, None, _) | (OpKind::Replace, None, None) => {
            if hits.is_empty() {
                return Err(nothing());
            }
            let mut i = 0;
            list.retain(|_| {
                i += 1;
                !hits.contains(&(i - 1))
            });
        }
        (OpKind::Remove, Some(sub), _) | (OpKind::Replace, Some(sub), None) => {
            if hits.is_empty() {
                return Err(nothing());
            }
            for &i in hits {
                remove_key(&mut list[i], sub.name);
            }
            list.retain(|e| e.as_object().is_some_and(|m| !m.is_empty()));
        }
        (OpKind::Add, _, None) => {}
        (_, _, Some(v)) => {
            // The value each selected element becomes.
            let edit = |e: &mut Value| match (sub, op, &v) {
                (Some(sub), _, v) => set_key(e, sub.name, v.clone()),
                (None, OpKind::Add, Value::Object(m)) => {
                    if let Value::Object(old) = e {
                        old.extend(m.clone());
                    }
                }
                (None, _, v) => *e = v.clone(),
            };
            if hits.is_empty() {
                // Entra and Okta expect `add` (and `replace`) on a filter
                // that matches nothing to create the value the filter
                // describes: `emails[type eq "work"].value` → a work email.
                let mut e = Value::Object(constraints(def, f).ok_or_else(nothing)?);
                edit(&mut e);
                let primary = is_primary(&e);
                if primary {
                    list.iter_mut().for_each(|o| remove_key(o, "primary"));
                }
                add_element(def, list, e);
            } else {
                for &i in hits {
                    edit(&mut list[i]);
                }
                if hits.iter().any(|&i| is_primary(&list[i])) {
                    for (i, e) in list.iter_mut().enumerate() {
                        if !hits.contains(&i) {
                            remove_key(e, "primary");
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The sub-attribute values an `eq`-only filter pins down
/// (`type eq "work" and primary eq "True"` → work, primary): what a value
/// created for a filter that matched nothing starts from. None when the
/// filter says anything else.
pub(super) fn constraints(def: &AttrDef, f: &Filter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    fn walk(def: &AttrDef, f: &Filter, out: &mut Map<String, Value>) -> Option<()> {
        match f {
            Filter::And(a, b) => {
                walk(def, a, out)?;
                walk(def, b, out)
            }
            Filter::Compare {
                path,
                op: filter::CompareOp::Eq,
                value,
            } if path.urn.is_none() && path.sub.is_none() => {
                let sub = def.sub(&path.attr)?;
                let json = match value {
                    Literal::String(s) => Value::String(s.clone()),
                    Literal::Number(n) => Value::Number(n.clone()),
                    Literal::Bool(b) => Value::Bool(*b),
                    Literal::Null => return None,
                };
                let v = resource::attr_value(sub, &json, sub.name).ok()??;
                out.insert(sub.name.to_owned(), v);
                Some(())
            }
            _ => None,
        }
    }
    walk(def, f, &mut out)?;
    Some(out)
}

/// One value of a multi-valued attribute, validated.
pub(super) fn one_element(
    def: &AttrDef,
    v: &Value,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    match resource::attr_value(def, v, label)? {
        Some(Value::Array(mut items)) if items.len() == 1 => Ok(items.pop()),
        Some(Value::Array(items)) if items.is_empty() => Ok(None),
        None => Ok(None),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{label} with a filter takes a single value"
        ))),
    }
}

pub(super) fn is_primary(e: &Value) -> bool {
    e.get("primary") == Some(&Value::Bool(true))
}

/// Adds one value to a multi-valued attribute, as a set: an equal value is
/// not added twice; a new primary value takes `primary` from the others;
/// for attributes whose `type` has canonical values (emails, phoneNumbers,
/// ims, photos, addresses), a value of a type already present replaces it
/// (the newest wins), so no two values share a type.
pub(super) fn add_element(def: &AttrDef, list: &mut Vec<Value>, elem: Value) {
    if list.contains(&elem) {
        return;
    }
    if is_primary(&elem) {
        list.iter_mut().for_each(|o| remove_key(o, "primary"));
    }
    let typed = def
        .sub("type")
        .is_some_and(|t| !t.canonical_values.is_empty());
    let kind = elem.get("type").and_then(Value::as_str).filter(|_| typed);
    let same_kind = |o: &Value| {
        kind.is_some_and(|t| {
            o.get("type")
                .and_then(Value::as_str)
                .is_some_and(|ot| ot.eq_ignore_ascii_case(t))
        })
    };
    // In place, so that replaying an add leaves the order as it was.
    match list.iter().position(same_kind) {
        Some(at) => {
            let mut i = 0;
            list.retain(|o| {
                i += 1;
                i - 1 == at || !same_kind(o)
            });
            list[at] = elem;
        }
        None => list.push(elem),
    }
}

/// Whether `given` (a value from a remove request) names `stored`: by
/// `value` when it has one, else by equality.
pub(super) fn same_value(given: &Value, stored: &Value) -> bool {
    match given.get("value") {
        Some(v) => stored.get("value") == Some(v),
        None => given == stored,
    }
}

pub(super) fn single(key: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_owned(), v);
    Value::Object(m)
}

pub(super) fn set_key(e: &mut Value, key: &str, v: Value) {
    if let Value::Object(m) = e {
        m.insert(key.to_owned(), v);
    }
}

pub(super) fn remove_key(e: &mut Value, key: &str) {
    if let Value::Object(m) = e {
        m.remove(key);
    }
}

/// Removes what means absent: nulls, "", [] and {} (one level into
/// extensions, complex values and multi-valued elements).
pub(super) fn prune(obj: &mut Map<String, Value>) {
    fn empty(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
            _ => false,
        }
    }
    for v in obj.values_mut() {
        match v {
            Value::Object(m) => prune(m),
            Value::Array(items) => {
                items.iter_mut().for_each(|i| {
                    if let Value::Object(m) = i {
                        m.retain(|_, x| !empty(x));
                    }
                });
                items.retain(|i| !empty(i));
            }
            _ => {}
        }
    }
    obj.retain(|_, v| !empty(v));
}
