//! SCIM users: create, read, replace, delete, list. The stored document is
//! what the identity provider owns; `id`, `meta` and `groups` are added on
//! the way out.

use serde_json::{Value, json};

use super::ids::UserId;
use super::patch::retry_on_lost_race;
use super::search::SortRequest;
use super::{
    Directory, Error, ListResult, Paging, Result, Scope, changes, etag, parse_id, rfc3339,
};
use crate::scim::filter;
use crate::scim::projection::Projection;
use crate::scim::resource::{self, fold_case};
use crate::scim::schema::{BRIDGE_USER_SCHEMA, ResourceTypeDef, USER_RESOURCE, USER_SCHEMA};
use crate::scim::search_doc;
use crate::scim::user_name::UserName;
use crate::store::{GroupRef, ListQuery, StoreError, Stored, UserWrite};

/// A resource as the HTTP layer sends it: the projected document and the
/// version its ETag names.
#[derive(Debug, Clone)]
pub struct Resource {
    pub id: String,
    pub doc: Value,
    pub version: i64,
    pub location: String,
}

impl Directory {
    pub async fn create_user(
        &self,
        scope: &Scope,
        body: &Value,
        proj: &Projection,
    ) -> Result<Resource> {
        let write = self
            .user_write(scope.types.user, body, true, Kept::None)
            .await?;
        let assignment = self.plan_assignment(scope, None, None, &write.doc).await?;
        let id: UserId = self.new_id();
        let defaults = self
            .iam_settings(scope.iam.uuid())
            .await?
            .default_permissions;
        let records = [changes::user_created(&scope.audit(), id.uuid(), &write)];
        let stored = self
            .store
            .create_user(scope.iam, id, &write, &defaults, &records, self.now())
            .await?;
        self.apply_assignment(scope, id.uuid(), assignment).await?;
        self.resubscribe(&scope.audit(), id).await?;
        Ok(user_resource(scope, &stored, &[], proj))
    }

    pub async fn get_user(&self, scope: &Scope, id: &str, proj: &Projection) -> Result<Resource> {
        let id = parse_id(id)?;
        let found = if proj.includes(&USER_RESOURCE, None, "groups") {
            self.store.get_user_with_groups(scope.iam, id).await?
        } else {
            let user = self.store.get_user(scope.iam, id).await?;
            user.map(|u| (u, Vec::new()))
        };
        let (mut stored, groups) =
            found.ok_or_else(|| Error::not_found(format!("no user with id {id}")))?;
        self.add_internal(scope, proj, std::slice::from_mut(&mut stored))
            .await?;
        Ok(user_resource_of(scope, stored, &groups, proj))
    }

    pub async fn replace_user(
        &self,
        scope: &Scope,
        id: &str,
        body: &Value,
        if_version: Option<i64>,
        proj: &Projection,
    ) -> Result<Resource> {
        let uuid = parse_id(id)?;
        check_body_id(body, id)?;
        // The stored user, read once: its userName decides whether an old
        // name may be written back, and its document what the record says
        // changed. The write is conditional on the version read, so the
        // record is exact; a lost race reads again (see `patch.rs`).
        let read = self.store.get_user(scope.iam, uuid).await?;
        let kept = read.as_ref().and_then(|s| s.doc.get("userName"));
        let kept = kept.and_then(Value::as_str).map_or(Kept::None, Kept::Name);
        let write = self.user_write(scope.types.user, body, false, kept).await?;
        let write = &write;
        let mut first_read = Some(read);
        let stored = retry_on_lost_race(if_version, move || {
            // The first attempt judges the user read above; a retry reads
            // again.
            let first = first_read.take();
            async move {
                let current = match first {
                    Some(read) => read,
                    None => self.store.get_user(scope.iam, uuid).await?,
                };
                let current = current.ok_or(StoreError::NotFound)?;
                if if_version.is_some_and(|v| v != current.version) {
                    return Err(Error::precondition_failed());
                }
                // Each attempt's own copy: what it writes depends on the
                // document it read (see `replace_read_user`).
                self.replace_read_user(scope, &current, &mut write.clone(), "PUT")
                    .await
            }
        })
        .await?;
        self.updated_user(scope, stored, proj).await
    }

