//! An account's fate: an administrator's combined change, disable and
//! enable, revoking what it was issued, permanent delete, an identity
//! provider's deprovisioning, and migration to another IAM.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::lists::check_version;
use super::super::users::{bind_columns, write_emails};
use super::super::{Backend, SqlStore, audit, query, unique};
use super::last_admin::{self, Guard};
use super::{attributes, grants, user_exists};
use crate::audit::Entry;
use crate::ids::{IamId, UserId};
use crate::store::Result;
use crate::store::accounts::{AccountChange, BUILT_IN_IAM_ID, LastAdmin, Lifecycle, Migration};

#[async_trait]
impl<B: Backend> Lifecycle for SqlStore<B> {
    async fn change_account(
        &self,
        user: Uuid,
        c: &AccountChange<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        user_exists::<B>(&mut tx, user).await?;
        let mut entries = grants::change_in::<B>(
            &mut tx,
            user,
            c.grants_add,
            c.grants_remove,
            c.last_admin,
            c.grant_records,
            now,
        )
        .await?;
        entries.extend(
            attributes::patch_in::<B>(&mut tx, user, c.attributes, c.attribute_records, now)
                .await?,
        );
        if let Some((disabled, entry)) = c.disabled {
            disabled_in::<B>(&mut tx, user, disabled, c.last_admin).await?;
            entries.push(entry.clone());
        }
        audit::append_all::<B>(&mut tx, &entries, now).await?;
        B::commit(tx).await
    }

    async fn set_disabled(
        &self,
        user: Uuid,
        disabled: bool,
        guard: LastAdmin<'_>,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        user_exists::<B>(&mut tx, user).await?;
        disabled_in::<B>(&mut tx, user, disabled, guard).await?;
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await
    }

    async fn revoke_sessions(&self, user: Uuid, entry: &Entry, now: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin().await?;
        user_exists::<B>(&mut tx, user).await?;
        B::execute(
            &mut tx,
            query("UPDATE users SET token_generation = token_generation + 1 WHERE id = $1")
                .bind(user),
        )
        .await?;
        end_sessions::<B>(&mut tx, user).await?;
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await
    }

    /// Through `Backend::write`: an identity provider's DELETEs share an
    /// fsync on SQLite (group commit).
    async fn delete_account(
        &self,
        user: UserId,
        scim: Option<(IamId, Option<i64>)>,
        guard: LastAdmin<'_>,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let (guard, entry) = (Guard::from(guard), entry.clone());
        self.write(move |tx| {
            Box::pin(async move {
                match scim {
                    Some((iam, version)) => {
                        check_version::<B>(tx, "users", iam, user.uuid(), version).await?;
                    }
                    None => user_exists::<B>(tx, user.uuid()).await?,
                }
                last_admin::check::<B>(tx, user.uuid(), guard.get()).await?;
                for sql in [
                    "DELETE FROM group_members WHERE member_id = $1",
                    "DELETE FROM attributes WHERE owner_id = $1",
                    "DELETE FROM users WHERE id = $1",
                ] {
                    B::execute(tx, query(sql).bind(user)).await?;
                }
                audit::append::<B>(tx, &entry, now).await
            })
        })
        .await
    }

    /// Through `Backend::write` (group commit on SQLite).
    async fn deprovision_user(
        &self,
        iam: IamId,
        user: UserId,
        if_version: Option<i64>,
        guard: LastAdmin<'_>,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let (guard, entry) = (Guard::from(guard), entry.clone());
        self.write(move |tx| {
            Box::pin(async move {
                check_version::<B>(tx, "users", iam, user.uuid(), if_version).await?;
                last_admin::check::<B>(tx, user.uuid(), guard.get()).await?;
                B::execute(
                    tx,
                    query(
                        "DELETE FROM group_members WHERE member_id = $1
                           AND group_id IN (SELECT id FROM groups WHERE iam_id = $2)",
                    )
                    .bind(user)
                    .bind(iam),
                )
                .await?;
                B::execute(
                    tx,
                    query(
                        "UPDATE users SET iam_id = NULL, deprovisioned = $1,
                             deprovisioned_from = $2, last_modified = $1, version = version + 1
                         WHERE id = $3",
                    )
                    .bind(now)
                    .bind(iam)
                    .bind(user),
                )
                .await?;
                audit::append::<B>(tx, &entry, now).await
            })
        })
        .await
    }

    async fn migrate_account(
        &self,
        user: Uuid,
        to: &Migration<'_>,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let u = to.user;
        let mut tx = self.begin().await?;
        user_exists::<B>(&mut tx, user).await?;
        let update = query(
            "UPDATE users SET iam_id = $1, deprovisioned = NULL, deprovisioned_from = NULL,
                 user_name = $2, user_name_folded = $3, external_id = $4,
                 display_name_folded = $5, active = $6, doc = $7, search = $8,
                 last_modified = $9, version = version + 1
             WHERE id = $10",
        );
        let update = bind_columns(update.bind(to.iam), u)
            .bind(&u.search)
            .bind(now)
            .bind(user);
        B::execute(&mut tx, update)
            .await
            .map_err(|e| unique(e, "users_iam_user_name"))?;
        write_emails::<B>(&mut tx, user, &u.search).await?;
        // The memberships were the identity provider's it leaves; the
        // built-in IAM's internal groups are the internal IAM's own.
        B::execute(
            &mut tx,
            query(
                "DELETE FROM group_members WHERE member_id = $1
                   AND group_id IN (SELECT id FROM groups WHERE iam_id <> $2)",
            )
            .bind(user)
            .bind(BUILT_IN_IAM_ID),
        )
        .await?;
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await
    }
}

/// Disables or enables inside a transaction (never the last admin).
async fn disabled_in<B: Backend>(
    tx: &mut B::Conn,
    user: Uuid,
    disabled: bool,
    guard: LastAdmin<'_>,
) -> Result<()> {
    if disabled {
        last_admin::check::<B>(tx, user, guard).await?;
    }
    // A change of state revokes what the account was issued; setting
    // what already holds (a routine sync's `disabled: false`) does not.
    let changed = B::execute(
        tx,
        query(
            "UPDATE users SET disabled = $1, token_generation = token_generation + 1 \
             WHERE id = $2 AND disabled <> $1",
        )
        .bind(disabled)
        .bind(user),
    )
    .await?
        > 0;
    if changed {
        end_sessions::<B>(tx, user).await?;
    }
    Ok(())
}

/// Ends the account's console sessions when its token generation moves on
/// (the generation check alone would refuse them; this also frees the rows).
async fn end_sessions<B: Backend>(tx: &mut B::Conn, user: Uuid) -> Result<()> {
    B::execute(
        tx,
        query("DELETE FROM console_sessions WHERE account_id = $1").bind(user),
    )
    .await?;
    Ok(())
}
