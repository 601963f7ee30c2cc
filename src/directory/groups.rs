//! SCIM groups: create, read, replace, delete, list. Members live in their
//! own table; the stored document never holds them, so listing groups with
//! `excludedAttributes=members` never touches membership rows.

use std::collections::HashSet;

use serde_json::{Value, json};
use uuid::Uuid;

use super::governance::Touched;
use super::ids::GroupId;
use super::patch::retry_on_lost_race;
use super::search::SortRequest;
use super::stream::{MemberFields, MemberLists};
use super::users::{Resource, check_body_id, meta};
use super::{Directory, Error, ListResult, Paging, Result, Scope, changes, parse_id};
use crate::scim::projection::Projection;
use crate::scim::resource::{self, fold_case};
use crate::scim::schema::{GROUP_RESOURCE, GROUP_SCHEMA, ResourceTypeDef};
use crate::scim::search_doc;
use crate::scim::user_name::{MAX_CHARS, check_chars};
use crate::store::{GroupWrite, ListQuery, Member, MemberKind, StoreError, Stored};

impl Directory {
    pub async fn create_group(
        &self,
        scope: &Scope,
        body: &Value,
        proj: &Projection,
    ) -> Result<Resource> {
        let id = self.new_id();
        let (write, wanted) = group_write(scope.types.group, body, None)?;
        let members = self.existing_members(scope, id, &wanted).await?;
        let records = changes::group_created(&scope.audit(), id.uuid(), &write, &members);
        let stored = self
            .store
            .insert_group(scope.iam, id, &write, &members, &records, self.now())
            .await?;
        // Its accounts, and those of the groups it holds, gained it.
        let members: Vec<Uuid> = members.iter().map(|(m, _)| *m).collect();
        self.resubscribe_all(&scope.audit(), &members).await?;
        self.group_resource(scope, &stored, proj).await
    }

    /// The group's document without its members, and what the response
    /// must stream after it (see [`super::stream`]).
    pub async fn get_group(&self, scope: &Scope, id: &str, proj: &Projection) -> Result<GroupRead> {
        let id = parse_id(id)?;
        let stored = self
            .store
            .get_group(scope.iam, id)
            .await?
            .ok_or_else(|| Error::not_found(format!("no group with id {id}")))?;
        Ok(GroupRead {
            resource: group_head(scope, &stored, proj),
            members: member_lists(scope, proj, [id]),
        })
    }

    pub async fn replace_group(
        &self,
        scope: &Scope,
        id: &str,
        body: &Value,
        if_version: Option<i64>,
        proj: &Projection,
    ) -> Result<Resource> {
        let uuid = parse_id(id)?;
        check_body_id(body, id)?;
        let (write, wanted) = group_write(scope.types.group, body, None)?;
        let members = self.existing_members(scope, uuid, &wanted).await?;
        let kept: Vec<Uuid> = members.iter().map(|(m, _)| *m).collect();
        self.guard_group_change(
            scope.iam,
            uuid,
            super::guard::GroupChange {
                keep: Some(&kept),
                renamed: Some(&write.display_name),
                ..Default::default()
            },
        )
        .await?;
        // The stored document, read once, is what the record says changed;
        // the write is conditional on its version, and a lost race reads
        // again (see `patch.rs`).
        let (write, members) = (&write, &members);
        let touched = &Touched::default();
        let stored = retry_on_lost_race(if_version, move || async move {
            let current = self
                .store
                .get_group(scope.iam, uuid)
                .await?
                .ok_or(StoreError::NotFound)?;
            if if_version.is_some_and(|v| v != current.version) {
                return Err(Error::precondition_failed());
            }
            if current.doc.get("displayName").and_then(Value::as_str)
                != Some(write.display_name.as_str())
            {
                // Policies name groups by displayName: every account in it
                // is reached.
                touched.note([uuid.uuid()]);
            }
            let docs = Some((&current.doc, &write.doc));
            let audit = scope.audit().via("PUT");
            let change = changes::GroupChange::new(&audit, uuid.uuid(), docs);
            let expect = Some(current.version);
            Ok(self
                .store
                .replace_group(
                    scope.iam,
                    uuid,
                    write,
                    members,
                    expect,
                    touched.records(change),
                    self.now(),
                )
                .await)
        })
        .await?;
        self.resubscribe_touched(&scope.audit(), touched).await?;
        self.group_resource(scope, &stored, proj).await
    }