    /// The write of a PUT or PATCH over the user as read: judged against
    /// the account as it is now (a retry after a lost race judges again),
    /// recorded as the change from what was read, and made only if the
    /// user is still at the version read. The store's answer is left to
    /// `retry_on_lost_race`. `via`: `PUT` or `PATCH`, for its event.
    pub(super) async fn replace_read_user(
        &self,
        scope: &Scope,
        read: &Stored,
        write: &mut UserWrite,
        via: &'static str,
    ) -> Result<std::result::Result<Stored, StoreError>> {
        let id = UserId::new(read.id);
        self.check_user_write(scope, id, Some((&write.doc, write.active)))
            .await?;
        let records = [changes::user_updated(
            &scope.audit().via(via),
            read.id,
            &read.doc,
            write,
        )];
        let same = |key: &str| read.doc.get(key) == write.doc.get(key);
        write.emails_unchanged = same("emails");
        write.keys_unchanged = same("userName") && same("externalId") && same("displayName");
        let assignment = self
            .plan_assignment(scope, Some(read.id), Some(&read.doc), &write.doc)
            .await?;
        let expect = Some(read.version);
        let written = self
            .store
            .replace_user(scope.iam, id, write, expect, &records, self.now())
            .await;
        if written.is_ok() {
            self.apply_assignment(scope, read.id, assignment).await?;
        }
        Ok(written)
    }

