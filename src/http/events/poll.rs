//! `POST /api/v1/event-streams/{id}/poll` (RFC 8936): a poll stream's
//! receiver takes its Security Event Tokens, authenticated by the stream's
//! poll token (`Authorization: Bearer spt_...`), checked before the body
//! is read. Errors are the admin API's; a wrong token, or a stream that is
//! not a poll stream, is a 401 either way.

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::super::AppState;
use super::super::admin::{AdminError, Answer, Body};
use super::super::extract::bearer;

/// A poll (RFC 8936 §2.4).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PollRequest {
    /// The `jti` of the SETs received and kept: they are not sent again.
    pub ack: Option<Vec<String>>,
    /// SETs refused: `{jti: {"err", "description"}}`; marked failed.
    #[schema(value_type = Option<Object>)]
    pub set_errs: Option<Value>,
    /// At most this many SETs (0 to 1000; 100 when absent).
    pub max_events: Option<i64>,
    /// Answer at once even when there is no SET (else wait up to 30 s).
    pub return_immediately: Option<bool>,
}

/// What a poll answers.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PollAnswer {
    /// `{jti: SET}`: the SETs not yet acknowledged, oldest first.
    #[schema(value_type = Object)]
    pub sets: Value,
    /// Whether more are waiting.
    pub more_available: bool,
}

/// Poll a SET stream (RFC 8936)
///
/// Authenticated by the stream's poll token, not an administrator's.
#[utoipa::path(
    post, path = "/event-streams/{id}/poll",
    description = "Bearer: the stream's poll token (shown once, when the stream was created); \
                   401 for any other.",
    params(("id" = String, Path)),
    request_body = PollRequest,
    responses((status = 200, description = "SETs", body = PollAnswer))
)]
pub async fn poll(
    State(s): State<AppState>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Answer<Json<Value>> {
    let refused = || {
        AdminError::new(
            StatusCode::UNAUTHORIZED,
            "the stream's poll token is required",
        )
    };
    let token = bearer(&headers).ok_or_else(refused)?;
    let id = Uuid::parse_str(&sid).map_err(|_| refused())?;
    let stream = s.dir.poll_stream(id, token).await?.ok_or_else(refused)?;
    let body = if request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v == "0")
    {
        Value::Null
    } else {
        Body::from_request(request, &s).await?.0
    };
    Ok(Json(s.dir.poll_event_stream(&stream, &body).await?))
}
