//! Subscription policies (issue 18 item 3) on arbitrary input: the input as
//! an advanced-language expression, and, when it is JSON, as a policy
//! document. Checks, besides "no panic":
//! - a refused expression's error points inside the text, on a character;
//! - an accepted one is within the length limit, and its canonical text
//!   (`Display`) parses back to an equal tree;
//! - evaluating it with and without reasons gives the same decision, and
//!   `NOT (it)` gives the opposite one, on a few accounts and data sources;
//! - an accepted document's canonical JSON parses back to an equal policy
//!   and prints the same again; `decide` agrees with `evaluate` on it;
//! - each parse and evaluation takes less than 100 ms.
#![no_main]

mod common;

use common::timed;
use libfuzzer_sys::fuzz_target;
use scim_bridge::policy::{
    Account, AccountState, AttributeSource, DataSource, Decision, Limits, Policy, decide, evaluate,
    lang::parse,
};
use serde_json::{Value, json};
use std::sync::LazyLock;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    check_expression(input, data);
    if let Ok(body) = serde_json::from_str::<Value>(input) {
        check_document(&body, data);
    }
});

/// Accounts and data sources that the seeds' names reach: attribute
/// values that are tags, groups that are tags, a disabled account.
static WORLDS: LazyLock<Vec<(Account, DataSource)>> = LazyLock::new(|| {
    let mut dev = Account::new(AccountState::Active);
    dev.add_attribute(
        "Environment",
        "Dev",
        AttributeSource::IdentityProvider { path: None },
    );
    dev.add_attribute("Department", "Marketing", AttributeSource::Managed);
    dev.add_attribute(
        "Clearance",
        "Discovered",
        AttributeSource::Group("Engineers".into()),
    );
    dev.groups = ["Engineers", "Interns", "a"].map(String::from).into();
    let mut disabled = dev.clone();
    disabled.state = AccountState::Disabled;
    let source = |tags: &[&str], columns: &[&str]| DataSource {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        column_tags: columns.iter().map(|t| t.to_string()).collect(),
    };
    vec![
        (
            dev.clone(),
            source(
                &["Environment.Dev", "Marketing", "Interns.Summer"],
                &["Discovered.Passport"],
            ),
        ),
        (dev, source(&[], &[])),
        (
            Account::new(AccountState::Active),
            source(&["Environment.Prod"], &["PII"]),
        ),
        (disabled, source(&["Environment.Dev"], &[])),
    ]
});

fn check_expression(input: &str, data: &[u8]) {
    let limits = Limits::DEFAULT;
    let expr = match timed("parse", data, || parse(input, &limits)) {
        Ok(expr) => expr,
        Err(e) => {
            assert!(
                e.offset <= input.len() && input.is_char_boundary(e.offset),
                "error offset {} outside {input:?}",
                e.offset
            );
            assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty());
            return;
        }
    };
    assert!(
        input.len() <= limits.max_length,
        "an expression longer than the limit parsed"
    );

    // The canonical text may be longer than the input (spaces around
    // operators), never deeper nor with more terms.
    let canonical = expr.to_string();
    let relaxed = Limits {
        max_length: usize::MAX,
        ..limits
    };
    match timed("parse canonical", data, || parse(&canonical, &relaxed)) {
        Ok(again) => assert_eq!(
            again, expr,
            "canonical text {canonical:?} of {input:?} parses to another tree"
        ),
        Err(e) => panic!("canonical text {canonical:?} of {input:?} does not parse: {e}"),
    }

    let as_policy = |key: &str, rule: String| {
        Policy::parse_with(
            &json!({"policyKey": key, "name": key, "circumstances": [{"type": "all"}],
                    "actions": {"type": "entitlements", "advanced": rule}}),
            &relaxed,
        )
        .unwrap_or_else(|e| panic!("{canonical:?} as a policy: {e}"))
    };
    // One level of NOT and parentheses more than the input: within the
    // depth limit only if the input was one short of it.
    let negated_fits = parse(&format!("NOT ({canonical})"), &relaxed).is_ok();
    let policies = [as_policy("p", canonical.clone())];
    let negated = negated_fits.then(|| [as_policy("n", format!("NOT ({canonical})"))]);
    for (account, source) in WORLDS.iter() {
        let decision = check_agreement(&policies, account, source, data);
        let (Some(negated), AccountState::Active) = (&negated, account.state) else {
            continue;
        };
        let flipped = check_agreement(negated, account, source, data);
        assert_eq!(
            flipped == Decision::Subscribe,
            decision == Decision::Deny,
            "{canonical:?}: {decision:?}, and {flipped:?} negated"
        );
    }
}

/// `decide` and `evaluate` give the same decision; returns it.
fn check_agreement(
    policies: &[Policy],
    account: &Account,
    source: &DataSource,
    data: &[u8],
) -> Decision {
    let fast = timed("decide", data, || decide(policies, account, source)).decision;
    let full = timed("evaluate", data, || evaluate(policies, account, source));
    assert_eq!(
        fast, full.decision,
        "decide and evaluate disagree: {full:?}"
    );
    fast
}

fn check_document(body: &Value, data: &[u8]) {
    let policy = match timed("policy", data, || Policy::parse(body)) {
        Ok(policy) => policy,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let canonical = serde_json::to_value(&policy).expect("a policy serializes");
    match Policy::parse(&canonical) {
        Ok(again) => {
            assert_eq!(
                again, policy,
                "canonical {canonical} parses to another policy"
            );
            assert_eq!(serde_json::to_value(&again).expect("serializes"), canonical);
        }
        Err(e) => panic!("canonical {canonical} of {body} is refused: {e}"),
    }
    let policies = [policy];
    for (account, source) in WORLDS.iter() {
        check_agreement(&policies, account, source, data);
    }
}
