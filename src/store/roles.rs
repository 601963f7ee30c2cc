//! Roles as storage keeps them: named bundles of permissions and of other
//! roles, the roles accounts hold (and from where), and the grants a held
//! role brings, kept beside the others in the grants table with source
//! `role:<name>`. Which permissions a held role brings (its closure) the
//! domain computes; storage writes what it is told, in one transaction
//! with its audit records.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Result;
use super::accounts::LastAdmin;
use crate::audit::Entry;

/// The source of the grants a held role brings: `role:<name>`.
pub fn role_source(name: &str) -> String {
    format!("role:{name}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDef {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// The permissions it holds itself, by name.
    pub permissions: Vec<String>,
    /// The roles it contains, by name.
    pub roles: Vec<String>,
    pub created: OffsetDateTime,
    pub modified: OffsetDateTime,
}

/// A held role and every permission it brings after a change: its own
/// and those of the roles it contains, transitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    pub role: String,
    pub permissions: Vec<String>,
}

/// A create or replace of a role.
#[derive(Clone, Copy)]
pub struct RoleWrite<'a> {
    pub role: &'a RoleDef,
    /// Every role whose permissions the write changes (the role itself and
    /// those containing it), with what each brings after it: holders'
    /// `role:<name>` grants are rewritten to match.
    pub expansions: &'a [Expansion],
    /// The last-admin check to run after the write, inside it: when the
    /// write may take the guarded permission from someone.
    pub last_admin: Option<LastAdmin<'a>>,
    pub audit: &'a Entry,
}

/// What a change of an account's roles (and grants from the same
/// source) did, as its transaction found it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoleDelta<'a> {
    pub removed: &'a [String],
    pub added: &'a [String],
    /// Permissions taken from / given by the source itself.
    pub revoked: &'a [String],
    pub granted: &'a [String],
}

/// The domain's audit records of an account's role change, given what it
/// did: storage calls it inside the write's transaction.
pub type RoleRecords<'a> = dyn Fn(&RoleDelta<'_>) -> Vec<Entry> + Sync + 'a;

/// A change of the roles an account holds from one source.
#[derive(Clone, Copy)]
pub struct HeldRoles<'a> {
    /// `direct` or `idp:<iam>`.
    pub source: &'a str,
    /// Roles to hold from this source, with what each brings.
    pub add: &'a [Expansion],
    /// Roles no longer held from this source (their grants go when no
    /// other source still holds them).
    pub remove: &'a [String],
    /// Permissions granted from this source itself (an identity
    /// provider's entitlements), and those it no longer grants.
    pub grant: &'a [String],
    pub revoke: &'a [String],
    pub last_admin: Option<LastAdmin<'a>>,
    pub records: &'a RoleRecords<'a>,
}

#[async_trait]
pub trait Roles: Send + Sync {
    /// Every role, by name.
    async fn roles(&self) -> Result<Vec<RoleDef>>;
    /// Creates the role (a taken name → Conflict("roles_name")) or, with
    /// `replace`, replaces it (none → NotFound), rewriting its holders'
    /// grants as `expansions` say.
    async fn put_role(&self, w: &RoleWrite<'_>, replace: bool, now: OffsetDateTime) -> Result<()>;
    /// Deletes the role: its holders lose it and what it brought. None →
    /// NotFound.
    async fn delete_role(
        &self,
        name: &str,
        last_admin: Option<LastAdmin<'_>>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// The roles an account holds: (role, source), by role and source.
    async fn user_roles(&self, user: Uuid) -> Result<Vec<(String, String)>>;
    /// Changes the roles an account holds from one source, in one
    /// transaction with the records. No such account → NotFound.
    async fn change_user_roles(
        &self,
        user: Uuid,
        change: &HeldRoles<'_>,
        now: OffsetDateTime,
    ) -> Result<()>;
}
