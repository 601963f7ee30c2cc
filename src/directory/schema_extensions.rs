//! The schema extensions an IAM declares (issue 20): each SCIM request's
//! resource types, read through a short-lived cache; the declaration as
//! the admin API shows it; and changing it, refused while values stored
//! under the old declaration would not fit the new one. The checking and
//! the definitions themselves are `scim::schema::custom`'s.

use serde_json::{Value, json};
use uuid::Uuid;

use super::accounts::Ctx;
use super::iam_settings::PermissionsSource;
use super::ids::IamId;
use super::permissions::may;
use super::{Directory, Error, Result};
use crate::scim::resource;
use crate::scim::schema::custom::{self, ResourceTypes};
use crate::scim::schema::{ResourceTypeDef, SchemaDef};
use crate::scim::search_doc;
use crate::store::{ListQuery, ResourceKind, Window};

/// Stored resources are checked this many at a time.
const BATCH: u64 = 500;

impl Directory {
    /// The IAM's User and Group resource types (the built-in ones with the
    /// extensions it declared; with `entitlements` writable when its
    /// identity provider governs permissions), as read in the last
    /// `token_cache_ms`.
    pub async fn resource_types(&self, iam: Uuid) -> Result<ResourceTypes> {
        if let Some(t) = self.types_cache.get(iam) {
            return Ok(t);
        }
        let mut types = ResourceTypes::of(&self.declared(iam).await?)
            .map_err(|e| Error::Internal(format!("IAM schema extensions: {}", e.detail)))?;
        if self.iam_settings(iam).await?.permissions_source == PermissionsSource::Idp {
            types = types.governed();
        }
        self.types_cache.put(iam, &types);
        Ok(types)
    }

    async fn declared(&self, iam: Uuid) -> Result<Value> {
        Ok(self
            .store
            .iam_schema_extensions(iam)
            .await?
            .unwrap_or_else(|| json!([])))
    }

    /// `GET /api/v1/iams/{name}/schema-extensions`.
    pub async fn schema_extensions(&self, ctx: &Ctx, name: &str) -> Result<Value> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let iam = self.iam(name).await?;
        Ok(json!({ "extensions": self.declared(iam.id).await? }))
    }

    /// `PUT /api/v1/iams/{name}/schema-extensions`: replaces the IAM's
    /// declaration. 409 while stored values would no longer fit it.
    pub async fn set_schema_extensions(
        &self,
        ctx: &Ctx,
        name: &str,
        body: &Value,
    ) -> Result<Value> {
        ctx.require(may::MANAGE_ACCOUNTS)?;
        let iam = self.iam(name).await?;
        let declared = custom::parse(body)?;
        let before_declared = self.declared(iam.id).await?;
        if before_declared == declared {
            return Ok(json!({ "extensions": declared }));
        }
        let before = ResourceTypes::of(&before_declared)?;
        let after = ResourceTypes::of(&declared)?;
        let misfits = self.misfits(IamId::new(iam.id), before, after).await?;
        if misfits > 0 {
            return Err(Error::conflict(format!(
                "{misfits} stored resource(s) of IAM '{}' hold values that would not fit the new \
                 declaration (an extension or attribute removed, a type, mutability or caseExact \
                 changed): change or remove those values first",
                iam.name
            )));
        }
        let entry = ctx
            .entry("iam.updated")
            .target("Iam", iam.id)
            .attributes(["schemaExtensions"]);
        self.store
            .set_iam_schema_extensions(iam.id, &declared, &entry, self.now())
            .await?;
        self.types_cache.forget(iam.id);
        Ok(json!({ "extensions": declared }))
    }

    /// How many stored resources hold values of a declared extension of
    /// `before` that `after` would refuse, store differently or search
    /// differently.
    async fn misfits(
        &self,
        iam: IamId,
        before: ResourceTypes,
        after: ResourceTypes,
    ) -> Result<u64> {
        let mut n = 0;
        for (rt, schema) in before.custom() {
            let new_rt = after.named(rt.name).unwrap_or(rt);
            let kind = if rt.name == "User" {
                ResourceKind::User
            } else {
                ResourceKind::Group
            };
            let kept = new_rt
                .schema_by_urn(schema.id)
                .filter(|s| s.strict)
                .is_some();
            let filter = holders_filter(schema);
            let mut offset = 0;
            loop {
                let q = ListQuery {
                    filter: filter.clone(),
                    resource: Some(rt),
                    window: Window::Offset(offset),
                    limit: BATCH,
                    ..Default::default()
                };
                let page = match kind {
                    ResourceKind::User => self.store.list_users(iam, &q).await?,
                    ResourceKind::Group => self.store.list_groups(iam, &q).await?,
                };
                if page.items.is_empty() {
                    break;
                }
                offset += page.items.len() as u64;
                for s in &page.items {
                    let Some(have) = under(&s.doc, schema.id) else {
                        continue;
                    };
                    if !kept || !fits(rt, new_rt, schema, &s.doc, have) {
                        n += 1;
                    }
                }
            }
        }
        Ok(n)
    }
}

/// `urn:…:a pr or urn:…:b pr …`: the resources holding a value of the
/// extension. None (every resource) when an attribute cannot be filtered
/// on (`returned: never`).
fn holders_filter(schema: &SchemaDef) -> Option<crate::scim::filter::Filter> {
    use crate::scim::filter::{AttrPath, Filter};
    use crate::scim::schema::Returned;
    if schema
        .attributes
        .iter()
        .any(|a| a.returned == Returned::Never)
    {
        return None;
    }
    schema
        .attributes
        .iter()
        .map(|a| {
            Filter::Present(AttrPath {
                urn: Some(schema.id.to_owned()),
                attr: a.name.to_owned(),
                sub: None,
            })
        })
        .reduce(|a, b| Filter::Or(Box::new(a), Box::new(b)))
}

fn under<'d>(doc: &'d Value, urn: &str) -> Option<&'d Value> {
    doc.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(urn))
        .map(|(_, v)| v)
}

/// Whether a stored document's values of `schema` (`have`) come through
/// the new resource type unchanged, and search the same.
fn fits(
    old_rt: &ResourceTypeDef,
    new_rt: &ResourceTypeDef,
    schema: &SchemaDef,
    doc: &Value,
    have: &Value,
) -> bool {
    let Ok(normalized) = resource::normalize(new_rt, doc) else {
        return false;
    };
    if under(&normalized.doc, schema.id) != Some(have) {
        return false;
    }
    let old_search = search_doc::build(old_rt, doc);
    let new_search = search_doc::build(new_rt, &normalized.doc);
    under(&old_search, schema.id) == under(&new_search, schema.id)
}
