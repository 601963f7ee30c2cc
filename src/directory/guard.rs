//! The last-USER_ADMIN guard: no change may leave the directory without an
//! account that can still administer it. A change describes what it would
//! take away ([`WhatIf`]); the guard compares who holds USER_ADMIN — enabled,
//! attached, active, directly or through a mapped group — before and after.
//! Every path that removes admin power asks here: SCIM DELETE (deprovision
//! or delete), PUT/PATCH `active`, disable, permanent delete, migration,
//! group membership loss, group deletion or rename, and IAM settings.
//!
//! The storage layer keeps its own in-transaction check for direct grants
//! (race-free); this one sees group mappings, which only the domain knows.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use serde_json::Value;
use uuid::Uuid;

use super::accounts::IamSettings;
use super::ids::{GroupId, IamId, UserId};
use super::permissions::{POWER_PERMISSIONS, USER_ADMIN};
use super::{Directory, Error, Result, Scope};
use crate::scim::resource::fold_case;
use crate::store::accounts::{Account, AccountQuery, BUILT_IN_IAM_ID, LastAdmin};
use crate::store::{ListQuery, MemberKind};

/// Storage's own check inside the write (see `LAST_USER_ADMIN`): USER_ADMIN
/// must keep an enabled holder; `admins_after` (what
/// [`Directory::guard_user_admins`] returned) still hold it through groups.
pub(crate) fn store_guard(admins_after: &[Uuid]) -> LastAdmin<'_> {
    LastAdmin {
        permission: USER_ADMIN,
        admins_after,
    }
}

/// What a change would take away.
#[derive(Debug, Default)]
pub struct WhatIf<'a> {
    /// Accounts that would stop counting: deleted, deprovisioned,
    /// disabled, made inactive, or moved away from the admins' source.
    pub accounts_out: BTreeSet<UserId>,
    /// Accounts whose direct USER_ADMIN grant would be withdrawn.
    pub grants_out: BTreeSet<UserId>,
    /// Accounts that would leave every group of an IAM: (IAM, account).
    pub memberships_out: BTreeSet<(IamId, UserId)>,
    /// Memberships that would end: (group, member).
    pub edges_out: BTreeSet<(Uuid, Uuid)>,
    /// Groups that would lose every member.
    pub groups_emptied: BTreeSet<Uuid>,
    /// Groups that would be deleted.
    pub groups_out: BTreeSet<Uuid>,
    /// Groups that would be renamed (the mapping follows names).
    pub renamed: BTreeMap<Uuid, String>,
    /// An IAM's settings as they would be.
    pub settings: Option<(Uuid, &'a IamSettings)>,
}

/// A change of one group, for [`Directory::guard_group_change`].
#[derive(Debug, Default, Clone, Copy)]
pub struct GroupChange<'a> {
    pub removed: &'a [Uuid],
    /// Every member goes except these.
    pub keep: Option<&'a [Uuid]>,
    pub deleted: bool,
    pub renamed: Option<&'a str>,
}

/// Accounts that may administer: enabled, attached, active.
fn standing(a: &Account) -> bool {
    a.enabled() && a.active
}

fn last_admin() -> Error {
    Error::conflict(
        "this would leave no enabled, active account holding USER_ADMIN; \
         grant USER_ADMIN to another account first",
    )
}

