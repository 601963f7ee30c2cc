//! PATCH (RFC 7644 §3.5.2), pure: parses a PatchOp body and applies its
//! operations to a canonical stored document, all or nothing. Never sees
//! storage: group members come out as deltas (`MemberChange`) for the
//! caller to apply to its membership table, never as a rewritten list.
//!
//! The identity providers' dialects are accepted here, by shape: `op` in
//! any case and `delete` for remove, path-less values with dotted and
//! URN-qualified keys, booleans as strings, `manager` as a bare id, member
//! removal by a value array, `add` (and `replace`) on a value filter that
//! matches nothing creating the element.

mod apply;
mod members;
mod path;
#[cfg(test)]
mod tests;
mod values;

use serde_json::{Map, Value};

pub use apply::apply;
pub use members::{MemberChange, MemberDelta};
pub use path::PatchPath;

use super::error::ScimError;
use super::filter::FilterLimits;
use super::schema::PATCH_OP_SCHEMA;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

impl OpKind {
    /// `add`, `remove`, `replace` in any case; `delete` is a remove.
    pub fn parse(s: &str) -> Option<OpKind> {
        let s = s.trim();
        [
            ("add", OpKind::Add),
            ("remove", OpKind::Remove),
            ("delete", OpKind::Remove),
            ("replace", OpKind::Replace),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|(_, op)| op)
    }
}

/// One operation. `value` is None when the key was absent (or null).
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A parsed PatchOp request: at least one operation, paths parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<Operation>,
}

/// The result of applying a request: the new document (not yet validated:
/// the caller runs it through `resource::normalize`, which enforces types,
/// `required` and one primary on the result), the member changes in order,
/// and whether the password was removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub doc: Value,
    pub members: MemberDelta,
    pub clear_password: bool,
}

/// A member of a JSON object by name, any case.
fn member<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

impl PatchRequest {
    /// Parses a PatchOp body that may hold at most `max_operations`
    /// operations (more is 400 `tooMany`, before any is looked at).
    pub fn parse_bounded(
        body: &Value,
        limits: &FilterLimits,
        max_operations: usize,
    ) -> Result<PatchRequest, ScimError> {
        let count = body
            .as_object()
            .and_then(|obj| member(obj, "Operations"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if count > max_operations {
            return Err(ScimError::new(
                400,
                Some(crate::scim::error::ScimType::TooMany),
                format!(
                    "a PATCH may hold at most {max_operations} operations; this one has {count}: \
                     split it into several requests"
                ),
            ));
        }
        Self::parse(body, limits)
    }

    /// Parses a PatchOp body. `schemas` may be absent (some clients omit
    /// it); when present it must name the PatchOp message URN. Keys are
    /// matched in any case; unknown keys are ignored.
    pub fn parse(body: &Value, limits: &FilterLimits) -> Result<PatchRequest, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("the PATCH body must be a JSON object"))?;
        if let Some(schemas) = member(obj, "schemas").filter(|v| !v.is_null()) {
            let listed = match schemas {
                Value::Array(a) => a.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
                }),
                Value::String(s) => s.eq_ignore_ascii_case(PATCH_OP_SCHEMA),
                _ => false,
            };
            if !listed {
                return Err(ScimError::invalid_syntax(format!(
                    "schemas must contain {PATCH_OP_SCHEMA}"
                )));
            }
        }
        let ops = match member(obj, "Operations") {
            Some(Value::Array(ops)) if !ops.is_empty() => ops,
            Some(Value::Array(_)) => {
                return Err(ScimError::invalid_syntax(
                    "Operations must hold at least one operation",
                ));
            }
            _ => {
                return Err(ScimError::invalid_syntax(
                    "the PATCH body needs an Operations array",
                ));
            }
        };
        let operations = ops
            .iter()
            .enumerate()
            .map(|(i, op)| parse_operation(i, op, limits))
            .collect::<Result<_, _>>()?;
        Ok(PatchRequest { operations })
    }
}

fn parse_operation(i: usize, op: &Value, limits: &FilterLimits) -> Result<Operation, ScimError> {
    let n = i + 1;
    let obj = op
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax(format!("operation {n} must be an object")))?;
    let kind = match member(obj, "op") {
        Some(Value::String(s)) => OpKind::parse(s).ok_or_else(|| {
            ScimError::invalid_syntax(format!(
                "operation {n}: op must be add, remove or replace, not '{}'",
                crate::scim::patch::path::shorten(s)
            ))
        })?,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n} needs an op (add, remove or replace)"
            )));
        }
    };
    let path = match member(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(PatchPath::parse(s, limits)?),
        Some(_) => {
            return Err(ScimError::bad(
                super::ScimType::InvalidPath,
                format!("operation {n}: path must be a string"),
            ));
        }
    };
    let value = member(obj, "value").filter(|v| !v.is_null()).cloned();
    if kind == OpKind::Remove && path.is_none() {
        return Err(ScimError::bad(
            super::ScimType::NoTarget,
            format!("operation {n}: remove needs a path"),
        ));
    }
    if kind != OpKind::Remove && path.is_none() && value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "operation {n}: add and replace without a path need an object value"
        )));
    }
    Ok(Operation {
        op: kind,
        path,
        value,
    })
}
