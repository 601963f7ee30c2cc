//! An account's data source subscriptions: listing, adding (validated)
//! and removing them.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::{Ctx, not_found_as_account};
use super::ids::{DataSourceId, UserId};
use super::permissions::may;
use super::{Directory, Error, Result, Timestamp};
use crate::store::accounts::{LinkedSubscription, Subscription};

/// The source of a subscription added by hand.
pub const MANUAL: &str = "manual";

impl Directory {
    pub async fn subscriptions(&self, ctx: &Ctx, user: UserId) -> Result<Vec<SubscriptionView>> {
        ctx.require(may::READ_ACCOUNTS)?;
        self.account(user).await?;
        let subs = self.store.subscriptions(user.uuid()).await?;
        Ok(subs.iter().map(SubscriptionView::from).collect())
    }

    pub async fn add_subscription(
        &self,
        ctx: &Ctx,
        user: UserId,
        body: &Value,
    ) -> Result<SubscriptionView> {
        ctx.require(may::MANAGE_SUBSCRIPTIONS)?;
        let text = |k: &str| -> Result<String> {
            let s = body
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| Error::invalid_value(format!("'{k}' must be a string")))?;
            if s.is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) {
                return Err(Error::invalid_value(format!(
                    "'{k}' is 1 to 256 printable characters"
                )));
            }
            Ok(s.to_owned())
        };
        let data_source = self.subscribed_source(body, &text).await?;
        let role = match body.get("role") {
            None | Some(Value::Null) => "subscriber".to_owned(),
            _ => text("role")?,
        };
        let now = self.now();
        let expires = match body.get("expires") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| Error::invalid_value("'expires' must be an RFC 3339 date-time"))?;
                if t <= now {
                    return Err(Error::invalid_value("'expires' must be in the future"));
                }
                Some(t)
            }
            Some(_) => {
                return Err(Error::invalid_value(
                    "'expires' must be an RFC 3339 date-time",
                ));
            }
        };
        let s = Subscription {
            id: self.new_id(),
            user_id: user.uuid(),
            data_source,
            role,
            subscribed: now,
            expires,
        };
        let entry = ctx
            .entry("subscription.created")
            .target("User", user.uuid())
            .attributes(["subscriptions"]);
        let data_source_id = self
            .store
            .add_subscription(&s, &entry, now)
            .await
            .map_err(|e| not_found_as_account(e, user))?;
        Ok(SubscriptionView::from(&LinkedSubscription {
            subscription: s,
            data_source_id,
            source: MANUAL.to_owned(),
        }))
    }

    /// The data source a new subscription names: a registered one by
    /// `dataSourceId` (`dataSource`, if given too, must be its name), or
    /// free text in `dataSource` (linked once a data source of that name
    /// is registered).
    async fn subscribed_source(
        &self,
        body: &Value,
        text: &impl Fn(&str) -> Result<String>,
    ) -> Result<String> {
        let id = match body.get("dataSourceId") {
            None | Some(Value::Null) => return text("dataSource"),
            Some(v) => v
                .as_str()
                .and_then(|s| s.parse::<DataSourceId>().ok())
                .ok_or_else(|| Error::invalid_value("'dataSourceId' must be a data source id"))?,
        };
        let source = self
            .store
            .data_source(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("no data source with id {id}")))?;
        match body.get("dataSource") {
            None | Some(Value::Null) => Ok(source.name),
            Some(named) if named.as_str() == Some(source.name.as_str()) => Ok(source.name),
            Some(_) => Err(Error::invalid_value(
                "'dataSource' must be the name of the data source 'dataSourceId' names",
            )),
        }
    }

    pub async fn remove_subscription(&self, ctx: &Ctx, user: UserId, id: Uuid) -> Result<()> {
        ctx.require(may::MANAGE_SUBSCRIPTIONS)?;
        let entry = ctx
            .entry("subscription.removed")
            .target("User", user.uuid())
            .attributes(["subscriptions"]);
        if self
            .store
            .remove_subscription(user, id, &entry, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(Error::not_found(format!(
                "the account has no subscription {id}"
            )))
        }
    }
}

/// A subscription as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    pub id: Uuid,
    /// The data source's name, or the free text it was subscribed under.
    pub data_source: String,
    /// The registered data source; none while `dataSource` names none.
    pub data_source_id: Option<DataSourceId>,
    pub role: String,
    /// Where it comes from: `manual` (an administrator or an import), or
    /// `policy:<policyKey>` (a policy with `automaticSubscription`).
    pub source: String,
    pub subscribed: Timestamp,
    pub expires: Option<Timestamp>,
}

impl From<&LinkedSubscription> for SubscriptionView {
    fn from(l: &LinkedSubscription) -> Self {
        let s = &l.subscription;
        SubscriptionView {
            id: s.id,
            data_source: s.data_source.clone(),
            data_source_id: l.data_source_id,
            role: s.role.clone(),
            source: l.source.clone(),
            subscribed: Timestamp(s.subscribed),
            expires: s.expires.map(Timestamp),
        }
    }
}
