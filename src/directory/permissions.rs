//! The permission names the server itself acts on, what each kind of
//! operation needs (`may`), and who may hand out a permission. The
//! directory's methods check these themselves, so the admin API, SCIM and
//! the console cannot ask different questions; the catalogue (built in and
//! custom) lives in storage.

use std::collections::BTreeSet;

use super::accounts::Ctx;
use super::{Error, Result};
use crate::audit::Actor;

/// User management, permanent delete included; may grant anything.
pub const USER_ADMIN: &str = "USER_ADMIN";
/// IAMs, their settings and SCIM tokens; subscriptions; usage metrics.
pub const APPLICATION_ADMIN: &str = "APPLICATION_ADMIN";
/// Reads accounts and governance reports.
pub const GOVERNANCE: &str = "GOVERNANCE";
/// Reads the audit log.
pub const AUDIT: &str = "AUDIT";
/// Registers data sources.
pub const CREATE_DATA_SOURCE: &str = "CREATE_DATA_SOURCE";
/// Reads policy information: what a policy decides for an account.
pub const FETCH_POLICY_INFO: &str = "FETCH_POLICY_INFO";

/// Permissions that change who holds what (grants, IAM settings, SCIM
/// tokens): an identity provider that is not the admins' source may not
/// change the identity of an account holding one.
pub const POWER_PERMISSIONS: [&str; 2] = [USER_ADMIN, APPLICATION_ADMIN];

/// What each kind of operation needs: any one of the listed permissions.
/// The directory method doing the operation checks it (`Ctx::require`);
/// a surface uses `Ctx::may` only to decide what to show.
pub mod may {
    use super::{
        APPLICATION_ADMIN, AUDIT, CREATE_DATA_SOURCE, FETCH_POLICY_INFO, GOVERNANCE, USER_ADMIN,
    };
    /// Read accounts, groups and their members.
    pub const READ_ACCOUNTS: &[&str] = &[USER_ADMIN, GOVERNANCE];
    /// Change accounts, groups, permissions, attributes; delete, migrate.
    pub const MANAGE_ACCOUNTS: &[&str] = &[USER_ADMIN];
    /// Read and change IAMs, their settings and SCIM tokens.
    pub const MANAGE_IAMS: &[&str] = &[USER_ADMIN, APPLICATION_ADMIN];
    pub const MANAGE_SUBSCRIPTIONS: &[&str] = &[USER_ADMIN, APPLICATION_ADMIN];
    pub const READ_REPORTS: &[&str] = &[GOVERNANCE, USER_ADMIN];
    pub const READ_AUDIT: &[&str] = &[AUDIT];
    /// Create, pause, delete event streams; read and retry their
    /// deliveries.
    pub const MANAGE_EVENTS: &[&str] = &[USER_ADMIN, APPLICATION_ADMIN];
    /// Download the anonymized usage metrics.
    pub const EXPORT_METRICS: &[&str] = &[APPLICATION_ADMIN, USER_ADMIN];
    /// Report usage events (what an application integrated with the
    /// bridge does; no person's data).
    pub const REPORT_USAGE: &[&str] = &[APPLICATION_ADMIN, USER_ADMIN];
    /// Create and delete tags and global subscription policies.
    pub const GOVERN: &[&str] = &[GOVERNANCE];
    /// Register a data source.
    pub const CREATE_DATA_SOURCES: &[&str] = &[CREATE_DATA_SOURCE, GOVERNANCE];
    /// Tag, untag or delete any data source (its owners may too, their own).
    pub const MANAGE_DATA_SOURCES: &[&str] = &[GOVERNANCE];
    /// Read tags, data sources and policies.
    pub const READ_GOVERNANCE: &[&str] =
        &[GOVERNANCE, CREATE_DATA_SOURCE, FETCH_POLICY_INFO, AUDIT];
    /// Ask what the policies decide for an account and a data source.
    pub const EVALUATE_POLICIES: &[&str] = &[GOVERNANCE, AUDIT, FETCH_POLICY_INFO];
}

impl Ctx {
    /// Whether this caller holds one of these permissions: an
    /// administrator by its effective permissions, the operator at the
    /// host's command line always, an identity provider never.
    pub fn may(&self, any_of: &[&str]) -> bool {
        match (&self.actor, &self.held) {
            (Actor::Cli, _) => true,
            (_, Some(held)) => any_of.iter().any(|p| held.contains(*p)),
            (_, None) => false,
        }
    }

    /// Forbidden unless the caller holds one of these permissions (see
    /// `may`): the first thing a directory method needing one does.
    pub fn require(&self, any_of: &[&str]) -> Result<()> {
        if self.may(any_of) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this needs the {} permission",
                any_of.join(" or ")
            )))
        }
    }

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
    ) -> Result<()> {
        let missing: BTreeSet<&str> = permissions
            .into_iter()
            .map(String::as_str)
            .filter(|p| !self.may_grant(p))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = missing.into_iter().collect();
        Err(Error::refused(format!(
            "granting or withdrawing {} needs that permission yourself, or USER_ADMIN",
            names.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use uuid::Uuid;

    use super::*;

    fn ctx(actor: Actor, held: Option<&[&str]>) -> Ctx {
        Ctx {
            actor,
            request_id: None,
            txn: None,
            held: held.map(|h| Arc::new(h.iter().map(|p| p.to_string()).collect::<BTreeSet<_>>())),
        }
    }

    #[test]
    fn an_operation_needs_one_of_its_permissions() {
        let governor = ctx(Actor::Admin(Uuid::nil()), Some(&[GOVERNANCE]));
        assert!(governor.may(may::READ_ACCOUNTS));
        assert!(governor.require(may::READ_REPORTS).is_ok());
        match governor.require(may::MANAGE_IAMS) {
            Err(Error::Forbidden(m)) => {
                assert_eq!(
                    m,
                    "this needs the USER_ADMIN or APPLICATION_ADMIN permission"
                )
            }
            other => panic!("{other:?}"),
        }
        // The operator at the command line may; an identity provider never.
        assert!(ctx(Actor::Cli, None).may(may::MANAGE_ACCOUNTS));
        assert!(!ctx(Actor::Iam(Uuid::nil()), None).may(may::READ_ACCOUNTS));
    }
}
