//! PATCH end to end in the pure engine: `PatchRequest::parse` on a body,
//! then `patch::apply` to canonical Users and Groups, then the result
//! through `resource::normalize` as the directory does before it writes.
//! Checks, besides "no panic" and the 100 ms budget (per parse, apply and
//! normalize):
//!
//! - parsing and applying answer Ok or a 4xx SCIM error;
//! - a result either normalizes (and then is a fixed point: normalizing it
//!   again changes nothing, and it holds no `password`) or is refused with
//!   a 4xx SCIM error: a PATCH can never produce a document the server
//!   would store but not accept back;
//! - determinism: applying the same request to the same document again
//!   gives the same outcome (document, member changes, password flag) or
//!   the same error.
//!
//! Input: a JSON body (the seeds are the identity providers' PATCH shapes)
//! or, when the bytes are not JSON, a request built from them as structured
//! input: operations drawn from a vocabulary of paths, filters and values
//! that the dialects use, so the fuzzer reaches deep into `apply` without
//! having to discover JSON and attribute names first.
#![no_main]

mod common;

use std::sync::LazyLock;

use common::timed;
use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use scim_bridge::scim::filter::FilterLimits;
use scim_bridge::scim::patch::{self, PatchRequest};
use scim_bridge::scim::resource::normalize;
use scim_bridge::scim::schema::{GROUP_RESOURCE, ResourceTypeDef, USER_RESOURCE};
use serde_json::{Map, Value, json};

const ID: &str = "2819c223-7f76-453a-919d-413861904646";
const MEMBER: &str = "902c246b-6245-4190-8e05-00816be7344a";

/// Canonical stored documents: a full User, a minimal one, a Group with
/// members and an empty Group.
static STORED: LazyLock<Vec<(&'static ResourceTypeDef, Value)>> = LazyLock::new(|| {
    let [user, _, group] = &*common::DOCS;
    let canon = |rt: &'static ResourceTypeDef, v: &Value| (rt, normalize(rt, v).unwrap().doc);
    vec![
        canon(&USER_RESOURCE, user),
        canon(&USER_RESOURCE, &json!({"userName": "min"})),
        canon(&GROUP_RESOURCE, group),
        canon(&GROUP_RESOURCE, &json!({"displayName": "Empty"})),
    ]
});

fuzz_target!(|data: &[u8]| {
    let body = match serde_json::from_slice::<Value>(data) {
        Ok(v) => v,
        Err(_) => match structured(&mut Unstructured::new(data)) {
            Ok(v) => v,
            Err(_) => return,
        },
    };
    check(&body, data);
});

fn check(body: &Value, data: &[u8]) {
    let limits = FilterLimits::default();
    let req = match timed("PatchRequest::parse", data, || {
        PatchRequest::parse(body, &limits)
    }) {
        Ok(r) => r,
        Err(e) => {
            assert!((400..500).contains(&e.status), "parse {body}: {e:?}");
            return;
        }
    };
    for (rt, doc) in STORED.iter() {
        let rt: &'static ResourceTypeDef = rt;
        let first = timed("patch::apply", data, || patch::apply(rt, doc, ID, &req));
        let second = patch::apply(rt, doc, ID, &req);
        assert_eq!(
            first, second,
            "PATCH {body} on a {} is not deterministic",
            rt.name
        );
        let out = match first {
            Ok(out) => out,
            Err(e) => {
                assert!(
                    (400..500).contains(&e.status),
                    "{body} on a {}: {e:?}",
                    rt.name
                );
                continue;
            }
        };
        match timed("normalize", data, || normalize(rt, &out.doc)) {
            Ok(n) => {
                assert!(
                    !n.doc
                        .as_object()
                        .is_some_and(|m| m.contains_key("password")),
                    "{body}: normalized result keeps a password: {}",
                    n.doc
                );
                match normalize(rt, &n.doc) {
                    Ok(again) => assert_eq!(
                        again.doc, n.doc,
                        "{body}: the patched {} is not a fixed point of normalize",
                        rt.name
                    ),
                    Err(e) => panic!("{body}: a normalized {} is rejected: {e:?}", rt.name),
                }
            }
            Err(e) => assert!(
                (400..500).contains(&e.status),
                "{body}: the patched {} fails with {e:?}",
                rt.name
            ),
        }
    }
}

