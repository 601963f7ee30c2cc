//! Attributes: the identity provider's layer (read through the IAM's
//! attribute mapping), the managed layer administrators write, what an
//! account inherits from its groups, and their union.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::accounts::Ctx;
use super::grants::GroupsByIam;
use super::ids::{GroupId, UserId};
use super::permissions::may;
use super::{Directory, Error, Result, changes, truncate};
use crate::policy::{self, AttributeSource};
use crate::store::accounts::{Account, AttributeOp};

/// An attribute key or value: printable, bounded.
pub(super) fn check_attribute_text(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) {
        return Err(Error::invalid_value(format!(
            "an attribute {what} is 1 to 256 printable characters: '{}'",
            truncate(s)
        )));
    }
    Ok(())
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

/// Whose managed attributes an administrator changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeOwner {
    User(UserId),
    Group(GroupId),
}

impl AttributeOwner {
    /// The audit record's target kind.
    fn kind(self) -> &'static str {
        match self {
            AttributeOwner::User(_) => "User",
            AttributeOwner::Group(_) => "Group",
        }
    }

    fn uuid(self) -> Uuid {
        match self {
            AttributeOwner::User(u) => u.uuid(),
            AttributeOwner::Group(g) => g.uuid(),
        }
    }
}

/// Attribute key → its values.
pub type Layer = BTreeMap<String, BTreeSet<String>>;

/// An account's attributes: the identity provider's layer (through the
/// IAM's attribute mapping), the managed layer, what its groups give, and
/// the union of the three.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributeLayers {
    #[schema(inline)]
    pub identity_provider: Layer,
    #[schema(inline)]
    pub managed: Layer,
    #[schema(inline)]
    pub inherited: Layer,
    #[schema(inline)]
    pub effective: Layer,
}

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

/// Where each attribute value of an account comes from (see
/// `Directory::attribute_sources`): what the account view shows as
/// layers and what a policy evaluation reads with its provenance.
#[derive(Debug, Clone, Default)]
pub(super) struct AttributeSources {
    /// (SCIM path, key, value), through the IAM's attribute mapping.
    identity_provider: Vec<(String, String, String)>,
    /// (key, value) set on the account.
    managed: Vec<(String, String)>,
    /// (group name, key, value) set on a group the account is in.
    inherited: Vec<(String, String, String)>,
}

impl AttributeSources {
    fn layers(&self) -> AttributeLayers {
        let idp = layer(
            self.identity_provider
                .iter()
                .map(|(_, k, v)| (k.clone(), v.clone())),
        );
        let managed = layer(self.managed.iter().cloned());
        let inherited = layer(
            self.inherited
                .iter()
                .map(|(_, k, v)| (k.clone(), v.clone())),
        );
        let mut effective = idp.clone();
        merge(&mut effective, &managed);
        merge(&mut effective, &inherited);
        AttributeLayers {
            identity_provider: idp,
            managed,
            inherited,
            effective,
        }
    }

    /// Whose managed attributes an account's sources hold: its own and
    /// its groups' (`groups`).
    pub(super) fn owners(account: &Account, groups: &GroupsByIam) -> Vec<Uuid> {
        let groups = groups.iter().flat_map(|(_, gs)| gs.iter().map(|g| g.id));
        std::iter::once(account.id).chain(groups).collect()
    }

    /// An account's sources from what was read: its IAM's attribute
    /// `mapping` (applied to its document), its groups, and the managed
    /// attributes `owned` (by owner; those of other owners are ignored).
    pub(super) fn assemble(
        account: &Account,
        groups: &GroupsByIam,
        mapping: &BTreeMap<String, String>,
        owned: impl IntoIterator<Item = (Uuid, String, String)>,
    ) -> AttributeSources {
        let mut out = AttributeSources::default();
        for (path, key) in mapping {
            for value in values_at(&account.doc, path) {
                out.identity_provider
                    .push((path.clone(), key.clone(), value));
            }
        }
        let names: HashMap<Uuid, &str> = groups
            .iter()
            .flat_map(|(_, gs)| gs.iter().map(|g| (g.id, g.display_name.as_str())))
            .collect();
        for (owner, key, value) in owned {
            match names.get(&owner) {
                Some(group) => out.inherited.push((group.to_string(), key, value)),
                None if owner == account.id => out.managed.push((key, value)),
                None => {}
            }
        }
        out
    }