impl Directory {
    /// What a SCIM write on the user `id` must respect (`after`: the new
    /// document and its `active`; None for a DELETE):
    /// - an identity provider that is not the admins' source never changes
    ///   the identity of an account holding USER_ADMIN or APPLICATION_ADMIN
    ///   (it could rename it into someone's sign-in once migrated, or undo
    ///   what administrators decided); it may still deactivate or delete
    ///   it, since a leaver must always lose access;
    /// - no write takes away the last USER_ADMIN.
    ///
    /// Returns who keeps USER_ADMIN, for storage's own check.
    pub(crate) async fn check_user_write(
        &self,
        scope: &Scope,
        id: UserId,
        after: Option<(&Value, bool)>,
    ) -> Result<Vec<Uuid>> {
        // Each check reads only when the one before it says it could
        // matter: an ordinary user's write costs one grants lookup. Another
        // IAM's account, or none, is left alone: the store answers 404 as
        // for any id this token does not know, and nothing here may say
        // otherwise.
        let in_scope = |a: &Account| a.iam_id == Some(scope.iam.uuid());
        if scope.is_identity_provider()
            && self
                .holds_any_of(id.uuid(), Some(scope.iam.uuid()), &POWER_PERMISSIONS)
                .await?
        {
            let Some(account) = self.store.account(id.uuid()).await?.filter(in_scope) else {
                return Ok(Vec::new());
            };
            let leaving = match after {
                None => true,
                Some((doc, active)) => {
                    !active && without_active(doc) == without_active(&account.doc)
                }
            };
            if !leaving && !self.is_admin_source(scope.iam.uuid()).await? {
                return Err(Error::refused(
                    "this account holds USER_ADMIN or APPLICATION_ADMIN: only the identity \
                     provider of the IAM administrators sign in from (oidc_iam) may change it; \
                     this one may only deactivate or delete it",
                ));
            }
        }
        let ends_standing = after.is_none_or(|(_, active)| !active);
        if !ends_standing {
            return Ok(Vec::new());
        }
        let change = WhatIf {
            accounts_out: BTreeSet::from([id]),
            ..Default::default()
        };
        match self.guard_user_admins(&change).await {
            Err(refused) => match self.store.account(id.uuid()).await? {
                Some(a) if in_scope(&a) => Err(refused),
                _ => Ok(Vec::new()),
            },
            kept => kept,
        }
    }

    /// The guard for a change of the group `group` of `iam`: members
    /// removed, or all replaced by `keep`, the group deleted or renamed.
    /// Free when the IAM maps no group to USER_ADMIN.
    pub(crate) async fn guard_group_change(
        &self,
        iam: IamId,
        group: GroupId,
        c: GroupChange<'_>,
    ) -> Result<()> {
        if !maps_user_admin(&self.iam_settings(iam.uuid()).await?) {
            return Ok(());
        }
        let mut change = WhatIf::default();
        change
            .edges_out
            .extend(c.removed.iter().map(|m| (group.uuid(), *m)));
        if let Some(keep) = c.keep {
            let keep: HashSet<&Uuid> = keep.iter().collect();
            for m in self.store.group_members(iam, group).await? {
                if !keep.contains(&m.id) {
                    change.edges_out.insert((group.uuid(), m.id));
                }
            }
        }
        if c.deleted {
            change.groups_out.insert(group.uuid());
        }
        if let Some(name) = c.renamed {
            change.renamed.insert(group.uuid(), name.to_owned());
        }
        self.guard_user_admins(&change).await.map(drop)
    }

    /// Refuses the change when USER_ADMIN is held by someone now and
    /// would be held by no one after it. Returns who would still hold it
    /// (empty when the change does not concern USER_ADMIN), for storage's
    /// own check inside the write (see `LAST_USER_ADMIN`).
    pub(crate) async fn guard_user_admins(&self, change: &WhatIf<'_>) -> Result<Vec<Uuid>> {
        if !self.may_touch_user_admins(change).await? {
            return Ok(Vec::new());
        }
        let before = self.user_admins(&WhatIf::default()).await?;
        if before.is_empty() {
            return Ok(Vec::new());
        }
        let after = self.user_admins(change).await?;
        if after.is_empty() {
            return Err(last_admin());
        }
        Ok(after.into_iter().collect())
    }

