//! The combination of issue 18 item 4, rule by rule, and a property test
//! holding `decide` and `evaluate` to each other and to the rules.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::eval::{account, policy, source};
use crate::policy::eval::Outcome;
use crate::policy::{
    AccountState, Decider, Decision, Mode, Policy, PolicyResult, decide, evaluate,
};

/// What a test policy does to the test account (a member of `in`, not of
/// `out`) on a data source tagged `T`.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Admits,
    Refuses,
    Approval,
    Manual,
    /// Refuses, but with approvals: an account it does not admit may ask.
    RefusesOrApproval,
    /// Admits where one of the account's groups covers a tag of the data
    /// source: its outcome depends on the data source.
    TagAsGroup,
}

fn make(key: &str, kind: Kind, shared: bool, staged: bool, tag: &str) -> Policy {
    let actions = match kind {
        Kind::Admits => json!({"type": "entitlements", "entitlements": {"groups": ["in"]}}),
        Kind::Refuses => json!({"type": "entitlements", "entitlements": {"groups": ["out"]}}),
        Kind::Approval => {
            json!({"type": "approval", "approvals": [{"requiredPermission": "GOVERNANCE"}]})
        }
        Kind::Manual => json!({"type": "manual"}),
        Kind::RefusesOrApproval => json!({"type": "entitlements", "advanced": "@isInGroups('out')",
                                         "approvals": [{"requiredPermission": "OWNER"}]}),
        Kind::TagAsGroup => {
            json!({"type": "entitlements", "advanced": "@hasTagAsGroup('dataSource')"})
        }
    };
    let mut actions: Value = actions;
    actions["shareResponsibility"] = json!(shared);
    policy(json!({"policyKey": key, "name": key, "staged": staged,
                  "circumstances": [{"type": "tags", "tag": tag}], "actions": actions}))
}

fn required(key: &str, kind: Kind) -> Policy {
    make(key, kind, false, false, "T")
}

fn shared(key: &str, kind: Kind) -> Policy {
    make(key, kind, true, false, "T")
}

fn decision(policies: &[Policy]) -> Decision {
    let (a, ds) = (account(&[], &["in"]), source(&["T"], &[]));
    let d = decide(policies, &a, &ds).decision;
    assert_eq!(evaluate(policies, &a, &ds).decision, d);
    d
}

use Kind::*;

/// Each case: the policies that apply, as (required?, kind), and the
/// decision.
fn check(cases: &[(&[(bool, Kind)], Decision)]) {
    for (specs, expected) in cases {
        let policies: Vec<Policy> = specs
            .iter()
            .enumerate()
            .map(|(i, (req, kind))| {
                let key = format!("p{i}");
                if *req {
                    required(&key, *kind)
                } else {
                    shared(&key, *kind)
                }
            })
            .collect();
        assert_eq!(decision(&policies), *expected, "{specs:?}");
    }
}

const R: bool = true;
const S: bool = false;

#[test]
fn every_required_policy_must_admit() {
    check(&[
        (&[(R, Admits)], Decision::Subscribe),
        (&[(R, Admits), (R, Admits)], Decision::Subscribe),
        (&[(R, Admits), (R, Refuses)], Decision::Deny),
        // The worst required outcome counts: deny > manual > approval.
        (&[(R, Admits), (R, Approval)], Decision::Approval),
        (&[(R, Approval), (R, Manual)], Decision::Manual),
        (&[(R, Manual), (R, Refuses)], Decision::Deny),
    ]);
}

#[test]
fn one_shared_policy_must_admit_when_any_applies() {
    check(&[
        (&[(S, Refuses), (S, Admits)], Decision::Subscribe),
        (&[(S, Refuses), (S, Refuses)], Decision::Deny),
        // The best shared outcome counts: approval < manual < deny.
        (&[(S, Refuses), (S, Approval)], Decision::Approval),
        (&[(S, Manual), (S, Approval)], Decision::Approval),
        (&[(S, Manual), (S, Refuses)], Decision::Manual),
    ]);
}