    /// Gives `account` every value, each with where it comes from.
    pub(super) fn add_to(&self, account: &mut policy::Account) {
        for (path, k, v) in &self.identity_provider {
            let source = AttributeSource::IdentityProvider {
                path: Some(path.clone()),
            };
            account.add_attribute(k, v, source);
        }
        for (k, v) in &self.managed {
            account.add_attribute(k, v, AttributeSource::Managed);
        }
        for (group, k, v) in &self.inherited {
            account.add_attribute(k, v, AttributeSource::Group(group.clone()));
        }
    }
}

/// A parsed attribute PATCH of the admin API.
pub(crate) fn attribute_ops(body: &Value) -> Result<Vec<AttributeOp>> {
    let ops = body
        .get("operations")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::invalid_value("'operations' must be an array"))?;
    if ops.is_empty() || ops.len() > 1000 {
        return Err(Error::invalid_value(
            "'operations' holds 1 to 1000 operations",
        ));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let at = |m: &str| Error::invalid_value(format!("operation {}: {m}", i + 1));
            let name = op
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| at("'name' must be a string"))?;
            check_attribute_text("name", name).map_err(|e| at(e.detail()))?;
            let values: Vec<String> = match op.get("values") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        let s = v.as_str().ok_or_else(|| at("'values' must be strings"))?;
                        check_attribute_text("value", s).map_err(|e| at(e.detail()))?;
                        Ok(s.to_owned())
                    })
                    .collect::<Result<_>>()?,
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

impl Directory {
    /// The union of an account's attribute layers.
    pub async fn effective_attributes(&self, account: &Account) -> Result<Layer> {
        let groups = self.groups_by_iam(account).await?;
        Ok(self.attribute_layers(account, &groups).await?.effective)
    }

    /// The two attribute layers of an account, what it inherits from its
    /// groups' managed attributes (`groups`, read by the caller), and their
    /// union.
    pub(super) async fn attribute_layers(
        &self,
        account: &Account,
        groups: &GroupsByIam,
    ) -> Result<AttributeLayers> {
        Ok(self.attribute_sources(account, groups).await?.layers())
    }

    /// Every attribute value of an account and where it comes from: the
    /// identity provider's document through its IAM's mapping, and the
    /// managed attributes of the account and of its groups (`groups`, read
    /// by the caller), read together.
    pub(super) async fn attribute_sources(
        &self,
        account: &Account,
        groups: &GroupsByIam,
    ) -> Result<AttributeSources> {
        let mapping = match account.iam_id.or(account.deprovisioned_from) {
            Some(iam) => self.iam_settings(iam).await?.attribute_mapping,
            None => BTreeMap::new(),
        };
        let owners = AttributeSources::owners(account, groups);
        let owned = self.store.attributes(&owners).await?;
        Ok(AttributeSources::assemble(account, groups, &mapping, owned))
    }

    pub async fn patch_attributes(
        &self,
        ctx: &Ctx,
        owner: AttributeOwner,
        body: &Value,
    ) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let ops = attribute_ops(body)?;
        let exists = match owner {
            AttributeOwner::User(u) => self.store.account(u.uuid()).await?.is_some(),
            AttributeOwner::Group(g) => self.store.group_exists(g.uuid()).await?,
        };
        let (kind, id) = (owner.kind(), owner.uuid());
        if !exists {
            return Err(Error::not_found(format!(
                "no {} with id {id}",
                kind.to_lowercase()
            )));
        }
        // Records per key that lost or gained values, as the store finds.
        let who = ctx.entry("");
        self.store
            .patch_attributes(
                id,
                &ops,
                &|d| changes::attributes_changed(&who, kind, id, d),
                self.now(),
            )
            .await?;
        match owner {
            AttributeOwner::User(u) => self.resubscribe(&who, u).await,
            // Every account in it, through nested groups too, inherits.
            AttributeOwner::Group(g) => self.resubscribe_all(&who, &[g.uuid()]).await,
        }
    }

    pub async fn group_attributes(&self, ctx: &Ctx, group: GroupId) -> Result<Layer> {
        ctx.require(may::READ_ACCOUNTS)?;
        if !self.store.group_exists(group.uuid()).await? {
            return Err(Error::not_found(format!("no group with id {group}")));
        }
        let owned = self.store.attributes(&[group.uuid()]).await?;
        Ok(layer(owned.into_iter().map(|(_, k, v)| (k, v))))
    }
}
