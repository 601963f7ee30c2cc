//! The admin API's event stream routes (issue 19): streams created, read,
//! paused, disabled and deleted; their deliveries listed and retried. Each
//! handler extracts, calls one directory method (which checks the caller's
//! permission) and shapes the answer; errors are the admin API's.

pub mod poll;
pub mod set;

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::admin::{Admin, AdminError, Answer, Body, created, number};
use super::openapi::{Paging, requires};
use crate::directory::events::{DeliveryPage, StreamPage, StreamView};
use crate::directory::permissions::may;

/// A new event stream.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewEventStream {
    /// `webhook` (the default) or `set` (Security Event Tokens, RFC 9967).
    pub format: Option<String>,
    /// `push` (the default), or `poll` for a `set` stream (RFC 8936).
    pub delivery: Option<String>,
    /// Where events are POSTed (push only): https, or http to a host
    /// `event_allow_http` names.
    pub endpoint: Option<String>,
    /// Event types (`user.created`, `group.member_added`, ...) or `["*"]`.
    pub events: Vec<String>,
    /// Only the resources of the IAM of this name.
    pub iam: Option<String>,
    /// The `aud` of a `set` stream's SETs (default: the endpoint; a poll
    /// stream's id).
    pub audience: Option<String>,
}

/// A stream's new status.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct StreamStatus {
    /// `enabled`, `paused` (deliveries wait) or `disabled` (new events
    /// dropped).
    pub status: String,
}

/// An id from the path; one that is not an id names nothing.
fn id(s: &str, what: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(s)
        .map_err(|_| AdminError::new(StatusCode::NOT_FOUND, format!("no {what} with id {s}")))
}

/// Create an event stream
///
/// The answer alone shows the stream's signing secret (webhooks) or its
/// poll token (poll streams).
#[utoipa::path(
    post, path = "/event-streams",
    description = requires(may::MANAGE_EVENTS),
    request_body = NewEventStream,
    responses((status = 201, description = "Created", body = StreamView))
)]
pub async fn create_stream(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    Ok(created(s.dir.create_event_stream(&admin.ctx(), &b).await?))
}

/// Every event stream
#[utoipa::path(
    get, path = "/event-streams",
    description = requires(may::MANAGE_EVENTS),
    responses((status = 200, description = "OK", body = StreamPage))
)]
pub async fn list_streams(State(s): State<AppState>, admin: Admin) -> Answer<Json<StreamPage>> {
    Ok(Json(s.dir.event_streams(&admin.ctx()).await?))
}

/// One event stream, with its deliveries counted by status
#[utoipa::path(
    get, path = "/event-streams/{id}",
    description = requires(may::MANAGE_EVENTS),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = StreamView))
)]
pub async fn get_stream(
    State(s): State<AppState>,
    admin: Admin,
    Path(sid): Path<String>,
) -> Answer<Json<StreamView>> {
    let sid = id(&sid, "event stream")?;
    Ok(Json(s.dir.event_stream(&admin.ctx(), sid).await?))
}

/// Enable, pause or disable an event stream
#[utoipa::path(
    patch, path = "/event-streams/{id}",
    description = requires(may::MANAGE_EVENTS),
    params(("id" = String, Path)),
    request_body = StreamStatus,
    responses((status = 200, description = "OK", body = StreamView))
)]
pub async fn patch_stream(
    State(s): State<AppState>,
    admin: Admin,
    Path(sid): Path<String>,
    Body(b): Body,
) -> Answer<Json<StreamView>> {
    let sid = id(&sid, "event stream")?;
    Ok(Json(
        s.dir.set_event_stream_status(&admin.ctx(), sid, &b).await?,
    ))
}

/// Delete an event stream and its deliveries
#[utoipa::path(
    delete, path = "/event-streams/{id}",
    description = requires(may::MANAGE_EVENTS),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_stream(
    State(s): State<AppState>,
    admin: Admin,
    Path(sid): Path<String>,
) -> Answer<StatusCode> {
    let sid = id(&sid, "event stream")?;
    s.dir.delete_event_stream(&admin.ctx(), sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A stream's deliveries, newest first
#[utoipa::path(
    get, path = "/event-streams/{id}/deliveries",
    description = requires(may::MANAGE_EVENTS),
    params(
        ("id" = String, Path),
        ("status" = Option<String>, Query, description = "pending, delivered or failed"),
        Paging
    ),
    responses((status = 200, description = "OK", body = DeliveryPage))
)]
pub async fn list_deliveries(
    State(s): State<AppState>,
    admin: Admin,
    Path(sid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Json<DeliveryPage>> {
    let sid = id(&sid, "event stream")?;
    let page = s
        .dir
        .event_deliveries(
            &admin.ctx(),
            sid,
            q.get("status")
                .map(String::as_str)
                .filter(|s| !s.is_empty()),
            number(&q, "offset", 0, i64::MAX as u64)?,
            number(&q, "limit", 100, 1000)?,
        )
        .await?;
    Ok(Json(page))
}

/// Send a failed delivery again
///
/// It is due at once, with a new retry window.
#[utoipa::path(
    post, path = "/event-streams/{id}/deliveries/{eventId}/retry",
    description = requires(may::MANAGE_EVENTS),
    params(("id" = String, Path), ("eventId" = String, Path)),
    responses((status = 202, description = "Pending again"))
)]
pub async fn retry_delivery(
    State(s): State<AppState>,
    admin: Admin,
    Path((sid, event)): Path<(String, String)>,
) -> Answer<StatusCode> {
    let sid = id(&sid, "event stream")?;
    let event = id(&event, "event")?;
    s.dir.retry_event_delivery(&admin.ctx(), sid, event).await?;
    Ok(StatusCode::ACCEPTED)
}
