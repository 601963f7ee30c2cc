//! The admin API (`/api/v1`): administrators manage what the internal IAM
//! owns. Callers present an admin bearer token (authenticated by
//! `principal`); what they may do follows their internal permissions, which
//! the directory checks for each operation (`directory::permissions::may`).
//! Errors are plain JSON `{"error": {"status", "message"}}`, never SCIM
//! documents. This file holds what every route shares (the error, the
//! body extractor, query helpers); the routes live a concept to a file.

mod accounts;
pub mod audit_export;
mod groups;
mod iams;
mod oversight;
mod roles;
mod subscriptions;

pub use accounts::*;
pub use groups::*;
pub use iams::*;
pub use oversight::*;
pub use roles::*;
pub use subscriptions::*;

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;

use super::openapi::Me;
pub use super::principal::Admin;
use crate::directory::Error;

/// An admin API error: `{"error": {"status", "message"}}`.
#[derive(Debug, Clone)]
pub struct AdminError(StatusCode, String);

impl AdminError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        AdminError(status, message.into())
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        AdminError(StatusCode::BAD_REQUEST, message.into())
    }

    pub fn status(&self) -> StatusCode {
        self.0
    }

    pub fn message(&self) -> &str {
        &self.1
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.0,
            Json(json!({"error": {"status": self.0.as_u16(), "message": self.1}})),
        )
            .into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim-bridge-admin\""),
            );
        }
        resp
    }
}

/// The status the admin API and the console answer a domain error with.
pub(crate) fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Invalid { .. } => StatusCode::BAD_REQUEST,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Duplicate(_) | Error::Conflict(_) => StatusCode::CONFLICT,
        Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        Error::Forbidden(_) | Error::Refused(_) => StatusCode::FORBIDDEN,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<Error> for AdminError {
    fn from(e: Error) -> Self {
        match e {
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                AdminError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal server error".into(),
                )
            }
            Error::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                AdminError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    crate::directory::UNAVAILABLE.into(),
                )
            }
            e => AdminError(status_of(&e), e.to_string()),
        }
    }
}

pub(crate) type Answer<T = Json<Value>> = Result<T, AdminError>;

/// A JSON request body (`application/json`), bounded by `max_body_bytes`.
pub struct Body(pub Value);

impl<S> FromRequest<S> for Body
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let limit = app.config.max_body_bytes;
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
                    || essence.to_ascii_lowercase().ends_with("+json")
            });
        if !json_type {
            return Err(AdminError(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be application/json".into(),
            ));
        }
        let bytes = crate::http::limits::read_capped(req.into_body(), limit, &app.config)
            .await
            .ok_or_else(|| {
                AdminError(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {limit} bytes"),
                )
            })?;
        parse_body(&bytes).map(Body)
    }
}

pub(super) fn parse_body(bytes: &Bytes) -> Result<Value, AdminError> {
    let v: Value = super::json::parse(bytes)
        .map_err(|e| AdminError::bad(format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(AdminError::bad("the body must be a JSON object"));
    }
    Ok(v)
}

/// An id from the path, as the type the call takes (`UserId`, `GroupId`).
pub(super) fn id<T: From<Uuid>>(s: &str) -> Result<T, AdminError> {
    Uuid::parse_str(s)
        .map(T::from)
        .map_err(|_| AdminError(StatusCode::NOT_FOUND, format!("no account with id {s}")))
}

/// A body's array of names under `key` (`permissions`, `roles`).
pub(super) fn names(body: &Value, key: &str) -> Result<Vec<String>, AdminError> {
    body.get(key)
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect())
        .ok_or_else(|| AdminError::bad(format!("'{key}' must be an array of names")))
}

pub(super) fn text<'a>(body: &'a Value, key: &str) -> Result<&'a str, AdminError> {
    body.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| AdminError::bad(format!("'{key}' must be a string")))
}

pub(crate) fn number(
    q: &HashMap<String, String>,
    key: &str,
    default: u64,
    max: u64,
) -> Result<u64, AdminError> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(AdminError::bad(format!(
                "'{key}' must be an integer from 0 to {max}"
            ))),
        },
    }
}

pub(super) fn flag(q: &HashMap<String, String>, key: &str) -> Result<bool, AdminError> {
    match q.get(key).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(AdminError::bad(format!("'{key}' is true or false"))),
    }
}

pub(super) fn date_time(
    q: &HashMap<String, String>,
    key: &str,
) -> Result<Option<OffsetDateTime>, AdminError> {
    q.get(key)
        .filter(|v| !v.is_empty())
        .map(|v| {
            OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                .map_err(|_| AdminError::bad(format!("'{key}' must be an RFC 3339 date-time")))
        })
        .transpose()
}

pub(crate) fn created(body: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The calling administrator: id and effective permissions
#[utoipa::path(
    get, path = "/me",
    responses((status = 200, description = "OK", body = Me))
)]
pub async fn me(admin: Admin) -> Answer {
    Ok(Json(
        json!({"id": admin.id, "permissions": admin.permissions}),
    ))
}

pub async fn not_found() -> AdminError {
    AdminError(StatusCode::NOT_FOUND, "no such endpoint".into())
}

pub async fn method_not_allowed() -> AdminError {
    AdminError(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed here".into(),
    )
}
