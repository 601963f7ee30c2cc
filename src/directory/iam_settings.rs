//! An IAM's settings (default permissions, delete mode, attribute
//! mapping, group mapping, rate limit): their shape, validation, the
//! short-lived cache every create reads through, and changing them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::accounts::Ctx;
use super::attributes::check_attribute_text;
use super::grants::unknown_permission;
use super::permissions::may;
use super::{Directory, Error, Result, truncate};
use crate::scim::resource::fold_case;
use crate::scim::schema::catalogue::RolesDialect;

/// What a SCIM DELETE from an IAM's identity provider does to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeleteMode {
    /// Disable and detach it; keep what the internal IAM owns.
    #[default]
    Deprovision,
    /// Delete it permanently.
    Delete,
}

/// Who decides an account's permissions (issue 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PermissionsSource {
    /// Administrators, here: the identity provider reads `roles` and
    /// `entitlements` but never writes them.
    #[default]
    Bridge,
    /// The identity provider too: the roles and entitlements it sends on
    /// its users become their grants, with source `idp:<iam>`.
    Idp,
}

fn default_permissions() -> Vec<String> {
    vec![
        "CREATE_DATA_SOURCE_IN_PROJECT".to_owned(),
        "CREATE_PROJECT".to_owned(),
    ]
}

/// An IAM's settings, as the admin API shows and takes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// the configured `rate_limit_per_second` / `rate_limit_burst`. Over
    /// it: 429 with Retry-After.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::auth::rate_limit::Rate>,
    /// The URNs of the catalogue's resources over SCIM (`/Entitlements`,
    /// `/Roles`): `ietf` (draft-ietf-scim-roles-entitlements) or `okta`
    /// (Okta Identity Governance's).
    #[serde(default)]
    #[schema(value_type = String, example = "ietf")]
    pub roles_dialect: RolesDialect,
    #[serde(default)]
    pub permissions_source: PermissionsSource,
    /// What the identity provider may grant when it governs (permission
    /// names; a role it assigns may bring only these). Absent: every
    /// permission but USER_ADMIN and APPLICATION_ADMIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_grantable: Option<Vec<String>>,
    /// Whether the identity provider may read scim-bridge's own User
    /// extension (`urn:scim-bridge:schemas:extension:bridge:2.0:User`: the
    /// account's permissions with their sources, its attributes,
    /// `disabled`) on request; only then do its `/Schemas` and
    /// `/ResourceTypes` describe it. Off by default: no identity provider
    /// needs it, and a client is described only what it may read (RFC 7643
    /// §3: a resource's `schemas` are its resource type's).
    #[serde(default)]
    pub bridge_extension: bool,
}

impl Default for IamSettings {
    fn default() -> Self {
        IamSettings {
            default_permissions: default_permissions(),
            delete_mode: DeleteMode::default(),
            attribute_mapping: BTreeMap::new(),
            group_permissions: BTreeMap::new(),
            rate_limit: None,
            roles_dialect: RolesDialect::default(),
            permissions_source: PermissionsSource::default(),
            idp_grantable: None,
            bridge_extension: false,
        }
    }
}

/// IAM settings (or what an IAM declared: its resource types) as recently
/// read: they change rarely, and every create reads its IAM's default
/// permissions, every SCIM request its resource types.
#[derive(Clone)]
pub struct SettingsCache<T = IamSettings> {
    ttl: std::time::Duration,
    entries: std::sync::Arc<std::sync::Mutex<HashMap<Uuid, (std::time::Instant, T)>>>,
}

impl<T: Clone> SettingsCache<T> {
    pub fn new(ttl: std::time::Duration) -> Self {
        SettingsCache {
            ttl,
            entries: Default::default(),
        }
    }

    pub(super) fn get(&self, iam: Uuid) -> Option<T> {
        let entries = self.entries.lock().ok()?;
        let (at, s) = entries.get(&iam)?;
        (at.elapsed() < self.ttl).then(|| s.clone())
    }

    pub(super) fn put(&self, iam: Uuid, s: &T) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(iam, (std::time::Instant::now(), s.clone()));
        }
    }

    pub(super) fn forget(&self, iam: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&iam);
        }
    }
}

impl IamSettings {
    /// Whether the identity provider may grant this permission.
    pub fn idp_may_grant(&self, permission: &str) -> bool {
        match &self.idp_grantable {
            Some(list) => list.iter().any(|p| p == permission),
            None => !super::permissions::POWER_PERMISSIONS.contains(&permission),
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
            .map_err(|e| Error::invalid_value(format!("IAM settings: {e}")))?;
        let catalogue = self.catalogue_names().await?;
        let named = settings
            .default_permissions
            .iter()
            .chain(settings.group_permissions.values().flatten())
            .chain(settings.idp_grantable.iter().flatten());
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
                .map_err(|e| Error::invalid_value(format!("IAM settings: rateLimit: {e}")))?;
        }
        for (path, key) in &settings.attribute_mapping {
            check_attribute_text("name", key)?;
            if path.is_empty() || path.len() > 512 {
                return Err(Error::invalid_value(
                    "an attribute mapping path is 1 to 512 characters",
                ));
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
        // The resource types follow permissionsSource (see `resource_types`).
        self.types_cache.forget(iam.id);
        if before.attribute_mapping != settings.attribute_mapping {
            // What policies read of every account of the IAM changed.
            self.resubscribe_everyone(&ctx.actor).await?;
        }
        Ok(value)
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
    // Letting the identity provider grant a permission hands it out too.
    let grantable = |s: &IamSettings| s.idp_grantable.clone().unwrap_or_default();
    changed.extend(
        set(&grantable(before))
            .symmetric_difference(&set(&grantable(after)))
            .cloned(),
    );
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
fn check_mapped_path(path: &str) -> Result<()> {
    let lower = path.to_ascii_lowercase();
    let bridge = crate::scim::schema::BRIDGE_USER_SCHEMA.to_ascii_lowercase();
    let core = crate::scim::schema::USER_SCHEMA.to_ascii_lowercase();
    let bare = lower
        .strip_prefix(&format!("{core}:"))
        .unwrap_or(&lower)
        .to_owned();
    let first = bare.split(['.', '[']).next().unwrap_or("");
    if lower.starts_with(&bridge) || matches!(first, "password" | "entitlements") {
        return Err(Error::invalid_value(format!(
            "an attribute mapping may not read '{}': passwords and what the internal IAM owns are never attributes",
            truncate(path)
        )));
    }
    Ok(())
}
