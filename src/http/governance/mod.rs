//! The admin API's governance routes (issue 18): tags, data sources,
//! global subscription policies and the decision. Each handler extracts,
//! calls one directory method (which checks the caller's permission) and
//! shapes the answer; errors are the admin API's.

pub mod schema;

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::AppState;
use super::admin::{Admin, AdminError, Answer, Body, created, number};
use super::openapi::{Paging, requires};
use crate::directory::governance::{
    DataSourcePage, DataSourceView, EvaluationView, JobPage, JobView, PolicyPage, PolicyView,
    SubscriberPage, TagPage, TagView,
};
use crate::directory::ids::DataSourceId;
use crate::directory::permissions::may;
use schema::{
    Evaluation, EvaluationRequest, NewDataSource, NewTag, Policy, PolicyList, TagsToApply,
};

/// A data source id from the path; one that is not an id names nothing.
fn data_source_id(s: &str) -> Result<DataSourceId, AdminError> {
    Uuid::parse_str(s)
        .map(DataSourceId::new)
        .map_err(|_| AdminError::new(StatusCode::NOT_FOUND, format!("no data source with id {s}")))
}

/// Create a tag (and its missing parents)
#[utoipa::path(
    post, path = "/tags",
    description = requires(may::GOVERN),
    request_body = NewTag,
    responses((status = 201, description = "Created", body = TagView))
)]
pub async fn create_tag(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    Ok(created(s.dir.create_tag(&admin.ctx(), &b).await?))
}

/// Tags not deleted, by name
#[utoipa::path(
    get, path = "/tags",
    description = requires(may::READ_GOVERNANCE),
    params(("search" = Option<String>, Query, description = "Part of the name, any case"), Paging),
    responses((status = 200, description = "OK", body = TagPage))
)]
pub async fn list_tags(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Json<TagPage>> {
    let page = s
        .dir
        .list_tags(
            &admin.ctx(),
            q.get("search").map(String::as_str),
            number(&q, "offset", 0, u32::MAX as u64)?,
            number(&q, "limit", 100, 1000)?,
        )
        .await?;
    Ok(Json(page))
}

/// Delete a tag and those below it
///
/// A deleted tag stays on the data sources that carry it (and counts in
/// decisions), and can no longer be applied.
#[utoipa::path(
    delete, path = "/tags/{name}",
    description = requires(may::GOVERN),
    params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_tag(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> Answer<StatusCode> {
    s.dir.delete_tag(&admin.ctx(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Register a data source
#[utoipa::path(
    post, path = "/data-sources",
    description = requires(may::CREATE_DATA_SOURCES),
    request_body = NewDataSource,
    responses((status = 201, description = "Created", body = DataSourceView))
)]
pub async fn create_data_source(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    Ok(created(s.dir.create_data_source(&admin.ctx(), &b).await?))
}

/// Data sources, by name
#[utoipa::path(
    get, path = "/data-sources",
    description = requires(may::READ_GOVERNANCE),
    params(Paging),
    responses((status = 200, description = "OK", body = DataSourcePage))
)]
pub async fn list_data_sources(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Json<DataSourcePage>> {
    let page = s
        .dir
        .list_data_sources(
            &admin.ctx(),
            number(&q, "offset", 0, u32::MAX as u64)?,
            number(&q, "limit", 100, 1000)?,
        )
        .await?;
    Ok(Json(page))
}

/// A data source
#[utoipa::path(
    get, path = "/data-sources/{id}",
    description = requires(may::READ_GOVERNANCE),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = DataSourceView))
)]
pub async fn get_data_source(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Answer<Json<DataSourceView>> {
    let id = data_source_id(&id)?;
    Ok(Json(s.dir.data_source(&admin.ctx(), id).await?))
}

/// Remove a data source from the registry
///
/// Requires GOVERNANCE, or to own the data source. Its subscriptions
/// stay, named by their text.
#[utoipa::path(
    delete, path = "/data-sources/{id}",
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_data_source(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Answer<StatusCode> {
    let id = data_source_id(&id)?;
    s.dir.delete_data_source(&admin.ctx(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tag a data source
///
/// Requires GOVERNANCE, or to own the data source.
#[utoipa::path(
    post, path = "/data-sources/{id}/tags",
    params(("id" = String, Path)),
    request_body = TagsToApply,
    responses((status = 200, description = "OK", body = DataSourceView))
)]
pub async fn tag_data_source(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Body(b): Body,
) -> Answer<Json<DataSourceView>> {
    let id = data_source_id(&id)?;
    Ok(Json(s.dir.tag_data_source(&admin.ctx(), id, &b).await?))
}

/// Take a tag off a data source
///
/// Requires GOVERNANCE, or to own the data source.
#[utoipa::path(
    delete, path = "/data-sources/{id}/tags/{tag}",
    params(("id" = String, Path), ("tag" = String, Path)),
    responses((status = 200, description = "OK", body = DataSourceView))
)]
pub async fn untag_data_source(
    State(s): State<AppState>,
    admin: Admin,
    Path((id, tag)): Path<(String, String)>,
) -> Answer<Json<DataSourceView>> {
    let id = data_source_id(&id)?;
    Ok(Json(s.dir.untag_data_source(&admin.ctx(), id, &tag).await?))
}

/// Create a global subscription policy
#[utoipa::path(
    post, path = "/policies",
    description = requires(may::GOVERN),
    request_body = Policy,
    responses((status = 201, description = "Created", body = Policy))
)]
pub async fn create_policy(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    Ok(created(s.dir.create_policy(&admin.ctx(), &b).await?))
}

