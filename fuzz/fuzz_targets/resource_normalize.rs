//! Request bodies and projection parameters (issue 8 item 7): `normalize`
//! for User and Group on any JSON input, `Projection::parse` and `apply` on
//! any text. Checks, besides "no panic" and the 100 ms budget (per
//! normalize, parse and apply):
//!
//! - a normalized document normalizes again to itself (canonical is a
//!   fixed point), and never carries `password`;
//! - a projection never lets `password` out, even from a document that
//!   holds one, and never reports it as included.
//!
//! Input: if it is JSON, it is a body; as text (split at the first newline
//! into `attributes` and `excludedAttributes`) it is a projection.
#![no_main]

mod common;

use common::timed;
use libfuzzer_sys::fuzz_target;
use scim_bridge::scim::projection::Projection;
use scim_bridge::scim::resource::normalize;
use scim_bridge::scim::schema::{GROUP_RESOURCE, ResourceTypeDef, USER_RESOURCE};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    check(data, &common::DOCS);
});

fn check(data: &[u8], docs: &[Value; 3]) {
    let body: Option<Value> = serde_json::from_slice(data).ok();
    let mut normalized = Vec::new();
    if let Some(body) = &body {
        for rt in [&USER_RESOURCE, &GROUP_RESOURCE] {
            if let Some(doc) = normalize_checked(rt, body, data) {
                normalized.push((rt, doc));
            }
        }
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (attributes, excluded) = match text.split_once('\n') {
        Some((a, e)) => (a, e),
        None => (text, text),
    };
    let [user, odd, group] = docs;
    let params = [
        (Some(attributes), None),
        (None, Some(excluded)),
        (Some(attributes), Some(excluded)),
    ];
    for params in params {
        project(&USER_RESOURCE, params, &[user, odd], &normalized, data);
        project(&GROUP_RESOURCE, params, &[group], &normalized, data);
    }
}

fn normalize_checked(rt: &'static ResourceTypeDef, body: &Value, data: &[u8]) -> Option<Value> {
    let n = timed("normalize", data, || normalize(rt, body)).ok()?;
    let doc = n.doc;
    assert!(
        !has_password_key(&doc),
        "normalized {} keeps a password: {doc}",
        rt.name
    );
    match timed("normalize again", data, || normalize(rt, &doc)) {
        Ok(again) => assert_eq!(
            again.doc, doc,
            "normalizing a normalized {} changes it",
            rt.name
        ),
        Err(e) => panic!("a normalized {} is rejected: {e:?}\n{doc}", rt.name),
    }
    Some(doc)
}

fn project(
    rt: &'static ResourceTypeDef,
    (attributes, excluded): (Option<&str>, Option<&str>),
    samples: &[&Value],
    normalized: &[(&'static ResourceTypeDef, Value)],
    data: &[u8],
) {
    let parsed = timed("Projection::parse", data, || {
        Projection::parse(rt, attributes, excluded)
    });
    let Ok(p) = parsed else {
        return;
    };
    if std::ptr::eq(rt, &USER_RESOURCE) {
        assert!(
            !p.includes(rt, None, "password"),
            "{attributes:?} / {excluded:?} includes password"
        );
    }
    let docs = samples.iter().map(|d| (*d).clone()).chain(
        normalized
            .iter()
            .filter(|(r, _)| std::ptr::eq(*r, rt))
            .map(|(_, d)| d.clone()),
    );
    for mut doc in docs {
        if let Value::Object(m) = &mut doc
            && std::ptr::eq(rt, &USER_RESOURCE)
        {
            m.insert("password".to_owned(), Value::from("{argon2}secret"));
        }
        let out = timed("Projection::apply", data, || p.apply(rt, &doc));
        assert!(
            !has_password_key(&out),
            "{attributes:?} / {excluded:?} lets the password out: {out}"
        );
    }
}

fn has_password_key(doc: &Value) -> bool {
    doc.as_object()
        .is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case("password")))
}
