//! The bridge: what the internal IAM owns about an account — permissions
//! with their sources, attributes in two layers, subscriptions — and the
//! account's fate (disable, permanent delete, migration), for
//! administrators. Every change is audited in its own transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::permissions::may;
use super::{Directory, Error, Result, rfc3339, truncate};
use crate::audit::{Actor, Entry};
use crate::scim::ScimError;
use crate::scim::resource::fold_case;
use crate::scim::schema::USER_RESOURCE;
use crate::scim::search_doc;
use crate::scim::user_name::{UserName, check_chars};
use crate::store::accounts::{
    Account, AccountQuery, AccountSort, AttributeOp, BUILT_IN_IAM_ID, Grant, LAST_USER_ADMIN,
    Migration, PermissionDef, SOURCE_DIRECT, Subscription,
};
use crate::store::{GroupRef, StoreError, UserWrite};

/// Who asks, for the audit record.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub request_id: Option<String>,
    /// The permissions an administrator holds (None for anyone else): what
    /// it may hand out (see `permissions::Ctx::may_grant`).
    pub held: Option<std::sync::Arc<BTreeSet<String>>>,
}

impl Ctx {
    /// The command line on the server's host.
    pub fn cli() -> Self {
        Ctx {
            actor: Actor::Cli,
            request_id: None,
            held: None,
        }
    }

    pub fn entry(&self, action: &'static str) -> Entry {
        Entry::new(self.actor.clone(), action).request(self.request_id.clone())
    }
}

/// What a SCIM DELETE from an IAM's identity provider does to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteMode {
    /// Disable and detach it; keep what the internal IAM owns.
    #[default]
    Deprovision,
    /// Delete it permanently.
    Delete,
}

fn default_permissions() -> Vec<String> {
    vec![
        "CREATE_DATA_SOURCE_IN_PROJECT".to_owned(),
        "CREATE_PROJECT".to_owned(),
    ]
}

/// An IAM's settings, as the admin API shows and takes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IamSettings {
    /// Granted to each user the IAM creates (source `iam-default`).
    #[serde(default = "default_permissions")]
    pub default_permissions: Vec<String>,
    #[serde(default)]
    pub delete_mode: DeleteMode,
    /// SCIM attribute path → internal attribute key: the identity
    /// provider's attribute layer.
    #[serde(default)]
    pub attribute_mapping: BTreeMap<String, String>,
    /// Group displayName → permissions its members hold.
    #[serde(default)]
    pub group_permissions: BTreeMap<String, Vec<String>>,
    /// The request rate each of this IAM's SCIM tokens may use, instead of
    /// the configured `rate_limit_per_second` / `rate_limit_burst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::auth::rate_limit::Rate>,
}

impl Default for IamSettings {
    fn default() -> Self {
        IamSettings {
            default_permissions: default_permissions(),
            delete_mode: DeleteMode::default(),
            attribute_mapping: BTreeMap::new(),
            group_permissions: BTreeMap::new(),
            rate_limit: None,
        }
    }
}

/// An attribute key or value: printable, bounded.
pub(super) fn check_attribute_text(what: &str, s: &str) -> std::result::Result<(), ScimError> {
    if s.is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) {
        return Err(ScimError::invalid_value(format!(
            "an attribute {what} is 1 to 256 printable characters: '{}'",
            truncate(s)
        )));
    }
    Ok(())
}

/// A permission name: upper-case letters, digits and '_', at most 64.
pub(super) fn check_permission_name(s: &str) -> std::result::Result<(), ScimError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ScimError::invalid_value(format!(
            "a permission name is 1 to 64 characters: A-Z, 0-9 and '_', starting with a letter: '{}'",
            truncate(s)
        )))
    }
}

