//! An administrator's SCIM PATCH of a user: only what the internal IAM owns
//! — `entitlements` (or the bridge extension's `permissions`), the bridge
//! extension's `attributes` and `disabled`. Identity fields belong to the
//! identity provider and are refused (403). Every operation is checked
//! before any is applied; each applied change is audited as the admin API's
//! own would be.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use uuid::Uuid;

use super::accounts::Ctx;
use super::ids::UserId;
use super::permissions::USER_ADMIN;
use super::{Directory, Error, Result, changes, truncate};
use crate::scim::filter::{CompareOp, Filter, Literal};
use crate::scim::patch::{OpKind, PatchRequest};
use crate::scim::schema::BRIDGE_USER_SCHEMA;
use crate::store::accounts::{AccountChange, AttributeOp, SOURCE_DIRECT, SOURCE_IAM_DEFAULT};

/// One change an administrator's PATCH asks for.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    AddPermissions(Vec<String>),
    RemovePermissions(Vec<String>),
    /// The permissions granted here become exactly these.
    SetPermissions(Vec<String>),
    Attributes(Vec<AttributeOp>),
    Disabled(bool),
}

/// Refused: what an administrator's SCIM PATCH names belongs to the
/// identity provider.
fn idp_owned(what: &str) -> Error {
    Error::refused(format!(
        "an administrator's SCIM PATCH changes only what the internal IAM owns \
             (entitlements, {BRIDGE_USER_SCHEMA}:attributes, :disabled); '{}' belongs to the identity provider",
        truncate(what)
    ))
}

fn bad(detail: impl Into<String>) -> Error {
    Error::invalid_value(detail)
}

/// `value eq "X"` (or `name eq "X"`) inside brackets: the X.
fn eq_on(filter: &Filter, sub: &str) -> Option<String> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Literal::String(s),
        } if path.urn.is_none() && path.sub.is_none() && path.attr.eq_ignore_ascii_case(sub) => {
            Some(s.clone())
        }
        _ => None,
    }
}

/// Permission names from `[{"value": P}, …]`, `["P", …]` or one of them.
fn permission_names(v: Option<&Value>) -> Result<Vec<String>> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
    };
    items
        .into_iter()
        .map(|i| {
            i.as_str()
                .or_else(|| i.get("value").and_then(Value::as_str))
                .map(str::to_owned)
                .ok_or_else(|| bad("entitlements are permission names: {\"value\": \"NAME\"}"))
        })
        .collect()
}

/// `[{"name": K, "value": V}, …]` grouped by name.
fn attribute_pairs(v: Option<&Value>) -> Result<BTreeMap<String, Vec<String>>> {
    let items: Vec<&Value> = match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err(bad("attributes are [{\"name\": KEY, \"value\": VALUE}, …]")),
    };
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in items {
        let name = i.get("name").and_then(Value::as_str);
        let value = i.get("value").and_then(Value::as_str);
        match (name, value) {
            (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => {
                out.entry(n.to_owned()).or_default().push(v.to_owned())
            }
            _ => return Err(bad("each attribute is {\"name\": KEY, \"value\": VALUE}")),
        }
    }
    Ok(out)
}

fn boolean(v: Option<&Value>) -> Result<bool> {
    match v {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(bad("disabled is true or false")),
    }
}

