//! What the internal IAM owns, as storage keeps it, written once for both
//! databases: each trait of `store::accounts::Accounts` is implemented in
//! the module of its concept. Every write appends its audit record in its
//! own transaction.

mod attributes;
mod audit_log;
mod grants;
mod last_admin;
mod lifecycle;
mod list;
mod lookups;
mod roles;
mod settings;
mod subscriptions;
mod usage;

pub(crate) use grants::{grant_defaults, permission_def};
pub(crate) use list::{ACCOUNT_COLUMNS, account_row};
pub(crate) use subscriptions::{
    SUBSCRIPTION_COLUMNS, bind_subscription, insert_subscription, linked_row,
};

use uuid::Uuid;

use super::{Backend, query};
use crate::store::{Result, StoreError};

/// NotFound unless the user exists, inside a write's transaction.
async fn user_exists<B: Backend>(tx: &mut B::Conn, user: Uuid) -> Result<()> {
    let found =
        B::fetch_optional(tx, query("SELECT 1 FROM users WHERE id = $1").bind(user)).await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}
