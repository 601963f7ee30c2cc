//! The admin API's routes for Security Event Tokens (issue 19): a stream's
//! verification event, and the keys SETs are signed with (listed, rotated,
//! retired). The keys themselves are public at `/.well-known/jwks.json`
//! (`http::jwks`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::admin::{Admin, Answer, created};
use super::super::openapi::requires;
use super::id;
use crate::directory::events::set::{SetKeyPage, SetKeyView};
use crate::directory::permissions::may;

/// Send a stream a verification event
///
/// A webhook stream gets `stream.verify`, a SET stream the Shared
/// Signals verification event; a poll stream has it at its next poll.
#[utoipa::path(
    post, path = "/event-streams/{id}/verify",
    description = requires(may::MANAGE_EVENTS),
    params(("id" = String, Path)),
    responses((status = 202, description = "Queued: `{\"eventId\"}`"))
)]
pub async fn verify(
    State(s): State<AppState>,
    admin: Admin,
    Path(sid): Path<String>,
) -> Answer<(StatusCode, Json<Value>)> {
    let sid = id(&sid, "event stream")?;
    let event = s.dir.verify_event_stream(&admin.ctx(), sid).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "eventId": event }))))
}

/// The keys Security Event Tokens are signed with
///
/// Newest first: the first signs; the others are still published.
#[utoipa::path(
    get, path = "/event-keys",
    description = requires(may::MANAGE_EVENTS),
    responses((status = 200, description = "OK", body = SetKeyPage))
)]
pub async fn list_keys(State(s): State<AppState>, admin: Admin) -> Answer<Json<SetKeyPage>> {
    Ok(Json(s.dir.set_keys(&admin.ctx()).await?))
}

/// Rotate the SET signing key
///
/// A new key signs from now on; the old ones stay in the JWKS until
/// retired, so what they signed still verifies.
#[utoipa::path(
    post, path = "/event-keys",
    description = requires(may::MANAGE_EVENTS),
    responses((status = 201, description = "The new signing key", body = SetKeyView))
)]
pub async fn rotate_key(State(s): State<AppState>, admin: Admin) -> Answer<Response> {
    Ok(created(s.dir.rotate_set_key(&admin.ctx()).await?))
}

/// Retire a SET key that no longer signs
///
/// It leaves the JWKS: what it signed no longer verifies. 409 for the
/// signing key.
#[utoipa::path(
    delete, path = "/event-keys/{kid}",
    description = requires(may::MANAGE_EVENTS),
    params(("kid" = String, Path)),
    responses((status = 204, description = "Retired"))
)]
pub async fn retire_key(
    State(s): State<AppState>,
    admin: Admin,
    Path(kid): Path<String>,
) -> Answer<StatusCode> {
    s.dir.retire_set_key(&admin.ctx(), &kid).await?;
    Ok(StatusCode::NO_CONTENT)
}