/// Translates a PatchOp request into changes, refusing anything else.
fn changes(req: &PatchRequest) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for op in &req.operations {
        let Some(path) = &op.path else {
            return Err(idp_owned("a PATCH without a path"));
        };
        let bridge = path
            .urn
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(BRIDGE_USER_SCHEMA));
        let attr = path.attr.to_ascii_lowercase();
        let is_permissions =
            (path.urn.is_none() && attr == "entitlements") || (bridge && attr == "permissions");
        if is_permissions && path.sub.is_none() {
            let named = path.filter.as_ref().map(|f| eq_on(f, "value"));
            out.push(match (op.op, named) {
                (OpKind::Remove, Some(Some(p))) => Change::RemovePermissions(vec![p]),
                (_, Some(_)) => {
                    return Err(bad(
                        "a value filter on entitlements is [value eq \"NAME\"], with remove",
                    ));
                }
                (OpKind::Add, None) => Change::AddPermissions(permission_names(op.value.as_ref())?),
                (OpKind::Replace, None) => {
                    Change::SetPermissions(permission_names(op.value.as_ref())?)
                }
                (OpKind::Remove, None) => match permission_names(op.value.as_ref())? {
                    all if all.is_empty() => Change::SetPermissions(Vec::new()),
                    some => Change::RemovePermissions(some),
                },
            });
        } else if bridge && attr == "attributes" && path.sub.is_none() {
            let named = path.filter.as_ref().map(|f| eq_on(f, "name"));
            let ops: Vec<AttributeOp> = match (op.op, named) {
                (OpKind::Remove, Some(Some(key))) => vec![AttributeOp::Remove {
                    key,
                    values: Vec::new(),
                }],
                (_, Some(_)) => {
                    return Err(bad(
                        "a value filter on attributes is [name eq \"KEY\"], with remove",
                    ));
                }
                (kind, None) => attribute_pairs(op.value.as_ref())?
                    .into_iter()
                    .map(|(key, values)| match kind {
                        OpKind::Add => AttributeOp::Add { key, values },
                        OpKind::Replace => AttributeOp::Replace { key, values },
                        OpKind::Remove => AttributeOp::Remove { key, values },
                    })
                    .collect(),
            };
            out.push(Change::Attributes(ops));
        } else if bridge && attr == "disabled" && path.filter.is_none() && path.sub.is_none() {
            match op.op {
                OpKind::Remove => out.push(Change::Disabled(false)),
                _ => out.push(Change::Disabled(boolean(op.value.as_ref())?)),
            }
        } else {
            return Err(idp_owned(&path.raw));
        }
    }
    Ok(out)
}