const OPS: &[&str] = &[
    "add", "Add", "replace", "Replace", "remove", "Remove", "delete", "ADD", "bogus",
];

const PATHS: &[&str] = &[
    "",
    "active",
    "userName",
    "displayName",
    "title",
    "externalId",
    "name",
    "name.givenName",
    "name.familyName",
    "emails",
    "emails.value",
    "emails[type eq \"work\"]",
    "emails[type eq \"work\"].value",
    "emails[primary eq \"True\"].display",
    "emails[value co \"@\"].primary",
    "phoneNumbers[type eq \"mobile\"].value",
    "addresses[type eq \"work\"].streetAddress",
    "addresses[type eq \"work\"].formatted",
    "roles",
    "roles[primary eq \"True\"].value",
    "entitlements",
    "x509Certificates",
    "password",
    "id",
    "meta",
    "groups",
    "members",
    "members.value",
    "members[value eq \"902c246b-6245-4190-8e05-00816be7344a\"]",
    "members[value eq \"2819c223-7f76-453a-919d-413861904646\"].display",
    "members[type eq \"Group\"]",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
    "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
];

const KEYS: &[&str] = &[
    "active",
    "displayName",
    "name.givenName",
    "name.familyName",
    "emails[type eq \"work\"].value",
    "title",
    "members",
    "schemas",
    "meta",
    "id",
    "externalId",
    "password",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
];

fn scalar(u: &mut Unstructured) -> ArbResult<Value> {
    Ok(match u.int_in_range(0..=13)? {
        0 => json!(true),
        1 => json!("False"),
        2 => json!("True"),
        3 => json!(ID),
        4 => json!(MEMBER),
        5 => json!(""),
        6 => json!(42),
        7 => json!(-1.5),
        8 => json!("x@example.com"),
        9 => Value::Null,
        10 => json!("Straße"),
        11 => json!("STRASSE"),
        12 => json!("work"),
        _ => json!(u.arbitrary::<String>()?),
    })
}

/// A value of any shape the dialects send: scalars, member arrays, objects
/// of attributes, nesting a few levels deep.
fn value(u: &mut Unstructured, depth: u32) -> ArbResult<Value> {
    if depth == 0 {
        return scalar(u);
    }
    Ok(match u.int_in_range(0..=5)? {
        0 | 1 => scalar(u)?,
        2 => {
            let n = u.int_in_range(0..=3)?;
            let mut a = Vec::new();
            for _ in 0..n {
                a.push(value(u, depth - 1)?);
            }
            Value::Array(a)
        }
        3 => json!([{ "value": scalar(u)? }]),
        _ => {
            let n = u.int_in_range(0..=4)?;
            let mut m = Map::new();
            for _ in 0..n {
                let k = match u.int_in_range(0..=6)? {
                    0 => "value".to_owned(),
                    1 => "type".to_owned(),
                    2 => "primary".to_owned(),
                    3 => "display".to_owned(),
                    4 => "givenName".to_owned(),
                    5 => u.arbitrary::<String>()?,
                    _ => u.choose(KEYS)?.to_string(),
                };
                m.insert(k, value(u, depth - 1)?);
            }
            Value::Object(m)
        }
    })
}

fn structured(u: &mut Unstructured) -> ArbResult<Value> {
    let n = u.int_in_range(1..=4)?;
    let mut ops = Vec::new();
    for _ in 0..n {
        let mut op = Map::new();
        op.insert("op".into(), json!(u.choose(OPS)?));
        let path = u.choose(PATHS)?;
        if !path.is_empty() {
            op.insert("path".into(), json!(path));
        }
        if u.arbitrary::<bool>()? {
            op.insert("value".into(), value(u, 3)?);
        }
        ops.push(Value::Object(op));
    }
    Ok(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": ops,
    }))
}
