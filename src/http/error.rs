//! The one place errors become SCIM responses: a domain error becomes the
//! SCIM Error document `Error::to_scim` names; an internal one is logged
//! with its cause and answered with a generic detail, never the cause.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::directory::Error;
use crate::scim::ScimError;

use super::scim_response;

/// An error on its way to the client, as the SCIM Error document it is
/// answered with.
#[derive(Debug)]
pub struct ApiError(ScimError);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match &e {
            Error::Internal(cause) => tracing::error!(%cause, "internal error"),
            Error::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            _ => {}
        }
        ApiError(e.to_scim())
    }
}

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        scim_error_response(&self.0)
    }
}

pub fn scim_error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = scim_response(status, &e.to_json());
    resp.extensions_mut()
        .insert(super::telemetry::ScimErrorType(match e.scim_type {
            Some(t) => t.as_str(),
            None => "none",
        }));
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scim-bridge\""),
        );
    }
    resp
}

pub async fn not_found() -> Response {
    scim_error_response(&ScimError::not_found("no such endpoint"))
}

pub async fn not_implemented() -> Response {
    scim_error_response(&ScimError::new(
        501,
        None,
        "this operation is not implemented yet",
    ))
}

pub async fn method_not_allowed() -> Response {
    scim_error_response(&ScimError::new(
        405,
        None,
        "this method is not allowed on this endpoint",
    ))
}
