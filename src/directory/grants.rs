//! The permission catalogue, what an account holds and from where
//! (direct grants, its IAM's defaults, its groups through the group
//! mapping), and granting or withdrawing a permission.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde::ser::SerializeMap;
use utoipa::openapi::{ObjectBuilder, RefOr, schema::Schema};
use utoipa::{PartialSchema, ToSchema};

use super::accounts::{Ctx, guarded, not_found_as_account};
use super::ids::{IamId, UserId};
use super::permissions::may;
use super::{Directory, Error, Result, changes, truncate};
use crate::scim::resource::fold_case;
use crate::store::GroupRef;
use crate::store::StoreError;
use crate::store::accounts::{
    Account, BUILT_IN_IAM_ID, Grant, PermissionDef, SOURCE_DIRECT, SOURCE_IAM_DEFAULT,
};

/// A permission name: upper-case letters, digits and '_', at most 64.
pub(super) fn check_permission_name(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_value(format!(
            "a permission name is 1 to 64 characters: A-Z, 0-9 and '_', starting with a letter: '{}'",
            truncate(s)
        )))
    }
}

/// The groups an account is in, by the IAM they belong to (see
/// `Directory::groups_by_iam`): read once per view, handed to what needs it.
pub(super) type GroupsByIam = Vec<(IamId, Vec<GroupRef>)>;

/// An account and what its permissions and decisions read of it
/// ([`Directory::account_with_inputs`]).
pub(super) struct AccountRead {
    pub account: Account,
    pub groups: GroupsByIam,
    pub grants: Vec<Grant>,
    /// The managed attributes of it and its groups, when asked for.
    pub attributes: Vec<(uuid::Uuid, String, String)>,
}

/// A permission an account holds and where each grant of it comes from:
/// `direct`, `iam-default` or `group:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EffectivePermission {
    pub permission: String,
    pub sources: Vec<String>,
}

impl EffectivePermission {
    /// Granted directly, so an administrator may remove it here.
    pub fn direct(&self) -> bool {
        self.sources.iter().any(|s| s == SOURCE_DIRECT)
    }

    /// Whether removing it from the account is possible here: only what
    /// was granted here or as the IAM's default (a group's mapping, a role
    /// or the identity provider gives the rest).
    pub fn removable(&self) -> bool {
        removable(&self.sources)
    }
}

/// Whether a permission held from these sources can be removed from the
/// account: granted here or as its IAM's default.
fn removable(sources: &[String]) -> bool {
    sources
        .iter()
        .any(|s| s == SOURCE_DIRECT || s == SOURCE_IAM_DEFAULT)
}

/// What an account holds, by permission name. On the wire it is two
/// fields of the account: `permissions` (the names) and
/// `permissionSources` (each with its sources).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions(pub Vec<EffectivePermission>);

impl From<BTreeMap<String, Vec<String>>> for Permissions {
    fn from(held: BTreeMap<String, Vec<String>>) -> Self {
        Permissions(
            held.into_iter()
                .map(|(permission, sources)| EffectivePermission {
                    permission,
                    sources,
                })
                .collect(),
        )
    }
}

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let names: Vec<&str> = self.0.iter().map(|p| p.permission.as_str()).collect();
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("permissions", &names)?;
        m.serialize_entry("permissionSources", &self.0)?;
        m.end()
    }
}

/// The two fields `Serialize` writes, for the admin API's document.
impl PartialSchema for Permissions {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property("permissions", Vec::<String>::schema())
            .required("permissions")
            .property("permissionSources", Vec::<EffectivePermission>::schema())
            .required("permissionSources")
            .into()
    }
}

impl ToSchema for Permissions {}

pub(super) fn unknown_permission(p: &str) -> Error {
    Error::invalid_value(format!(
        "no permission named '{}' in the catalogue",
        truncate(p)
    ))
}

/// The IAMs whose groups an account may be in, in the order
/// [`GroupsByIam`] lists them: its identity provider's (while attached),
/// then the built-in IAM's.
pub(super) fn group_iams(account: &Account) -> Vec<IamId> {
    let mut iams = vec![BUILT_IN_IAM_ID];
    if let Some(iam) = account
        .iam_id
        .map(IamId::new)
        .filter(|i| *i != BUILT_IN_IAM_ID)
    {
        iams.insert(0, iam);
    }
    iams
}