/// The string values at a SCIM attribute path of a document: `title`,
/// `name.familyName`, `emails.value`, or URN-qualified
/// (`urn:…:enterprise:2.0:User:department`). Names match case-insensitively.
pub fn values_at(doc: &Value, path: &str) -> Vec<String> {
    fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }
    fn scalars(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if !s.is_empty() => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(b) => out.push(b.to_string()),
            _ => {}
        }
    }
    let (base, rest) = if path.to_ascii_lowercase().starts_with("urn:") {
        match path.rfind(':') {
            Some(i) => (get(doc, &path[..i]), &path[i + 1..]),
            None => (None, path),
        }
    } else {
        (Some(doc), path)
    };
    let Some(base) = base else { return Vec::new() };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let mut out = Vec::new();
    let Some(v) = get(base, attr) else { return out };
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    for item in items {
        match sub {
            Some(s) => {
                if let Some(x) = get(item, s) {
                    scalars(x, &mut out)
                }
            }
            None if item.is_object() => {
                if let Some(x) = get(item, "value") {
                    scalars(x, &mut out)
                }
            }
            None => scalars(item, &mut out),
        }
    }
    out.sort();
    out.dedup();
    out
}

type Layer = BTreeMap<String, BTreeSet<String>>;

fn layer(pairs: impl IntoIterator<Item = (String, String)>) -> Layer {
    let mut out = Layer::new();
    for (k, v) in pairs {
        out.entry(k).or_default().insert(v);
    }
    out
}

fn merge(into: &mut Layer, from: &Layer) {
    for (k, vs) in from {
        into.entry(k.clone())
            .or_default()
            .extend(vs.iter().cloned());
    }
}

/// A parsed attribute PATCH of the admin API.
pub(crate) fn attribute_ops(body: &Value) -> std::result::Result<Vec<AttributeOp>, ScimError> {
    let ops = body
        .get("operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_value("'operations' must be an array"))?;
    if ops.is_empty() || ops.len() > 1000 {
        return Err(ScimError::invalid_value(
            "'operations' holds 1 to 1000 operations",
        ));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let at = |m: &str| ScimError::invalid_value(format!("operation {}: {m}", i + 1));
            let name = op
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| at("'name' must be a string"))?;
            check_attribute_text("name", name).map_err(|e| at(&e.detail))?;
            let values: Vec<String> = match op.get("values") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        let s = v.as_str().ok_or_else(|| at("'values' must be strings"))?;
                        check_attribute_text("value", s).map_err(|e| at(&e.detail))?;
                        Ok(s.to_owned())
                    })
                    .collect::<std::result::Result<_, ScimError>>()?,
                Some(_) => return Err(at("'values' must be an array of strings")),
            };
            let key = name.to_owned();
            match op
                .get("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") if !values.is_empty() => Ok(AttributeOp::Add { key, values }),
                Some("add") => Err(at("'add' needs at least one value")),
                Some("remove") => Ok(AttributeOp::Remove { key, values }),
                Some("replace") => Ok(AttributeOp::Replace { key, values }),
                _ => Err(at("'op' is add, remove or replace")),
            }
        })
        .collect()
}

fn last_admin_refused() -> Error {
    Error::Client(ScimError::new(
        409,
        None,
        "this is the last enabled account holding USER_ADMIN: grant USER_ADMIN to another enabled account first",
    ))
}

fn account_not_found(id: Uuid) -> Error {
    Error::Client(ScimError::not_found(format!("no account with id {id}")))
}

/// Maps the store's refusal of the last USER_ADMIN to its own message.
pub(crate) fn guarded(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(LAST_USER_ADMIN) => last_admin_refused(),
        other => other.into(),
    }
}

/// IAM settings as recently read (they change rarely; every create reads
/// its IAM's default permissions).
#[derive(Clone)]
pub struct SettingsCache {
    ttl: std::time::Duration,
    entries: std::sync::Arc<std::sync::Mutex<HashMap<Uuid, (std::time::Instant, IamSettings)>>>,
}

impl SettingsCache {
    pub fn new(ttl: std::time::Duration) -> Self {
        SettingsCache {
            ttl,
            entries: Default::default(),
        }
    }

