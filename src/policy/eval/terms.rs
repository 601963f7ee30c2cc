//! The truth of one expression or one set of circumstances, with the
//! reasons when asked for (`why`). Without `why` nothing is allocated and
//! `AND`/`OR` stop at the first operand that settles them: that is the
//! path bulk recomputation takes.

use std::collections::BTreeSet;

use super::{Account, AttributeSource, DataSource};
use crate::policy::lang::{Expr, Scope};
use crate::policy::model::{Circumstance, Operator, Policy};
use crate::policy::tags::within;

/// Reasons being collected, or not.
pub(super) type Why<'w> = Option<&'w mut Vec<String>>;

/// What a condition is evaluated against.
#[derive(Clone, Copy)]
pub(super) struct Facts<'a> {
    pub account: &'a Account,
    pub source: &'a DataSource,
}

impl<'a> Facts<'a> {
    fn tags(&self, scope: Scope) -> &'a BTreeSet<String> {
        match scope {
            Scope::DataSource => &self.source.tags,
            Scope::Column => &self.source.column_tags,
        }
    }
}

fn say(why: &mut Why, reason: impl FnOnce() -> String) {
    if let Some(w) = why {
        w.push(reason());
    }
}

/// `all` (AND) or any (OR) of `items`. With reasons, every item is
/// evaluated and the reasons kept are those of the items that agree with
/// the result: all of them when AND holds, the failing ones when it does
/// not; the holding ones when OR holds, all of them when it does not.
fn combine<T>(items: &[T], all: bool, why: Why, mut eval: impl FnMut(&T, Why) -> bool) -> bool {
    let Some(why) = why else {
        return if all {
            items.iter().all(|i| eval(i, None))
        } else {
            items.iter().any(|i| eval(i, None))
        };
    };
    let results: Vec<(bool, Vec<String>)> = items
        .iter()
        .map(|i| {
            let mut reasons = Vec::new();
            (eval(i, Some(&mut reasons)), reasons)
        })
        .collect();
    let out = if all {
        results.iter().all(|(b, _)| *b)
    } else {
        results.iter().any(|(b, _)| *b)
    };
    for (_, reasons) in results.into_iter().filter(|(b, _)| *b == out) {
        why.extend(reasons);
    }
    out
}

/// Whether the account satisfies `expr` on this data source. `NOT` keeps
/// its operand's reasons: they already say what is or is not there.
pub(super) fn holds(expr: &Expr, facts: Facts, mut why: Why) -> bool {
    match expr {
        Expr::Not(inner) => !holds(inner, facts, why),
        Expr::And(items) => combine(items, true, why, |e, w| holds(e, facts, w)),
        Expr::Or(items) => combine(items, false, why, |e, w| holds(e, facts, w)),
        Expr::HasAttribute { name, value } => {
            match facts
                .account
                .attributes
                .get(name)
                .and_then(|v| v.get(value))
            {
                Some(sources) => {
                    say(&mut why, || {
                        format!("attribute {name}={value} ({})", sourced(sources))
                    });
                    true
                }
                None => {
                    say(&mut why, || format!("no attribute {name}={value}"));
                    false
                }
            }
        }
        Expr::IsInGroups(groups) => {
            let member = |g: &&String| facts.account.groups.contains(*g);
            let ok = groups.iter().all(|g| member(&g));
            if let Some(w) = why {
                // All of them when it holds, the missing ones when not.
                w.extend(groups.iter().filter(|g| member(g) == ok).map(|g| {
                    if ok {
                        format!("member of group {g}")
                    } else {
                        format!("not a member of group {g}")
                    }
                }));
            }
            ok
        }
        Expr::HasTagAsAttribute { name, scope } => {
            let values = facts.account.attributes.get(name);
            let found = values.into_iter().flatten().find_map(|(value, sources)| {
                covered(facts.tags(*scope), value).map(|tag| (value, sources, tag))
            });
            match found {
                Some((value, sources, tag)) => say(&mut why, || {
                    format!(
                        "attribute {name}={value} ({}) matches {} {tag}",
                        sourced(sources),
                        tag_kind(*scope)
                    )
                }),
                None => say(&mut why, || {
                    format!(
                        "no value of attribute {name} matches a {}",
                        tag_kind(*scope)
                    )
                }),
            }
            found.is_some()
        }
        Expr::HasTagAsGroup(scope) => {
            let found = facts
                .account
                .groups
                .iter()
                .find_map(|g| covered(facts.tags(*scope), g).map(|tag| (g, tag)));
            match found {
                Some((group, tag)) => say(&mut why, || {
                    format!(
                        "member of group {group}, which matches {} {tag}",
                        tag_kind(*scope)
                    )
                }),
                None => say(&mut why, || {
                    format!("member of no group that matches a {}", tag_kind(*scope))
                }),
            }
            found.is_some()
        }
    }
}

