//! Combining the applicable policies into one decision (the rules are in
//! the documentation of [`crate::policy`]), with reasons ([`evaluate`]) or
//! without ([`decide`]).

use serde::Serialize;

use super::terms::{Facts, applies_why, holds, uses_tags};
use super::{Account, AccountState, DataSource};
use crate::policy::model::{Access, Approval, Policy};

/// The answer for one account and one data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    /// Admitted: may be subscribed (automatically where a policy says so).
    Subscribe,
    /// May ask; an approver grants.
    Approval,
    /// Only a subscription added by hand.
    Manual,
    Deny,
    /// No active policy applies to the data source.
    NoPolicy,
}

/// What one applicable policy says of the account. Declared from the most
/// to the least permissive: the derived order is the severity the
/// combination ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Subscribe,
    Approval,
    Manual,
    Deny,
}

impl From<Outcome> for Decision {
    fn from(o: Outcome) -> Decision {
        match o {
            Outcome::Subscribe => Decision::Subscribe,
            Outcome::Approval => Decision::Approval,
            Outcome::Manual => Decision::Manual,
            Outcome::Deny => Decision::Deny,
        }
    }
}

/// How a policy combines with the others that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// Always Required: it must admit.
    Required,
    /// Share Responsibility: one of the shared policies must admit.
    Shared,
}

impl Policy {
    pub fn mode(&self) -> Mode {
        if self.actions.share_responsibility {
            Mode::Shared
        } else {
            Mode::Required
        }
    }
}

/// One policy's part in an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyResult {
    pub policy_key: String,
    pub mode: Mode,
    /// Its circumstances match the data source.
    pub applies: bool,
    pub applies_because: Vec<String>,
    /// It applies and admits the account.
    pub matched: bool,
    /// What it says of the account; absent when it does not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub automatic_subscription: bool,
    /// Why it admits the account or not (empty when it does not apply).
    pub because: Vec<String>,
}

/// The decision, why, and each active policy's part in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub decision: Decision,
    pub because: Vec<String>,
    /// The keys of the policies that subscribe the account automatically:
    /// when the decision is `subscribe`, those that admit it and have
    /// `automaticSubscription`; otherwise none.
    pub automatic_policies: Vec<String>,
    /// Every active (not staged) policy, applicable or not, in the order
    /// given.
    pub policies: Vec<PolicyResult>,
}

/// The decision alone, for recomputing many accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'p> {
    pub decision: Decision,
    /// As [`Evaluation::automatic_policies`].
    pub automatic_policies: Vec<&'p str>,
}

/// One applicable policy's outcome.
struct Judged<'p> {
    policy: &'p Policy,
    outcome: Outcome,
}

/// `policy`'s outcome for an account it applies to; the reasons go to
/// `why` when asked for.
fn judge(policy: &Policy, facts: Facts, why: Option<&mut Vec<String>>) -> Outcome {
    match &policy.actions.access {
        Access::Anyone => {
            if let Some(w) = why {
                w.push("the policy admits anyone".to_owned());
            }
            Outcome::Subscribe
        }
        Access::Entitlements { rule, approvals } => {
            let mut why = why;
            if holds(rule.expr(), facts, why.as_deref_mut()) {
                Outcome::Subscribe
            } else if approvals.is_empty() {
                Outcome::Deny
            } else {
                approval(approvals, why)
            }
        }
        Access::Approval(approvals) => approval(approvals, why),
        Access::Manual => {
            if let Some(w) = why {
                w.push("subscriptions are added by hand only".to_owned());
            }
            Outcome::Manual
        }
    }
}

fn approval(approvals: &[Approval], why: Option<&mut Vec<String>>) -> Outcome {
    if let Some(w) = why {
        let by: Vec<&str> = approvals
            .iter()
            .map(|a| a.required_permission.as_str())
            .collect();
        w.push(format!(
            "access needs the approval of a holder of {}",
            by.join(" or ")
        ));
    }
    Outcome::Approval
}

