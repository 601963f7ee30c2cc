//! Administrators of the built-in IAM and the locally signed admin tokens
//! that stand in for the external IAM's JWTs in setups without OIDC.

use serde_json::json;
use uuid::Uuid;

use super::{Directory, Error, Result};
use crate::auth::admin_token::{self, AdminClaims};
use crate::scim::ScimError;
use crate::scim::filter::{AttrPath, CompareOp, Filter, Literal};
use crate::scim::resource::fold_case;
use crate::store::{ListQuery, UserWrite};

pub const USER_ADMIN: &str = "USER_ADMIN";

/// An email address as a userName: one '@' with text on both sides, a dot in
/// the domain, no spaces or control characters, at most 254 characters.
pub fn validate_email(email: &str) -> std::result::Result<(), ScimError> {
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
        Ok(())
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
        validate_email(email)?;
        let bim = self.iam(super::iams::BUILT_IN_IAM).await?;
        let filter = Filter::Compare {
            path: AttrPath {
                urn: None,
                attr: "userName".into(),
                sub: None,
            },
            op: CompareOp::Eq,
            value: Literal::String(email.to_owned()),
        };
        let found = self
            .store
            .list_users(
                bim.id,
                &ListQuery {
                    filter: Some(filter),
                    limit: 1,
                    ..Default::default()
                },
            )
            .await?;
        let user = match found.items.first() {
            Some(existing) => existing.id,
            None => {
                let id = self.new_id();
                let mut doc = json!({
                    "schemas": [crate::scim::schema::USER_SCHEMA],
                    "userName": email,
                    "emails": [{"value": email, "type": "work", "primary": true}],
                    "active": true,
                });
                if let Some(n) = name {
                    doc["displayName"] = json!(n);
                    doc["name"] = json!({"formatted": n});
                }
                let write = UserWrite {
                    user_name: email.to_owned(),
                    user_name_folded: fold_case(email),
                    external_id: None,
                    display_name_folded: name.map(fold_case),
                    active: true,
                    search: crate::scim::search_doc::build(
                        &crate::scim::schema::USER_RESOURCE,
                        &doc,
                    ),
                    doc,
                    password_hash: Some(None),
                };
                self.store
                    .insert_user(bim.id, id, &write, self.now())
                    .await?;
                id
            }
        };
        let now = self.now();
        self.store
            .grant_permission(user, USER_ADMIN, "direct", now)
            .await?;
        let key = self.signing_key().await?;
        let token = admin_token::mint(key, user, now, valid_for).map_err(Error::Internal)?;
        Ok((user, token))
    }

    /// Checks a locally signed admin token; returns the admin's claims.
    pub async fn authenticate_admin_token(&self, token: &str) -> Result<Option<AdminClaims>> {
        let key = self.signing_key().await?;
        Ok(admin_token::verify(key, token))
    }

    pub async fn permissions_of(&self, user: Uuid) -> Result<Vec<String>> {
        Ok(self.store.user_permissions(user).await?)
    }
}
