//! Who governs an account's permissions: the IAM's `permissionsSource`.
//! With `bridge` (the default) administrators do, and an identity
//! provider's write that changes a user's `roles` is refused
//! (`mutability`). With `idp`, the roles and entitlements the identity
//! provider sends on its users (every write: POST, PUT, each PATCH form,
//! Bulk) are what the account holds from source `idp:<iam>`: after each
//! write that set is made what the user's document now names, never
//! touching grants from any other source. What it may grant is the IAM's
//! `idpGrantable`; values naming nothing are refused, naming them.
//! Such an IAM's User schema describes `entitlements` as writable
//! (`schema::USER_GOVERNED`, see `Directory::resource_types`), so that
//! validation and the PATCH engine keep it like `roles`; with `bridge` it is
//! read-only: a PATCH of it is refused, a POST or PUT value ignored
//! (RFC 7644 §3.5.2, §3.5.1).

use std::collections::BTreeSet;

use serde_json::Value;
use uuid::Uuid;

use super::catalogue::Catalogue;
use super::iam_settings::PermissionsSource;
use super::permissions::USER_ADMIN;
use super::{Directory, Error, Invalid, Result, Scope, changes, truncate};
use crate::store::roles::{Expansion, HeldRoles};

/// The most roles, and the most entitlements, one user's document may
/// assign.
pub const MAX_ASSIGNED: usize = 100;

/// The values a user document's `roles` or `entitlements` name: each
/// element's `value` (or a bare string); Entra's JSON object inside a
/// string (`"{\"id\":…,\"value\":\"Admin\"}"`) names its own `value`,
/// else its `id`.
pub fn assigned_values(doc: &Value, attr: &str) -> Vec<String> {
    let Some(list) = doc.get(attr).and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| match e {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("value").and_then(Value::as_str),
            _ => None,
        })
        .map(|v| {
            let inner = v
                .trim_start()
                .starts_with('{')
                .then(|| serde_json::from_str::<Value>(v).ok())
                .flatten();
            match inner {
                Some(o) => ["value", "id", "displayName"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_str))
                    .unwrap_or(v)
                    .to_owned(),
                None => v.to_owned(),
            }
        })
        .collect()
}

/// What an identity provider's values name: roles and permissions.
#[derive(Debug, Default)]
struct Named {
    roles: BTreeSet<String>,
    permissions: BTreeSet<String>,
    unknown: BTreeSet<String>,
}

impl Named {
    /// `roles[].value` names a role first, `entitlements[].value` a
    /// permission first; either may name the other by its value or id.
    fn add(&mut self, cat: &Catalogue, value: &str, role_first: bool) {
        let role = cat.roles.find(value).map(|r| r.name.clone());
        let permission = cat
            .permissions
            .iter()
            .find(|p| p.name == value)
            .map(|p| p.name.clone());
        match (role, permission) {
            (Some(r), Some(_)) if role_first => self.roles.insert(r),
            (_, Some(p)) => self.permissions.insert(p),
            (Some(r), None) => self.roles.insert(r),
            (None, None) => self.unknown.insert(value.to_owned()),
        };
    }
}

/// The change a write makes to what the identity provider assigns.
#[derive(Debug)]
pub struct Assignment {
    source: String,
    add: Vec<Expansion>,
    remove: Vec<String>,
    grant: Vec<String>,
    revoke: Vec<String>,
    /// Who keeps USER_ADMIN through groups, when the change may take it.
    admins: Option<Vec<Uuid>>,
}