    fn get(&self, iam: Uuid) -> Option<IamSettings> {
        let entries = self.entries.lock().ok()?;
        let (at, s) = entries.get(&iam)?;
        (at.elapsed() < self.ttl).then(|| s.clone())
    }

    fn put(&self, iam: Uuid, s: &IamSettings) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(iam, (std::time::Instant::now(), s.clone()));
        }
    }

    fn forget(&self, iam: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&iam);
        }
    }
}

impl Directory {
    pub async fn iam_settings(&self, iam: Uuid) -> Result<IamSettings> {
        if let Some(s) = self.settings_cache.get(iam) {
            return Ok(s);
        }
        let raw = self.store.iam_settings(iam).await?.unwrap_or(json!({}));
        let s: IamSettings = serde_json::from_value(raw)
            .map_err(|e| Error::Internal(format!("IAM settings: {e}")))?;
        self.settings_cache.put(iam, &s);
        Ok(s)
    }

    pub async fn set_iam_settings(&self, ctx: &Ctx, name: &str, body: &Value) -> Result<Value> {
        ctx.require(may::MANAGE_IAMS)?;
        let iam = self.iam(name).await?;
        let settings: IamSettings = serde_json::from_value(body.clone())
            .map_err(|e| ScimError::invalid_value(format!("IAM settings: {e}")))?;
        let catalogue = self.catalogue_names().await?;
        let named = settings
            .default_permissions
            .iter()
            .chain(settings.group_permissions.values().flatten());
        for p in named {
            if !catalogue.contains(p) {
                return Err(unknown_permission(p));
            }
        }
        for path in settings.attribute_mapping.keys() {
            check_mapped_path(path)?;
        }
        let before = self.iam_settings(iam.id).await?;
        ctx.require_grant(&granting_changes(&before, &settings))?;
        self.guard_user_admins(&super::guard::WhatIf {
            settings: Some((iam.id, &settings)),
            ..Default::default()
        })
        .await?;
        if let Some(rate) = &settings.rate_limit {
            rate.check()
                .map_err(|e| ScimError::invalid_value(format!("IAM settings: rateLimit: {e}")))?;
        }
        for (path, key) in &settings.attribute_mapping {
            check_attribute_text("name", key)?;
            if path.is_empty() || path.len() > 512 {
                return Err(ScimError::invalid_value(
                    "an attribute mapping path is 1 to 512 characters",
                )
                .into());
            }
        }
        let value = serde_json::to_value(&settings).map_err(|e| Error::Internal(e.to_string()))?;
        let entry = ctx
            .entry("iam.updated")
            .target("Iam", iam.id)
            .attributes(["settings"]);
        self.store
            .set_iam_settings(iam.id, &value, &entry, self.now())
            .await?;
        self.settings_cache.forget(iam.id);
        Ok(value)
    }

    async fn catalogue_names(&self) -> Result<BTreeSet<String>> {
        Ok(self
            .store
            .permission_catalogue()
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect())
    }

    pub async fn permission_catalogue(&self) -> Result<Vec<PermissionDef>> {
        Ok(self.store.permission_catalogue().await?)
    }

