//! SCIM resource endpoints. Each handler extracts, calls one directory
//! method and shapes the response (status, ETag, Location).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::ApiError;
use super::extract::{IamCaller, Params, ScimBody, scope};
use super::principal::{Admin, Principal};
use super::{AppState, body, scim_response};
use crate::directory::patch::Patched;
use crate::directory::search::SearchRequest;
use crate::directory::stream;
use crate::directory::users::Resource;
use crate::directory::{Error, ListResult, etag};
use crate::scim::schema::{LIST_RESPONSE_SCHEMA, USER_RESOURCE};

type Result<T> = std::result::Result<T, ApiError>;

/// The version an `If-Match` header names: None when absent or `*`.
/// A header naming something that is no version of ours can never match.
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or("").trim();
    if v == "*" {
        return Ok(None);
    }
    crate::scim::etag::parse(v)
        .map(Some)
        .ok_or_else(|| ApiError::from(Error::precondition_failed()))
}

fn none_match(headers: &HeaderMap, version: i64) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || crate::scim::etag::parse(t) == Some(version))
        })
}

pub(super) fn resource_response(status: StatusCode, r: &Resource) -> Response {
    let mut resp = scim_response(status, &r.doc);
    if let Ok(v) = HeaderValue::from_str(&etag(r.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&r.location)
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn with_etag(mut resp: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

pub(super) fn read_response(headers: &HeaderMap, r: &Resource) -> Response {
    if none_match(headers, r.version) {
        return with_etag(StatusCode::NOT_MODIFIED.into_response(), r.version);
    }
    resource_response(StatusCode::OK, r)
}

pub(super) fn list_response(l: ListResult) -> Response {
    let mut doc = list_envelope(&l);
    // Moved in, not copied (`json!` would serialise every document again).
    doc["Resources"] = serde_json::Value::Array(l.resources);
    scim_response(StatusCode::OK, &doc)
}

/// A list that may hold groups with members: those stream.
async fn group_list_response(s: &AppState, mut l: ListResult) -> Result<Response> {
    let Some(lists) = l.members.take() else {
        return Ok(list_response(l));
    };
    let envelope = list_envelope(&l);
    let chunks = stream::list(s.dir.store.clone(), lists, envelope, l.resources);
    body::streamed(StatusCode::OK, chunks).await
}

/// The ListResponse without `Resources`.
fn list_envelope(l: &ListResult) -> serde_json::Value {
    let mut doc = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": l.total,
        "itemsPerPage": l.resources.len(),
    });
    // startIndex for index pagination; the cursors for cursor pagination
    // (RFC 9865: nextCursor absent only on the last page).
    if let Some(i) = l.start_index {
        doc["startIndex"] = json!(i);
    }
    if let Some(c) = &l.next_cursor {
        doc["nextCursor"] = json!(c);
    }
    if let Some(c) = &l.previous_cursor {
        doc["previousCursor"] = json!(c);
    }
    doc
}

pub async fn create_user(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.user)?;
    let r = s.dir.create_user(&scope, &body, &proj).await?;
    Ok(resource_response(StatusCode::CREATED, &r))
}

pub async fn get_user(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
    Path(id): Path<String>,
) -> Result<Response> {
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.user)?;
    let r = s.dir.get_user(&scope, &id, &proj).await?;
    Ok(read_response(&headers, &r))
}

pub async fn replace_user(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.user)?;
    let version = if_match(&headers)?;
    let r = s
        .dir
        .replace_user(&scope, &id, &body, version, &proj)
        .await?;
    Ok(resource_response(StatusCode::OK, &r))
}

pub async fn delete_user(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let version = if_match(&headers)?;
    s.dir
        .delete_user(&scope(&s, &headers, iam).await?, &id, version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_users(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.user)?;
    let paging = params.paging(s.config.max_results)?;
    let l = s
        .dir
        .list_users(&scope, params.get("filter"), paging, &params.sort(), &proj)
        .await?;
    Ok(list_response(l))
}

pub async fn create_group(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.group)?;
    let r = s.dir.create_group(&scope, &body, &proj).await?;
    Ok(resource_response(StatusCode::CREATED, &r))
}

pub async fn get_group(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
    Path(id): Path<String>,
) -> Result<Response> {
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.group)?;
    let g = s.dir.get_group(&scope, &id, &proj).await?;
    let Some(lists) = g.members else {
        return Ok(read_response(&headers, &g.resource));
    };
    let version = g.resource.version;
    if none_match(&headers, version) {
        return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), version));
    }
    let chunks = stream::document(s.dir.store.clone(), lists, g.resource.doc);
    Ok(with_etag(
        body::streamed(StatusCode::OK, chunks).await?,
        version,
    ))
}

