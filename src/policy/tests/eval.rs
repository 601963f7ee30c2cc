//! Evaluation on examples: the seed's use case, tags and their hierarchy,
//! each function of the language, and the reasons given.

use serde_json::{Value, json};

use crate::policy::{
    Account, AccountState, AttributeSource, DataSource, Decision, Policy, decide, evaluate,
};

pub(super) fn policy(v: Value) -> Policy {
    Policy::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// An active entitlements policy on `circumstances` with an advanced rule.
pub(super) fn advanced(key: &str, circumstances: Value, rule: &str) -> Policy {
    policy(
        json!({"policyKey": key, "name": key, "circumstances": circumstances,
                  "actions": {"type": "entitlements", "advanced": rule}}),
    )
}

fn tagged(tag: &str) -> Value {
    json!([{"type": "tags", "tag": tag}])
}

/// The seed's policy: data tagged Environment.Dev, for Environment=Dev.
fn dev_only() -> Policy {
    policy(json!({"policyKey": "dev-only", "name": "Dev data only",
        "circumstances": [{"type": "tags", "tag": "Environment.Dev"}],
        "actions": {"type": "entitlements", "entitlements": {
            "attributes": [{"name": "Environment", "value": "Dev"}]}}}))
}

pub(super) fn account(attributes: &[(&str, &str)], groups: &[&str]) -> Account {
    let mut a = Account::new(AccountState::Active);
    for (name, value) in attributes {
        a.add_attribute(name, value, AttributeSource::Managed);
    }
    a.groups = groups.iter().map(|g| g.to_string()).collect();
    a
}

pub(super) fn source(tags: &[&str], column_tags: &[&str]) -> DataSource {
    DataSource {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        column_tags: column_tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn idp_account(environment: &str) -> Account {
    let mut a = Account::new(AccountState::Active);
    a.add_attribute(
        "Environment",
        environment,
        AttributeSource::IdentityProvider { path: None },
    );
    a
}

#[test]
fn the_seed_example_from_dev_to_prod_to_disabled() {
    let policies = [dev_only()];
    let dev_data = source(&["Environment.Dev"], &[]);

    let dev = idp_account("Dev");
    let e = evaluate(&policies, &dev, &dev_data);
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({
            "decision": "subscribe",
            "because": ["required policy dev-only admits the account"],
            "automaticPolicies": ["dev-only"],
            "policies": [{
                "policyKey": "dev-only", "mode": "required",
                "applies": true, "appliesBecause": ["data source tagged Environment.Dev"],
                "matched": true, "outcome": "subscribe", "automaticSubscription": true,
                "because": ["attribute Environment=Dev (identity provider, via attributeMapping)"]
            }]
        })
    );

    let prod = idp_account("Prod");
    let e = evaluate(&policies, &prod, &dev_data);
    assert_eq!(e.decision, Decision::Deny);
    assert_eq!(
        e.because,
        ["required policy dev-only does not admit the account"]
    );
    assert_eq!(e.policies[0].because, ["no attribute Environment=Dev"]);
    assert!(e.automatic_policies.is_empty());

    let mut disabled = idp_account("Dev");
    disabled.state = AccountState::Disabled;
    let e = evaluate(&policies, &disabled, &dev_data);
    assert_eq!(e.decision, Decision::Deny);
    assert_eq!(e.because[0], "an administrator disabled the account");
    // What would happen once enabled is still there.
    assert!(e.policies[0].matched);
    assert!(e.automatic_policies.is_empty());
}

#[test]
fn a_tag_circumstance_covers_the_tag_and_its_descendants() {
    let p = [advanced("env", tagged("Environment"), "@isInGroups('a')")];
    let a = account(&[], &["a"]);
    for (tags, applies, why) in [
        (&["Environment"][..], true, "data source tagged Environment"),
        (
            &["Environment.Dev"],
            true,
            "data source tagged Environment.Dev, within Environment",
        ),
        (
            &["Environment.Dev.Eu"],
            true,
            "data source tagged Environment.Dev.Eu, within Environment",
        ),
        (
            &["EnvironmentX"],
            false,
            "data source not tagged Environment or below it",
        ),
        (
            &["Env"],
            false,
            "data source not tagged Environment or below it",
        ),
        (&[], false, "data source not tagged Environment or below it"),
    ] {
        let e = evaluate(&p, &a, &source(tags, &[]));
        assert_eq!(e.policies[0].applies, applies, "{tags:?}");
        assert_eq!(
            crate::policy::eval::applies(&p[0], &source(tags, &[])),
            applies
        );
        assert_eq!(e.policies[0].applies_because, [why], "{tags:?}");
        let expected = if applies {
            Decision::Subscribe
        } else {
            Decision::NoPolicy
        };
        assert_eq!(e.decision, expected, "{tags:?}");
        if !applies {
            assert!(e.policies[0].because.is_empty() && e.policies[0].outcome.is_none());
        }
    }
    // A column's tag is not the data source's, and the other way round.
    assert_eq!(
        decide(&p, &a, &source(&[], &["Environment.Dev"])).decision,
        Decision::NoPolicy
    );
    let columns = [advanced(
        "pii",
        json!([{"type": "columnTags", "tag": "PII"}]),
        "@isInGroups('a')",
    )];
    let e = evaluate(&columns, &a, &source(&[], &["PII.Email"]));
    assert_eq!(
        e.policies[0].applies_because,
        ["a column tagged PII.Email, within PII"]
    );
    let e = evaluate(&columns, &a, &source(&["PII"], &[]));
    assert_eq!(
        e.policies[0].applies_because,
        ["no column tagged PII or below it"]
    );
}

#[test]
fn any_tag_no_tags_all_and_the_circumstance_operator() {
    let a = account(&[], &["a"]);
    let untagged = source(&[], &[]);
    let column_only = source(&[], &["X"]);
    let applies = |circumstances: Value, operator: &str, s: &DataSource| {
        let p = policy(
            json!({"policyKey": "p", "name": "p", "circumstanceOperator": operator,
            "circumstances": circumstances, "actions": {"type": "anyone"}}),
        );
        evaluate(&[p], &a, s).policies[0].applies
    };
    assert!(!applies(json!([{"type": "anyTag"}]), "any", &untagged));
    assert!(applies(json!([{"type": "anyTag"}]), "any", &column_only));
    assert!(applies(json!([{"type": "noTags"}]), "any", &untagged));
    assert!(!applies(json!([{"type": "noTags"}]), "any", &column_only));
    assert!(applies(json!([{"type": "all"}]), "any", &untagged));
    let both = json!([{"type": "tags", "tag": "A"}, {"type": "columnTags", "tag": "X"}]);
    assert!(applies(both.clone(), "any", &column_only));
    assert!(!applies(both.clone(), "all", &column_only));
    assert!(applies(both, "all", &source(&["A.B"], &["X"])));
}

#[test]
fn each_function_of_the_language_with_its_reasons() {
    let everywhere = json!([{"type": "all"}]);
    let mut a = account(&[("Department", "Marketing")], &["Engineers", "Interns"]);
    a.add_attribute(
        "Environment",
        "Dev",
        AttributeSource::Group("Engineers".into()),
    );
    a.add_attribute("Environment", "Dev", AttributeSource::Managed);
    a.add_attribute(
        "Clearance",
        "Discovered",
        AttributeSource::IdentityProvider {
            path: Some(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".into(),
            ),
        },
    );
    let ds = source(&["Marketing", "Interns.Summer"], &["Discovered.Passport"]);
    for (rule, holds, because) in [
        (
            "@hasAttribute('Environment', 'Dev')",
            true,
            vec!["attribute Environment=Dev (inherited from group Engineers; managed)"],
        ),
        (
            "@hasAttribute('Environment', 'dev')",
            false,
            vec!["no attribute Environment=dev"],
        ),
        (
            "NOT @hasAttribute('Environment', 'Prod')",
            true,
            vec!["no attribute Environment=Prod"],
        ),
        (
            "@isInGroups('Engineers', 'Interns')",
            true,
            vec!["member of group Engineers", "member of group Interns"],
        ),
        (
            "@isInGroups('Engineers', 'Admins', 'Ops')",
            false,
            vec!["not a member of group Admins", "not a member of group Ops"],
        ),
        (
            "@hasTagAsAttribute('Department', 'dataSource')",
            true,
            vec!["attribute Department=Marketing (managed) matches data source tag Marketing"],
        ),
        (
            "@hasTagAsAttribute('Department', 'column')",
            false,
            vec!["no value of attribute Department matches a column tag"],
        ),
        (
            "@hasTagAsAttribute('Clearance', 'column')",
            true,
            vec![
                "attribute Clearance=Discovered (identity provider, via attributeMapping of urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department) matches column tag Discovered.Passport",
            ],
        ),
        (
            "@hasTagAsGroup('dataSource')",
            true,
            vec!["member of group Interns, which matches data source tag Interns.Summer"],
        ),
        (
            "@hasTagAsGroup('column')",
            false,
            vec!["member of no group that matches a column tag"],
        ),
        // AND keeps the failing operands' reasons, OR the holding ones'.
        (
            "@isInGroups('Engineers') AND @hasAttribute('Environment', 'Prod') AND @isInGroups('Ops')",
            false,
            vec!["no attribute Environment=Prod", "not a member of group Ops"],
        ),
        (
            "@isInGroups('Ops') OR @hasTagAsGroup('dataSource') OR @isInGroups('Engineers')",
            true,
            vec![
                "member of group Interns, which matches data source tag Interns.Summer",
                "member of group Engineers",
            ],
        ),
        (
            "@isInGroups('Ops') OR @isInGroups('Admins')",
            false,
            vec!["not a member of group Ops", "not a member of group Admins"],
        ),
        (
            "NOT (@isInGroups('Engineers') OR @isInGroups('Ops'))",
            false,
            vec!["member of group Engineers"],
        ),
        (
            "@isInGroups('Engineers') AND @isInGroups('Engineers')",
            true,
            vec!["member of group Engineers"],
        ),
    ] {
        let p = [advanced("p", everywhere.clone(), rule)];
        let e = evaluate(&p, &a, &ds);
        assert_eq!(e.policies[0].matched, holds, "{rule}");
        assert_eq!(e.policies[0].because, because, "{rule}");
        let expected = if holds {
            Decision::Subscribe
        } else {
            Decision::Deny
        };
        assert_eq!(decide(&p, &a, &ds).decision, expected, "{rule}");
    }
}

#[test]
fn an_attribute_value_covers_the_tags_below_it_not_above() {
    let p = [advanced(
        "p",
        json!([{"type": "all"}]),
        "@hasTagAsAttribute('Clearance', 'dataSource')",
    )];
    let holds = |value: &str, tag: &str| {
        decide(
            &p,
            &account(&[("Clearance", value)], &[]),
            &source(&[tag], &[]),
        )
        .decision
            == Decision::Subscribe
    };
    assert!(holds("Discovered", "Discovered.Passport"));
    assert!(holds("Discovered.Passport", "Discovered.Passport"));
    assert!(!holds("Discovered.Passport", "Discovered"));
    assert!(!holds("Discovered.Passport", "Discovered.Entity"));
    assert!(!holds("Disc", "Discovered"));
}

#[test]
fn names_are_compared_exactly() {
    let p = [advanced(
        "p",
        tagged("Environment.Dev"),
        "@isInGroups('Engineers')",
    )];
    let ds = source(&["Environment.Dev"], &[]);
    assert_eq!(
        decide(&p, &account(&[], &["engineers"]), &ds).decision,
        Decision::Deny
    );
    assert_eq!(
        decide(
            &p,
            &account(&[], &["Engineers"]),
            &source(&["environment.dev"], &[])
        )
        .decision,
        Decision::NoPolicy
    );
}

mod generated {
    use proptest::prelude::*;

    use super::*;
    use crate::policy::lang::tests::generated::expr_with;

    /// Names, values, groups and tags from one small vocabulary, so that
    /// generated rules often match.
    fn word() -> impl Strategy<Value = String> + Clone {
        prop_oneof![Just("A"), Just("A.x"), Just("B"), Just("C")].prop_map(str::to_owned)
    }

    fn words() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(word(), 0..3)
    }

    proptest! {
        /// With and without reasons, a rule gives the same answer; and NOT
        /// turns an admission into a refusal and back.
        #[test]
        fn reasons_never_change_the_answer(
            rule in expr_with(word()),
            groups in words(),
            attributes in prop::collection::vec((word(), word()), 0..4),
            tags in words(),
            column_tags in words(),
        ) {
            let mut a = Account::new(AccountState::Active);
            a.groups = groups.into_iter().collect();
            for (name, value) in &attributes {
                a.add_attribute(name, value, AttributeSource::Managed);
            }
            let ds = DataSource {
                tags: tags.into_iter().collect(),
                column_tags: column_tags.into_iter().collect(),
            };
            let everywhere = json!([{"type": "all"}]);
            let p = [advanced("p", everywhere.clone(), &rule.to_string())];
            let ev = evaluate(&p, &a, &ds);
            prop_assert_eq!(decide(&p, &a, &ds).decision, ev.decision);
            prop_assert!(!ev.policies[0].because.is_empty());
            let negated = [advanced("n", everywhere, &format!("NOT ({rule})"))];
            let flipped = match ev.decision {
                Decision::Subscribe => Decision::Deny,
                _ => Decision::Subscribe,
            };
            prop_assert_eq!(decide(&negated, &a, &ds).decision, flipped);
        }
    }
}
