//! Evaluation, pure: what the caller read about one account and one data
//! source goes in ([`Account`], [`DataSource`]), a decision with its
//! reasons comes out ([`evaluate`]), or just the decision for bulk work
//! ([`decide`]). The rules are in the module documentation of
//! [`crate::policy`].

mod decision;
mod terms;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

pub use decision::{
    Decider, Decision, Evaluation, Mode, Outcome, PolicyResult, Verdict, decide, evaluate,
};
pub use terms::applies;

/// Whether the account may be admitted at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AccountState {
    Active,
    /// `active: false` at its identity provider.
    Inactive,
    /// Disabled by an administrator here.
    Disabled,
    /// Deleted by its identity provider, kept here detached.
    Deprovisioned,
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccountState::Active => "the account is active",
            AccountState::Inactive => "the identity provider set the account inactive",
            AccountState::Disabled => "an administrator disabled the account",
            AccountState::Deprovisioned => "the identity provider deprovisioned the account",
        })
    }
}

/// Where an attribute value of an account comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttributeSource {
    /// The identity provider's document, through the IAM's
    /// `attributeMapping` (from this SCIM path, when the caller knows it).
    IdentityProvider { path: Option<String> },
    /// Set by an administrator on the account.
    Managed,
    /// Inherited from a group the account is in (the group's name).
    Group(String),
}

impl fmt::Display for AttributeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeSource::IdentityProvider { path: None } => {
                f.write_str("identity provider, via attributeMapping")
            }
            AttributeSource::IdentityProvider { path: Some(p) } => {
                write!(f, "identity provider, via attributeMapping of {p}")
            }
            AttributeSource::Managed => f.write_str("managed"),
            AttributeSource::Group(g) => write!(f, "inherited from group {g}"),
        }
    }
}

/// On the wire, the sentence.
impl Serialize for AttributeSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An account as policies see it: its effective groups (by name) and
/// effective attributes (name → value → where the value comes from).
/// `permissions` are reported back in an evaluation's inputs; no rule
/// reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub state: AccountState,
    pub groups: BTreeSet<String>,
    pub attributes: BTreeMap<String, BTreeMap<String, Vec<AttributeSource>>>,
    pub permissions: BTreeSet<String>,
}

impl Account {
    /// An account with no groups, attributes or permissions yet.
    pub fn new(state: AccountState) -> Account {
        Account {
            state,
            groups: BTreeSet::new(),
            attributes: BTreeMap::new(),
            permissions: BTreeSet::new(),
        }
    }

    /// Records that the account holds `name=value` from `source` (once per
    /// source).
    pub fn add_attribute(&mut self, name: &str, value: &str, source: AttributeSource) {
        let sources = self
            .attributes
            .entry(name.to_owned())
            .or_default()
            .entry(value.to_owned())
            .or_default();
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
}

/// A data source as policies see it: the tags on it, and the tags on any
/// of its columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSource {
    pub tags: BTreeSet<String>,
    pub column_tags: BTreeSet<String>,
}