/// Whether `expr`'s truth may depend on the data source's tags (it names
/// `@hasTagAsAttribute` or `@hasTagAsGroup`); otherwise it depends on the
/// account alone.
pub(super) fn uses_tags(expr: &Expr) -> bool {
    match expr {
        Expr::HasTagAsAttribute { .. } | Expr::HasTagAsGroup(_) => true,
        Expr::HasAttribute { .. } | Expr::IsInGroups(_) => false,
        Expr::Not(inner) => uses_tags(inner),
        Expr::And(items) | Expr::Or(items) => items.iter().any(uses_tags),
    }
}

/// The first of `tags` within `ancestor`.
fn covered<'t>(tags: &'t BTreeSet<String>, ancestor: &str) -> Option<&'t str> {
    tags.iter()
        .map(String::as_str)
        .find(|t| within(t, ancestor))
}

fn tag_kind(scope: Scope) -> &'static str {
    match scope {
        Scope::DataSource => "data source tag",
        Scope::Column => "column tag",
    }
}

fn sourced(sources: &[AttributeSource]) -> String {
    let texts: Vec<String> = sources.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// Whether `policy`'s circumstances match the data source (staged or not:
/// the caller decides what staging means).
pub fn applies(policy: &Policy, source: &DataSource) -> bool {
    applies_why(policy, source, None)
}

pub(super) fn applies_why(policy: &Policy, source: &DataSource, why: Why) -> bool {
    let all = policy.circumstance_operator == Operator::All;
    combine(&policy.circumstances, all, why, |c, w| {
        circumstance(c, source, w)
    })
}

fn circumstance(c: &Circumstance, source: &DataSource, mut why: Why) -> bool {
    // `yes` names what carries the tag, `no` what does not ("data source
    // not", "no column").
    let mut tagged = |tags: &BTreeSet<String>, tag: &str, yes: &str, no: &str| {
        let found = covered(tags, tag);
        say(&mut why, || match found {
            Some(t) if t == tag => format!("{yes} tagged {tag}"),
            Some(t) => format!("{yes} tagged {t}, within {tag}"),
            None => format!("{no} tagged {tag} or below it"),
        });
        found.is_some()
    };
    match c {
        Circumstance::Tags { tag } => tagged(&source.tags, tag, "data source", "data source not"),
        Circumstance::ColumnTags { tag } => {
            tagged(&source.column_tags, tag, "a column", "no column")
        }
        Circumstance::AnyTag | Circumstance::NoTags => {
            let untagged = source.tags.is_empty() && source.column_tags.is_empty();
            say(&mut why, || {
                if untagged {
                    "neither the data source nor a column has tags".to_owned()
                } else {
                    "the data source or a column has tags".to_owned()
                }
            });
            untagged == (*c == Circumstance::NoTags)
        }
        Circumstance::All => {
            say(&mut why, || "applies to every data source".to_owned());
            true
        }
    }
}