impl Assignment {
    fn is_empty(&self) -> bool {
        self.add.is_empty()
            && self.remove.is_empty()
            && self.grant.is_empty()
            && self.revoke.is_empty()
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

impl Directory {
    /// Before a user write (`old`: the stored document, None for a
    /// create; `user`: the account, if it exists): refuses what the IAM's
    /// `permissionsSource` does not allow, and returns what the write
    /// changes of the identity provider's assignments (None: nothing).
    /// Nothing is written here.
    pub(super) async fn plan_assignment(
        &self,
        scope: &Scope,
        user: Option<Uuid>,
        old: Option<&Value>,
        new: &Value,
    ) -> Result<Option<Assignment>> {
        let settings = self.iam_settings(scope.iam.uuid()).await?;
        let before = old.map(|d| sorted(assigned_values(d, "roles")));
        let after = sorted(assigned_values(new, "roles"));
        if settings.permissions_source == PermissionsSource::Bridge {
            if !after.is_empty() && before.unwrap_or_default() != after {
                return Err(Error::invalid(
                    Invalid::Mutability,
                    "roles are assigned by administrators here: this IAM's permissionsSource is \
                     bridge (an administrator may set it to idp)",
                ));
            }
            return Ok(None);
        }
        let entitlements = sorted(assigned_values(new, "entitlements"));
        if after.len() > MAX_ASSIGNED || entitlements.len() > MAX_ASSIGNED {
            return Err(Error::invalid_value(format!(
                "a user is assigned at most {MAX_ASSIGNED} roles and {MAX_ASSIGNED} entitlements; \
                 this one names {} roles and {} entitlements",
                after.len(),
                entitlements.len()
            )));
        }
        let cat = self.catalogue().await?;
        let mut named = Named::default();
        for v in &after {
            named.add(&cat, v, true);
        }
        for v in &entitlements {
            named.add(&cat, v, false);
        }
        if !named.unknown.is_empty() {
            let list: Vec<String> = named.unknown.iter().take(10).map(|u| truncate(u)).collect();
            return Err(Error::invalid_value(format!(
                "no role or entitlement named {} (the catalogue: /Roles and /Entitlements)",
                list.join(", ")
            )));
        }
        let source = self.idp_source(scope).await?;
        let (held_roles, held_permissions) = match user {
            Some(u) => (
                self.store
                    .user_roles(u)
                    .await?
                    .into_iter()
                    .filter(|(_, s)| *s == source)
                    .map(|(r, _)| r)
                    .collect::<BTreeSet<_>>(),
                self.store
                    .grants(u)
                    .await?
                    .into_iter()
                    .filter(|g| g.source == source)
                    .map(|g| g.permission)
                    .collect::<BTreeSet<_>>(),
            ),
            None => Default::default(),
        };
        let add: Vec<String> = named.roles.difference(&held_roles).cloned().collect();
        let remove: Vec<String> = held_roles.difference(&named.roles).cloned().collect();
        let grant: Vec<String> = named
            .permissions
            .difference(&held_permissions)
            .cloned()
            .collect();
        let revoke: Vec<String> = held_permissions
            .difference(&named.permissions)
            .cloned()
            .collect();
        // What the additions bring must all be the provider's to grant.
        let brought: BTreeSet<String> = add
            .iter()
            .flat_map(|r| cat.roles.closure(r))
            .chain(grant.iter().cloned())
            .collect();
        let beyond: Vec<&str> = brought
            .iter()
            .map(String::as_str)
            .filter(|p| !settings.idp_may_grant(p))
            .collect();
        if !beyond.is_empty() {
            return Err(Error::refused(format!(
                "this identity provider may not grant {} (the IAM's idpGrantable)",
                beyond.join(", ")
            )));
        }
        let takes_admin = remove
            .iter()
            .any(|r| cat.roles.closure(r).contains(USER_ADMIN))
            || revoke.iter().any(|p| p == USER_ADMIN);
        let admins = if takes_admin {
            self.admins_beside_grants().await?
        } else {
            None
        };
        let add = add
            .into_iter()
            .map(|role| Expansion {
                permissions: cat.roles.closure(&role).into_iter().collect(),
                role,
            })
            .collect();
        let plan = Assignment {
            source,
            add,
            remove,
            grant,
            revoke,
            admins,
        };
        Ok((!plan.is_empty()).then_some(plan))
    }

    /// After the user write: makes the account's `idp:<iam>` roles and
    /// grants what the plan says, in one transaction with their records.
    pub(super) async fn apply_assignment(
        &self,
        scope: &Scope,
        user: Uuid,
        plan: Option<Assignment>,
    ) -> Result<()> {
        let Some(plan) = plan else {
            return Ok(());
        };
        let who = scope.audit();
        let records =
            |d: &crate::store::roles::RoleDelta<'_>| changes::roles_changed(&who, user, d);
        self.store
            .change_user_roles(
                user,
                &HeldRoles {
                    source: &plan.source,
                    add: &plan.add,
                    remove: &plan.remove,
                    grant: &plan.grant,
                    revoke: &plan.revoke,
                    last_admin: plan.admins.as_deref().map(super::guard::store_guard),
                    records: &records,
                },
                self.now(),
            )
            .await
            .map_err(super::accounts::guarded)
    }

    /// `idp:<iam name>`: the source of what this IAM's identity provider
    /// assigns.
    async fn idp_source(&self, scope: &Scope) -> Result<String> {
        let iam = self
            .store
            .list_iams()
            .await?
            .into_iter()
            .find(|i| i.id == scope.iam.uuid())
            .ok_or_else(|| Error::Internal("the token's IAM is gone".into()))?;
        Ok(format!("idp:{}", iam.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_read_in_each_shape_identity_providers_send() {
        let doc = json!({"roles": [
            {"value": "Admin", "primary": true},
            {"value": "{\"id\":\"7c1a\",\"value\":\"Reader\",\"displayName\":\"Reader\"}"},
            {"value": "{\"id\":\"9f00\"}"},
            "Bare",
            {"display": "no value"},
        ]});
        assert_eq!(
            assigned_values(&doc, "roles"),
            ["Admin", "Reader", "9f00", "Bare"]
        );
        assert!(assigned_values(&doc, "entitlements").is_empty());
    }
}