fn active(policies: &[Policy]) -> impl Iterator<Item = &Policy> {
    policies.iter().filter(|p| !p.staged)
}

/// The combination: the worst outcome of the required policies and the
/// best of the shared ones, whichever is worse.
fn combine(state: AccountState, judged: &[Judged]) -> Decision {
    if state != AccountState::Active {
        return Decision::Deny;
    }
    if judged.is_empty() {
        return Decision::NoPolicy;
    }
    let of = |mode: Mode| {
        judged
            .iter()
            .filter(move |j| j.policy.mode() == mode)
            .map(|j| j.outcome)
    };
    let required = of(Mode::Required).max().unwrap_or(Outcome::Subscribe);
    let shared = of(Mode::Shared).min().unwrap_or(Outcome::Subscribe);
    required.max(shared).into()
}

fn automatic<'p>(decision: Decision, judged: &[Judged<'p>]) -> Vec<&'p str> {
    if decision != Decision::Subscribe {
        return Vec::new();
    }
    judged
        .iter()
        .filter(|j| j.outcome == Outcome::Subscribe && j.policy.actions.automatic_subscription)
        .map(|j| j.policy.policy_key.as_str())
        .collect()
}

/// The decision for `account` on `source`, without reasons.
pub fn decide<'p>(policies: &'p [Policy], account: &Account, source: &DataSource) -> Verdict<'p> {
    let facts = Facts { account, source };
    let judged: Vec<Judged> = active(policies)
        .filter(|p| applies_why(p, source, None))
        .map(|policy| Judged {
            policy,
            outcome: judge(policy, facts, None),
        })
        .collect();
    let decision = combine(account.state, &judged);
    Verdict {
        decision,
        automatic_policies: automatic(decision, &judged),
    }
}

/// The automatic part of [`decide`] for one account on many data sources
/// at once, for recomputing many accounts: which active policies apply to
/// each data source (a function of its tags alone) is worked out once, and
/// a policy whose rule does not read the data source's tags
/// (`@hasTagAsAttribute`, `@hasTagAsGroup`) is judged once per account
/// rather than once per data source. It holds positions only: it is
/// asked with the same policies and data sources it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decider {
    /// The active policies (positions among those given).
    active: Vec<usize>,
    /// For each data source, the active policies (positions in `active`)
    /// that apply to it, in the order given.
    applicable: Vec<Vec<usize>>,
    /// For each active policy, whether its outcome reads the data
    /// source's tags.
    tagged: Vec<bool>,
    /// For each data source, whether a policy that subscribes
    /// automatically applies to it: where none does, nobody is subscribed
    /// automatically, and nothing needs judging.
    automatic: Vec<bool>,
}

impl Decider {
    pub fn new(policies: &[Policy], sources: &[DataSource]) -> Self {
        let active: Vec<usize> = (0..policies.len())
            .filter(|&i| !policies[i].staged)
            .collect();
        let applicable: Vec<Vec<usize>> = sources
            .iter()
            .map(|s| {
                (0..active.len())
                    .filter(|&a| applies_why(&policies[active[a]], s, None))
                    .collect()
            })
            .collect();
        let tagged = active
            .iter()
            .map(|&i| match &policies[i].actions.access {
                Access::Entitlements { rule, .. } => uses_tags(rule.expr()),
                Access::Anyone | Access::Approval(_) | Access::Manual => false,
            })
            .collect();
        let automatic = applicable
            .iter()
            .map(|a: &Vec<usize>| {
                a.iter()
                    .any(|&a| policies[active[a]].actions.automatic_subscription)
            })
            .collect();
        Decider {
            active,
            applicable,
            tagged,
            automatic,
        }
    }

