//! The permission names the server itself acts on, and who may hand out a
//! permission. The catalogue (built in and custom) lives in storage; these
//! are the ones that open the admin API.

use std::collections::BTreeSet;

use super::accounts::Ctx;
use crate::audit::Actor;
use crate::scim::ScimError;

/// User management, permanent delete included; may grant anything.
pub const USER_ADMIN: &str = "USER_ADMIN";
/// IAMs, their settings and SCIM tokens; subscriptions; usage metrics.
pub const APPLICATION_ADMIN: &str = "APPLICATION_ADMIN";
/// Reads accounts and governance reports.
pub const GOVERNANCE: &str = "GOVERNANCE";
/// Reads the audit log.
pub const AUDIT: &str = "AUDIT";

/// Permissions that change who holds what (grants, IAM settings, SCIM
/// tokens): an identity provider that is not the admins' source may not
/// change the identity of an account holding one.
pub const POWER_PERMISSIONS: [&str; 2] = [USER_ADMIN, APPLICATION_ADMIN];

impl Ctx {
    /// Whether this caller may grant (or withdraw) `permission` through
    /// anything that maps to it: direct grants, an IAM's default
    /// permissions, a group mapping. Nobody hands out what they do not
    /// hold, except a USER_ADMIN and the operator at the host's command
    /// line.
    pub fn may_grant(&self, permission: &str) -> bool {
        match (&self.actor, &self.held) {
            (Actor::Cli, _) => true,
            (_, Some(held)) => held.contains(USER_ADMIN) || held.contains(permission),
            (_, None) => false,
        }
    }

    /// 403 unless the caller may grant each of these permissions.
    pub fn require_grant<'a>(
        &self,
        permissions: impl IntoIterator<Item = &'a String>,
    ) -> std::result::Result<(), ScimError> {
        let missing: BTreeSet<&str> = permissions
            .into_iter()
            .map(String::as_str)
            .filter(|p| !self.may_grant(p))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = missing.into_iter().collect();
        Err(ScimError::new(
            403,
            None,
            format!(
                "granting or withdrawing {} needs that permission yourself, or USER_ADMIN",
                names.join(", ")
            ),
        ))
    }
}
