//! The filter parser, printer, resolver and in-memory evaluator on arbitrary
//! UTF-8 (issue 3 item 8). Checks, besides "no panic":
//! - the canonical text (`Display`) parses back to an equal tree;
//! - a filter that resolves against a resource type also evaluates on any
//!   document without error (`matches` repeats `resolve`'s checks);
//! - each parse, resolve and evaluation takes less than 100 ms.
#![no_main]

mod common;

use common::timed;
use libfuzzer_sys::fuzz_target;
use scim_bridge::scim::filter::{FilterLimits, matches, parse, resolve};
use scim_bridge::scim::schema::{GROUP_RESOURCE, ResourceTypeDef, USER_RESOURCE};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    check(input, data, &common::DOCS);
});

fn check(input: &str, data: &[u8], docs: &[Value; 3]) {
    let limits = FilterLimits::default();
    let Ok(filter) = timed("parse", data, || parse(input, &limits)) else {
        return;
    };
    assert!(
        input.chars().count() <= limits.max_length,
        "a filter longer than the limit parsed"
    );

    // The canonical text may be longer than the input (`1e5` prints as
    // `100000.0`, a raw control character as `\u0001`), so only the length
    // limit is lifted; it never nests deeper nor has more terms.
    let canonical = filter.to_string();
    let relaxed = FilterLimits {
        max_length: usize::MAX,
        ..limits
    };
    match timed("parse canonical", data, || parse(&canonical, &relaxed)) {
        Ok(again) => assert_eq!(
            again, filter,
            "canonical text {canonical:?} of {input:?} parses to another tree"
        ),
        Err(e) => panic!("canonical text {canonical:?} of {input:?} does not parse: {e:?}"),
    }

    let [user, odd, group] = docs;
    let cases: [(&ResourceTypeDef, &[&Value]); 2] =
        [(&USER_RESOURCE, &[user, odd]), (&GROUP_RESOURCE, &[group])];
    for (rt, docs) in cases {
        if timed("resolve", data, || resolve(&filter, rt)).is_err() {
            continue;
        }
        for doc in docs {
            if let Err(e) = timed("matches", data, || matches(&filter, rt, doc)) {
                panic!(
                    "{canonical:?} resolves for {} but fails to evaluate: {e:?}",
                    rt.name
                );
            }
        }
    }
}