/// Every global subscription policy, by key
#[utoipa::path(
    get, path = "/policies",
    description = requires(may::READ_GOVERNANCE),
    responses((status = 200, description = "OK", body = PolicyList))
)]
pub async fn list_policies(State(s): State<AppState>, admin: Admin) -> Answer<Json<PolicyPage>> {
    Ok(Json(s.dir.list_policies(&admin.ctx()).await?))
}

/// A global subscription policy
#[utoipa::path(
    get, path = "/policies/{policyKey}",
    description = requires(may::READ_GOVERNANCE),
    params(("policyKey" = String, Path)),
    responses((status = 200, description = "OK", body = Policy))
)]
pub async fn get_policy(
    State(s): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> Answer<Json<PolicyView>> {
    Ok(Json(s.dir.policy(&admin.ctx(), &key).await?))
}

/// Replace a global subscription policy
#[utoipa::path(
    put, path = "/policies/{policyKey}",
    description = requires(may::GOVERN),
    params(("policyKey" = String, Path)),
    request_body = Policy,
    responses((status = 200, description = "OK", body = Policy))
)]
pub async fn replace_policy(
    State(s): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    Body(b): Body,
) -> Answer<Json<PolicyView>> {
    Ok(Json(s.dir.replace_policy(&admin.ctx(), &key, &b).await?))
}

/// Delete a global subscription policy
#[utoipa::path(
    delete, path = "/policies/{policyKey}",
    description = requires(may::GOVERN),
    params(("policyKey" = String, Path)),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_policy(
    State(s): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> Answer<StatusCode> {
    s.dir.delete_policy(&admin.ctx(), &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the policies decide for an account and a data source, and why
#[utoipa::path(
    post, path = "/policy/evaluate",
    description = requires(may::EVALUATE_POLICIES),
    request_body = EvaluationRequest,
    responses((status = 200, description = "OK", body = Evaluation))
)]
pub async fn evaluate(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Json<EvaluationView>> {
    Ok(Json(s.dir.evaluate(&admin.ctx(), &b).await?))
}

/// The latest durable jobs, newest first
///
/// Every job, whether or not the change that started it named it: a SCIM
/// group write reaching more accounts than are re-evaluated before its
/// answer starts one too.
#[utoipa::path(
    get, path = "/jobs",
    description = requires(may::READ_GOVERNANCE),
    params(
        ("state" = Option<String>, Query, description = "running or done"),
        ("limit" = Option<u64>, Query, description = "At most this many (default 100, at most 1000)"),
    ),
    responses((status = 200, description = "OK", body = JobPage))
)]
pub async fn list_jobs(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Json<JobPage>> {
    let limit = number(&q, "limit", 100, 1000)?;
    let state = q.get("state").map(String::as_str);
    Ok(Json(s.dir.jobs(&admin.ctx(), state, limit).await?))
}

/// A durable job's progress (a policy or tag change re-evaluating every
/// account's automatic subscriptions)
#[utoipa::path(
    get, path = "/jobs/{id}",
    description = requires(may::READ_GOVERNANCE),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = JobView))
)]
pub async fn get_job(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Answer<Json<JobView>> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| AdminError::new(StatusCode::NOT_FOUND, format!("no job with id {id}")))?;
    Ok(Json(s.dir.job(&admin.ctx(), id).await?))
}

/// A data source's subscriptions, oldest first, each with its account
/// and its source (`manual`, or `policy:<policyKey>`)
#[utoipa::path(
    get, path = "/data-sources/{id}/subscribers",
    description = requires(may::READ_GOVERNANCE),
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "OK", body = SubscriberPage))
)]
pub async fn data_source_subscribers(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Json<SubscriberPage>> {
    let page = s
        .dir
        .data_source_subscribers(
            &admin.ctx(),
            data_source_id(&id)?,
            number(&q, "offset", 0, u32::MAX as u64)?,
            number(&q, "limit", 100, 1000)?,
        )
        .await?;
    Ok(Json(page))
}