    /// For each data source, in order, what [`decide`] gives as
    /// `automatic_policies` for `account` there; `policies` and `sources`
    /// are those the decider was made from.
    pub fn automatic<'p>(
        &self,
        policies: &'p [Policy],
        sources: &[DataSource],
        account: &Account,
    ) -> Vec<Vec<&'p str>> {
        debug_assert_eq!(sources.len(), self.applicable.len());
        if account.state != AccountState::Active {
            return vec![Vec::new(); sources.len()];
        }
        let mut once: Vec<Option<Outcome>> = vec![None; self.active.len()];
        sources
            .iter()
            .zip(&self.applicable)
            .zip(&self.automatic)
            .map(|((source, applicable), &automatic_here)| {
                if !automatic_here {
                    return Vec::new();
                }
                let facts = Facts { account, source };
                let judged: Vec<Judged> = applicable
                    .iter()
                    .map(|&a| {
                        let policy = &policies[self.active[a]];
                        let outcome = if self.tagged[a] {
                            judge(policy, facts, None)
                        } else {
                            *once[a].get_or_insert_with(|| judge(policy, facts, None))
                        };
                        Judged { policy, outcome }
                    })
                    .collect();
                automatic(combine(account.state, &judged), &judged)
            })
            .collect()
    }
}

/// The decision for `account` on `source`, with each active policy's part
/// and the reasons: what the evaluate endpoint answers.
pub fn evaluate(policies: &[Policy], account: &Account, source: &DataSource) -> Evaluation {
    let facts = Facts { account, source };
    let mut judged = Vec::new();
    let results: Vec<PolicyResult> = active(policies)
        .map(|policy| {
            let mut applies_because = Vec::new();
            let applies = applies_why(policy, source, Some(&mut applies_because));
            let mut because = Vec::new();
            let outcome = applies.then(|| judge(policy, facts, Some(&mut because)));
            if let Some(outcome) = outcome {
                judged.push(Judged { policy, outcome });
            }
            dedup(&mut applies_because);
            dedup(&mut because);
            PolicyResult {
                policy_key: policy.policy_key.clone(),
                mode: policy.mode(),
                applies,
                applies_because,
                matched: outcome == Some(Outcome::Subscribe),
                outcome,
                automatic_subscription: policy.actions.automatic_subscription,
                because,
            }
        })
        .collect();
    let decision = combine(account.state, &judged);
    Evaluation {
        decision,
        because: summary(account.state, &judged),
        automatic_policies: automatic(decision, &judged)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        policies: results,
    }
}

/// Keeps the first of each repeated reason, in order.
fn dedup(reasons: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    reasons.retain(|r| seen.insert(r.clone()));
}

/// The decision's reasons, rule by rule.
fn summary(state: AccountState, judged: &[Judged]) -> Vec<String> {
    let mut out = Vec::new();
    if state != AccountState::Active {
        out.push(state.to_string());
    }
    if judged.is_empty() {
        out.push("no active policy applies to this data source".to_owned());
        return out;
    }
    for j in judged.iter().filter(|j| j.policy.mode() == Mode::Required) {
        out.push(format!(
            "required policy {} {}",
            j.policy.policy_key,
            says(j.outcome)
        ));
    }
    let shared: Vec<&Judged> = judged
        .iter()
        .filter(|j| j.policy.mode() == Mode::Shared)
        .collect();
    match shared.iter().find(|j| j.outcome == Outcome::Subscribe) {
        Some(j) => out.push(format!(
            "shared policy {} admits the account",
            j.policy.policy_key
        )),
        None if !shared.is_empty() => {
            let keys: Vec<&str> = shared
                .iter()
                .map(|j| j.policy.policy_key.as_str())
                .collect();
            out.push(format!(
                "no shared policy admits the account ({})",
                keys.join(", ")
            ));
        }
        None => {}
    }
    out
}

fn says(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Subscribe => "admits the account",
        Outcome::Approval => "needs an approval",
        Outcome::Manual => "allows only subscriptions added by hand",
        Outcome::Deny => "does not admit the account",
    }
}