    /// Whether the account is the only enabled, active one holding
    /// USER_ADMIN: what the console does not offer to remove or disable.
    pub async fn is_last_user_admin(&self, user: UserId) -> Result<bool> {
        let change = WhatIf {
            grants_out: BTreeSet::from([user]),
            ..Default::default()
        };
        match self.guard_user_admins(&change).await {
            Ok(_) => Ok(false),
            Err(Error::Conflict(_)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// A cheap look whether the change could concern USER_ADMIN at all, so
    /// that an ordinary user's DELETE does not pay for the whole answer.
    async fn may_touch_user_admins(&self, change: &WhatIf<'_>) -> Result<bool> {
        let accounts = change.accounts_out.iter().chain(&change.grants_out);
        let members = change.memberships_out.iter().map(|(_, u)| u);
        for id in accounts.chain(members) {
            if let Some(a) = self.store.account(id.uuid()).await?
                && standing(&a)
                && self.holds_user_admin(&a).await?
            {
                return Ok(true);
            }
        }
        let groups: BTreeSet<Uuid> = change
            .edges_out
            .iter()
            .map(|(g, _)| *g)
            .chain(change.groups_emptied.iter().copied())
            .chain(change.groups_out.iter().copied())
            .chain(change.renamed.keys().copied())
            .collect();
        for g in groups {
            if let Some(iam) = self.store.group_iam(g).await?
                && maps_user_admin(&self.iam_settings(iam).await?)
            {
                return Ok(true);
            }
        }
        if let Some((iam, after)) = change.settings {
            return Ok(maps_user_admin(after) || maps_user_admin(&self.iam_settings(iam).await?));
        }
        Ok(false)
    }

    /// Whether an account holds USER_ADMIN, directly or through a group
    /// its IAM (or the built-in IAM) maps to it.
    pub(crate) async fn holds_user_admin(&self, a: &Account) -> Result<bool> {
        self.holds_any_of(a.id, a.iam_id, &[USER_ADMIN]).await
    }

    /// Whether the account `id` (of the IAM `iam`, if attached) holds one
    /// of these permissions, directly or through a group mapping. Group
    /// memberships are read only when a mapping could grant one.
    pub(crate) async fn holds_any_of(
        &self,
        id: Uuid,
        iam: Option<Uuid>,
        wanted: &[&str],
    ) -> Result<bool> {
        if self
            .store
            .grants(id)
            .await?
            .iter()
            .any(|g| wanted.contains(&g.permission.as_str()))
        {
            return Ok(true);
        }
        let mut iams = vec![BUILT_IN_IAM_ID];
        iams.extend(iam.map(IamId::new).filter(|i| *i != BUILT_IN_IAM_ID));
        for iam in iams {
            let settings = self.iam_settings(iam.uuid()).await?;
            let mapped = names_mapped_to(&settings, wanted);
            if mapped.is_empty() {
                continue;
            }
            let groups = self
                .store
                .groups_of_users(iam, &[id])
                .await?
                .remove(&id)
                .unwrap_or_default();
            if groups
                .iter()
                .any(|g| mapped.contains(&fold_case(&g.display_name)))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Before a change that may take USER_ADMIN from any number of
    /// accounts at once (a role changed, deleted or given up): None when
    /// nobody holds it now (nothing to keep), else the accounts that hold
    /// it through a group mapping whatever grants the change takes, for
    /// storage's check after the change (`last_admin::remains`).
    pub(crate) async fn admins_beside_grants(&self) -> Result<Option<Vec<Uuid>>> {
        if self.user_admins(&WhatIf::default()).await?.is_empty() {
            return Ok(None);
        }
        let (granted, _) = self
            .store
            .list_accounts(&AccountQuery {
                permission: Some(USER_ADMIN.to_owned()),
                include_disabled: true,
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        let change = WhatIf {
            grants_out: granted.iter().map(|a| UserId::new(a.id)).collect(),
            ..Default::default()
        };
        Ok(Some(self.user_admins(&change).await?.into_iter().collect()))
    }

    /// Who would hold USER_ADMIN after the change.
    async fn user_admins(&self, change: &WhatIf<'_>) -> Result<BTreeSet<Uuid>> {
        let mut candidates: BTreeSet<Uuid> = BTreeSet::new();
        let (direct, _) = self
            .store
            .list_accounts(&AccountQuery {
                permission: Some(USER_ADMIN.to_owned()),
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        candidates.extend(
            direct
                .iter()
                .filter(|a| !change.grants_out.contains(&UserId::new(a.id)))
                .map(|a| a.id),
        );
        for iam in self.store.list_iams().await? {
            let settings = match change.settings {
                Some((id, s)) if id == iam.id => s.clone(),
                _ => self.iam_settings(iam.id).await?,
            };
            if maps_user_admin(&settings) {
                candidates.extend(self.mapped_members(iam.id, &settings, change).await?);
            }
        }
        let mut out = BTreeSet::new();
        for id in candidates {
            if change.accounts_out.contains(&UserId::new(id)) {
                continue;
            }
            if let Some(a) = self.store.account(id).await?
                && standing(&a)
            {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// The accounts in the groups an IAM maps to USER_ADMIN, through
    /// nesting (each group visited once), as the change would leave them.
    async fn mapped_members(
        &self,
        iam: Uuid,
        settings: &IamSettings,
        change: &WhatIf<'_>,
    ) -> Result<BTreeSet<Uuid>> {
        let mapped = mapped_names(settings);
        let mut queue: VecDeque<Uuid> = VecDeque::new();
        for name in &mapped {
            for g in self.groups_named(iam, name).await? {
                let renamed_away = change
                    .renamed
                    .get(&g)
                    .is_some_and(|n| !mapped.contains(&fold_case(n)));
                if !renamed_away && !change.groups_out.contains(&g) {
                    queue.push_back(g);
                }
            }
        }
        let mut seen: HashSet<Uuid> = queue.iter().copied().collect();
        let mut users = BTreeSet::new();
        while let Some(g) = queue.pop_front() {
            if change.groups_emptied.contains(&g) {
                continue;
            }
            for m in self
                .store
                .group_members(IamId::new(iam), GroupId::new(g))
                .await?
            {
                if change.edges_out.contains(&(g, m.id)) {
                    continue;
                }
                match m.kind {
                    MemberKind::User => {
                        if !change
                            .memberships_out
                            .contains(&(IamId::new(iam), UserId::new(m.id)))
                        {
                            users.insert(m.id);
                        }
                    }
                    MemberKind::Group => {
                        if !change.groups_out.contains(&m.id) && seen.insert(m.id) {
                            queue.push_back(m.id);
                        }
                    }
                }
            }
        }
        Ok(users)
    }

    /// The ids of an IAM's groups with this displayName (case-insensitive).
    async fn groups_named(&self, iam: Uuid, folded: &str) -> Result<Vec<Uuid>> {
        use crate::scim::filter::{AttrPath, CompareOp, Filter, Literal};
        let filter = Filter::Compare {
            path: AttrPath {
                urn: None,
                attr: "displayName".into(),
                sub: None,
            },
            op: CompareOp::Eq,
            value: Literal::String(folded.to_owned()),
        };
        let page = self
            .store
            .list_groups(
                IamId::new(iam),
                &ListQuery {
                    filter: Some(filter),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await?;
        Ok(page.items.iter().map(|s| s.id).collect())
    }
}

/// A user document but for `active`.
fn without_active(doc: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(o) = d.as_object_mut() {
        o.remove("active");
    }
    d
}

/// Whether any group mapping of these settings grants USER_ADMIN.
fn maps_user_admin(s: &IamSettings) -> bool {
    s.group_permissions
        .values()
        .any(|ps| ps.iter().any(|p| p == USER_ADMIN))
}

/// The folded group names these settings map to USER_ADMIN.
fn mapped_names(s: &IamSettings) -> BTreeSet<String> {
    names_mapped_to(s, &[USER_ADMIN])
}

/// The folded group names these settings map to one of these permissions.
fn names_mapped_to(s: &IamSettings, wanted: &[&str]) -> BTreeSet<String> {
    s.group_permissions
        .iter()
        .filter(|(_, ps)| ps.iter().any(|p| wanted.contains(&p.as_str())))
        .map(|(g, _)| fold_case(g))
        .collect()
}