pub async fn replace_group(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.group)?;
    let version = if_match(&headers)?;
    let r = s
        .dir
        .replace_group(&scope, &id, &body, version, &proj)
        .await?;
    Ok(resource_response(StatusCode::OK, &r))
}

pub async fn delete_group(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let version = if_match(&headers)?;
    s.dir
        .delete_group(&scope(&s, &headers, iam).await?, &id, version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_groups(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.group)?;
    let paging = params.paging(s.config.max_results)?;
    let l = s
        .dir
        .list_groups(&scope, params.get("filter"), paging, &params.sort(), &proj)
        .await?;
    group_list_response(&s, l).await
}

pub async fn patch_user(
    State(s): State<AppState>,
    caller: std::result::Result<IamCaller, ApiError>,
    principal: Principal,
    headers: HeaderMap,
    params: Params,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let iam = match (caller, principal) {
        (Ok(IamCaller(iam)), _) => iam,
        // Not an identity provider's token: an administrator may change
        // what the internal IAM owns through SCIM PATCH as well.
        (Err(_), Principal::Admin(admin)) => {
            return admin_patch_user(&s, &admin, &headers, &id, &body).await;
        }
        // Anyone else gets the SCIM 401 it would have got anyway.
        (Err(refused), _) => return Err(refused),
    };
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.user)?;
    let version = if_match(&headers)?;
    let r = s.dir.patch_user(&scope, &id, &body, version, &proj).await?;
    Ok(resource_response(StatusCode::OK, &r))
}

/// An administrator's PATCH of a user (see `directory::scim_admin`): 200
/// with the user's internal data, or 204 when its identity provider has
/// detached it (SCIM no longer shows it).
async fn admin_patch_user(
    s: &AppState,
    admin: &Admin,
    headers: &HeaderMap,
    id: &str,
    body: &serde_json::Value,
) -> Result<Response> {
    let uuid = crate::directory::parse_id(id)?;
    s.dir.admin_patch_user(&admin.ctx(), uuid, body).await?;
    let account = s.dir.account(uuid.into()).await?;
    let Some(iam) = account.iam_id else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let ext = crate::scim::schema::BRIDGE_USER_SCHEMA;
    let proj = crate::scim::projection::Projection::parse(
        &USER_RESOURCE,
        Some(&format!(
            "userName,entitlements,{ext}:permissions,{ext}:attributes,{ext}:disabled"
        )),
        None,
    )?;
    // An administrator reads the bridge extension whatever the IAM lets
    // its identity provider read.
    let mut scope = scope(s, headers, iam).await?;
    scope.acting = Some(crate::audit::Actor::Admin(admin.id));
    let r = s.dir.get_user(&scope, id, &proj).await?;
    Ok(resource_response(StatusCode::OK, &r))
}

/// 200 with the group, or 204 (with the ETag) when the group has more
/// members than `patch_members_response_limit` and the response would
/// list them.
pub async fn patch_group(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let scope = scope(&s, &headers, iam).await?;
    let proj = params.projection(scope.types.group)?;
    let version = if_match(&headers)?;
    let patched = s
        .dir
        .patch_group(
            &scope,
            &id,
            &body,
            version,
            &proj,
            s.config.patch_members_response_limit,
        )
        .await?;
    Ok(match patched {
        Patched::Resource(r) => resource_response(StatusCode::OK, &r),
        Patched::NoContent { version } => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = HeaderValue::from_str(&etag(version)) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            resp
        }
    })
}

pub async fn search_users(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let req = SearchRequest::parse(&body)?;
    let scope = scope(&s, &headers, iam).await?;
    let proj = req.projection(scope.types.user)?;
    let paging = req.paging(s.config.max_results)?;
    let l = s
        .dir
        .list_users(&scope, req.filter.as_deref(), paging, &req.sort, &proj)
        .await?;
    Ok(list_response(l))
}

pub async fn search_groups(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let req = SearchRequest::parse(&body)?;
    let scope = scope(&s, &headers, iam).await?;
    let proj = req.projection(scope.types.group)?;
    let paging = req.paging(s.config.max_results)?;
    let l = s
        .dir
        .list_groups(&scope, req.filter.as_deref(), paging, &req.sort, &proj)
        .await?;
    group_list_response(&s, l).await
}

pub async fn search_all(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let req = SearchRequest::parse(&body)?;
    let l = s
        .dir
        .search_all(&scope(&s, &headers, iam).await?, &req)
        .await?;
    group_list_response(&s, l).await
}