    pub async fn delete_group(
        &self,
        scope: &Scope,
        id: &str,
        if_version: Option<i64>,
    ) -> Result<()> {
        let id = parse_id(id)?;
        self.guard_group_change(
            scope.iam,
            id,
            super::guard::GroupChange {
                deleted: true,
                ..Default::default()
            },
        )
        .await?;
        // Its accounts (through nested groups too) are read before the
        // delete takes the memberships along, and re-evaluated after it.
        let reached = self.reached(&[id.uuid()]).await?;
        let records = [changes::group_deleted(&scope.audit(), id.uuid())];
        self.store
            .delete_group(scope.iam, id, if_version, &records, self.now())
            .await?;
        self.resubscribe_reached(&scope.audit(), reached).await?;
        Ok(())
    }

    pub async fn list_groups(
        &self,
        scope: &Scope,
        filter: Option<&str>,
        paging: Paging,
        sort: &SortRequest,
        proj: &Projection,
    ) -> Result<ListResult> {
        let rt = scope.types.group;
        let parsed = self.parse_filter(filter, rt)?;
        let resolved = sort.resolve(rt)?;
        let plan = self
            .plan_page(
                scope,
                GROUP_RESOURCE.name,
                filter,
                sort.sort_by.as_deref(),
                resolved.as_ref(),
                &paging,
            )
            .await?;
        let page = self
            .store
            .list_groups(
                scope.iam,
                &ListQuery {
                    filter: parsed,
                    resource: Some(rt),
                    window: plan.window.clone(),
                    limit: paging.count,
                    sort: resolved,
                    base_url: Some(scope.base_url.clone()),
                    known_total: plan.known_total,
                },
            )
            .await?;
        // Members are never read here: the response body streams them.
        let resources = page
            .items
            .iter()
            .map(|s| group_head(scope, s, proj).doc)
            .collect();
        let mut result = self.page_result(&plan, &paging, &page, resources);
        result.members = member_lists(scope, proj, page.items.iter().map(|s| GroupId::new(s.id)));
        Ok(result)
    }

    /// Keeps the requested members that exist in this IAM. Unknown ids are
    /// skipped, not fatal: identity providers do not retry a failed push,
    /// and one stale member must not block the rest.
    pub(super) async fn existing_members(
        &self,
        scope: &Scope,
        group: GroupId,
        wanted: &[Uuid],
    ) -> Result<Vec<(Uuid, MemberKind)>> {
        if wanted.contains(&group.uuid()) {
            return Err(Error::invalid_value("a group cannot be a member of itself"));
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let known = self.store.resolve_members(scope.iam, wanted).await?;
        let members: Vec<_> = wanted
            .iter()
            .filter_map(|id| known.get(id).map(|k| (*id, *k)))
            .collect();
        if members.len() < wanted.len() {
            tracing::warn!(
                group = %group,
                skipped = wanted.len() - members.len(),
                "skipped members that are not users or groups of this IAM"
            );
        }
        Ok(members)
    }

    pub(super) async fn group_resource(
        &self,
        scope: &Scope,
        s: &Stored,
        proj: &Projection,
    ) -> Result<Resource> {
        let members = if proj.includes(&GROUP_RESOURCE, None, "members") {
            self.store
                .group_members(scope.iam, GroupId::new(s.id))
                .await?
        } else {
            Vec::new()
        };
        let mut doc = s.doc.clone();
        let (meta, location) = meta(scope, "Group", "/Groups", s);
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("id".into(), Value::String(s.id.to_string()));
            if !obj.contains_key("schemas") {
                obj.insert("schemas".into(), json!([GROUP_SCHEMA]));
            }
            if !members.is_empty() {
                let list: Vec<Value> = members.iter().map(|m| member_json(scope, m)).collect();
                obj.insert("members".into(), Value::Array(list));
            }
            obj.insert("meta".into(), meta);
        }
        Ok(Resource {
            id: s.id.to_string(),
            doc: proj.apply(scope.types.group, &doc),
            version: s.version,
            location,
        })
    }
}

