//! What administrators read about accounts: the aggregated view of one
//! (profile, permissions with sources, attributes, groups, subscriptions),
//! its governance report, and pages of account summaries. Typed: the admin
//! API serializes them, the console renders them.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts::Ctx;
use super::attributes::{AttributeLayers, values_at};
use super::audit_log::AuditView;
use super::grants::Permissions;
use super::ids::{GroupId, UserId};
use super::permissions::may;
use super::subscriptions::SubscriptionView;
use super::{Directory, Error, Result, Timestamp};
use crate::scim::resource::fold_case;
use crate::store::accounts::{Account, AccountQuery, AccountSort};

/// One account as the lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountSummary {
    pub id: UserId,
    /// The IAM's name; None once detached.
    pub iam: Option<String>,
    pub deprovisioned_from: Option<String>,
    pub user_name: String,
    pub full_name: Option<String>,
    /// The identity provider's own `active`.
    pub active: bool,
    /// Disabled here or detached from its identity provider.
    pub disabled: bool,
    pub disabled_by_admin: bool,
    pub deprovisioned: Option<Timestamp>,
    pub created: Timestamp,
    pub last_modified: Timestamp,
}

impl AccountSummary {
    /// What to call the person: the full name, else the userName.
    pub fn name(&self) -> &str {
        self.full_name.as_deref().unwrap_or(&self.user_name)
    }
}

/// A group an account is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMembership {
    pub id: GroupId,
    pub display_name: String,
    /// A member itself, not through a nested group.
    pub direct: bool,
    /// The name of the group's IAM.
    pub iam: Option<String>,
    /// When it joined (the governance report only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined: Option<Timestamp>,
}

/// The aggregated view of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    #[serde(flatten)]
    pub account: AccountSummary,
    pub emails: Vec<String>,
    #[serde(flatten)]
    pub permissions: Permissions,
    /// The roles it holds, each with where it comes from (`direct`,
    /// `idp:<iam>`); left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub roles: Vec<HeldRole>,
    pub attributes: AttributeLayers,
    pub groups: Vec<GroupMembership>,
    pub subscriptions: Vec<SubscriptionView>,
}

/// A role an account holds and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HeldRole {
    pub role: String,
    pub source: String,
}

/// The governance report: the account's view (groups with the day each
/// was joined) and the audit trail of changes to it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountReport {
    #[serde(flatten)]
    pub view: AccountView,
    pub audit_trail: Vec<AuditView>,
}

/// A page of account summaries.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountPage {
    pub hits: Vec<AccountSummary>,
    /// The matches, or the cap when there are more (see `count_is_lower_bound`).
    pub count: u64,
    pub count_is_lower_bound: bool,
}

impl Directory {
    pub(super) async fn iam_names(&self) -> Result<HashMap<Uuid, String>> {
        Ok(self
            .store
            .list_iams()
            .await?
            .into_iter()
            .map(|i| (i.id, i.name))
            .collect())
    }

    /// The admin API's aggregated view of an account.
    pub async fn account_view(&self, ctx: &Ctx, id: UserId) -> Result<AccountView> {
        ctx.require(may::READ_ACCOUNTS)?;
        self.view(id).await
    }

    /// The account's groups are read once, here, and handed to what
    /// derives from them: permissions through the group mapping, the
    /// inherited attributes, the view's own list.
    async fn view(&self, id: UserId) -> Result<AccountView> {
        let a = self.account(id).await?;
        let names = self.iam_names().await?;
        let groups = self.groups_by_iam(&a).await?;
        let permissions = self.permissions_through(&a, &groups).await?;
        let attributes = self.attribute_layers(&a, &groups).await?;
        let subscriptions = self.store.subscriptions(a.id).await?;
        let roles = self.held_roles(id).await?;
        Ok(AccountView {
            account: summary(&a, &names),
            emails: values_at(&a.doc, "emails.value"),
            permissions: permissions.into(),
            roles: roles
                .into_iter()
                .map(|(role, source)| HeldRole { role, source })
                .collect(),
            attributes,
            groups: groups
                .into_iter()
                .flat_map(|(iam, gs)| {
                    let iam = names.get(&iam.uuid()).cloned();
                    gs.into_iter().map(move |g| GroupMembership {
                        id: GroupId::new(g.id),
                        display_name: g.display_name,
                        direct: g.direct,
                        iam: iam.clone(),
                        joined: None,
                    })
                })
                .collect(),
            subscriptions: subscriptions.iter().map(SubscriptionView::from).collect(),
        })
    }

