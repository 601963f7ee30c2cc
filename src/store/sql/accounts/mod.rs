//! What the internal IAM owns, as storage keeps it, written once for both
//! databases: each method of [`Accounts`] is in the module of its concept.
//! Every write appends its audit record in its own transaction.

mod attributes;
mod audit_log;
mod grants;
mod last_admin;
mod lifecycle;
mod list;
mod lookups;
mod settings;
mod subscriptions;
mod usage;

pub(crate) use grants::{grant_defaults, permission_def};

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Backend, SqlStore, query};
use crate::audit::{Entry, Record};
use crate::store::accounts::*;
use crate::store::{Result, StoreError};

#[async_trait]
impl<B: Backend> Accounts for SqlStore<B> {
    async fn iam_settings(&self, iam: Uuid) -> Result<Option<Value>> {
        settings::get(self, iam).await
    }

    async fn set_iam_settings(
        &self,
        iam: Uuid,
        settings: &Value,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        settings::set(self, iam, settings, audit, now).await
    }

    async fn permission_catalogue(&self) -> Result<Vec<PermissionDef>> {
        grants::catalogue(self).await
    }

    async fn add_permission(
        &self,
        def: &PermissionDef,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        grants::add_permission(self, def, audit, now).await
    }

    async fn account(&self, id: Uuid) -> Result<Option<Account>> {
        list::account(self, id).await
    }

    async fn list_accounts(&self, q: &AccountQuery) -> Result<(Vec<Account>, u64)> {
        list::page(self, q).await
    }

    async fn explain_accounts(&self, q: &AccountQuery) -> Result<String> {
        list::explain(self, q).await
    }

    async fn grants(&self, user: Uuid) -> Result<Vec<Grant>> {
        grants::of(self, user).await
    }

    async fn change_grants(
        &self,
        user: Uuid,
        add: &[(String, &'static str)],
        remove: &[String],
        last_admin: LastAdmin<'_>,
        records: &GrantRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        grants::change(self, user, add, remove, last_admin, records, now).await
    }

    async fn change_account(
        &self,
        user: Uuid,
        change: &AccountChange<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        lifecycle::change(self, user, change, now).await
    }

    async fn set_disabled(
        &self,
        user: Uuid,
        disabled: bool,
        last_admin: LastAdmin<'_>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        lifecycle::set_disabled(self, user, disabled, last_admin, audit, now).await
    }

    async fn revoke_sessions(&self, user: Uuid, audit: &Entry, now: OffsetDateTime) -> Result<()> {
        lifecycle::revoke_sessions(self, user, audit, now).await
    }

    async fn delete_account(
        &self,
        user: Uuid,
        scim: Option<(Uuid, Option<i64>)>,
        last_admin: LastAdmin<'_>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        lifecycle::delete(self, user, scim, last_admin, audit, now).await
    }

    async fn deprovision_user(
        &self,
        iam: Uuid,
        user: Uuid,
        if_version: Option<i64>,
        last_admin: LastAdmin<'_>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        lifecycle::deprovision(self, iam, user, if_version, last_admin, audit, now).await
    }

    async fn migrate_account(
        &self,
        user: Uuid,
        to: &Migration<'_>,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        lifecycle::migrate(self, user, to, audit, now).await
    }

    async fn group_exists(&self, id: Uuid) -> Result<bool> {
        lookups::group_exists(self, id).await
    }

    async fn group_iam(&self, id: Uuid) -> Result<Option<Uuid>> {
        lookups::group_iam(self, id).await
    }

    async fn membership_dates(&self, user: Uuid) -> Result<HashMap<Uuid, OffsetDateTime>> {
        lookups::membership_dates(self, user).await
    }

    async fn attributes(&self, owner: Uuid) -> Result<Vec<(String, String)>> {
        attributes::of(self, owner).await
    }

    async fn patch_attributes(
        &self,
        owner: Uuid,
        ops: &[AttributeOp],
        records: &AttributeRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        attributes::patch(self, owner, ops, records, now).await
    }

    async fn subscriptions(&self, user: Uuid) -> Result<Vec<Subscription>> {
        subscriptions::of(self, user).await
    }

    async fn add_subscription(
        &self,
        s: &Subscription,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        subscriptions::add(self, s, audit, now).await
    }

    async fn remove_subscription(
        &self,
        user: Uuid,
        id: Uuid,
        audit: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool> {
        subscriptions::remove(self, user, id, audit, now).await
    }

    async fn audit_append(&self, audit: &Entry, now: OffsetDateTime) -> Result<()> {
        audit_log::append(self, audit, now).await
    }

    async fn audit_records(&self, q: &AuditQuery) -> Result<(Vec<Record>, u64)> {
        audit_log::records(self, q).await
    }

    async fn audit_chain(&self, after: i64, limit: u64) -> Result<Vec<Record>> {
        audit_log::chain(self, after, limit).await
    }

    async fn audit_head(&self) -> Result<(i64, String)> {
        audit_log::head(self).await
    }

    async fn add_usage(&self, day: time::Date, counts: &[(String, i64)]) -> Result<()> {
        usage::add(self, day, counts).await
    }

    async fn usage(
        &self,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<(time::Date, String, i64)>> {
        usage::read(self, from, to).await
    }
}

/// NotFound unless the user exists, inside a write's transaction.
async fn user_exists<B: Backend>(tx: &mut B::Conn, user: Uuid) -> Result<()> {
    let found =
        B::fetch_optional(tx, query("SELECT 1 FROM users WHERE id = $1").bind(user)).await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}