    pub async fn add_custom_permission(
        &self,
        ctx: &Ctx,
        name: &str,
        description: &str,
    ) -> Result<PermissionDef> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        check_permission_name(name)?;
        if description.chars().count() > 512 {
            return Err(ScimError::invalid_value("a description is at most 512 characters").into());
        }
        let def = PermissionDef {
            name: name.to_owned(),
            description: description.to_owned(),
            builtin: false,
        };
        let entry = ctx.entry("permission.defined").attributes(["name"]);
        self.store
            .add_permission(&def, &entry, self.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::Client(ScimError::uniqueness(format!(
                    "the permission {name} already exists"
                ))),
                other => other.into(),
            })?;
        Ok(def)
    }

    pub async fn account(&self, id: Uuid) -> Result<Account> {
        self.store
            .account(id)
            .await?
            .ok_or_else(|| account_not_found(id))
    }

    /// The account of an IAM with this userName (compared folded, as
    /// uniqueness compares it).
    pub async fn account_by_user_name(
        &self,
        iam: &str,
        user_name: &UserName,
    ) -> Result<Option<Account>> {
        use crate::scim::filter::{AttrPath, CompareOp, Filter, Literal};
        let iam = self.iam(iam).await?;
        let filter = Filter::Compare {
            path: AttrPath {
                urn: None,
                attr: "userName".into(),
                sub: None,
            },
            op: CompareOp::Eq,
            value: Literal::String(user_name.as_str().to_owned()),
        };
        let found = self
            .store
            .list_users(
                iam.id,
                &crate::store::ListQuery {
                    filter: Some(filter),
                    limit: 1,
                    ..Default::default()
                },
            )
            .await?;
        match found.items.first() {
            Some(s) => Ok(self.store.account(s.id).await?),
            None => Ok(None),
        }
    }

    /// Creates a built-in (`bim`) user whose userName is the email, with the
    /// built-in IAM's default permissions.
    pub async fn create_bim_user(
        &self,
        ctx: &Ctx,
        full_name: Option<&str>,
        email: &str,
    ) -> Result<Uuid> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let user_name = super::admins::validate_email(email)?;
        let full_name = full_name.map(str::trim);
        if let Some(n) = full_name
            && (n.is_empty() || check_chars("fullName", n, 256).is_err())
        {
            return Err(
                ScimError::invalid_value("fullName is 1 to 256 printable characters").into(),
            );
        }
        let mut doc = json!({
            "schemas": [crate::scim::schema::USER_SCHEMA],
            "userName": email,
            "emails": [{"value": email, "type": "work", "primary": true}],
            "active": true,
        });
        if let Some(n) = full_name {
            doc["displayName"] = json!(n);
            doc["name"] = json!({"formatted": n});
        }
        let write = UserWrite {
            user_name,
            external_id: None,
            display_name_folded: full_name.map(fold_case),
            active: true,
            search: search_doc::build(&USER_RESOURCE, &doc),
            doc,
            password_hash: Some(None),
        };
        let id = self.new_id();
        let defaults = self
            .iam_settings(BUILT_IN_IAM_ID)
            .await?
            .default_permissions;
        self.store
            .insert_user(
                BUILT_IN_IAM_ID,
                id,
                &write,
                &defaults,
                &ctx.entry(""),
                self.now(),
            )
            .await?;
        Ok(id)
    }

    /// Effective permissions: stored grants plus those of the groups the
    /// account is in (through its IAM's mapping), each with its sources.
    pub async fn effective_permissions(
        &self,
        account: &Account,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for Grant {
            permission, source, ..
        } in self.store.grants(account.id).await?
        {
            out.entry(permission).or_default().push(source);
        }
        // Each group's permissions come from the mapping of its own IAM.
        for (iam, groups) in self.groups_by_iam(account).await? {
            let mapping = self.iam_settings(iam).await?.group_permissions;
            if mapping.is_empty() {
                continue;
            }
            let folded: HashMap<String, &Vec<String>> =
                mapping.iter().map(|(g, p)| (fold_case(g), p)).collect();
            for g in groups {
                if let Some(perms) = folded.get(&fold_case(&g.display_name)) {
                    for p in perms.iter() {
                        out.entry(p.clone())
                            .or_default()
                            .push(format!("group:{}", g.id));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The groups an account is in, directly or through nesting, by the IAM
    /// they belong to: its identity provider's groups (while attached) and
    /// the built-in IAM's internal groups, which may hold any account.
    async fn groups_by_iam(&self, account: &Account) -> Result<Vec<(Uuid, Vec<GroupRef>)>> {
        let mut iams = vec![BUILT_IN_IAM_ID];
        if let Some(iam) = account.iam_id.filter(|i| *i != BUILT_IN_IAM_ID) {
            iams.insert(0, iam);
        }
        let mut out = Vec::new();
        for iam in iams {
            let groups = self
                .store
                .groups_of_users(iam, &[account.id])
                .await?
                .remove(&account.id)
                .unwrap_or_default();
            if !groups.is_empty() {
                out.push((iam, groups));
            }
        }
        Ok(out)
    }

    /// The union of an account's attribute layers.
    pub async fn effective_attributes(
        &self,
        account: &Account,
    ) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let layers = self.attribute_layers(account).await?;
        serde_json::from_value(layers["effective"].clone())
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// The two attribute layers of an account, what it inherits from its
    /// groups' managed attributes, and their union.
    async fn attribute_layers(&self, account: &Account) -> Result<Value> {
        let mut idp = Layer::new();
        if let Some(iam) = account.iam_id.or(account.deprovisioned_from) {
            for (path, key) in self.iam_settings(iam).await?.attribute_mapping {
                let values = values_at(&account.doc, &path);
                if !values.is_empty() {
                    idp.entry(key).or_default().extend(values);
                }
            }
        }
        let managed = layer(self.store.attributes(account.id).await?);
        let mut inherited = Layer::new();
        for (_, groups) in self.groups_by_iam(account).await? {
            for g in groups {
                merge(&mut inherited, &layer(self.store.attributes(g.id).await?));
            }
        }
        let mut effective = idp.clone();
        merge(&mut effective, &managed);
        merge(&mut effective, &inherited);
        Ok(json!({
            "identityProvider": idp,
            "managed": managed,
            "inherited": inherited,
            "effective": effective,
        }))
    }

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

    pub async fn add_permissions(&self, ctx: &Ctx, user: Uuid, names: &[String]) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        if names.is_empty() || names.len() > 100 {
            return Err(
                ScimError::invalid_value("'permissions' names 1 to 100 permissions").into(),
            );
        }
        let catalogue = self.catalogue_names().await?;
        if let Some(p) = names.iter().find(|p| !catalogue.contains(*p)) {
            return Err(unknown_permission(p));
        }
        ctx.require_grant(names)?;
        let add: Vec<(String, &'static str)> =
            names.iter().map(|p| (p.clone(), SOURCE_DIRECT)).collect();
        // The store records one `permission.added` per permission granted.
        let entry = ctx.entry("permission.added");
        self.store
            .change_grants(
                user,
                &add,
                &[],
                super::guard::store_guard(&[]),
                &entry,
                self.now(),
            )
            .await
            .map_err(|e| not_found_as_account(e, user))
    }

    /// Removes a permission granted here (directly or as the IAM's default).
    /// One that comes only from a group cannot be removed here.
    pub async fn remove_permission(&self, ctx: &Ctx, user: Uuid, name: &str) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        ctx.require_grant([&name.to_owned()])?;
        let account = self.account(user).await?;
        let held = self.effective_permissions(&account).await?;
        let Some(sources) = held.get(name) else {
            return Err(ScimError::not_found(format!(
                "the account does not hold {}",
                truncate(name)
            ))
            .into());
        };
        if sources.iter().all(|s| s.starts_with("group:")) {
            return Err(ScimError::new(
                409,
                None,
                format!("{name} comes from the account's groups; change the group mapping instead"),
            )
            .into());
        }
        let admins_after = if name == super::permissions::USER_ADMIN {
            self.guard_user_admins(&super::guard::WhatIf {
                grants_out: BTreeSet::from([user]),
                ..Default::default()
            })
            .await?
        } else {
            Vec::new()
        };
        let entry = ctx.entry("permission.removed");
        self.store
            .change_grants(
                user,
                &[],
                &[name.to_owned()],
                super::guard::store_guard(&admins_after),
                &entry,
                self.now(),
            )
            .await
            .map_err(guarded)
    }

    pub async fn patch_attributes(
        &self,
        ctx: &Ctx,
        kind: &'static str,
        owner: Uuid,
        body: &Value,
    ) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let ops = attribute_ops(body)?;
        let exists = match kind {
            "User" => self.store.account(owner).await?.is_some(),
            _ => self.store.group_exists(owner).await?,
        };
        if !exists {
            return Err(ScimError::not_found(format!(
                "no {} with id {owner}",
                kind.to_lowercase()
            ))
            .into());
        }
        // The store records one `attribute.added` / `attribute.removed`
        // per key that gained or lost values.
        let entry = ctx.entry("attribute.changed").target(kind, owner);
        Ok(self
            .store
            .patch_attributes(owner, &ops, &entry, self.now())
            .await?)
    }

    pub async fn group_attributes(&self, ctx: &Ctx, group: Uuid) -> Result<Value> {
        ctx.require(may::READ_ACCOUNTS)?;
        if !self.store.group_exists(group).await? {
            return Err(ScimError::not_found(format!("no group with id {group}")).into());
        }
        Ok(json!(layer(self.store.attributes(group).await?)))
    }

    pub async fn set_disabled(&self, ctx: &Ctx, user: Uuid, disabled: bool) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let action = if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        };
        let admins_after = if disabled {
            self.guard_user_admins(&super::guard::WhatIf {
                accounts_out: BTreeSet::from([user]),
                ..Default::default()
            })
            .await?
        } else {
            Vec::new()
        };
        let entry = ctx
            .entry(action)
            .target("User", user)
            .attributes(["disabled"]);
        self.store
            .set_disabled(
                user,
                disabled,
                super::guard::store_guard(&admins_after),
                &entry,
                self.now(),
            )
            .await
            .map_err(|e| not_found_as_account(e, user))
    }

    /// Permanently deletes an account: only with the exact confirmation.
    pub async fn delete_permanently(
        &self,
        ctx: &Ctx,
        user: Uuid,
        confirm: Option<&str>,
    ) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        if confirm != Some("Delete") {
            return Err(ScimError::invalid_value(
                "a permanent delete needs the confirmation ?confirm=Delete",
            )
            .into());
        }
        let admins_after = self
            .guard_user_admins(&super::guard::WhatIf {
                accounts_out: BTreeSet::from([user]),
                ..Default::default()
            })
            .await?;
        let entry = ctx.entry("user.deleted").target("User", user);
        self.store
            .delete_account(
                user,
                None,
                super::guard::store_guard(&admins_after),
                &entry,
                self.now(),
            )
            .await
            .map_err(|e| not_found_as_account(e, user))
    }

    /// Moves an account to another IAM under a userName: keeps its id and
    /// what the internal IAM owns; its identity fields become a fresh
    /// document holding the userName (the new identity provider fills the
    /// rest on its next write).
    pub async fn migrate(&self, ctx: &Ctx, user: Uuid, iam: &str, user_name: &str) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let account = self.account(user).await?;
        let target = self.iam(iam).await?;
        // Leaving the IAM administrators sign in from ends the account's
        // sign-in; leaving any IAM ends its memberships there.
        let mut change = super::guard::WhatIf::default();
        if let Some(from) = account.iam_id.filter(|f| *f != target.id) {
            if self.is_admin_source(from).await? {
                change.accounts_out.insert(user);
            }
            change.memberships_out.insert((from, user));
        }
        let user_name = UserName::parse(user_name)?;
        self.guard_user_admins(&change).await?;
        let mut doc = json!({
            "schemas": [crate::scim::schema::USER_SCHEMA],
            "userName": user_name.as_str(),
            "active": account.active,
        });
        // Keep the person's name and display name: the internal view of the
        // account should not go blank until the new provider writes.
        for key in ["name", "displayName"] {
            if let Some(v) = account.doc.get(key) {
                doc[key] = v.clone();
            }
        }
        let flags = user_name.audit_flags();
        let write = UserWrite {
            user_name,
            external_id: None,
            display_name_folded: doc
                .get("displayName")
                .and_then(Value::as_str)
                .map(fold_case),
            active: account.active,
            search: search_doc::build(&USER_RESOURCE, &doc),
            doc,
            password_hash: None,
        };
        let entry = ctx
            .entry("user.migrated")
            .target("User", user)
            .attributes(["iam", "userName", "externalId"])
            .flags(flags);
        self.store
            .migrate_account(
                user,
                &Migration {
                    iam: target.id,
                    user: &write,
                },
                &entry,
                self.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::Client(ScimError::uniqueness(format!(
                    "the IAM {} already has a user named '{}'",
                    target.name,
                    truncate(write.user_name.as_str())
                ))),
                other => not_found_as_account(other, user),
            })
    }

    pub async fn subscriptions(&self, ctx: &Ctx, user: Uuid) -> Result<Value> {
        ctx.require(may::READ_ACCOUNTS)?;
        self.account(user).await?;
        let subs = self.store.subscriptions(user).await?;
        Ok(json!(
            subs.iter().map(subscription_json).collect::<Vec<_>>()
        ))
    }

    pub async fn add_subscription(&self, ctx: &Ctx, user: Uuid, body: &Value) -> Result<Value> {
        ctx.require(may::MANAGE_SUBSCRIPTIONS)?;
        let text = |k: &str| -> std::result::Result<String, ScimError> {
            let s = body
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| ScimError::invalid_value(format!("'{k}' must be a string")))?;
            if s.is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) {
                return Err(ScimError::invalid_value(format!(
                    "'{k}' is 1 to 256 printable characters"
                )));
            }
            Ok(s.to_owned())
        };
        let data_source = text("dataSource")?;
        let role = match body.get("role") {
            None | Some(Value::Null) => "subscriber".to_owned(),
            _ => text("role")?,
        };
        let now = self.now();
        let expires = match body.get("expires") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        ScimError::invalid_value("'expires' must be an RFC 3339 date-time")
                    })?;
                if t <= now {
                    return Err(ScimError::invalid_value("'expires' must be in the future").into());
                }
                Some(t)
            }
            Some(_) => {
                return Err(
                    ScimError::invalid_value("'expires' must be an RFC 3339 date-time").into(),
                );
            }
        };
        let s = Subscription {
            id: self.new_id(),
            user_id: user,
            data_source,
            role,
            subscribed: now,
            expires,
        };
        let entry = ctx
            .entry("subscription.created")
            .target("User", user)
            .attributes(["subscriptions"]);
        self.store
            .add_subscription(&s, &entry, now)
            .await
            .map_err(|e| not_found_as_account(e, user))?;
        Ok(subscription_json(&s))
    }

    pub async fn remove_subscription(&self, ctx: &Ctx, user: Uuid, id: Uuid) -> Result<()> {
        ctx.require(may::MANAGE_SUBSCRIPTIONS)?;
        let entry = ctx
            .entry("subscription.removed")
            .target("User", user)
            .attributes(["subscriptions"]);
        if self
            .store
            .remove_subscription(user, id, &entry, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(ScimError::not_found(format!("the account has no subscription {id}")).into())
        }
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

    pub async fn audit_log(
        &self,
        ctx: &Ctx,
        q: &crate::store::accounts::AuditQuery,
    ) -> Result<Value> {
        ctx.require(may::READ_AUDIT)?;
        let (items, count) = self.store.audit_records(q).await?;
        Ok(json!({
            "hits": items.iter().map(audit_json).collect::<Vec<_>>(),
            "count": count,
        }))
    }

    /// Replays the audit chain from the first record; the number of records
    /// when intact, else what is broken where.
    /// Replays the chain up to the head as it was when the check began:
    /// servers may go on writing meanwhile (the head is read first, since
    /// a record committed between reading the log and reading the head
    /// looked like a removed tail), and what they add is checked next time.
    pub async fn verify_audit(&self) -> Result<std::result::Result<i64, crate::audit::Broken>> {
        let (head_seq, head_hash) = self.store.audit_head().await?;
        let mut v = crate::audit::Verifier::default();
        let mut after = 0;
        while after < head_seq {
            let batch = self.store.audit_chain(after, 1000).await?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            for r in batch.iter().take_while(|r| r.seq <= head_seq) {
                if let Err(broken) = v.push(r) {
                    return Ok(Err(broken));
                }
            }
        }
        Ok(v.finish(head_seq, &head_hash))
    }
}