impl Directory {
    /// Applies an administrator's SCIM PATCH to the account `id`: what
    /// the admin API's account changes need (USER_ADMIN).
    pub async fn admin_patch_user(&self, ctx: &Ctx, id: Uuid, body: &Value) -> Result<()> {
        ctx.require(super::permissions::may::MANAGE_ACCOUNTS)?;
        let req = PatchRequest::parse_bounded(
            body,
            &self.limits.filter,
            self.limits.patch_max_operations,
        )?;
        let planned = changes(&req)?;
        // Check what can be checked before anything changes.
        let account = self.account(UserId::new(id)).await?;
        let catalogue: BTreeSet<String> = self
            .permission_catalogue()
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect();
        for c in &planned {
            if let Change::AddPermissions(ps) | Change::SetPermissions(ps) = c
                && let Some(p) = ps.iter().find(|p| !catalogue.contains(*p))
            {
                return Err(bad(format!(
                    "no permission named '{}' in the catalogue",
                    truncate(p)
                )));
            }
            if let Change::Attributes(ops) = c {
                let body = serde_json::json!({"operations": ops.iter().map(attribute_op_json).collect::<Vec<_>>()});
                super::accounts::attribute_ops(&body)?;
            }
        }
        // Fold the operations, in order, into one change of the account,
        // written in one transaction: an operation refused refuses all.
        let held = self.effective_permissions(&account).await?;
        let initial: BTreeSet<String> = self
            .store
            .grants(id)
            .await?
            .into_iter()
            .filter(|g| g.source == SOURCE_DIRECT || g.source == SOURCE_IAM_DEFAULT)
            .map(|g| g.permission)
            .collect();
        let mut here = initial.clone();
        let mut attribute_ops: Vec<AttributeOp> = Vec::new();
        let mut disabled = account.disabled;
        for c in planned {
            match c {
                Change::AddPermissions(ps) => here.extend(ps),
                Change::RemovePermissions(ps) => {
                    for p in ps {
                        if !here.remove(&p) {
                            return Err(if held.contains_key(&p) {
                                Error::conflict(format!(
                                    "{} comes from the account's groups or roles; change the group mapping or the role instead",
                                    truncate(&p)
                                ))
                            } else {
                                Error::not_found(format!(
                                    "the account does not hold {}",
                                    truncate(&p)
                                ))
                            });
                        }
                    }
                }
                Change::SetPermissions(ps) => here = ps.into_iter().collect(),
                Change::Attributes(ops) => attribute_ops.extend(ops),
                Change::Disabled(d) => disabled = d,
            }
        }
        let add: Vec<(String, &'static str)> = here
            .difference(&initial)
            .map(|p| (p.clone(), SOURCE_DIRECT))
            .collect();
        let remove: Vec<String> = initial.difference(&here).cloned().collect();
        ctx.require_grant(add.iter().map(|(p, _)| p).chain(&remove))?;
        let disabling = disabled && !account.disabled;
        let mut change = super::guard::WhatIf::default();
        if remove.iter().any(|p| p == USER_ADMIN) {
            change.grants_out.insert(UserId::new(id));
        }
        if disabling {
            change.accounts_out.insert(UserId::new(id));
        }
        let admins_after = self.guard_user_admins(&change).await?;
        let disabled_entry = ctx
            .entry(if disabled {
                "user.disabled"
            } else {
                "user.enabled"
            })
            .target("User", id)
            .attributes(["disabled"]);
        let who = ctx.entry("");
        self.store
            .change_account(
                id,
                &AccountChange {
                    grants_add: &add,
                    grants_remove: &remove,
                    grant_records: &|d| changes::grants_changed(&who, id, d),
                    attributes: &attribute_ops,
                    attribute_records: &|d| changes::attributes_changed(&who, "User", id, d),
                    disabled: (disabled != account.disabled).then_some((disabled, &disabled_entry)),
                    last_admin: super::guard::store_guard(&admins_after),
                },
                self.now(),
            )
            .await
            .map_err(super::accounts::guarded)?;
        self.resubscribe(&who, UserId::new(id)).await
    }
}

/// An attribute operation in the admin API's JSON form.
fn attribute_op_json(op: &AttributeOp) -> Value {
    let (name, key, values) = match op {
        AttributeOp::Add { key, values } => ("add", key, values),
        AttributeOp::Remove { key, values } => ("remove", key, values),
        AttributeOp::Replace { key, values } => ("replace", key, values),
    };
    serde_json::json!({"op": name, "name": key, "values": values})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::FilterLimits;
    use serde_json::json;

    fn plan(ops: Value) -> Result<Vec<Change>> {
        let req = PatchRequest::parse(&json!({ "Operations": ops }), &FilterLimits::default())?;
        changes(&req)
    }

    #[test]
    fn translates_what_the_internal_iam_owns() {
        let ext = BRIDGE_USER_SCHEMA;
        assert_eq!(
            plan(json!([
                {"op": "add", "path": "entitlements", "value": [{"value": "AUDIT"}, "GOVERNANCE"]},
                {"op": "Remove", "path": "entitlements[value eq \"CREATE_PROJECT\"]"},
                {"op": "replace", "path": format!("{ext}:disabled"), "value": "True"},
                {"op": "add", "path": format!("{ext}:attributes"), "value": [{"name": "k", "value": "v"}]},
                {"op": "remove", "path": format!("{ext}:attributes[name eq \"k\"]")},
            ]))
            .unwrap(),
            vec![
                Change::AddPermissions(vec!["AUDIT".into(), "GOVERNANCE".into()]),
                Change::RemovePermissions(vec!["CREATE_PROJECT".into()]),
                Change::Disabled(true),
                Change::Attributes(vec![AttributeOp::Add { key: "k".into(), values: vec!["v".into()] }]),
                Change::Attributes(vec![AttributeOp::Remove { key: "k".into(), values: vec![] }]),
            ]
        );
    }

    #[test]
    fn identity_fields_are_refused() {
        for op in [
            json!({"op": "replace", "path": "title", "value": "x"}),
            json!({"op": "replace", "value": {"entitlements": []}}),
            json!({"op": "replace", "path": "entitlements.value", "value": "x"}),
            json!({"op": "add", "path": "name.givenName", "value": "x"}),
        ] {
            assert_eq!(plan(json!([op])).unwrap_err().to_scim().status, 403, "{op}");
        }
        let e = plan(
            json!([{"op": "replace", "path": format!("{BRIDGE_USER_SCHEMA}:disabled"), "value": "maybe"}]),
        );
        assert_eq!(e.unwrap_err().to_scim().status, 400);
    }
}