    /// A page of accounts; `iam` names the IAM they must be of (instead
    /// of `q.iam`), looked up only once the caller may read accounts.
    pub async fn list_accounts(
        &self,
        ctx: &Ctx,
        iam: Option<&str>,
        mut q: AccountQuery,
    ) -> Result<AccountPage> {
        ctx.require(may::READ_ACCOUNTS)?;
        if let Some(name) = iam {
            q.iam = Some(self.iam(name).await?.id);
        }
        q.search = q.search.map(|s| fold_case(&s)).filter(|s| !s.is_empty());
        let (items, count) = self.store.list_accounts(&q).await?;
        let names = self.iam_names().await?;
        // A capped count past its cap: "more than cap".
        let capped = q.count_cap.filter(|c| count > *c);
        Ok(AccountPage {
            hits: items.iter().map(|a| summary(a, &names)).collect(),
            count: capped.unwrap_or(count),
            count_is_lower_bound: capped.is_some(),
        })
    }

    /// The governance report: everything about the account plus the audit
    /// trail of changes to it.
    pub async fn report(&self, ctx: &Ctx, user: UserId) -> Result<AccountReport> {
        ctx.require(may::READ_REPORTS)?;
        let mut view = self.view(user).await?;
        let (trail, _) = self
            .store
            .audit_records(&crate::store::accounts::AuditQuery {
                target: Some(user.uuid()),
                limit: 1000,
                ..Default::default()
            })
            .await?;
        let joined = self.store.membership_dates(user.uuid()).await?;
        for g in &mut view.groups {
            g.joined = joined.get(&g.id.uuid()).copied().map(Timestamp);
        }
        Ok(AccountReport {
            view,
            audit_trail: trail.iter().map(AuditView::from).collect(),
        })
    }
}

pub(super) fn summary(a: &Account, names: &HashMap<Uuid, String>) -> AccountSummary {
    let name = |id: Option<Uuid>| id.and_then(|i| names.get(&i).cloned());
    let full_name = a
        .doc
        .pointer("/name/formatted")
        .or_else(|| a.doc.get("displayName"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let given = a.doc.pointer("/name/givenName").and_then(Value::as_str)?;
            let family = a
                .doc
                .pointer("/name/familyName")
                .and_then(Value::as_str)
                .unwrap_or("");
            Some(format!("{given} {family}").trim().to_owned())
        });
    AccountSummary {
        id: UserId::new(a.id),
        iam: name(a.iam_id),
        deprovisioned_from: name(a.deprovisioned_from),
        user_name: a.user_name.clone(),
        full_name,
        active: a.active,
        disabled: a.disabled || a.deprovisioned.is_some(),
        disabled_by_admin: a.disabled,
        deprovisioned: a.deprovisioned.map(Timestamp),
        created: Timestamp(a.created),
        last_modified: Timestamp(a.last_modified),
    }
}

pub fn parse_sort(s: Option<&str>) -> Result<(AccountSort, bool)> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok((AccountSort::UserName, false));
    };
    let (desc, key) = match s.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, s),
    };
    let sort = match key {
        "userName" => AccountSort::UserName,
        "created" => AccountSort::Created,
        "lastModified" => AccountSort::LastModified,
        _ => {
            return Err(Error::invalid_value(
                "sort is userName, created or lastModified, '-' first for descending",
            ));
        }
    };
    Ok((sort, desc))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    /// The shape the admin API has always answered: the summary's fields
    /// at the top, `permissions` as names beside `permissionSources`, a
    /// group's `joined` only when known, nulls where nothing is known.
    #[test]
    fn a_view_serializes_as_the_admin_api_answers() {
        let at = Timestamp(datetime!(2026-01-31 12:00 UTC));
        let view = AccountView {
            account: AccountSummary {
                id: UserId::new(Uuid::nil()),
                iam: None,
                deprovisioned_from: Some("idp".into()),
                user_name: "ada".into(),
                full_name: None,
                active: true,
                disabled: true,
                disabled_by_admin: false,
                deprovisioned: Some(at),
                created: at,
                last_modified: at,
            },
            emails: vec!["ada@example.com".into()],
            permissions: BTreeMap::from([("AUDIT".to_owned(), vec!["direct".to_owned()])]).into(),
            roles: Vec::new(),
            attributes: AttributeLayers {
                managed: BTreeMap::from([("team".into(), BTreeSet::from(["x".into()]))]),
                ..Default::default()
            },
            groups: vec![GroupMembership {
                id: GroupId::new(Uuid::nil()),
                display_name: "G".into(),
                direct: true,
                iam: None,
                joined: None,
            }],
            subscriptions: Vec::new(),
        };
        let t = "2026-01-31T12:00:00Z";
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({
                "id": Uuid::nil(), "iam": null, "deprovisionedFrom": "idp",
                "userName": "ada", "fullName": null, "active": true,
                "disabled": true, "disabledByAdmin": false,
                "deprovisioned": t, "created": t, "lastModified": t,
                "emails": ["ada@example.com"],
                "permissions": ["AUDIT"],
                "permissionSources": [{"permission": "AUDIT", "sources": ["direct"]}],
                "attributes": {
                    "identityProvider": {}, "managed": {"team": ["x"]},
                    "inherited": {}, "effective": {},
                },
                "groups": [{"id": Uuid::nil(), "displayName": "G", "direct": true, "iam": null}],
                "subscriptions": [],
            })
        );
    }
}
