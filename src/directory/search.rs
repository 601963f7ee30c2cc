//! `POST /.search` (RFC 7644 §3.4.3): the query of a GET list, in a body.
//! At the root it searches users, then groups, as one result set.

use serde_json::Value;

use super::{Directory, Error, ListResult, Paging, Result, Scope};
use crate::scim::filter::{self, Filter, FilterLimits};
use crate::scim::projection::Projection;
use crate::scim::schema::{
    AttrType, GROUP_RESOURCE, ResourceTypeDef, SEARCH_REQUEST_SCHEMA, USER_RESOURCE,
};
use crate::store::Sort;

/// `sortBy` and `sortOrder` as the client sent them (query or body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortRequest {
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
}

impl SortRequest {
    /// Resolves `sortBy` against `rt` (RFC 7644 §3.4.2.3): a singular
    /// attribute, a sub-attribute, or a multi-valued or complex attribute
    /// with a `value` (which then sorts by it). `sortOrder` is `ascending`
    /// (the default) or `descending`, in any case. No `sortBy`: no sort.
    pub fn resolve(&self, rt: &ResourceTypeDef) -> Result<Option<Sort>> {
        let Some(by) = self
            .sort_by
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return Ok(None);
        };
        let descending = match self.sort_order.as_deref().map(str::trim) {
            None | Some("") => false,
            Some(o) if o.eq_ignore_ascii_case("ascending") => false,
            Some(o) if o.eq_ignore_ascii_case("descending") => true,
            Some(o) => {
                return Err(Error::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', not '{}'",
                    super::truncate(o)
                )));
            }
        };
        let bad = |why: &str| {
            Error::invalid_value(format!(
                "sortBy '{}' {why} of {}",
                super::truncate(by),
                rt.name
            ))
        };
        // An attribute path is what `<path> pr` parses to.
        let limits = FilterLimits {
            max_terms: 1,
            ..FilterLimits::default()
        };
        let path = match filter::parse(&format!("{by} pr"), &limits) {
            Ok(Filter::Present(path)) => path,
            _ => return Err(bad("is not an attribute path")),
        };
        let mut r =
            filter::resolve_path(&path, rt).map_err(|_| bad("is not a sortable attribute"))?;
        if r.sub.is_none() && r.attr.ty == AttrType::Complex {
            r.sub = Some(r.attr.sub("value").ok_or_else(|| {
                bad("is complex: name one of its sub-attributes, not an attribute")
            })?);
        }
        let computed = !r.in_extension
            && (rt.name == USER_RESOURCE.name && r.attr.name == "groups"
                || rt.name == GROUP_RESOURCE.name && r.attr.name == "members");
        if computed {
            return Err(bad("is not a sortable attribute"));
        }
        Ok(Some(Sort {
            path: r,
            descending,
        }))
    }
}

/// A validated SearchRequest body.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub filter: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    /// RFC 9865: present (an empty string starts) to page by cursor.
    pub cursor: Option<String>,
    pub sort: SortRequest,
}

impl SearchRequest {
    pub fn parse(body: &Value) -> Result<Self> {
        let obj = body
            .as_object()
            .ok_or_else(|| Error::invalid_syntax("a SearchRequest is a JSON object"))?;
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
                return Err(Error::invalid_syntax(format!(
                    "schemas must contain {SEARCH_REQUEST_SCHEMA}"
                )));
            }
        }
        let field = |name: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let string = |name: &str| -> Result<Option<String>> {
            match field(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::invalid_value(format!("{name} must be a string"))),
            }
        };
        // attributes may be a JSON array of paths or one comma-separated string.
        let list = |name: &str| -> Result<Option<String>> {
            match field(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .map(|v| Some(v.join(",")))
                    .ok_or_else(|| {
                        Error::invalid_value(format!("{name} must be an array of strings"))
                    }),
                Some(_) => Err(Error::invalid_value(format!(
                    "{name} must be an array of strings"
                ))),
            }
        };
        let integer = |name: &str| -> Result<Option<i64>> {
            match field(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .map(Some)
                    .ok_or_else(|| Error::invalid_value(format!("{name} must be an integer"))),
            }
        };
        Ok(SearchRequest {
            filter: string("filter")?,
            attributes: list("attributes")?,
            excluded_attributes: list("excludedAttributes")?,
            start_index: integer("startIndex")?,
            count: integer("count")?,
            cursor: string("cursor")?,
            sort: SortRequest {
                sort_by: string("sortBy")?,
                sort_order: string("sortOrder")?,
            },
        })
    }

    pub fn paging(&self, max: u32) -> Result<Paging> {
        Paging::parse(self.start_index, self.count, self.cursor.as_deref(), max)
    }

    pub fn projection(&self, rt: &ResourceTypeDef) -> Result<Projection> {
        Ok(Projection::parse(
            rt,
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
        )?)
    }
}

impl Directory {
    /// Searches users and groups together: users first, then groups, each in
    /// their stable order. A filter that names attributes only one resource
    /// type has matches nothing of the other; one valid for neither is a 400.
    pub async fn search_all(&self, scope: &Scope, req: &SearchRequest) -> Result<ListResult> {
        let paging = req.paging(self.limits.max_results)?;
        if paging.cursor.is_some() {
            // One position would have to span two orders (users, then
            // groups, each by its own sort key): not offered.
            return Err(Error::invalid_value(
                "cursor pagination is available on /Users and /Groups (and their /.search); \
                 the root /.search pages by startIndex",
            ));
        }
        let filter = req.filter.as_deref();
        let (users_rt, groups_rt) = (scope.types.user, scope.types.group);
        let user_filter_ok = self.parse_filter(filter, users_rt).is_ok();
        let group_filter_ok = self.parse_filter(filter, groups_rt).is_ok();
        if !user_filter_ok && !group_filter_ok {
            // Report the error as the User resource type sees it.
            self.parse_filter(filter, users_rt)?;
        }
        // Each resource type sorts by `sortBy` if it has that attribute.
        let no_sort = SortRequest::default();
        let user_sort = req.sort.resolve(users_rt);
        let group_sort = req.sort.resolve(groups_rt);
        if let (Err(e), Err(_)) = (&user_sort, &group_sort) {
            return Err(e.clone());
        }
        let user_sort = if user_sort.is_ok() {
            &req.sort
        } else {
            &no_sort
        };
        let group_sort = if group_sort.is_ok() {
            &req.sort
        } else {
            &no_sort
        };
        let (user_total, mut resources) = if user_filter_ok {
            let users = self
                .list_users(
                    scope,
                    filter,
                    paging.clone(),
                    user_sort,
                    &req.projection(users_rt)?,
                )
                .await?;
            (users.total, users.resources)
        } else {
            (0, Vec::new())
        };
        let mut members = None;
        let group_total = if group_filter_ok {
            let offset = (paging.start_index - 1).saturating_sub(user_total);
            let groups = self
                .list_groups(
                    scope,
                    filter,
                    Paging {
                        start_index: offset + 1,
                        count: paging.count - resources.len() as u64,
                        cursor: None,
                    },
                    group_sort,
                    &req.projection(groups_rt)?,
                )
                .await?;
            resources.extend(groups.resources);
            members = groups.members;
            groups.total
        } else {
            0
        };
        Ok(ListResult {
            total: user_total + group_total,
            start_index: Some(paging.start_index),
            resources,
            next_cursor: None,
            previous_cursor: None,
            members,
        })
    }
}
