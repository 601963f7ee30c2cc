//! A user's subscriptions to data sources, each with a role and an
//! optional expiry.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Query, Record, SqlStore, audit, query};
use super::user_exists;
use crate::audit::Entry;
use crate::ids::{DataSourceId, UserId};
use crate::store::Result;
use crate::store::accounts::{LinkedSubscription, Subscription, Subscriptions};

/// The columns [`subscription_row`] reads.
pub(crate) const SUBSCRIPTION_COLUMNS: &str = "id, user_id, data_source, role, subscribed, expires";

fn data_source_id(r: &impl Record) -> Result<Option<DataSourceId>> {
    Ok(r.opt_uuid("data_source_id")?.map(DataSourceId::new))
}

pub(crate) fn linked_row(r: &impl Record) -> Result<LinkedSubscription> {
    Ok(LinkedSubscription {
        subscription: subscription_row(r)?,
        data_source_id: data_source_id(r)?,
        source: r.text("source")?,
    })
}

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
/// import's), linked to the registered data source of its name if there
/// is one; it returns that data source's id.
pub(crate) fn insert_subscription(s: &Subscription) -> Query {
    bind_subscription(
        format!(
            "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}, data_source_id)
             VALUES ($1, $2, $3, $4, $5, $6, (SELECT id FROM data_sources WHERE name = $3))
             RETURNING data_source_id"
        ),
        s,
    )
}

/// `sql` with [`SUBSCRIPTION_COLUMNS`] of `s` bound as `$1`..`$6`.
pub(crate) fn bind_subscription(sql: String, s: &Subscription) -> Query {
    query(sql)
        .bind(s.id)
        .bind(s.user_id)
        .bind(&s.data_source)
        .bind(&s.role)
        .bind(s.subscribed)
        .bind(s.expires)
}

#[async_trait]
impl<B: Backend> Subscriptions for SqlStore<B> {
    async fn subscriptions(&self, user: Uuid) -> Result<Vec<LinkedSubscription>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS}, data_source_id, source FROM subscriptions
             WHERE user_id = $1 ORDER BY subscribed, id"
        );
        let rows = self.read_all(query(sql).bind(user)).await?;
        rows.iter().map(linked_row).collect()
    }

    async fn subscribers(
        &self,
        data_source: DataSourceId,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<LinkedSubscription>, u64)> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS}, data_source_id, source FROM subscriptions
             WHERE data_source_id = $1 ORDER BY subscribed, id LIMIT $2 OFFSET $3"
        );
        let page = query(sql)
            .bind(data_source)
            .bind(limit.min(i64::MAX as u64) as i64)
            .bind(offset.min(i64::MAX as u64) as i64);
        let rows = self.read_all(page).await?;
        let count = query("SELECT COUNT(*) AS n FROM subscriptions WHERE data_source_id = $1");
        let n = self.read_one(count.bind(data_source)).await?.int("n")?;
        Ok((
            rows.iter().map(linked_row).collect::<Result<_>>()?,
            n as u64,
        ))
    }

    async fn add_subscription(
        &self,
        sub: &Subscription,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<Option<DataSourceId>> {
        let mut tx = self.begin().await?;
        user_exists::<B>(&mut tx, sub.user_id).await?;
        let row = B::fetch_one(&mut tx, insert_subscription(sub)).await?;
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await?;
        data_source_id(&row)
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
