//! A user's subscriptions to data sources, each with a role and an
//! optional expiry.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, audit, query};
use super::user_exists;
use crate::audit::Entry;
use crate::ids::UserId;
use crate::store::Result;
use crate::store::accounts::{Subscription, Subscriptions};

#[async_trait]
impl<B: Backend> Subscriptions for SqlStore<B> {
    async fn subscriptions(&self, user: Uuid) -> Result<Vec<Subscription>> {
        let rows = self
            .read_all(
                query(
                    "SELECT id, user_id, data_source, role, subscribed, expires FROM subscriptions
                     WHERE user_id = $1 ORDER BY subscribed, id",
                )
                .bind(user),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Subscription {
                    id: r.uuid("id")?,
                    user_id: r.uuid("user_id")?,
                    data_source: r.text("data_source")?,
                    role: r.text("role")?,
                    subscribed: r.time("subscribed")?,
                    expires: r.opt_time("expires")?,
                })
            })
            .collect()
    }

    async fn add_subscription(
        &self,
        sub: &Subscription,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        user_exists::<B>(&mut tx, sub.user_id).await?;
        B::execute(
            &mut tx,
            query(
                "INSERT INTO subscriptions (id, user_id, data_source, role, subscribed, expires)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(sub.id)
            .bind(sub.user_id)
            .bind(&sub.data_source)
            .bind(&sub.role)
            .bind(sub.subscribed)
            .bind(sub.expires),
        )
        .await?;
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await
    }

    async fn remove_subscription(
        &self,
        user: UserId,
        id: Uuid,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = B::execute(
            &mut tx,
            query("DELETE FROM subscriptions WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user),
        )
        .await?;
        if n == 0 {
            return Ok(false);
        }
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await?;
        Ok(true)
    }
}
