//! Administrators of the built-in IAM and the locally signed admin tokens
//! that stand in for the external IAM's JWTs in setups without OIDC.

use uuid::Uuid;

use super::accounts::Ctx;
use super::{Directory, Error, Result};
use crate::auth::admin_token::{self, AdminClaims};
use crate::scim::ScimError;
use crate::scim::user_name::UserName;

pub use super::permissions::USER_ADMIN;

/// An email address as a userName: a valid [`UserName`], with one '@' with
/// text on both sides, a dot in the domain, no spaces, at most 254 bytes.
pub fn validate_email(email: &str) -> std::result::Result<UserName, ScimError> {
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
        Err(ScimError::invalid_value(format!(
            "'{}' is not an email address",
            super::truncate(email)
        )))
    }
}

impl Directory {
    /// Creates (or reuses) a built-in user with this email as userName,
    /// grants USER_ADMIN and returns the user id and a signed admin token.
    pub async fn bootstrap_admin(
        &self,
        email: &str,
        name: Option<&str>,
        valid_for: time::Duration,
    ) -> Result<(Uuid, String)> {
        let user_name = validate_email(email)?;
        let ctx = Ctx::cli();
        let user = match self
            .account_by_user_name(super::iams::BUILT_IN_IAM, &user_name)
            .await?
        {
            Some(existing) => existing.id,
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
        // The way back in: an account disabled here is enabled again.
        if account.disabled {
            self.set_disabled(&ctx, user, false).await?;
        }
        let now = self.now();
        let key = self.signing_key().await?;
        let token = admin_token::mint(key, user, now, valid_for).map_err(Error::Internal)?;
        Ok((user, token))
    }

    /// Checks a locally signed admin token; returns the admin's claims.
    pub async fn authenticate_admin_token(&self, token: &str) -> Result<Option<AdminClaims>> {
        let key = self.signing_key().await?;
        Ok(admin_token::verify(key, token))
    }
}
