//! Administrators of the built-in IAM and the locally signed admin tokens
//! that stand in for the external IAM's JWTs in setups without OIDC: how
//! long they live, and their revocation by the account's token generation.

use std::collections::BTreeSet;

use super::accounts::{Ctx, not_found_as_account};
use super::ids::UserId;
use super::{Directory, Error, Result};
use crate::auth::admin_token;
use crate::scim::user_name::UserName;
use crate::store::accounts::Account;

pub use super::permissions::USER_ADMIN;

/// An email address as a userName: a valid [`UserName`], with one '@' with
/// text on both sides, a dot in the domain, no spaces, at most 254 bytes.
pub fn validate_email(email: &str) -> Result<UserName> {
    let name = UserName::parse(email)?;
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(name)
    } else {
        Err(Error::invalid_value(format!(
            "'{}' is not an email address",
            super::truncate(email)
        )))
    }
}

impl Directory {
    /// Creates (or reuses) a built-in user with this email as userName,
    /// grants USER_ADMIN and returns the user id and a signed admin token,
    /// valid for at most `admin_token::MAX_VALIDITY`.
    pub async fn bootstrap_admin(
        &self,
        email: &str,
        name: Option<&str>,
        valid_for: time::Duration,
    ) -> Result<(UserId, String)> {
        let user_name = validate_email(email)?;
        admin_token::check_validity(valid_for).map_err(Error::invalid_value)?;
        let ctx = Ctx::cli();
        let user = match self
            .account_by_user_name(super::iams::BUILT_IN_IAM, &user_name)
            .await?
        {
            Some(existing) => UserId::new(existing.id),
            None => self.create_bim_user(&ctx, name, email).await?,
        };
        let account = self.account(user).await?;
        if !self
            .effective_permissions(&account)
            .await?
            .contains_key(USER_ADMIN)
        {
            self.add_permissions(&ctx, user, &[USER_ADMIN.to_owned()])
                .await?;
        }
        // The way back in: an account disabled here is enabled again, under
        // a new token generation (what it held before stays revoked).
        let account = if account.disabled {
            self.set_disabled(&ctx, user, false).await?;
            self.account(user).await?
        } else {
            account
        };
        let now = self.now();
        let key = self.signing_key().await?;
        let token = admin_token::mint(key, user.uuid(), account.token_generation, now, valid_for)
            .map_err(Error::Internal)?;
        Ok((user, token))
    }

    /// Checks a locally signed admin token: signature, dates, lifetime, and
    /// that it is of its account's current token generation.
    pub async fn authenticate_admin_token(&self, token: &str) -> Result<AdminToken> {
        let key = self.signing_key().await?;
        let Some(claims) = admin_token::verify(key, token) else {
            return Ok(AdminToken::Foreign);
        };
        // The account and what its permissions derive from, at once.
        let read = self
            .account_with_inputs(claims.sub, false)
            .await?
            .filter(|r| r.account.token_generation == claims.generation);
        let Some(read) = read else {
            return Ok(AdminToken::Ours(None));
        };
        let permissions = self.permissions_of(read.grants, &read.groups).await?;
        Ok(AdminToken::Ours(Some((
            read.account,
            permissions.into_keys().collect(),
        ))))
    }

    /// Revokes every admin token and console session of an account issued
    /// so far (disable and enable do the same); audited. Any administrator
    /// may end its own; anyone else's needs USER_ADMIN.
    pub async fn revoke_sessions(&self, ctx: &Ctx, user: UserId) -> Result<()> {
        if ctx.actor != crate::audit::Actor::Admin(user.uuid()) {
            ctx.require(super::permissions::may::MANAGE_ACCOUNTS)?;
        }
        let entry = ctx
            .entry("user.sessions_revoked")
            .target("User", user.uuid());
        self.store
            .revoke_sessions(user.uuid(), &entry, self.now())
            .await
            .map_err(|e| not_found_as_account(e, user))
    }
}

/// What a bearer token is, as a locally signed admin token.
#[derive(Debug)]
pub enum AdminToken {
    /// Not signed with our key, or out of date: maybe the external IAM's.
    Foreign,
    /// Ours: the account it names and its effective permissions, or None
    /// when that account is gone or the token's generation was revoked.
    /// Enabled or not: callers decide.
    Ours(Option<(Account, BTreeSet<String>)>),
}