#[test]
fn required_and_shared_together_take_the_worse() {
    check(&[
        (&[(R, Admits), (S, Admits)], Decision::Subscribe),
        (&[(R, Admits), (S, Refuses)], Decision::Deny),
        (&[(R, Refuses), (S, Admits)], Decision::Deny),
        (&[(R, Approval), (S, Admits)], Decision::Approval),
        (&[(R, Approval), (S, Manual)], Decision::Manual),
    ]);
    let (a, ds) = (account(&[], &["in"]), source(&["T"], &[]));
    let ev = evaluate(
        &[
            required("r", Admits),
            shared("s", Refuses),
            shared("t", Refuses),
        ],
        &a,
        &ds,
    );
    assert_eq!(
        ev.because,
        [
            "required policy r admits the account",
            "no shared policy admits the account (s, t)"
        ]
    );
}

#[test]
fn action_types() {
    let anyone = policy(json!({"policyKey": "open", "name": "Open",
        "circumstances": [{"type": "all"}], "actions": {"type": "anyone"}}));
    assert_eq!(decision(&[anyone]), Decision::Subscribe);
    assert_eq!(decision(&[required("a", Approval)]), Decision::Approval);
    assert_eq!(decision(&[required("a", Manual)]), Decision::Manual);
    // An entitlements policy with approvals turns a refusal into approval.
    assert_eq!(
        decision(&[required("a", RefusesOrApproval)]),
        Decision::Approval
    );
    let (a, ds) = (account(&[], &["in"]), source(&["T"], &[]));
    let ev = evaluate(&[required("a", RefusesOrApproval)], &a, &ds);
    assert_eq!(
        ev.policies[0].because,
        [
            "not a member of group out",
            "access needs the approval of a holder of OWNER"
        ]
    );
    assert!(!ev.policies[0].matched);
    // Approval and manual policies never subscribe automatically.
    assert!(!required("a", Approval).actions.automatic_subscription);
    assert!(!required("a", Manual).actions.automatic_subscription);
}

#[test]
fn no_applicable_policy_is_no_policy_and_staged_ones_do_not_count() {
    assert_eq!(decision(&[]), Decision::NoPolicy);
    assert_eq!(
        decision(&[make("elsewhere", Refuses, false, false, "U")]),
        Decision::NoPolicy
    );
    let staged = make("staged", Refuses, false, true, "T");
    assert_eq!(decision(std::slice::from_ref(&staged)), Decision::NoPolicy);
    assert_eq!(
        decision(&[staged.clone(), required("a", Admits)]),
        Decision::Subscribe
    );
    let (a, ds) = (account(&[], &["in"]), source(&["T"], &[]));
    let ev = evaluate(&[staged, required("a", Admits)], &a, &ds);
    assert_eq!(ev.policies.len(), 1, "a staged policy is not reported");
    let ev = evaluate(&[make("elsewhere", Refuses, false, false, "U")], &a, &ds);
    assert_eq!(ev.because, ["no active policy applies to this data source"]);
    assert_eq!(
        ev.policies.len(),
        1,
        "a policy that does not apply is reported"
    );
}

#[test]
fn an_account_that_is_not_active_is_denied_whatever_the_policies() {
    let ds = source(&["T"], &[]);
    for (state, reason) in [
        (
            AccountState::Disabled,
            "an administrator disabled the account",
        ),
        (
            AccountState::Deprovisioned,
            "the identity provider deprovisioned the account",
        ),
        (
            AccountState::Inactive,
            "the identity provider set the account inactive",
        ),
    ] {
        let mut a = account(&[], &["in"]);
        a.state = state;
        for policies in [
            vec![],
            vec![required("a", Admits)],
            vec![shared("s", Approval)],
        ] {
            let ev = evaluate(&policies, &a, &ds);
            assert_eq!(ev.decision, Decision::Deny, "{state:?} {policies:?}");
            assert_eq!(ev.because[0], reason);
            assert_eq!(decide(&policies, &a, &ds).decision, Decision::Deny);
        }
    }
}

