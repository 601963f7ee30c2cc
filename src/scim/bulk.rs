//! SCIM Bulk (RFC 7644 §3.7), the pure part: parse and validate a
//! BulkRequest, find the `bulkId:` references of each operation, order the
//! operations so that each runs after the ones it references, substitute
//! the ids once known, and build the BulkResponse. It never executes
//! anything: the directory runs each operation as its single request.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::schema::{BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA};
use super::{ScimError, ScimType};

/// What a value refers to another operation's new resource with.
pub const BULK_ID_PREFIX: &str = "bulkId:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Method::Post, Method::Put, Method::Patch, Method::Delete]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Users,
    Groups,
}

impl Endpoint {
    /// The endpoint as it appears in a location: `/Users`.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Users => "/Users",
            Endpoint::Groups => "/Groups",
        }
    }
}

/// One validated operation of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Position in the request's `Operations`.
    pub index: usize,
    pub method: Method,
    pub endpoint: Endpoint,
    /// The resource id of PUT, PATCH and DELETE, as sent: an id or
    /// `bulkId:…`. None for POST.
    pub target: Option<String>,
    pub bulk_id: Option<String>,
    /// The ETag the operation is conditional on (If-Match), as sent.
    pub version: Option<String>,
    /// The body; `Null` for DELETE.
    pub data: Value,
    /// The bulkIds the target and the data reference, without the prefix.
    pub refs: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many errors (`failOnErrors`); None runs everything.
    pub fail_on_errors: Option<usize>,
    pub operations: Vec<Operation>,
}

/// A member of a JSON object, its name matched case-insensitively.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn op_error(i: usize, detail: impl std::fmt::Display) -> ScimError {
    ScimError::invalid_value(format!("Operations[{i}]: {detail}"))
}

impl BulkRequest {
    /// Validates the whole request before anything runs: a malformed
    /// request is refused as a whole. More than `max_operations`
    /// operations is 413 `tooMany`.
    pub fn parse(body: &Value, max_operations: usize) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest must be a JSON object"))?;
        let schemas_ok = field(obj, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST_SCHEMA))
                })
            });
        if !schemas_ok {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain {BULK_REQUEST_SCHEMA}"
            )));
        }
        let ops = field(obj, "Operations")
            .ok_or_else(|| ScimError::invalid_syntax("Operations is required"))?
            .as_array()
            .ok_or_else(|| ScimError::invalid_syntax("Operations must be an array"))?;
        if ops.len() > max_operations {
            return Err(ScimError::new(
                413,
                Some(ScimType::TooMany),
                format!(
                    "the request has {} operations; maxOperations is {max_operations}",
                    ops.len()
                ),
            ));
        }
        let fail_on_errors = match field(obj, "failOnErrors") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => {
                    return Err(ScimError::invalid_value(
                        "failOnErrors must be an integer of at least 1",
                    ));
                }
            },
        };
        let operations = ops
            .iter()
            .enumerate()
            .map(|(i, op)| parse_operation(i, op))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = HashMap::new();
        for op in &operations {
            if let Some(b) = &op.bulk_id
                && let Some(first) = seen.insert(b.as_str(), op.index)
            {
                return Err(op_error(
                    op.index,
                    format!("bulkId '{b}' is already used by Operations[{first}]"),
                ));
            }
        }
        Ok(BulkRequest {
            fail_on_errors,
            operations,
        })
    }
}

fn parse_operation(i: usize, op: &Value) -> Result<Operation, ScimError> {
    let obj = op
        .as_object()
        .ok_or_else(|| op_error(i, "an operation must be a JSON object"))?;
    let text = |name: &str| -> Result<Option<String>, ScimError> {
        match field(obj, name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(op_error(i, format!("{name} must be a string"))),
        }
    };
    let method = text("method")?.ok_or_else(|| op_error(i, "method is required"))?;
    let method = Method::parse(&method).ok_or_else(|| {
        op_error(
            i,
            format!(
                "method '{}' is not one of POST, PUT, PATCH, DELETE",
                shorten(&method)
            ),
        )
    })?;
    let path = text("path")?.ok_or_else(|| op_error(i, "path is required"))?;
    let (endpoint, target) =
        parse_path(&path).ok_or_else(|| op_error(i, bad_path(&path, method)))?;
    if (method == Method::Post) != target.is_none() {
        return Err(op_error(i, bad_path(&path, method)));
    }
    let bulk_id = text("bulkId")?;
    if bulk_id.as_deref().is_some_and(str::is_empty) {
        return Err(op_error(i, "bulkId must not be empty"));
    }
    if method == Method::Post && bulk_id.is_none() {
        return Err(op_error(i, "bulkId is required for POST"));
    }
    let version = text("version")?;
    let data = match (method, field(obj, "data")) {
        (Method::Delete, _) => Value::Null,
        (_, Some(d @ Value::Object(_))) => d.clone(),
        (_, Some(_)) => return Err(op_error(i, "data must be a JSON object")),
        (m, None) => return Err(op_error(i, format!("data is required for {}", m.as_str()))),
    };
    let mut refs = BTreeSet::new();
    if let Some(b) = target
        .as_deref()
        .and_then(|t| t.strip_prefix(BULK_ID_PREFIX))
    {
        refs.insert(b.to_owned());
    }
    collect_refs(&data, &mut refs);
    Ok(Operation {
        index: i,
        method,
        endpoint,
        target,
        bulk_id,
        version,
        data,
        refs,
    })
}

fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

fn bad_path(path: &str, method: Method) -> String {
    let want = if method == Method::Post {
        "/Users or /Groups"
    } else {
        "/Users/{id} or /Groups/{id}"
    };
    format!(
        "path '{}' is not valid for {}: expected {want}",
        shorten(path),
        method.as_str()
    )
}

/// `/Users`, `/Groups/{id}` (endpoint names case-insensitive, a trailing
/// slash tolerated, as on the single-resource routes).
fn parse_path(path: &str) -> Option<(Endpoint, Option<String>)> {
    let p = path.strip_prefix('/').unwrap_or(path);
    let p = p.strip_suffix('/').unwrap_or(p);
    let mut parts = p.split('/');
    let endpoint = match parts.next()? {
        e if e.eq_ignore_ascii_case("Users") => Endpoint::Users,
        e if e.eq_ignore_ascii_case("Groups") => Endpoint::Groups,
        _ => return None,
    };
    let target = match parts.next() {
        None => None,
        Some("") => return None,
        Some(id) => Some(id.to_owned()),
    };
    if parts.next().is_some() {
        return None;
    }
    Some((endpoint, target))
}

/// Every string value of the form `bulkId:xyz`, anywhere in the body.
fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            if let Some(b) = s.strip_prefix(BULK_ID_PREFIX) {
                out.insert(b.to_owned());
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Replaces every `bulkId:xyz` string with the id `xyz` resolved to.
/// An unresolved reference is returned as the error.
pub fn substitute(v: &Value, ids: &HashMap<String, String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => match s.strip_prefix(BULK_ID_PREFIX) {
            Some(b) => Value::String(ids.get(b).cloned().ok_or_else(|| b.to_owned())?),
            None => v.clone(),
        },
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, ids))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), substitute(x, ids)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The order operations run in: every operation after the POSTs whose
/// bulkIds it references, otherwise in request order. Operations caught in
/// a reference cycle (or depending on one) cannot run: they are listed
/// apart, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub order: Vec<usize>,
    pub cyclic: Vec<usize>,
}

/// Kahn's algorithm, always taking the ready operation that comes first in
/// the request, so that a request without references runs as sent.
/// Iterative: a long chain of references cannot exhaust the stack.
pub fn plan(ops: &[Operation]) -> Plan {
    let definer: HashMap<&str, usize> = ops
        .iter()
        .filter(|o| o.method == Method::Post)
        .filter_map(|o| Some((o.bulk_id.as_deref()?, o.index)))
        .collect();
    let mut waiting = vec![0usize; ops.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for op in ops {
        // References to bulkIds no POST defines do not order anything:
        // the operation fails when it runs.
        let deps: BTreeSet<usize> = op
            .refs
            .iter()
            .filter_map(|r| definer.get(r.as_str()).copied())
            .collect();
        waiting[op.index] = deps.len();
        for d in deps {
            dependents[d].push(op.index);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = waiting
        .iter()
        .enumerate()
        .filter(|(_, w)| **w == 0)
        .map(|(i, _)| std::cmp::Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(ops.len());
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(std::cmp::Reverse(d));
            }
        }
    }
    let cyclic = (0..ops.len()).filter(|i| waiting[*i] > 0).collect();
    Plan { order, cyclic }
}

/// Parses an operation's `version` as If-Match does: None for `*`; a
/// version that is no version of ours can never match: 412.
pub fn parse_version(v: &str) -> Result<Option<i64>, ScimError> {
    let v = v.trim();
    if v == "*" {
        return Ok(None);
    }
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| ScimError::new(412, None, "the version names no version of this resource"))
}

/// What one performed operation answers with.
#[derive(Debug, Clone, PartialEq)]
pub struct OpResult {
    pub index: usize,
    pub method: Method,
    pub bulk_id: Option<String>,
    /// The resource's ETag after the operation.
    pub version: Option<String>,
    pub location: Option<String>,
    pub status: u16,
    pub error: Option<ScimError>,
}

impl OpResult {
    pub fn failed(op: &Operation, location: Option<String>, error: ScimError) -> Self {
        OpResult {
            index: op.index,
            method: op.method,
            bulk_id: op.bulk_id.clone(),
            version: None,
            location,
            status: error.status,
            error: Some(error),
        }
    }
}

/// The BulkResponse: one entry per performed operation, in request order,
/// `status` as a string as in the RFC's examples, the Error document as
/// `response` of a failure.
pub fn response_doc(results: &[OpResult]) -> Value {
    let mut sorted: Vec<&OpResult> = results.iter().collect();
    sorted.sort_by_key(|r| r.index);
    let ops: Vec<Value> = sorted
        .into_iter()
        .map(|r| {
            let mut o = json!({ "method": r.method.as_str(), "status": r.status.to_string() });
            if let Some(b) = &r.bulk_id {
                o["bulkId"] = json!(b);
            }
            if let Some(v) = &r.version {
                o["version"] = json!(v);
            }
            if let Some(l) = &r.location {
                o["location"] = json!(l);
            }
            if let Some(e) = &r.error {
                o["response"] = e.to_json();
            }
            o
        })
        .collect();
    json!({ "schemas": [BULK_RESPONSE_SCHEMA], "Operations": ops })
}

#[cfg(test)]
mod tests;
