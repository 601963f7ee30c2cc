//! A user's subscriptions to data sources, each with a role and an
//! optional expiry.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Query, Record, SqlStore, audit, query};
use super::user_exists;
use crate::audit::Entry;
use crate::ids::UserId;
use crate::store::Result;
use crate::store::accounts::{Subscription, Subscriptions};

/// The columns [`subscription_row`] reads.
pub(crate) const SUBSCRIPTION_COLUMNS: &str = "id, user_id, data_source, role, subscribed, expires";

pub(crate) fn subscription_row(r: &impl Record) -> Result<Subscription> {
    Ok(Subscription {
        id: r.uuid("id")?,
        user_id: r.uuid("user_id")?,
        data_source: r.text("data_source")?,
        role: r.text("role")?,
        subscribed: r.time("subscribed")?,
        expires: r.opt_time("expires")?,
    })
}

/// The statement that stores a subscription (an administrator's, or an
/// import's).
pub(crate) fn insert_subscription(s: &Subscription) -> Query {
    query(format!(
        "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(s.id)
    .bind(s.user_id)
    .bind(&s.data_source)
    .bind(&s.role)
    .bind(s.subscribed)
    .bind(s.expires)
}

#[async_trait]
impl<B: Backend> Subscriptions for SqlStore<B> {
    async fn subscriptions(&self, user: Uuid) -> Result<Vec<Subscription>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
             WHERE user_id = $1 ORDER BY subscribed, id"
        );
        let rows = self.read_all(query(sql).bind(user)).await?;
        rows.iter().map(subscription_row).collect()
    }

    async fn add_subscription(
        &self,
        sub: &Subscription,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        user_exists::<B>(&mut tx, sub.user_id).await?;
        B::execute(&mut tx, insert_subscription(sub)).await?;
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