#[test]
fn outcomes_rank_from_subscribe_to_deny() {
    assert!(Outcome::Subscribe < Outcome::Approval);
    assert!(Outcome::Approval < Outcome::Manual);
    assert!(Outcome::Manual < Outcome::Deny);
}

/// The rules, stated another way: the decision is the least severe one
/// that every applicable required policy is at most, and that some
/// applicable shared policy (if there is one) is at most.
fn by_the_rules(state: AccountState, results: &[PolicyResult]) -> Decision {
    if state != AccountState::Active {
        return Decision::Deny;
    }
    let applicable: Vec<&PolicyResult> = results.iter().filter(|r| r.applies).collect();
    if applicable.is_empty() {
        return Decision::NoPolicy;
    }
    let at_most = |r: &&PolicyResult, d: Outcome| r.outcome.expect("applies") <= d;
    let candidates = [
        Outcome::Subscribe,
        Outcome::Approval,
        Outcome::Manual,
        Outcome::Deny,
    ];
    let found = candidates.into_iter().find(|&d| {
        let (req, shr): (Vec<_>, Vec<_>) =
            applicable.iter().partition(|r| r.mode == Mode::Required);
        req.iter().all(|r| at_most(r, d)) && (shr.is_empty() || shr.iter().any(|r| at_most(r, d)))
    });
    found.expect("deny bounds every outcome").into()
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Admits),
        Just(Refuses),
        Just(Approval),
        Just(Manual),
        Just(RefusesOrApproval),
        Just(TagAsGroup)
    ]
}

fn state() -> impl Strategy<Value = AccountState> {
    prop_oneof![
        4 => Just(AccountState::Active),
        1 => Just(AccountState::Disabled),
        1 => Just(AccountState::Inactive),
    ]
}

fn tag_set() -> impl Strategy<Value = std::collections::BTreeSet<String>> {
    prop::collection::btree_set(
        prop_oneof![Just("T"), Just("T.a"), Just("U"), Just("V")].prop_map(str::to_owned),
        0..3,
    )
}

proptest! {
    #[test]
    fn decide_and_evaluate_agree_and_follow_the_rules(
        specs in prop::collection::vec((kind(), any::<bool>(), prop::bool::weighted(0.2), prop_oneof![Just("T"), Just("T.a"), Just("U")]), 0..6),
        state in state(),
        tags in tag_set(),
        others in prop::collection::vec(tag_set(), 0..4),
        automatic in prop::collection::vec(any::<bool>(), 6),
    ) {
        let policies: Vec<Policy> = specs.iter().enumerate()
            .map(|(i, (k, sh, st, tag))| make(&format!("p{i}"), *k, *sh, *st, tag))
            .collect();
        let mut policies = policies;
        for (p, auto) in policies.iter_mut().zip(automatic) {
            p.actions.automatic_subscription = auto;
        }
        let mut a = account(&[], &["in", "U"]);
        a.state = state;
        let ds = crate::policy::DataSource { tags, column_tags: Default::default() };
        // The decider, over this data source and others, agrees with
        // `decide` on each.
        let mut all = vec![ds.clone()];
        all.extend(others.into_iter().map(|tags| crate::policy::DataSource { tags, column_tags: Default::default() }));
        let decider = Decider::new(&policies, &all);
        for (s, got) in all.iter().zip(decider.automatic(&policies, &all, &a)) {
            prop_assert_eq!(decide(&policies, &a, s).automatic_policies, got);
        }
        let ev = evaluate(&policies, &a, &ds);
        let verdict = decide(&policies, &a, &ds);
        prop_assert_eq!(verdict.decision, ev.decision);
        prop_assert_eq!(verdict.automatic_policies, ev.automatic_policies.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(ev.decision, by_the_rules(state, &ev.policies));
        prop_assert_eq!(ev.policies.len(), policies.iter().filter(|p| !p.staged).count());
        for r in &ev.policies {
            prop_assert_eq!(r.matched, r.outcome == Some(Outcome::Subscribe));
            prop_assert_eq!(r.applies, r.outcome.is_some());
        }
        if ev.decision != Decision::Subscribe {
            prop_assert!(ev.automatic_policies.is_empty());
        }
    }
}
