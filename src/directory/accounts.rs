//! The bridge's accounts as administrators reach them: who asks (`Ctx`),
//! reading an account, creating a built-in one, and the refusals every
//! account operation shares. The rest of what the internal IAM owns about
//! an account lives in its own module: `iam_settings`, `grants`,
//! `attributes`, `subscriptions`, `lifecycle`, `account_view`, `audit_log`.

use std::collections::BTreeSet;

use serde_json::json;
use uuid::Uuid;

use super::ids::{IamId, UserId};
use super::permissions::may;
use super::{Directory, Error, Result};
use crate::audit::{Actor, Entry};
use crate::scim::resource::fold_case;
use crate::scim::schema::USER_RESOURCE;
use crate::scim::search_doc;
use crate::scim::user_name::{UserName, check_chars};
use crate::store::accounts::{Account, BUILT_IN_IAM_ID, LAST_USER_ADMIN};
use crate::store::{StoreError, UserWrite};

// Where these lived before the split; callers keep their paths.
pub use super::account_view::parse_sort;
pub(crate) use super::attributes::attribute_ops;
pub(super) use super::attributes::check_attribute_text;
pub use super::attributes::values_at;
pub(super) use super::grants::check_permission_name;
pub use super::iam_settings::{DeleteMode, IamSettings, SettingsCache};

/// Who asks, for the audit record.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub request_id: Option<String>,
    /// The request's transaction id (see `Scope::txn`).
    pub txn: Option<String>,
    /// The permissions an administrator holds (None for anyone else): what
    /// it may hand out (see `permissions::Ctx::may_grant`).
    pub held: Option<std::sync::Arc<BTreeSet<String>>>,
}

impl Ctx {
    /// The command line on the server's host.
    pub fn cli() -> Self {
        Ctx {
            actor: Actor::Cli,
            request_id: None,
            txn: Some(crate::audit::new_txn()),
            held: None,
        }
    }

    pub fn entry(&self, action: &'static str) -> Entry {
        Entry::new(self.actor.clone(), action)
            .request(self.request_id.clone())
            .txn(self.txn.clone())
    }
}

fn last_admin_refused() -> Error {
    Error::conflict(
        "this is the last enabled account holding USER_ADMIN: grant USER_ADMIN to another enabled account first",
    )
}

pub(crate) fn account_not_found(id: Uuid) -> Error {
    Error::not_found(format!("no account with id {id}"))
}

/// Maps the store's refusal of the last USER_ADMIN to its own message.
pub(crate) fn guarded(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(LAST_USER_ADMIN) => last_admin_refused(),
        other => other.into(),
    }
}

pub(super) fn not_found_as_account(e: StoreError, user: UserId) -> Error {
    match e {
        StoreError::NotFound => account_not_found(user.uuid()),
        other => guarded(other),
    }
}

impl Directory {
    pub async fn account(&self, id: UserId) -> Result<Account> {
        self.store
            .account(id.uuid())
            .await?
            .ok_or_else(|| account_not_found(id.uuid()))
    }

    /// The account of an IAM with this userName (compared folded, as
    /// uniqueness compares it).
    pub async fn account_by_user_name(
        &self,
        iam: &str,
        user_name: &UserName,
    ) -> Result<Option<Account>> {
        use crate::scim::filter::{AttrPath, CompareOp, Filter, Literal};
        let iam = self.iam(iam).await?;
        let filter = Filter::Compare {
            path: AttrPath {
                urn: None,
                attr: "userName".into(),
                sub: None,
            },
            op: CompareOp::Eq,
            value: Literal::String(user_name.as_str().to_owned()),
        };
        let found = self
            .store
            .list_users(
                IamId::new(iam.id),
                &crate::store::ListQuery {
                    filter: Some(filter),
                    limit: 1,
                    ..Default::default()
                },
            )
            .await?;
        match found.items.first() {
            Some(s) => Ok(self.store.account(s.id).await?),
            None => Ok(None),
        }
    }

    /// Creates a built-in (`bim`) user whose userName is the email, with the
    /// built-in IAM's default permissions.
    pub async fn create_bim_user(
        &self,
        ctx: &Ctx,
        full_name: Option<&str>,
        email: &str,
    ) -> Result<UserId> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let user_name = super::admins::validate_email(email)?;
        let full_name = full_name.map(str::trim);
        if let Some(n) = full_name
            && (n.is_empty() || check_chars("fullName", n, 256).is_err())
        {
            return Err(Error::invalid_value(
                "fullName is 1 to 256 printable characters",
            ));
        }
        let mut doc = json!({
            "schemas": [crate::scim::schema::USER_SCHEMA],
            "userName": email,
            "emails": [{"value": email, "type": "work", "primary": true}],
            "active": true,
        });
        if let Some(n) = full_name {
            doc["displayName"] = json!(n);
            doc["name"] = json!({"formatted": n});
        }
        let write = UserWrite {
            user_name,
            external_id: None,
            display_name_folded: full_name.map(fold_case),
            active: true,
            search: search_doc::build(&USER_RESOURCE, &doc),
            doc,
            password_hash: Some(None),
            emails_unchanged: false,
            keys_unchanged: false,
        };
        let id: UserId = self.new_id();
        let defaults = self
            .iam_settings(BUILT_IN_IAM_ID.uuid())
            .await?
            .default_permissions;
        let records = [super::changes::user_created(
            &ctx.entry(""),
            id.uuid(),
            &write,
        )];
        self.store
            .create_user(BUILT_IN_IAM_ID, id, &write, &defaults, &records, self.now())
            .await?;
        Ok(id)
    }
}
