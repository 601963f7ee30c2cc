use proptest::prelude::*;
use serde_json::{Value, json};

use crate::policy::lang::{ErrorKind, Expr};
use crate::policy::model::{Access, Circumstance, Operator, RuleForm};
use crate::policy::{Policy, PolicyError};

/// The example of issue 18 item 3, which gives both `entitlements` and
/// `advanced`.
fn issue_example() -> Value {
    json!({"policyKey": "dev-only", "name": "Dev data only", "staged": false,
     "circumstanceOperator": "any",
     "circumstances": [{"type": "tags", "tag": "Environment.Dev"}],
     "actions": {
       "type": "entitlements",
       "entitlements": {"operator": "any",
                        "groups": ["Engineers"],
                        "attributes": [{"name": "Environment", "value": "Dev"}]},
       "advanced": "@hasAttribute('Environment','Dev') AND @isInGroups('Engineers')",
       "approvals": [{"requiredPermission": "GOVERNANCE"}],
       "automaticSubscription": true,
       "shareResponsibility": false}})
}

pub(super) fn valid() -> Value {
    let mut v = issue_example();
    v["actions"].as_object_mut().unwrap().remove("advanced");
    v
}

pub(super) fn refused(v: &Value) -> PolicyError {
    match Policy::parse(v) {
        Ok(p) => panic!("{v} parsed as {p:?}"),
        Err(e) => e,
    }
}

