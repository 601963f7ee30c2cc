//! Replays the request sequences that Entra ID and Okta document publicly
//! (recorded as data in `conformance/recorded/{entra,okta}/*.json`, sources
//! in `conformance/recorded/README.md`) against a real server, step by step,
//! on SQLite and on PostgreSQL. A failing step names its sequence and step.
//!
//! A sequence file: `{"name", "source", "steps": [step…]}`. A step:
//!
//! - `step`: what it does (named in failures);
//! - `method`, `path` (below `/scim/v2`), optional `body` (JSON) and `auth`
//!   (`"token"`, the IAM's bearer token, the default; `"none"`; `"non-token"`,
//!   an Authorization header that is no bearer token);
//! - `status`: the expected status, or a list of acceptable ones;
//! - `expect`: the client's checks on the response body, each keyed by a
//!   JSON Pointer (RFC 6901, so URN keys need no escaping): `equals`
//!   {ptr: value}, `differs` {ptr: value}, `present` [ptr], `absent` [ptr],
//!   `contains` {ptr: element} and `lacks` {ptr: element} (an array holds /
//!   holds no element matching it; an object element matches when it has
//!   at least the given members), `length` {ptr: n}; `headers`
//!   {name: substring} on the response headers;
//! - `save`: {variable: ptr} keeps a value of the response for later steps.
//!
//! `{{variable}}` anywhere in a path, body or expected value is replaced by
//! a saved value (a string that is exactly one placeholder takes the saved
//! JSON value, whatever its type). `{{random.NAME}}` is a fresh UUID, the
//! same for every use of NAME in the sequence.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::Value;

use crate::app::TestApp;
use crate::both;

fn recorded_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/recorded")
}

struct Replay {
    sequence: String,
    vars: HashMap<String, Value>,
}

impl Replay {
    fn var(&mut self, name: &str, step: &str) -> Value {
        if let Some(v) = self.vars.get(name) {
            return v.clone();
        }
        if name.starts_with("random.") {
            let v = Value::from(uuid::Uuid::new_v4().to_string());
            self.vars.insert(name.to_owned(), v.clone());
            return v;
        }
        panic!(
            "{} / {step}: the placeholder {{{{{name}}}}} names no saved value",
            self.sequence
        );
    }

    /// Replaces every `{{name}}` in a string.
    fn interpolate(&mut self, s: &str, step: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}") else {
                break;
            };
            out.push_str(&rest[..start]);
            let name = rest[start + 2..start + len].trim().to_owned();
            match self.var(&name, step) {
                Value::String(v) => out.push_str(&v),
                other => out.push_str(&other.to_string()),
            }
            rest = &rest[start + len + 2..];
        }
        out.push_str(rest);
        out
    }

    fn substitute(&mut self, v: &Value, step: &str) -> Value {
        match v {
            Value::String(s) => {
                let t = s.trim();
                if t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 {
                    return self.var(t[2..t.len() - 2].trim(), step);
                }
                Value::String(self.interpolate(s, step))
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.substitute(x, step)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (self.interpolate(k, step), self.substitute(x, step)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Whether `actual` has at least what `expected` has (objects: every given
/// member, recursively; anything else: equality).
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|x| matches(v, x))),
        _ => expected == actual,
    }
}

fn pointers(v: Option<&Value>) -> Vec<(String, Value)> {
    match v {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| (p.as_str().expect("a JSON Pointer").to_owned(), Value::Null))
            .collect(),
        None => Vec::new(),
        Some(other) => panic!("malformed expectation: {other}"),
    }
}