impl Directory {
    pub(super) async fn catalogue_names(&self) -> Result<BTreeSet<String>> {
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
            return Err(Error::invalid_value(
                "a description is at most 512 characters",
            ));
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
                StoreError::Conflict(_) => {
                    Error::duplicate(format!("the permission {name} already exists"))
                }
                other => other.into(),
            })?;
        Ok(def)
    }

    /// Effective permissions: stored grants plus those of the groups the
    /// account is in (through its IAM's mapping), each with its sources.
    pub async fn effective_permissions(
        &self,
        account: &Account,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let (groups, grants) = self.groups_and_grants(account).await?;
        self.permissions_of(grants, &groups).await
    }

    /// An account's groups (as [`Directory::groups_by_iam`]) and its stored
    /// grants, read at once.
    pub(super) async fn groups_and_grants(
        &self,
        account: &Account,
    ) -> Result<(GroupsByIam, Vec<Grant>)> {
        tokio::try_join!(self.groups_by_iam(account), async {
            Ok(self.store.grants(account.id).await?)
        })
    }

    /// Effective permissions, the account's groups already read.
    pub(super) async fn permissions_through(
        &self,
        account: &Account,
        groups: &GroupsByIam,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let grants = self.store.grants(account.id).await?;
        self.permissions_of(grants, groups).await
    }

    /// Effective permissions from an account's stored grants and its
    /// groups, both read already.
    pub(super) async fn permissions_of(
        &self,
        grants: Vec<Grant>,
        groups: &GroupsByIam,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for Grant {
            permission, source, ..
        } in grants
        {
            out.entry(permission).or_default().push(source);
        }
        // Each group's permissions come from the mapping of its own IAM.
        for (iam, groups) in groups {
            let mapping = self.iam_settings(iam.uuid()).await?.group_permissions;
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
    pub(super) async fn groups_by_iam(&self, account: &Account) -> Result<GroupsByIam> {
        // Each IAM's at once.
        let reads = group_iams(account).into_iter().map(|iam| async move {
            let mut by_user = self.store.groups_of_users(iam, &[account.id]).await?;
            Ok::<_, Error>((iam, by_user.remove(&account.id).unwrap_or_default()))
        });
        Ok(futures_util::future::try_join_all(reads)
            .await?
            .into_iter()
            .filter(|(_, groups)| !groups.is_empty())
            .collect())
    }

    /// An account with its groups (as [`Directory::groups_by_iam`]), its
    /// stored grants and, with `attributes`, the managed attributes of it
    /// and its groups: its row and one statement for the rest, read at
    /// once (None: no such account).
    pub(super) async fn account_with_inputs(
        &self,
        id: uuid::Uuid,
        attributes: bool,
    ) -> Result<Option<AccountRead>> {
        let (account, inputs) = tokio::try_join!(
            self.store.account(id),
            self.store.account_inputs(id, attributes)
        )?;
        let Some(account) = account else {
            return Ok(None);
        };
        let mut all = inputs.groups;
        let groups = group_iams(&account)
            .into_iter()
            .filter_map(|iam| {
                let (mine, rest) = all.drain(..).partition(|(i, _)| *i == iam);
                all = rest;
                let mine: Vec<GroupRef> = mine.into_iter().map(|(_, g)| g).collect();
                (!mine.is_empty()).then_some((iam, mine))
            })
            .collect();
        Ok(Some(AccountRead {
            account,
            groups,
            grants: inputs.grants,
            attributes: inputs.attributes,
        }))
    }

    pub async fn add_permissions(&self, ctx: &Ctx, user: UserId, names: &[String]) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        if names.is_empty() || names.len() > 100 {
            return Err(Error::invalid_value(
                "'permissions' names 1 to 100 permissions",
            ));
        }
        let catalogue = self.catalogue_names().await?;
        if let Some(p) = names.iter().find(|p| !catalogue.contains(*p)) {
            return Err(unknown_permission(p));
        }
        ctx.require_grant(names)?;
        let add: Vec<(String, &'static str)> =
            names.iter().map(|p| (p.clone(), SOURCE_DIRECT)).collect();
        // One record per permission granted that was not held already.
        let who = ctx.entry("");
        self.store
            .change_grants(
                user.uuid(),
                &add,
                &[],
                super::guard::store_guard(&[]),
                &|d| changes::grants_changed(&who, user.uuid(), d),
                self.now(),
            )
            .await
            .map_err(|e| not_found_as_account(e, user))
    }

    /// Removes a permission granted here (directly or as the IAM's default).
    /// One that comes only from a group cannot be removed here.
    pub async fn remove_permission(&self, ctx: &Ctx, user: UserId, name: &str) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        ctx.require_grant([&name.to_owned()])?;
        let account = self.account(user).await?;
        let held = self.effective_permissions(&account).await?;
        let Some(sources) = held.get(name) else {
            return Err(Error::not_found(format!(
                "the account does not hold {}",
                truncate(name)
            )));
        };
        if !removable(sources) {
            return Err(Error::conflict(format!(
                "{name} comes from {}; change the group mapping, the role or the identity provider's assignment instead",
                sources.join(", ")
            )));
        }
        // Held from a role or the identity provider as well, it stays.
        let kept = sources
            .iter()
            .any(|s| s.starts_with("role:") || s.starts_with("idp:"));
        let admins_after = if name == super::permissions::USER_ADMIN && !kept {
            self.guard_user_admins(&super::guard::WhatIf {
                grants_out: BTreeSet::from([user]),
                ..Default::default()
            })
            .await?
        } else {
            Vec::new()
        };
        let who = ctx.entry("");
        self.store
            .change_grants(
                user.uuid(),
                &[],
                &[name.to_owned()],
                super::guard::store_guard(&admins_after),
                &|d| changes::grants_changed(&who, user.uuid(), d),
                self.now(),
            )
            .await
            .map_err(guarded)
    }
}
