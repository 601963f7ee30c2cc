//! Group `members` under PATCH: never a list to rewrite, always deltas, so
//! that changing one member of a huge group costs one row. Operations fold
//! in order into one net change: which ids to add, which to remove, and
//! whether everything goes first.

use std::collections::BTreeSet;

use serde_json::Value;

use super::OpKind;
use super::path::{Resolved, invalid_path};
use crate::scim::error::ScimError;
use crate::scim::filter::{CompareOp, Filter, Literal};
use crate::scim::resource;
use crate::scim::schema::AttrDef;

/// One member operation, as the request said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
}

/// The net effect of a request's member operations: `remove_all` first,
/// then `remove`, then `add`. `add` and `remove` never share an id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberDelta {
    pub remove_all: bool,
    pub remove: BTreeSet<String>,
    pub add: BTreeSet<String>,
}

impl MemberDelta {
    pub fn is_empty(&self) -> bool {
        !self.remove_all && self.remove.is_empty() && self.add.is_empty()
    }

    pub fn push(&mut self, change: MemberChange) {
        match change {
            MemberChange::RemoveAll => {
                *self = MemberDelta {
                    remove_all: true,
                    ..Default::default()
                }
            }
            MemberChange::Add(ids) => {
                for id in ids {
                    self.remove.remove(&id);
                    self.add.insert(id);
                }
            }
            MemberChange::Remove(ids) => {
                for id in ids {
                    self.add.remove(&id);
                    if !self.remove_all {
                        self.remove.insert(id);
                    }
                }
            }
        }
    }
}

/// The ids of a members value: an array (or one) of `{"value": id}`, or
/// of bare id strings (lenient). `type`, `display` and `$ref` are the
/// server's to fill in.
fn ids(def: &AttrDef, value: &Value) -> Result<Vec<String>, ScimError> {
    let items: Vec<Value> = match value {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let objects: Vec<Value> = items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => serde_json::json!({ "value": s }),
            other => other,
        })
        .collect();
    let checked = resource::attr_value(def, &Value::Array(objects), "members")?;
    Ok(checked
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value")?.as_str().map(str::to_owned))
        .collect())
}

/// `value eq "id"`, alone or joined by `or`: the only filters a member
/// removal takes, so that it never needs the member list.
fn filter_ids(f: &Filter, out: &mut Vec<String>) -> bool {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Literal::String(id),
        } if path.attr.eq_ignore_ascii_case("value") && path.sub.is_none() => {
            out.push(id.clone());
            true
        }
        Filter::Or(a, b) => filter_ids(a, out) && filter_ids(b, out),
        _ => false,
    }
}

/// One operation on `members` (path `members`, `members[value eq "…"]`, or
/// the `members` key of a path-less value).
pub(super) fn change(
    op: OpKind,
    r: &Resolved,
    value: Option<&Value>,
) -> Result<Vec<MemberChange>, ScimError> {
    if let Some(sub) = r.sub {
        return Err(ScimError::bad(
            crate::scim::ScimType::Mutability,
            format!(
                "members.{} cannot be changed; add or remove the member instead",
                sub.name
            ),
        ));
    }
    if let Some(f) = &r.filter {
        let mut wanted = Vec::new();
        if op != OpKind::Remove || !filter_ids(f, &mut wanted) {
            return Err(invalid_path(
                "a members filter may only select members to remove, by value eq \"id\"",
            ));
        }
        return Ok(vec![MemberChange::Remove(wanted)]);
    }
    Ok(match (op, value) {
        (OpKind::Add, None) => Vec::new(),
        (OpKind::Add, Some(v)) => vec![MemberChange::Add(ids(r.attr, v)?)],
        (OpKind::Replace, None) => vec![MemberChange::RemoveAll],
        (OpKind::Replace, Some(v)) => {
            vec![MemberChange::RemoveAll, MemberChange::Add(ids(r.attr, v)?)]
        }
        (OpKind::Remove, None) => vec![MemberChange::RemoveAll],
        // Entra: remove with a value array names the members to remove.
        (OpKind::Remove, Some(v)) => vec![MemberChange::Remove(ids(r.attr, v)?)],
    })
}