async fn run_step(app: &TestApp, r: &mut Replay, step: &Value) {
    let name = step["step"]
        .as_str()
        .expect("every step has a name")
        .to_owned();
    let at = format!("{} / {name}", r.sequence);
    let method: Method = step["method"]
        .as_str()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("{at}: no method"));
    let path = r.interpolate(step["path"].as_str().expect("a path"), &name);
    let body = step.get("body").map(|b| r.substitute(b, &name));
    let authorization = match step.get("auth").and_then(Value::as_str).unwrap_or("token") {
        "token" => Some(format!("Bearer {}", app.token)),
        "none" => None,
        // What Okta's spec test sends to check for a 401.
        "non-token" => Some("non-token".to_owned()),
        other => panic!("{at}: unknown auth {other}"),
    };
    let mut req = app
        .client
        .request(method.clone(), format!("{}{path}", app.scim()));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    if let Some(b) = &body {
        req = req
            .header("content-type", "application/scim+json; charset=utf-8")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("response body");
    let doc: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{at}: the response is not JSON ({e}): {text}"))
    };
    let wanted: Vec<u16> = match &step["status"] {
        Value::Number(n) => vec![n.as_u64().expect("a status") as u16],
        Value::Array(a) => a
            .iter()
            .map(|n| n.as_u64().expect("a status") as u16)
            .collect(),
        other => panic!("{at}: malformed status {other}"),
    };
    assert!(
        wanted.contains(&status),
        "{at}: {method} {path} answered {status}, expected {wanted:?}: {text}"
    );
    let expect = step.get("expect").cloned().unwrap_or(Value::Null);
    let get = |ptr: &str| doc.pointer(ptr);
    for (ptr, want) in pointers(expect.get("equals")) {
        let want = r.substitute(&want, &name);
        assert_eq!(get(&ptr), Some(&want), "{at}: {ptr} in {text}");
    }
    for (ptr, other) in pointers(expect.get("differs")) {
        let other = r.substitute(&other, &name);
        assert!(get(&ptr).is_some(), "{at}: {ptr} is missing in {text}");
        assert_ne!(get(&ptr), Some(&other), "{at}: {ptr} in {text}");
    }
    for (ptr, _) in pointers(expect.get("present")) {
        assert!(
            get(&ptr).is_some_and(|v| !v.is_null()),
            "{at}: {ptr} is missing in {text}"
        );
    }
    for (ptr, _) in pointers(expect.get("absent")) {
        assert!(
            get(&ptr).is_none_or(|v| v.is_null() || v == &Value::Array(vec![])),
            "{at}: {ptr} should be absent in {text}"
        );
    }
    for (key, holds) in [("contains", true), ("lacks", false)] {
        for (ptr, elem) in pointers(expect.get(key)) {
            let elem = r.substitute(&elem, &name);
            let arr = get(&ptr).and_then(Value::as_array);
            if holds {
                let arr = arr.unwrap_or_else(|| panic!("{at}: {ptr} is no array in {text}"));
                assert!(
                    arr.iter().any(|x| matches(&elem, x)),
                    "{at}: {ptr} holds no {elem} in {text}"
                );
            } else {
                assert!(
                    !arr.is_some_and(|a| a.iter().any(|x| matches(&elem, x))),
                    "{at}: {ptr} still holds {elem} in {text}"
                );
            }
        }
    }
    for (ptr, n) in pointers(expect.get("length")) {
        let len = get(&ptr).and_then(Value::as_array).map(Vec::len);
        assert_eq!(
            len.map(|l| l as u64),
            n.as_u64(),
            "{at}: length of {ptr} in {text}"
        );
    }
    for (h, want) in pointers(expect.get("headers")) {
        let want = r.interpolate(want.as_str().expect("a header substring"), &name);
        let got = headers
            .get(h.as_str())
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{at}: no {h} header"));
        assert!(
            got.contains(&want),
            "{at}: {h} is {got:?}, expected {want:?}"
        );
    }
    for (var, ptr) in pointers(step.get("save")) {
        let ptr = ptr.as_str().expect("a JSON Pointer");
        let v = get(ptr)
            .cloned()
            .unwrap_or_else(|| panic!("{at}: nothing at {ptr} to save as {var}: {text}"));
        r.vars.insert(var, v);
    }
}

/// Replays `conformance/recorded/<file>` on `app`.
async fn replay(app: &TestApp, file: &str) {
    let path = recorded_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let seq: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = Replay {
        sequence: format!(
            "{file} ({})",
            seq["name"].as_str().expect("a sequence name")
        ),
        vars: HashMap::new(),
    };
    assert!(
        seq["source"].as_str().is_some_and(|s| !s.is_empty()),
        "{}: no source",
        r.sequence
    );
    let steps = seq["steps"].as_array().expect("steps");
    assert!(!steps.is_empty(), "{}: no steps", r.sequence);
    for step in steps {
        run_step(app, &mut r, step).await;
    }
}

/// The sequences, each a test on both databases.
macro_rules! sequences {
    ($($name:ident => $file:literal,)*) => {
        $(
            async fn $name(app: &TestApp) {
                replay(app, $file).await;
            }
            both!($name);
        )*

        const FILES: &[&str] = &[$($file),*];
    };
}

sequences! {
    entra_test_connection => "entra/test_connection.json",
    entra_user_lifecycle => "entra/user_lifecycle.json",
    entra_manager => "entra/manager.json",
    entra_group_lifecycle => "entra/group_lifecycle.json",
    entra_requirements => "entra/requirements.json",
    okta_test_connection => "okta/test_connection.json",
    okta_spec_test => "okta/spec_test.json",
    okta_user_lifecycle => "okta/user_lifecycle.json",
    okta_import_paging => "okta/import_paging.json",
    okta_group_push => "okta/group_push.json",
}

/// Every recorded sequence is replayed: a file added without a test above
/// fails here.
#[test]
fn every_recorded_sequence_is_replayed() {
    let mut found = Vec::new();
    for idp in ["entra", "okta"] {
        for entry in std::fs::read_dir(recorded_dir().join(idp)).expect("recorded dir") {
            let name = entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8");
            if name.ends_with(".json") {
                found.push(format!("{idp}/{name}"));
            }
        }
    }
    found.sort();
    let mut listed: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed);
}
