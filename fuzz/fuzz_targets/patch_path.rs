//! The PATCH path parser (`scim::patch::PatchPath::parse`) on any text, and
//! the path's resolution against User and Group through the engine. Checks,
//! besides "no panic" and the 100 ms budget (per parse, per apply):
//!
//! - a parsed path's `raw` (the trimmed input) parses again to an equal
//!   path: parsing is a function of the trimmed text;
//! - the length limit holds: a path longer than `max_length` characters
//!   is rejected;
//! - every error is a 400 `invalidPath` (the parser's only error kind);
//! - `remove` and `replace` on that path, applied to a canonical User and
//!   Group, answer Ok or a 4xx SCIM error, never anything else.
//!
//! Input: the path as UTF-8 text.
#![no_main]

mod common;

use common::timed;
use libfuzzer_sys::fuzz_target;
use scim_bridge::scim::ScimType;
use scim_bridge::scim::filter::FilterLimits;
use scim_bridge::scim::patch::{self, OpKind, Operation, PatchPath, PatchRequest};
use scim_bridge::scim::resource::normalize;
use scim_bridge::scim::schema::{GROUP_RESOURCE, ResourceTypeDef, USER_RESOURCE};
use serde_json::{Value, json};
use std::sync::LazyLock;

/// The canonical User and Group, as the server stores them.
static STORED: LazyLock<[(&'static ResourceTypeDef, Value); 2]> = LazyLock::new(|| {
    let [user, _, group] = &*common::DOCS;
    [
        (&USER_RESOURCE, normalize(&USER_RESOURCE, user).unwrap().doc),
        (
            &GROUP_RESOURCE,
            normalize(&GROUP_RESOURCE, group).unwrap().doc,
        ),
    ]
});

const ID: &str = "2819c223-7f76-453a-919d-413861904646";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = FilterLimits::default();
    let parsed = timed("PatchPath::parse", data, || PatchPath::parse(text, &limits));
    let path = match parsed {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.status, 400, "{text:?}: {e:?}");
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{text:?}: {e:?}");
            return;
        }
    };
    assert!(
        text.trim().chars().count() <= limits.max_length,
        "a path of {} characters was accepted",
        text.trim().chars().count()
    );
    assert_eq!(path.raw, text.trim());
    match PatchPath::parse(&path.raw, &limits) {
        Ok(again) => assert_eq!(again, path, "{text:?} parses differently once trimmed"),
        Err(e) => panic!("{text:?} parsed, its trimmed form not: {e:?}"),
    }
    for (rt, doc) in STORED.iter() {
        let rt: &'static ResourceTypeDef = rt;
        for (op, value) in [
            (OpKind::Remove, None),
            (OpKind::Replace, Some(json!("x"))),
            (OpKind::Add, Some(json!({"value": ID}))),
        ] {
            let req = PatchRequest {
                operations: vec![Operation {
                    op,
                    path: Some(path.clone()),
                    value,
                }],
            };
            if let Err(e) = timed("patch::apply", data, || patch::apply(rt, doc, ID, &req)) {
                assert!(
                    (400..500).contains(&e.status),
                    "{op:?} {text:?} on a {}: {e:?}",
                    rt.name
                );
            }
        }
    }
});
