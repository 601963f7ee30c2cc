//! The catalogue over SCIM: the permission catalogue as `/Entitlements`
//! and the roles as `/Roles`, read-only, in the URNs of the IAM's
//! `rolesDialect`. Both are small (a catalogue, not a directory): a list
//! reads them whole, then filters and pages in memory with the same
//! evaluator the property tests hold to the SQL filters.

use serde_json::{Value, json};

use super::roles::RoleGraph;
use super::{Directory, Error, ListResult, Paging, Result, Scope};
use crate::scim::filter;
use crate::scim::projection::Projection;
use crate::scim::schema::ResourceTypeDef;
use crate::scim::schema::catalogue::RolesDialect;
use crate::store::accounts::PermissionDef;

/// Which of the catalogue's two lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Entitlement,
    Role,
}

impl Kind {
    pub fn resource_type(self, dialect: RolesDialect) -> &'static ResourceTypeDef {
        match self {
            Kind::Entitlement => dialect.entitlement(),
            Kind::Role => dialect.role(),
        }
    }
}

/// What `roles[].value` / `entitlements[].value` may name: a role or a
/// permission by its value (name) or its id.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub permissions: Vec<PermissionDef>,
    pub roles: RoleGraph,
}

impl Catalogue {
    fn entitlement_doc(&self, p: &PermissionDef, rt: &ResourceTypeDef, base: &str) -> Value {
        json!({
            "schemas": [rt.schema.id],
            // A permission's name is its identifier: stable, unique.
            "id": p.name,
            "value": p.name,
            "display": p.name,
            "displayName": p.name,
            "type": "permission",
            "description": p.description,
            "supported": true,
            "meta": {
                "resourceType": rt.name,
                "location": format!("{base}{}/{}", rt.endpoint, p.name),
            },
        })
    }

    fn role_doc(&self, name: &str, dialect: RolesDialect, base: &str) -> Option<Value> {
        let rt = dialect.role();
        let def = self.roles.0.get(name)?;
        let role_ref = |n: &str| {
            self.roles.0.get(n).map(|r| {
                json!({"value": r.id.to_string(), "display": r.name, "type": "Role",
                       "$ref": format!("{base}/Roles/{}", r.id)})
            })
        };
        let mut contains: Vec<Value> = def.roles.iter().filter_map(|r| role_ref(r)).collect();
        contains.extend(def.permissions.iter().map(|p| {
            json!({"value": p, "display": p, "type": "Entitlement",
                   "$ref": format!("{base}/Entitlements/{p}")})
        }));
        let contained_by: Vec<Value> = self
            .roles
            .containers(name)
            .iter()
            .filter_map(|r| role_ref(r))
            .collect();
        Some(json!({
            "schemas": [rt.schema.id],
            "id": def.id.to_string(),
            "value": def.name,
            "display": def.name,
            "displayName": def.name,
            "type": "role",
            "description": def.description,
            "supported": true,
            "contains": contains,
            "containedBy": contained_by,
            "meta": {
                "resourceType": rt.name,
                "created": super::rfc3339(def.created),
                "lastModified": super::rfc3339(def.modified),
                "location": format!("{base}{}/{}", rt.endpoint, def.id),
            },
        }))
    }

    /// Every resource of one kind, by value.
    fn docs(&self, kind: Kind, dialect: RolesDialect, base: &str) -> Vec<Value> {
        match kind {
            Kind::Entitlement => {
                let rt = dialect.entitlement();
                self.permissions
                    .iter()
                    .map(|p| self.entitlement_doc(p, rt, base))
                    .collect()
            }
            Kind::Role => self
                .roles
                .0
                .keys()
                .filter_map(|n| self.role_doc(n, dialect, base))
                .collect(),
        }
    }
}

impl Directory {
    pub async fn catalogue(&self) -> Result<Catalogue> {
        Ok(Catalogue {
            permissions: self.store.permission_catalogue().await?,
            roles: self.role_graph().await?,
        })
    }

    /// `GET /Entitlements`, `GET /Roles`: a page of the catalogue's
    /// resources matching the filter, by value.
    pub async fn list_catalogue(
        &self,
        scope: &Scope,
        kind: Kind,
        filter: Option<&str>,
        paging: &Paging,
        proj: &Projection,
    ) -> Result<ListResult> {
        if paging.cursor.is_some() {
            return Err(Error::invalid_value(
                "the catalogue pages by startIndex and count only",
            ));
        }
        let dialect = self.iam_settings(scope.iam.uuid()).await?.roles_dialect;
        let rt = kind.resource_type(dialect);
        let parsed = self.parse_filter(filter, rt)?;
        let catalogue = self.catalogue().await?;
        let mut matching = Vec::new();
        for doc in catalogue.docs(kind, dialect, &scope.base_url) {
            let keep = match &parsed {
                None => true,
                Some(f) => filter::matches(f, rt, &doc)?,
            };
            if keep {
                matching.push(doc);
            }
        }
        let total = matching.len() as u64;
        let resources = matching
            .into_iter()
            .skip(usize::try_from(paging.start_index - 1).unwrap_or(usize::MAX))
            .take(usize::try_from(paging.count).unwrap_or(usize::MAX))
            .map(|d| proj.apply_owned(rt, d))
            .collect();
        Ok(ListResult {
            total,
            start_index: Some(paging.start_index),
            resources,
            next_cursor: None,
            previous_cursor: None,
            members: None,
        })
    }

    /// `GET /Entitlements/{id}`, `GET /Roles/{id}`: by id (a role also by
    /// its name).
    pub async fn get_catalogue(
        &self,
        scope: &Scope,
        kind: Kind,
        id: &str,
        proj: &Projection,
    ) -> Result<Value> {
        let dialect = self.iam_settings(scope.iam.uuid()).await?.roles_dialect;
        let rt = kind.resource_type(dialect);
        let catalogue = self.catalogue().await?;
        let doc = match kind {
            Kind::Entitlement => catalogue
                .permissions
                .iter()
                .find(|p| p.name == id)
                .map(|p| catalogue.entitlement_doc(p, rt, &scope.base_url)),
            Kind::Role => catalogue
                .roles
                .find(id)
                .and_then(|r| catalogue.role_doc(&r.name, dialect, &scope.base_url)),
        };
        let doc = doc.ok_or_else(|| Error::not_found(format!("no {} with id {id}", rt.name)))?;
        Ok(proj.apply_owned(rt, doc))
    }
}
