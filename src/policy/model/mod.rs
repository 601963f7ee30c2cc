//! The global subscription policy document: its types, validated from
//! JSON by [`Policy::parse`] (in `parse.rs`), written back in canonical
//! form (camelCase, every default spelled out) by `Serialize`.
//!
//! Validation is strict, as a demanding operator wants: an unknown field
//! anywhere is refused and named (a misspelled `shareResponsibilty` must
//! not silently make a policy Always Required), and so are contradictions
//! (`entitlements` and `advanced` together, `approvals` on a policy that
//! needs none, `automaticSubscription: true` on an approval or manual
//! policy). `approvals` belong to an approval policy (at least one) and
//! may be given on an entitlements policy too: there, as Immuta's "Request
//! Approval to Access", an account the rule does not admit may still be
//! approved instead of being denied. Defaults: `staged` false, `circumstanceOperator` `any`,
//! `shareResponsibility` false, `automaticSubscription` true for `anyone`
//! and `entitlements` policies and false for the others.

mod parse;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::lang::{Expr, ParseError};

pub use parse::{MAX_APPROVALS, MAX_CIRCUMSTANCES, MAX_ENTITLEMENTS, MAX_POLICY_KEY};

/// A global subscription policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Its name in URLs and in a subscription's source (`policy:<key>`):
    /// 1 to [`MAX_POLICY_KEY`] of `a-z`, `0-9`, `-`, `_`, starting with a
    /// letter or digit.
    pub policy_key: String,
    pub name: String,
    /// Staged: kept, shown, and taking no part in any decision.
    pub staged: bool,
    pub circumstance_operator: Operator,
    pub circumstances: Vec<Circumstance>,
    pub actions: Actions,
}

/// How several conditions combine: `any` (at least one) or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    Any,
    All,
}

/// Where a policy applies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Circumstance {
    /// The data source carries the tag or one below it.
    Tags { tag: String },
    /// A column of the data source carries the tag or one below it.
    ColumnTags { tag: String },
    /// The data source or one of its columns carries some tag.
    AnyTag,
    /// Neither the data source nor any column carries a tag.
    NoTags,
    /// Every data source.
    All,
}

/// What a policy asks of an account, and how it takes part in decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actions {
    pub access: Access,
    /// The accounts it admits are subscribed without asking.
    pub automatic_subscription: bool,
    /// Share Responsibility (true) or Always Required (false).
    pub share_responsibility: bool,
}

/// The four kinds of subscription policy (`actions.type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Everyone is admitted.
    Anyone,
    /// Access is granted by an approver holding one of these permissions.
    Approval(Vec<Approval>),
    /// Accounts that satisfy the rule are admitted; the others may be
    /// approved by a holder of one of `approvals` (when there are any), or
    /// are denied.
    Entitlements {
        rule: Rule,
        approvals: Vec<Approval>,
    },
    /// Only subscriptions added by hand.
    Manual,
}

impl Access {
    /// Its `actions.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Access::Anyone => "anyone",
            Access::Approval(_) => "approval",
            Access::Entitlements { .. } => "entitlements",
            Access::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub required_permission: String,
}

/// An entitlements policy's condition, as written and as evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub form: RuleForm,
    /// The form as one expression: what evaluation reads.
    expr: Expr,
}

/// How the condition was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleForm {
    /// The builder's form: groups and attribute values, any or all of them.
    Entitlements(Entitlements),
    /// The advanced language, as the author wrote it.
    Advanced(String),
}

impl Rule {
    pub(crate) fn new(form: RuleForm, expr: Expr) -> Rule {
        Rule { form, expr }
    }

    /// The condition evaluation reads.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entitlements {
    pub operator: Operator,
    pub groups: Vec<String>,
    pub attributes: Vec<AttributeValue>,
}

impl Entitlements {
    /// The same condition in the advanced language: one term per group and
    /// per attribute value, joined by the operator.
    pub fn to_expr(&self) -> Expr {
        let mut terms: Vec<Expr> = self
            .groups
            .iter()
            .map(|g| Expr::IsInGroups(vec![g.clone()]))
            .chain(self.attributes.iter().map(|a| Expr::HasAttribute {
                name: a.name.clone(),
                value: a.value.clone(),
            }))
            .collect();
        match (terms.len(), self.operator) {
            (1, _) => terms.remove(0),
            (_, Operator::Any) => Expr::Or(terms),
            (_, Operator::All) => Expr::And(terms),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttributeValue {
    pub name: String,
    pub value: String,
}

impl Serialize for Actions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.access.kind())?;
        let approvals = match &self.access {
            Access::Approval(approvals) => approvals.as_slice(),
            Access::Entitlements { rule, approvals } => {
                match &rule.form {
                    RuleForm::Entitlements(e) => m.serialize_entry("entitlements", e)?,
                    RuleForm::Advanced(text) => m.serialize_entry("advanced", text)?,
                }
                approvals.as_slice()
            }
            Access::Anyone | Access::Manual => &[],
        };
        if !approvals.is_empty() {
            m.serialize_entry("approvals", approvals)?;
        }
        m.serialize_entry("automaticSubscription", &self.automatic_subscription)?;
        m.serialize_entry("shareResponsibility", &self.share_responsibility)?;
        m.end()
    }
}

/// Why a policy document was refused: the field at fault (a JSON path such
/// as `circumstances[1].tag`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    Field {
        field: String,
        message: String,
    },
    /// `actions.advanced` does not parse.
    Advanced(ParseError),
}

impl PolicyError {
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
        PolicyError::Field {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The JSON path of the field at fault; empty for the document itself.
    pub fn path(&self) -> &str {
        match self {
            PolicyError::Field { field, .. } => field,
            PolicyError::Advanced(_) => "actions.advanced",
        }
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::Field { field, message } if field.is_empty() => f.write_str(message),
            PolicyError::Field { field, message } => write!(f, "{field}: {message}"),
            PolicyError::Advanced(e) => write!(f, "actions.advanced: {e}"),
        }
    }
}

impl std::error::Error for PolicyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PolicyError::Advanced(e) => Some(e),
            PolicyError::Field { .. } => None,
        }
    }
}