/// The permissions whose grant a settings change alters: added to or
/// dropped from the defaults, or from any group's mapping (group names
/// compared as the mapping compares them, case-insensitively).
fn granting_changes(before: &IamSettings, after: &IamSettings) -> BTreeSet<String> {
    let set = |v: &Vec<String>| v.iter().cloned().collect::<BTreeSet<String>>();
    let mut changed: BTreeSet<String> = set(&before.default_permissions)
        .symmetric_difference(&set(&after.default_permissions))
        .cloned()
        .collect();
    let by_group = |s: &IamSettings| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (g, ps) in &s.group_permissions {
            m.entry(fold_case(g))
                .or_default()
                .extend(ps.iter().cloned());
        }
        m
    };
    let (b, a) = (by_group(before), by_group(after));
    let empty = BTreeSet::new();
    for g in b.keys().chain(a.keys()) {
        let (x, y) = (b.get(g).unwrap_or(&empty), a.get(g).unwrap_or(&empty));
        changed.extend(x.symmetric_difference(y).cloned());
    }
    changed
}

/// An attribute mapping reads identity data into attributes; it never
/// reads a secret (`password`) or what the internal IAM owns itself
/// (`entitlements`, the bridge extension), which would let an identity
/// provider write what only administrators may.
fn check_mapped_path(path: &str) -> std::result::Result<(), ScimError> {
    let lower = path.to_ascii_lowercase();
    let bridge = crate::scim::schema::BRIDGE_USER_SCHEMA.to_ascii_lowercase();
    let core = crate::scim::schema::USER_SCHEMA.to_ascii_lowercase();
    let bare = lower
        .strip_prefix(&format!("{core}:"))
        .unwrap_or(&lower)
        .to_owned();
    let first = bare.split(['.', '[']).next().unwrap_or("");
    if lower.starts_with(&bridge) || matches!(first, "password" | "entitlements") {
        return Err(ScimError::invalid_value(format!(
            "an attribute mapping may not read '{}': passwords and what the internal IAM owns are never attributes",
            truncate(path)
        )));
    }
    Ok(())
}

