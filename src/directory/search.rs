//! `POST /.search` (RFC 7644 §3.4.3): the query of a GET list, in a body.
//! At the root it searches users, then groups, as one result set.

use serde_json::Value;

use super::{Directory, ListResult, Paging, Result, Scope};
use crate::scim::ScimError;
use crate::scim::projection::Projection;
use crate::scim::schema::{GROUP_RESOURCE, ResourceTypeDef, SEARCH_REQUEST_SCHEMA, USER_RESOURCE};

/// A validated SearchRequest body.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub filter: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
}

impl SearchRequest {
    pub fn parse(body: &Value) -> std::result::Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a SearchRequest is a JSON object"))?;
        if let Some(schemas) = obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
            .map(|(_, v)| v)
        {
            let ok = schemas.as_array().is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
                })
            });
            if !ok {
                return Err(ScimError::invalid_syntax(format!(
                    "schemas must contain {SEARCH_REQUEST_SCHEMA}"
                )));
            }
        }
        let field = |name: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let string = |name: &str| -> std::result::Result<Option<String>, ScimError> {
            match field(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string"))),
            }
        };
        // attributes may be a JSON array of paths or one comma-separated string.
        let list = |name: &str| -> std::result::Result<Option<String>, ScimError> {
            match field(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .map(|v| Some(v.join(",")))
                    .ok_or_else(|| {
                        ScimError::invalid_value(format!("{name} must be an array of strings"))
                    }),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "{name} must be an array of strings"
                ))),
            }
        };
        let integer = |name: &str| -> std::result::Result<Option<i64>, ScimError> {
            match field(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer"))),
            }
        };
        Ok(SearchRequest {
            filter: string("filter")?,
            attributes: list("attributes")?,
            excluded_attributes: list("excludedAttributes")?,
            start_index: integer("startIndex")?,
            count: integer("count")?,
        })
    }

    pub fn paging(&self, max: u32) -> Paging {
        Paging::new(self.start_index, self.count, max)
    }

    pub fn projection(&self, rt: &ResourceTypeDef) -> std::result::Result<Projection, ScimError> {
        Projection::parse(
            rt,
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
        )
    }
}

impl Directory {
    /// Searches users and groups together: users first, then groups, each in
    /// their stable order. A filter that names attributes only one resource
    /// type has matches nothing of the other; one valid for neither is a 400.
    pub async fn search_all(&self, scope: &Scope, req: &SearchRequest) -> Result<ListResult> {
        let paging = req.paging(self.limits.max_results);
        let filter = req.filter.as_deref();
        let user_filter_ok = self.parse_filter(filter, &USER_RESOURCE).is_ok();
        let group_filter_ok = self.parse_filter(filter, &GROUP_RESOURCE).is_ok();
        if !user_filter_ok && !group_filter_ok {
            // Report the error as the User resource type sees it.
            self.parse_filter(filter, &USER_RESOURCE)?;
        }
        let (user_total, mut resources) = if user_filter_ok {
            let users = self
                .list_users(scope, filter, paging, &req.projection(&USER_RESOURCE)?)
                .await?;
            (users.total, users.resources)
        } else {
            (0, Vec::new())
        };
        let group_total = if group_filter_ok {
            let offset = (paging.start_index - 1).saturating_sub(user_total);
            let groups = self
                .list_groups(
                    scope,
                    filter,
                    Paging {
                        start_index: offset + 1,
                        count: paging.count - resources.len() as u64,
                    },
                    &req.projection(&GROUP_RESOURCE)?,
                )
                .await?;
            resources.extend(groups.resources);
            groups.total
        } else {
            0
        };
        Ok(ListResult {
            total: user_total + group_total,
            start_index: paging.start_index,
            resources,
        })
    }
}