/// A group read for a response that streams its members after it.
#[derive(Debug, Clone)]
pub struct GroupRead {
    /// The document without `members`.
    pub resource: Resource,
    /// None when the projection leaves members out.
    pub members: Option<MemberLists>,
}

/// The group's document with everything but its members, projected.
pub(super) fn group_head(scope: &Scope, s: &Stored, proj: &Projection) -> Resource {
    let mut doc = s.doc.clone();
    let (meta, location) = meta(scope, "Group", "/Groups", s);
    if let Some(obj) = doc.as_object_mut() {
        obj.remove("members");
        obj.insert("id".into(), Value::String(s.id.to_string()));
        if !obj.contains_key("schemas") {
            obj.insert("schemas".into(), json!([GROUP_SCHEMA]));
        }
        obj.insert("meta".into(), meta);
    }
    Resource {
        id: s.id.to_string(),
        doc: proj.apply(scope.types.group, &doc),
        version: s.version,
        location,
    }
}

/// What a response must stream for these groups: None when the
/// projection leaves members out (then no member is ever read).
fn member_lists(
    scope: &Scope,
    proj: &Projection,
    groups: impl IntoIterator<Item = GroupId>,
) -> Option<MemberLists> {
    Some(MemberLists {
        iam: scope.iam,
        base_url: scope.base_url.clone(),
        fields: MemberFields::of(proj)?,
        groups: groups.into_iter().collect(),
    })
}

fn member_json(scope: &Scope, m: &Member) -> Value {
    let endpoint = match m.kind {
        MemberKind::User => "Users",
        MemberKind::Group => "Groups",
    };
    let mut v = json!({
        "value": m.id.to_string(),
        "$ref": format!("{}/{}/{}", scope.base_url, endpoint, m.id),
        "type": m.kind.as_str(),
    });
    if let Some(d) = &m.display {
        v["display"] = Value::String(d.clone());
    }
    v
}

/// Splits a validated body into the stored document and the member ids.
/// `kept` is the displayName stored before a PATCH: written back
/// unchanged, a name from before the character rule stays valid.
pub(super) fn group_write(
    rt: &'static ResourceTypeDef,
    body: &Value,
    kept: Option<&str>,
) -> Result<(GroupWrite, Vec<Uuid>)> {
    let mut doc = resource::normalize(rt, body)?.doc;
    let display_name = doc
        .get("displayName")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid_value("displayName is required"))?
        .to_owned();
    if kept != Some(display_name.as_str()) {
        check_chars("displayName", &display_name, MAX_CHARS)?;
    }
    let mut seen = HashSet::new();
    let mut wanted = Vec::new();
    if let Some(Value::Array(members)) = doc.as_object_mut().and_then(|o| o.remove("members")) {
        for m in members {
            // A value that is not one of our ids names no member of this IAM.
            if let Some(id) = m
                .get("value")
                .and_then(Value::as_str)
                .and_then(|v| Uuid::parse_str(v).ok())
                && seen.insert(id)
            {
                wanted.push(id);
            }
        }
    }
    Ok((
        GroupWrite {
            display_name_folded: fold_case(&display_name),
            display_name,
            external_id: doc
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            search: search_doc::build(rt, &doc),
            doc,
        },
        wanted,
    ))
}
