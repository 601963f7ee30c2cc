//! The admin API (`/api/v1`). For now: who am I, to check an admin token.
//! Errors here are plain JSON, not SCIM documents.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::extract::bearer;

/// An admin API error: `{"error": {"status", "message"}}`.
pub struct AdminError(StatusCode, String);

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

impl From<crate::directory::Error> for AdminError {
    fn from(e: crate::directory::Error) -> Self {
        match e {
            crate::directory::Error::Client(e) => AdminError(
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                e.detail,
            ),
            crate::directory::Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                AdminError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal server error".into(),
                )
            }
        }
    }
}

/// An authenticated administrator: the internal user id.
pub struct Admin(pub Uuid);

impl<S> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer(&parts.headers).ok_or_else(|| {
            AdminError(
                StatusCode::UNAUTHORIZED,
                "an admin bearer token is required".into(),
            )
        })?;
        let claims = state
            .dir
            .authenticate_admin_token(token)
            .await?
            .ok_or_else(|| {
                AdminError(
                    StatusCode::UNAUTHORIZED,
                    "the admin token is not valid".into(),
                )
            })?;
        Ok(Admin(claims.sub))
    }
}

pub async fn me(
    State(s): State<AppState>,
    Admin(user): Admin,
) -> Result<Json<serde_json::Value>, AdminError> {
    let permissions = s.dir.permissions_of(user).await?;
    Ok(Json(json!({"id": user, "permissions": permissions})))
}

pub async fn not_found() -> AdminError {
    AdminError(StatusCode::NOT_FOUND, "no such endpoint".into())
}