    /// The user as a PUT or PATCH answers: with its groups when the
    /// projection asks for them.
    pub(super) async fn updated_user(
        &self,
        scope: &Scope,
        stored: Stored,
        proj: &Projection,
    ) -> Result<Resource> {
        self.resubscribe(&scope.audit(), UserId::new(stored.id))
            .await?;
        let groups = if proj.includes(&USER_RESOURCE, None, "groups") {
            self.store
                .groups_of_users(scope.iam, &[stored.id])
                .await?
                .remove(&stored.id)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(user_resource_of(scope, stored, &groups, proj))
    }

    pub async fn delete_user(
        &self,
        scope: &Scope,
        id: &str,
        if_version: Option<i64>,
    ) -> Result<()> {
        let id = parse_id(id)?;
        let admins_after = self.check_user_write(scope, id, None).await?;
        let last_admin = super::guard::store_guard(&admins_after);
        let ctx = super::accounts::Ctx {
            actor: scope.audit().actor,
            request_id: scope.request_id.clone(),
            txn: scope.txn.clone(),
            held: None,
        };
        let now = self.now();
        let deleted = match self.iam_settings(scope.iam.uuid()).await?.delete_mode {
            super::accounts::DeleteMode::Deprovision => {
                let entry = ctx.entry("user.deprovisioned").target("User", id.uuid());
                self.store
                    .deprovision_user(scope.iam, id, if_version, last_admin, &entry, now)
                    .await
            }
            super::accounts::DeleteMode::Delete => {
                let entry = ctx.entry("user.deleted").target("User", id.uuid());
                self.store
                    .delete_account(id, Some((scope.iam, if_version)), last_admin, &entry, now)
                    .await
            }
        };
        deleted.map_err(super::accounts::guarded)?;
        // Deprovisioned, it is admitted nowhere (deleted, it has nothing).
        self.resubscribe(&scope.audit(), id).await
    }

    pub async fn list_users(
        &self,
        scope: &Scope,
        filter: Option<&str>,
        paging: Paging,
        sort: &SortRequest,
        proj: &Projection,
    ) -> Result<ListResult> {
        let rt = scope.types.user;
        let parsed = self.parse_filter(filter, rt)?;
        let resolved = sort.resolve(rt)?;
        let plan = self
            .plan_page(
                scope,
                USER_RESOURCE.name,
                filter,
                sort.sort_by.as_deref(),
                resolved.as_ref(),
                &paging,
            )
            .await?;
        let page = self
            .store
            .list_users(
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
        let mut groups = if proj.includes(&USER_RESOURCE, None, "groups") && !page.items.is_empty()
        {
            let ids: Vec<_> = page.items.iter().map(|s| s.id).collect();
            self.store.groups_of_users(scope.iam, &ids).await?
        } else {
            Default::default()
        };
        let mut page = page;
        self.add_internal(scope, proj, &mut page.items).await?;
        // The page's documents move into the response; `page_result`
        // reads only the page's bounds and counts.
        let items = std::mem::take(&mut page.items);
        let resources = items
            .into_iter()
            .map(|s| {
                let g = groups.remove(&s.id).unwrap_or_default();
                user_resource_of(scope, s, &g, proj).doc
            })
            .collect();
        Ok(self.page_result(&plan, &paging, &page, resources))
    }

    pub(crate) fn parse_filter(
        &self,
        filter: Option<&str>,
        rt: &crate::scim::schema::ResourceTypeDef,
    ) -> Result<Option<filter::Filter>> {
        match filter {
            None => Ok(None),
            Some(f) if f.trim().is_empty() => Ok(None),
            Some(f) => {
                let parsed = filter::parse(f, &self.limits.filter)?;
                filter::resolve(&parsed, rt)?;
                Ok(Some(parsed))
            }
        }
    }

    /// Adds what the internal IAM owns — `entitlements` and the bridge
    /// extension — to the documents, when the projection asks for them
    /// (they are `returned: request`, so a plain read never pays for this).
    /// The extension only to an administrator (`scope.acting`), or to an
    /// identity provider whose IAM lets it read it (`bridgeExtension`).
    async fn add_internal(
        &self,
        scope: &Scope,
        proj: &Projection,
        users: &mut [Stored],
    ) -> Result<()> {
        let entitlements = proj.includes(&USER_RESOURCE, None, "entitlements");
        let mut extension = ["permissions", "attributes", "disabled"]
            .iter()
            .any(|a| proj.includes(&USER_RESOURCE, Some(BRIDGE_USER_SCHEMA), a));
        if extension && scope.acting.is_none() {
            extension = self.iam_settings(scope.iam.uuid()).await?.bridge_extension;
        }
        if !entitlements && !extension {
            return Ok(());
        }
        for s in users {
            let Some(account) = self.store.account(s.id).await? else {
                continue;
            };
            // The account's groups, read once for both answers.
            let groups = self.groups_by_iam(&account).await?;
            let permissions = self.permissions_through(&account, &groups).await?;
            let Some(doc) = s.doc.as_object_mut() else {
                continue;
            };
            // What an identity provider sent (permissionsSource idp) is
            // stored; what is answered is what the account holds.
            doc.remove("entitlements");
            if entitlements && !permissions.is_empty() {
                let list: Vec<Value> = permissions
                    .keys()
                    .map(|p| json!({"value": p, "type": "permission"}))
                    .collect();
                doc.insert("entitlements".into(), Value::Array(list));
            }
            if extension {
                let attributes = self.attribute_layers(&account, &groups).await?.effective;
                let mut pairs = Vec::new();
                for (name, values) in attributes {
                    for v in values {
                        pairs.push(json!({"name": name, "value": v}));
                    }
                }
                let sourced: Vec<Value> = permissions
                    .iter()
                    .flat_map(|(p, sources)| {
                        sources
                            .iter()
                            .map(move |s| json!({"value": p, "source": s}))
                    })
                    .collect();
                doc.insert(
                    BRIDGE_USER_SCHEMA.into(),
                    json!({"permissions": sourced, "attributes": pairs, "disabled": account.disabled}),
                );
                if let Some(Value::Array(schemas)) = doc.get_mut("schemas")
                    && !schemas.iter().any(|x| x == BRIDGE_USER_SCHEMA)
                {
                    schemas.push(json!(BRIDGE_USER_SCHEMA));
                }
            }
        }
        Ok(())
    }

    /// Validates a body and derives the indexed columns. The password, if
    /// any, is hashed off the async threads (argon2 is deliberately slow).
    /// `kept` is the userName stored before this write, if known: written
    /// back unchanged, a name from before the userName rule stays valid.
    pub(super) async fn user_write(
        &self,
        rt: &'static ResourceTypeDef,
        body: &Value,
        creating: bool,
        kept: Kept<'_>,
    ) -> Result<UserWrite> {
        let normalized = resource::normalize(rt, body)?;
        let doc = normalized.doc;
        let raw = doc
            .get("userName")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid_value("userName is required"))?;
        let user_name = match UserName::parse(raw) {
            Ok(n) => n,
            Err(e) => match kept {
                Kept::Name(old) if old == raw => UserName::grandfathered(raw),
                _ => return Err(e.into()),
            },
        };
        let password_hash = match normalized.password {
            Some(p) => Some(Some(
                crate::auth::password::hash(p)
                    .await
                    .map_err(Error::Internal)?,
            )),
            None if creating => Some(None),
            None => None,
        };
        Ok(UserWrite {
            user_name,
            external_id: doc
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            display_name_folded: doc
                .get("displayName")
                .and_then(Value::as_str)
                .map(fold_case),
            active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
            search: search_doc::build(rt, &doc),
            doc,
            password_hash,
            emails_unchanged: false,
            keys_unchanged: false,
        })
    }
}

/// What a write replaces, for [`Directory::user_write`]: nothing (a
/// create, or no such user), or the userName stored now.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kept<'a> {
    None,
    Name(&'a str),
}

/// A PUT body may repeat the id, but not name another resource.
pub(crate) fn check_body_id(body: &Value, id: &str) -> Result<()> {
    let given = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")))
        .map(|(_, v)| v);
    match given {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.eq_ignore_ascii_case(id) => Ok(()),
        Some(_) => Err(Error::invalid_value(
            "the id in the body does not match the id in the URL",
        )),
    }
}

pub(crate) fn meta(
    scope: &Scope,
    resource_type: &str,
    endpoint: &str,
    s: &Stored,
) -> (Value, String) {
    // Pushed rather than formatted: this runs for every resource of a page.
    let mut id = uuid::Uuid::encode_buffer();
    let id = s.id.hyphenated().encode_lower(&mut id);
    let mut location = String::with_capacity(scope.base_url.len() + endpoint.len() + 1 + id.len());
    location.push_str(&scope.base_url);
    location.push_str(endpoint);
    location.push('/');
    location.push_str(id);
    let mut meta = serde_json::Map::new();
    meta.insert("resourceType".into(), resource_type.into());
    meta.insert("created".into(), rfc3339(s.created).into());
    meta.insert("lastModified".into(), rfc3339(s.last_modified).into());
    meta.insert("location".into(), location.clone().into());
    meta.insert("version".into(), etag(s.version).into());
    (Value::Object(meta), location)
}

pub(super) fn user_resource(
    scope: &Scope,
    s: &Stored,
    groups: &[GroupRef],
    proj: &Projection,
) -> Resource {
    user_resource_of(scope, s.clone(), groups, proj)
}

/// [`user_resource`] of a row read for this response alone: its document
/// moves into the response instead of being copied.
fn user_resource_of(
    scope: &Scope,
    mut s: Stored,
    groups: &[GroupRef],
    proj: &Projection,
) -> Resource {
    let mut doc = std::mem::take(&mut s.doc);
    let (meta, location) = meta(scope, "User", "/Users", &s);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), Value::String(s.id.to_string()));
        if !obj.contains_key("schemas") {
            obj.insert("schemas".into(), json!([USER_SCHEMA]));
        }
        if !groups.is_empty() {
            let list: Vec<Value> = groups
                .iter()
                .map(|g| {
                    json!({
                        "value": g.id.to_string(),
                        "$ref": format!("{}/Groups/{}", scope.base_url, g.id),
                        "display": g.display_name,
                        "type": if g.direct { "direct" } else { "indirect" },
                    })
                })
                .collect();
            obj.insert("groups".into(), Value::Array(list));
        }
        obj.insert("meta".into(), meta);
    }
    Resource {
        id: s.id.to_string(),
        doc: proj.apply_owned(scope.types.user, doc),
        version: s.version,
        location,
    }
}
