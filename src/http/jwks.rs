//! `GET /.well-known/jwks.json`: the public keys of the Security Event
//! Tokens this server signs (RFC 9967), every key not retired. No
//! authentication: receivers fetch it to verify what they get.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::admin::AdminError;

pub async fn jwks(State(s): State<AppState>) -> Response {
    match s.dir.set_jwks().await {
        Ok(doc) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/jwk-set+json"),
                (header::CACHE_CONTROL, "max-age=300"),
            ],
            doc.to_string(),
        )
            .into_response(),
        Err(e) => AdminError::from(e).into_response(),
    }
}
