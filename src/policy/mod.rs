//! Global subscription policies (issue 18), pure: the policy document, the
//! advanced language, and the decision for one account and one data
//! source. No framework, no I/O, no clock: storage, HTTP and the directory
//! hand values in and get values out (`.ci/run` greps for imports).
//!
//! - [`lang`]: the advanced language, a hand-written lexer and bounded
//!   recursive-descent parser into [`Expr`].
//! - [`model`]: the policy document; [`Policy::parse`] validates a JSON body
//!   and names the field at fault, `Serialize` writes the canonical form.
//! - [`eval`]: which policies apply to a data source, whether they admit an
//!   account, and why ([`evaluate`], [`decide`]).
//! - [`tags`]: tag names and their dotted hierarchy.
//!
//! The rules, decided once here (docs/GOVERNANCE.md says the same for
//! operators):
//! - Names are compared exactly (case-sensitively): tags, groups, attribute
//!   names and values, as the attribute layers store them.
//! - A tag `T` covers itself and its descendants `T.…`. A `tags` or
//!   `columnTags` circumstance naming `T` applies to a data source carrying
//!   `T` or any tag below it. `@hasTagAsAttribute` and `@hasTagAsGroup` use
//!   the same rule with the account's attribute value or group name as `T`:
//!   the value `Discovered` matches the tag `Discovered.Passport`, the value
//!   `Discovered.Passport` does not match the tag `Discovered`.
//! - `anyTag` applies when the data source or one of its columns carries a
//!   tag; `noTags` when none does; `all` always.
//! - Staged policies take no part in a decision and are not reported.
//! - Each applicable policy gives its own outcome: `anyone` admits
//!   (`subscribe`); `entitlements` (or `advanced`) admits when the account
//!   satisfies it, else gives `approval` if the policy lists approvals,
//!   else `deny`; `approval` gives `approval`; `manual` gives `manual`.
//!   Outcomes rank `subscribe` < `approval` < `manual` < `deny`.
//! - Every Always Required policy (`shareResponsibility: false`) that applies
//!   must admit: their worst outcome counts. If any Share Responsibility
//!   policy applies, at least one must admit: their best outcome counts.
//!   The decision is the worse of the two; with no applicable policy it is
//!   `noPolicy`.
//! - An account that is not active (disabled by an administrator,
//!   deprovisioned, or `active: false` at its identity provider) is `deny`
//!   whatever the policies say; the policies are still evaluated and
//!   reported, so that the answer also says what would happen once enabled.

pub mod eval;
pub mod lang;
pub mod model;
pub mod tags;
#[cfg(test)]
mod tests;

pub use eval::{
    Account, AccountState, AttributeSource, DataSource, Decider, Decision, Evaluation, Mode,
    PolicyResult, decide, evaluate,
};
pub use lang::{Expr, Limits, ParseError, Scope};
pub use model::{Policy, PolicyError};

/// The longest name or value a policy or an expression may hold, in
/// characters: the attribute layers' own bound.
pub const MAX_TEXT: usize = 256;

/// A name or value of a policy (a group, an attribute name or value, a
/// policy's display name): 1 to [`MAX_TEXT`] characters, no control
/// characters, not only spaces. The message names `what`.
pub(crate) fn check_text(what: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.chars().count() > MAX_TEXT || s.chars().any(char::is_control) {
        return Err(format!(
            "{what} is 1 to {MAX_TEXT} printable characters, not only spaces"
        ));
    }
    Ok(())
}