fn unknown_permission(p: &str) -> Error {
    Error::Client(ScimError::invalid_value(format!(
        "no permission named '{}' in the catalogue",
        truncate(p)
    )))
}

pub(super) fn not_found_as_account(e: StoreError, user: Uuid) -> Error {
    match e {
        StoreError::NotFound => account_not_found(user),
        other => guarded(other),
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

fn subscription_json(s: &Subscription) -> Value {
    json!({
        "id": s.id,
        "dataSource": s.data_source,
        "role": s.role,
        "subscribed": rfc3339(s.subscribed),
        "expires": s.expires.map(rfc3339),
    })
}

pub fn audit_json(r: &crate::audit::Record) -> Value {
    use crate::audit::FLAG_PREFIX;
    json!({
        "seq": r.seq,
        "id": r.id,
        "at": rfc3339(r.at),
        "actor": r.actor,
        "action": r.action,
        "targetKind": r.target_kind,
        "target": r.target_id,
        "outcome": r.outcome,
        "requestId": r.request_id,
        "attributes": r.attributes.iter().filter(|a| !a.starts_with(FLAG_PREFIX)).collect::<Vec<_>>(),
        "flags": r.attributes.iter().filter_map(|a| a.strip_prefix(FLAG_PREFIX)).collect::<Vec<_>>(),
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
