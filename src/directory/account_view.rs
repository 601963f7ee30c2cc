//! What administrators read about accounts: the aggregated view of one
//! (profile, permissions with sources, attributes, groups, subscriptions),
//! its governance report, and pages of account summaries.

use std::collections::HashMap;

use serde_json::{Value, json};
use uuid::Uuid;

use super::accounts::Ctx;
use super::attributes::values_at;
use super::audit_log::audit_json;
use super::permissions::may;
use super::subscriptions::subscription_json;
use super::{Directory, Result, rfc3339};
use crate::scim::ScimError;
use crate::scim::resource::fold_case;
use crate::store::GroupRef;
use crate::store::accounts::{Account, AccountQuery, AccountSort};

impl Directory {
    async fn iam_names(&self) -> Result<HashMap<Uuid, String>> {
        Ok(self
            .store
            .list_iams()
            .await?
            .into_iter()
            .map(|i| (i.id, i.name))
            .collect())
    }

    /// The admin API's aggregated view of an account.
    pub async fn account_view(&self, ctx: &Ctx, id: Uuid) -> Result<Value> {
        ctx.require(may::READ_ACCOUNTS)?;
        self.view(id).await
    }

    async fn view(&self, id: Uuid) -> Result<Value> {
        let a = self.account(id).await?;
        let names = self.iam_names().await?;
        let permissions = self.effective_permissions(&a).await?;
        let attributes = self.attribute_layers(&a).await?;
        let groups: Vec<(Uuid, GroupRef)> = self
            .groups_by_iam(&a)
            .await?
            .into_iter()
            .flat_map(|(iam, gs)| gs.into_iter().map(move |g| (iam, g)))
            .collect();
        let subscriptions = self.store.subscriptions(a.id).await?;
        let mut view = summary(&a, &names);
        let obj = view.as_object_mut().expect("an object");
        obj.insert("emails".into(), json!(values_at(&a.doc, "emails.value")));
        obj.insert(
            "permissions".into(),
            json!(permissions.keys().collect::<Vec<_>>()),
        );
        obj.insert(
            "permissionSources".into(),
            json!(
                permissions
                    .iter()
                    .map(|(p, s)| json!({"permission": p, "sources": s}))
                    .collect::<Vec<_>>()
            ),
        );
        obj.insert("attributes".into(), attributes);
        obj.insert(
            "groups".into(),
            json!(
                groups
                    .iter()
                    .map(|(iam, g)| json!({
                        "id": g.id,
                        "displayName": g.display_name,
                        "direct": g.direct,
                        "iam": names.get(iam),
                    }))
                    .collect::<Vec<_>>()
            ),
        );
        obj.insert(
            "subscriptions".into(),
            json!(
                subscriptions
                    .iter()
                    .map(subscription_json)
                    .collect::<Vec<_>>()
            ),
        );
        Ok(view)
    }

    /// A page of accounts; `iam` names the IAM they must be of (instead
    /// of `q.iam`), looked up only once the caller may read accounts.
    pub async fn list_accounts(
        &self,
        ctx: &Ctx,
        iam: Option<&str>,
        mut q: AccountQuery,
    ) -> Result<Value> {
        ctx.require(may::READ_ACCOUNTS)?;
        if let Some(name) = iam {
            q.iam = Some(self.iam(name).await?.id);
        }
        q.search = q.search.map(|s| fold_case(&s)).filter(|s| !s.is_empty());
        let (items, count) = self.store.list_accounts(&q).await?;
        let names = self.iam_names().await?;
        // A capped count past its cap: "more than cap".
        let capped = q.count_cap.filter(|c| count > *c);
        Ok(json!({
            "hits": items.iter().map(|a| summary(a, &names)).collect::<Vec<_>>(),
            "count": capped.unwrap_or(count),
            "countIsLowerBound": capped.is_some(),
        }))
    }

    /// The governance report: everything about the account plus the audit
    /// trail of changes to it.
    pub async fn report(&self, ctx: &Ctx, user: Uuid) -> Result<Value> {
        ctx.require(may::READ_REPORTS)?;
        let mut view = self.view(user).await?;
        let (trail, _) = self
            .store
            .audit_records(&crate::store::accounts::AuditQuery {
                target: Some(user),
                limit: 1000,
                ..Default::default()
            })
            .await?;
        let joined = self.store.membership_dates(user).await?;
        if let Some(groups) = view.get_mut("groups").and_then(Value::as_array_mut) {
            for g in groups {
                let id = g
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok());
                if let Some(t) = id.and_then(|id| joined.get(&id)) {
                    g["joined"] = json!(rfc3339(*t));
                }
            }
        }
        view["auditTrail"] = json!(trail.iter().map(audit_json).collect::<Vec<_>>());
        Ok(view)
    }
}

fn summary(a: &Account, names: &HashMap<Uuid, String>) -> Value {
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
    json!({
        "id": a.id,
        "iam": name(a.iam_id),
        "deprovisionedFrom": name(a.deprovisioned_from),
        "userName": a.user_name,
        "fullName": full_name,
        "active": a.active,
        "disabled": a.disabled || a.deprovisioned.is_some(),
        "disabledByAdmin": a.disabled,
        "deprovisioned": a.deprovisioned.map(rfc3339),
        "created": rfc3339(a.created),
        "lastModified": rfc3339(a.last_modified),
    })
}

pub fn parse_sort(s: Option<&str>) -> std::result::Result<(AccountSort, bool), ScimError> {
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
            return Err(ScimError::invalid_value(
                "sort is userName, created or lastModified, '-' first for descending",
            ));
        }
    };
    Ok((sort, desc))
}