/// Parses, and checks that the canonical form parses to the same policy
/// and prints the same again.
fn canonical(v: &Value) -> (Policy, Value) {
    let policy = Policy::parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
    let out = serde_json::to_value(&policy).unwrap();
    let again = Policy::parse(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
    assert_eq!(again, policy);
    assert_eq!(serde_json::to_value(&again).unwrap(), out);
    (policy, out)
}

#[test]
fn the_issue_example_is_refused_for_giving_both_forms() {
    let e = refused(&issue_example());
    assert_eq!(
        e.to_string(),
        "actions.advanced: give either entitlements or advanced, not both"
    );
    assert_eq!(e.path(), "actions.advanced");
}

#[test]
fn the_entitlements_form_reads_and_writes_back_the_same() {
    let (policy, out) = canonical(&valid());
    assert_eq!(out, valid());
    assert_eq!(policy.policy_key, "dev-only");
    assert_eq!(
        policy.circumstances,
        [Circumstance::Tags {
            tag: "Environment.Dev".into()
        }]
    );
    let Access::Entitlements { rule, .. } = &policy.actions.access else {
        panic!("{policy:?}")
    };
    // Any of the group and the attribute value, as one expression.
    assert_eq!(
        rule.expr().to_string(),
        "@isInGroups('Engineers') OR @hasAttribute('Environment', 'Dev')"
    );
}

#[test]
fn the_advanced_form_keeps_the_authors_text() {
    let mut v = valid();
    let actions = v["actions"].as_object_mut().unwrap();
    actions.remove("entitlements");
    actions.insert(
        "advanced".into(),
        json!("@hasAttribute('Environment','Dev')  and NOT @isInGroups('Contractors')"),
    );
    let (policy, out) = canonical(&v);
    assert_eq!(out["actions"]["advanced"], v["actions"]["advanced"]);
    let Access::Entitlements { rule, .. } = &policy.actions.access else {
        panic!("{policy:?}")
    };
    assert!(matches!(rule.form, RuleForm::Advanced(_)));
    assert!(matches!(rule.expr(), Expr::And(items) if items.len() == 2));
}

#[test]
fn defaults_are_spelled_out() {
    let (policy, out) = canonical(&json!({
        "policyKey": "all-open", "name": "Open data",
        "circumstances": [{"type": "all"}],
        "actions": {"type": "anyone"}
    }));
    assert_eq!(
        out,
        json!({"policyKey": "all-open", "name": "Open data", "staged": false,
               "circumstanceOperator": "any", "circumstances": [{"type": "all"}],
               "actions": {"type": "anyone", "automaticSubscription": true,
                           "shareResponsibility": false}})
    );
    assert_eq!(policy.circumstance_operator, Operator::Any);
    // Null is absent.
    let (_, out) = canonical(&json!({
        "policyKey": "x", "name": "X", "staged": null, "circumstanceOperator": null,
        "circumstances": [{"type": "noTags", "tag": null}],
        "actions": {"type": "manual", "advanced": null, "automaticSubscription": null}
    }));
    assert_eq!(out["actions"]["automaticSubscription"], false);
    let (_, out) = canonical(&json!({
        "policyKey": "ask", "name": "Ask", "circumstances": [{"type": "anyTag"}],
        "actions": {"type": "approval", "approvals": [{"requiredPermission": "GOVERNANCE"}],
                    "shareResponsibility": true}
    }));
    assert_eq!(
        out["actions"]["approvals"],
        json!([{"requiredPermission": "GOVERNANCE"}])
    );
    assert_eq!(out["actions"]["automaticSubscription"], false);
}

#[test]
fn an_advanced_expression_that_does_not_parse_says_where() {
    let mut v = valid();
    let actions = v["actions"].as_object_mut().unwrap();
    actions.remove("entitlements");
    actions.insert("advanced".into(), json!("@isInGroups('a') AND"));
    let e = refused(&v);
    assert_eq!(
        e.to_string(),
        "actions.advanced: at column 21: expected a function (@hasAttribute, @isInGroups, @hasTagAsAttribute, @hasTagAsGroup), NOT or '(', found end of input"
    );
    let PolicyError::Advanced(parse) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(parse.offset, 20);

    let huge = vec!["@isInGroups('g')"; 10_000].join(" AND ");
    v["actions"]["advanced"] = json!(huge);
    let PolicyError::Advanced(parse) = refused(&v) else {
        panic!()
    };
    assert_eq!(parse.kind, ErrorKind::TooLong);
}

fn circumstance() -> impl Strategy<Value = Value> {
    let tag = "[A-Z][a-z]{0,5}(\\.[A-Z][a-z]{0,5}){0,2}";
    prop_oneof![
        tag.prop_map(|t| json!({"type": "tags", "tag": t})),
        tag.prop_map(|t| json!({"type": "columnTags", "tag": t})),
        Just(json!({"type": "anyTag"})),
        Just(json!({"type": "noTags"})),
        Just(json!({"type": "all"})),
    ]
}

fn actions() -> impl Strategy<Value = Value> {
    let names = prop::collection::vec("[A-Za-z][A-Za-z ]{0,8}", 0..3);
    let attrs = prop::collection::vec(("[A-Z][a-z]{0,5}", "[A-Za-z0-9]{1,5}"), 0..3);
    let entitlements = (any::<bool>(), names, attrs)
        .prop_filter("one group or attribute", |(_, g, a)| !g.is_empty() || !a.is_empty())
        .prop_map(|(all, groups, attrs)| {
            let attributes: Vec<Value> = attrs
                .into_iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect();
            json!({"type": "entitlements", "entitlements": {
                "operator": if all { "all" } else { "any" }, "groups": groups, "attributes": attributes}})
        });
    let base = prop_oneof![
        Just(json!({"type": "anyone"})),
        Just(json!({"type": "manual"})),
        Just(json!({"type": "approval", "approvals": [{"requiredPermission": "GOVERNANCE"}]})),
        Just(
            json!({"type": "entitlements", "advanced": "NOT @hasTagAsGroup('column') or @isInGroups('a','b')"})
        ),
        Just(
            json!({"type": "entitlements", "advanced": "@hasTagAsAttribute('Dept', 'dataSource')",
                    "approvals": [{"requiredPermission": "OWNER_2"}, {"requiredPermission": "GOVERNANCE"}]})
        ),
        entitlements,
    ];
    (base, any::<bool>()).prop_map(|(mut a, shared)| {
        a["shareResponsibility"] = json!(shared);
        a
    })
}

proptest! {
    #[test]
    fn valid_documents_reach_a_fixed_point(
        key in "[a-z0-9][a-z0-9_-]{0,20}",
        staged in any::<bool>(),
        all in any::<bool>(),
        circumstances in prop::collection::vec(circumstance(), 1..4),
        actions in actions(),
    ) {
        let doc = json!({"policyKey": key, "name": "Generated", "staged": staged,
            "circumstanceOperator": if all { "all" } else { "any" },
            "circumstances": circumstances, "actions": actions});
        canonical(&doc);
    }
}
