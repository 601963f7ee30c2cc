//! The one place errors become responses. SCIM errors are SCIM Error
//! documents; internal errors are logged with their cause and answered with
//! a generic detail, never the cause.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::directory::Error;
use crate::scim::ScimError;

use super::scim_response;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(Error::Client(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::Client(e) => scim_error_response(&e),
            Error::Forbidden(m) => scim_error_response(&ScimError::new(403, None, m)),
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                scim_error_response(&ScimError::new(
                    500,
                    None,
                    "internal server error; the server log has the cause",
                ))
            }
        }
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
