//! An account's fate: disabled or enabled by an administrator, deleted
//! permanently, or migrated to another IAM; each guarded so the last
//! enabled USER_ADMIN stays.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::accounts::{Ctx, not_found_as_account};
use super::ids::{IamId, UserId};
use super::permissions::may;
use super::{Directory, Error, Result, truncate};
use crate::scim::resource::fold_case;
use crate::scim::schema::USER_RESOURCE;
use crate::scim::search_doc;
use crate::scim::user_name::UserName;
use crate::store::accounts::Migration;
use crate::store::{StoreError, UserWrite};

impl Directory {
    pub async fn set_disabled(&self, ctx: &Ctx, user: UserId, disabled: bool) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let action = if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        };
        let admins_after = if disabled {
            self.guard_user_admins(&super::guard::WhatIf {
                accounts_out: BTreeSet::from([user]),
                ..Default::default()
            })
            .await?
        } else {
            Vec::new()
        };
        let entry = ctx
            .entry(action)
            .target("User", user.uuid())
            .attributes(["disabled"]);
        self.store
            .set_disabled(
                user.uuid(),
                disabled,
                super::guard::store_guard(&admins_after),
                &entry,
                self.now(),
            )
            .await
            .map_err(|e| not_found_as_account(e, user))?;
        self.resubscribe(&ctx.entry(""), user).await
    }

    /// Permanently deletes an account: only with the exact confirmation.
    pub async fn delete_permanently(
        &self,
        ctx: &Ctx,
        user: UserId,
        confirm: Option<&str>,
    ) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        if confirm != Some("Delete") {
            return Err(Error::invalid_value(
                "a permanent delete needs the confirmation ?confirm=Delete",
            ));
        }
        let admins_after = self
            .guard_user_admins(&super::guard::WhatIf {
                accounts_out: BTreeSet::from([user]),
                ..Default::default()
            })
            .await?;
        let entry = ctx.entry("user.deleted").target("User", user.uuid());
        self.store
            .delete_account(
                user,
                None,
                super::guard::store_guard(&admins_after),
                &entry,
                self.now(),
            )
            .await
            .map_err(|e| not_found_as_account(e, user))
    }

    /// Moves an account to another IAM under a userName: keeps its id, what
    /// the internal IAM owns, and its name and email addresses; its other
    /// identity fields become a fresh document holding the userName (the
    /// new identity provider fills the rest on its next write). Its
    /// memberships in the groups of the IAM it leaves end: those groups are
    /// that identity provider's.
    pub async fn migrate(&self, ctx: &Ctx, user: UserId, iam: &str, user_name: &str) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let account = self.account(user).await?;
        let target = self.iam(iam).await?;
        // Leaving the IAM administrators sign in from ends the account's
        // sign-in; leaving any IAM ends its memberships there.
        let mut change = super::guard::WhatIf::default();
        if let Some(from) = account.iam_id.filter(|f| *f != target.id) {
            if self.is_admin_source(from).await? {
                change.accounts_out.insert(user);
            }
            change.memberships_out.insert((IamId::new(from), user));
        }
        let user_name = UserName::parse(user_name)?;
        self.guard_user_admins(&change).await?;
        let mut doc = json!({
            "schemas": [crate::scim::schema::USER_SCHEMA],
            "userName": user_name.as_str(),
            "active": account.active,
        });
        // Keep the person's name, display name and email addresses: the
        // internal view of the account should not go blank until the new
        // provider writes (its first PUT or PATCH replaces them).
        for key in ["name", "displayName", "emails"] {
            if let Some(v) = account.doc.get(key) {
                doc[key] = v.clone();
            }
        }
        let flags = user_name.audit_flags();
        let write = UserWrite {
            user_name,
            external_id: None,
            display_name_folded: doc
                .get("displayName")
                .and_then(Value::as_str)
                .map(fold_case),
            active: account.active,
            search: search_doc::build(&USER_RESOURCE, &doc),
            doc,
            password_hash: None,
            emails_unchanged: false,
            keys_unchanged: false,
        };
        let entry = ctx
            .entry("user.migrated")
            .target("User", user.uuid())
            .attributes(["iam", "userName", "externalId"])
            .flags(flags);
        self.store
            .migrate_account(
                user.uuid(),
                &Migration {
                    iam: target.id,
                    user: &write,
                },
                &entry,
                self.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::duplicate(format!(
                    "the IAM {} already has a user named '{}'",
                    target.name,
                    truncate(write.user_name.as_str())
                )),
                other => not_found_as_account(other, user),
            })
    }
}
