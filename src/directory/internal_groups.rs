//! Internal groups: groups of the built-in IAM (`bim`), administered here
//! rather than by an identity provider. They may hold accounts of any IAM,
//! so that administrators can give people from several identity providers
//! attributes and (through the built-in IAM's group mapping) permissions
//! together. Identity providers' groups are theirs: members change there.

use futures_util::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use super::accounts::Ctx;
use super::governance::Touched;
use super::ids::{GroupId, IamId};
use super::permissions::may;
use super::{Directory, Error, Result, Scope, rfc3339, truncate};
use crate::store::accounts::BUILT_IN_IAM_ID;
use crate::store::{GroupPatch, ListQuery, MemberKind, Window};

impl Directory {
    fn internal_scope(ctx: &Ctx) -> Scope {
        Scope {
            iam: BUILT_IN_IAM_ID,
            base_url: String::new(),
            request_id: ctx.request_id.clone(),
            txn: ctx.txn.clone(),
            acting: Some(ctx.actor.clone()),
            types: Default::default(),
        }
    }

    /// Creates an internal group.
    pub async fn create_internal_group(&self, ctx: &Ctx, display_name: &str) -> Result<Value> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let name = display_name.trim();
        if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
            return Err(Error::invalid_value(
                "displayName is 1 to 256 printable characters",
            ));
        }
        let (write, _) = super::groups::group_write(
            &crate::scim::schema::GROUP_RESOURCE,
            &json!({ "displayName": name }),
            None,
        )?;
        let id: GroupId = self.new_id();
        let records = super::changes::group_created(&ctx.entry(""), id.uuid(), &write, &[]);
        let stored = self
            .store
            .insert_group(BUILT_IN_IAM_ID, id, &write, &[], &records, self.now())
            .await?;
        Ok(json!({
            "id": stored.id,
            "displayName": name,
            "iam": super::iams::BUILT_IN_IAM,
            "created": rfc3339(stored.created),
        }))
    }

    /// The groups of an IAM (the built-in one by default), by id.
    pub async fn list_groups_of(
        &self,
        ctx: &Ctx,
        iam: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<Value> {
        ctx.require(may::READ_ACCOUNTS)?;
        let iam = self.iam(iam.unwrap_or(super::iams::BUILT_IN_IAM)).await?;
        let page = self
            .store
            .list_groups(
                IamId::new(iam.id),
                &ListQuery {
                    window: Window::Offset(offset),
                    limit,
                    ..Default::default()
                },
            )
            .await?;
        let hits: Vec<Value> = page
            .items
            .iter()
            .map(|g| {
                json!({
                    "id": g.id,
                    "displayName": g.doc.get("displayName"),
                    "iam": iam.name,
                    "created": rfc3339(g.created),
                    "lastModified": rfc3339(g.last_modified),
                })
            })
            .collect();
        Ok(json!({ "hits": hits, "count": page.total }))
    }

    /// A page of a group's members (any group: reading is not changing),
    /// read as a stream, so a group of a million costs flat memory.
    pub async fn group_members_page(
        &self,
        ctx: &Ctx,
        group: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Value> {
        ctx.require(may::READ_ACCOUNTS)?;
        let iam = self
            .store
            .group_iam(group)
            .await?
            .ok_or_else(|| Error::not_found(format!("no group with id {group}")))?;
        let mut members = self
            .store
            .stream_members(IamId::new(iam), GroupId::new(group));
        let mut hits = Vec::new();
        let mut seen = 0u64;
        while let Some(m) = members.next().await {
            let m = m?;
            if seen >= offset && (hits.len() as u64) < limit {
                hits.push(json!({
                    "id": m.id,
                    "kind": m.kind.as_str(),
                    "display": m.display,
                }));
            }
            seen += 1;
        }
        Ok(json!({ "hits": hits, "count": seen }))
    }

    /// Adds accounts to an internal group; every id must name an account.
    pub async fn add_internal_members(&self, ctx: &Ctx, group: Uuid, ids: &[Uuid]) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        self.internal_group(group).await?;
        if ids.is_empty() || ids.len() > 10_000 {
            return Err(Error::invalid_value("'members' names 1 to 10,000 accounts"));
        }
        for id in ids {
            if self.store.account(*id).await?.is_none() {
                return Err(Error::not_found(format!("no account with id {id}")));
            }
        }
        let add: Vec<(Uuid, MemberKind)> = ids.iter().map(|id| (*id, MemberKind::User)).collect();
        self.patch_internal(
            ctx,
            group,
            &GroupPatch {
                add: &add,
                ..Default::default()
            },
        )
        .await
    }

    pub async fn remove_internal_member(&self, ctx: &Ctx, group: Uuid, member: Uuid) -> Result<()> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        self.internal_group(group).await?;
        self.guard_group_change(
            BUILT_IN_IAM_ID,
            GroupId::new(group),
            super::guard::GroupChange {
                removed: &[member],
                ..Default::default()
            },
        )
        .await?;
        self.patch_internal(
            ctx,
            group,
            &GroupPatch {
                remove: &[member],
                ..Default::default()
            },
        )
        .await
    }

    async fn patch_internal(&self, ctx: &Ctx, group: Uuid, p: &GroupPatch<'_>) -> Result<()> {
        let scope = Self::internal_scope(ctx);
        let mut entry = scope.audit();
        entry.actor = ctx.actor.clone();
        let change = super::changes::GroupChange::new(&entry, group, None);
        let now = self.now();
        let touched = Touched::default();
        self.store
            .patch_group(
                BUILT_IN_IAM_ID,
                GroupId::new(group),
                p,
                None,
                touched.records(change),
                now,
            )
            .await?;
        self.resubscribe_touched(&ctx.entry(""), &touched).await
    }

    /// 404 for no group, 409 for an identity provider's group.
    async fn internal_group(&self, group: Uuid) -> Result<()> {
        match self.store.group_iam(group).await? {
            None => Err(Error::not_found(format!("no group with id {group}"))),
            Some(iam) if iam != BUILT_IN_IAM_ID.uuid() => Err(Error::conflict(format!(
                "group {} belongs to an identity provider: its members change there",
                truncate(&group.to_string())
            ))),
            Some(_) => Ok(()),
        }
    }
}
