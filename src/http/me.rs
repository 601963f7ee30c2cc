//! `/Me` (RFC 7644 §3.11): an alias for the user the bearer token stands
//! for. Only an administrator's token names a user (a bootstrap token's
//! subject, or the external IAM's JWT mapped as the admin API maps it):
//! GET, PUT and PATCH act exactly like the same request on `/Users/{that
//! id}` in that account's IAM (projection, ETags, `meta.location` of the
//! real resource), audited as the administrator. An identity provider's
//! SCIM token stands for an IAM, not a user: 404 saying so. POST and DELETE
//! are refused: users are created by their identity provider, and
//! permanent deletion is the admin API's job, not a SCIM alias's.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, scim_error_response};
use super::extract::{Params, ScimBody, scope};
use super::principal::Principal;
use super::scim::{if_match, read_response, resource_response};
use crate::directory::Scope;
use crate::scim::ScimError;

type Result<T> = std::result::Result<T, ApiError>;

/// The scope (the account's IAM, with the administrator as the actor) and
/// the id of the user the token stands for. The token is checked as the
/// admin API checks it: an account disabled, inactive, detached or deleted
/// gets 401, whatever its token says.
async fn me(s: &AppState, caller: &Principal, headers: &HeaderMap) -> Result<(Scope, String)> {
    let admin = match caller {
        Principal::Admin(admin) => admin,
        Principal::Iam { .. } => {
            return Err(ScimError::not_found(
                "/Me names the user a token stands for, and this bearer token is an identity \
                 provider's SCIM token (it acts for an IAM), not a user's: use /Users/{id}",
            )
            .into());
        }
        Principal::Refused(e) if e.status() == StatusCode::SERVICE_UNAVAILABLE => {
            return Err(ScimError::new(503, None, e.message()).into());
        }
        Principal::Refused(e) => return Err(ScimError::new(401, None, e.message()).into()),
        Principal::Anonymous | Principal::ConsoleSession(_) => {
            return Err(ScimError::new(401, None, "a bearer token is required").into());
        }
    };
    let account = s.dir.account(admin.id.into()).await?;
    let iam = account
        .iam_id
        .ok_or_else(|| ScimError::new(401, None, "the token's account is detached"))?;
    let mut scope = scope(s, headers, iam).await?;
    scope.acting = Some(crate::audit::Actor::Admin(admin.id));
    Ok((scope, admin.id.to_string()))
}

pub async fn get_me(
    State(s): State<AppState>,
    caller: Principal,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    let (scope, id) = me(&s, &caller, &headers).await?;
    let proj = params.projection(scope.types.user)?;
    let r = s.dir.get_user(&scope, &id, &proj).await?;
    Ok(read_response(&headers, &r))
}

pub async fn put_me(
    State(s): State<AppState>,
    caller: Principal,
    headers: HeaderMap,
    params: Params,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let (scope, id) = me(&s, &caller, &headers).await?;
    let proj = params.projection(scope.types.user)?;
    let version = if_match(&headers)?;
    let r = s
        .dir
        .replace_user(&scope, &id, &body, version, &proj)
        .await?;
    Ok(resource_response(StatusCode::OK, &r))
}

pub async fn patch_me(
    State(s): State<AppState>,
    caller: Principal,
    headers: HeaderMap,
    params: Params,
    ScimBody(body): ScimBody,
) -> Result<Response> {
    let (scope, id) = me(&s, &caller, &headers).await?;
    let proj = params.projection(scope.types.user)?;
    let version = if_match(&headers)?;
    let r = s.dir.patch_user(&scope, &id, &body, version, &proj).await?;
    Ok(resource_response(StatusCode::OK, &r))
}

fn refused(detail: &str) -> Response {
    let mut resp = scim_error_response(&ScimError::new(405, None, detail));
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, PUT, PATCH"));
    resp
}

pub async fn post_me() -> Response {
    refused(
        "POST /Me is not supported: users are created by their identity provider \
         (POST /Users); /Me allows GET, PUT and PATCH",
    )
}

pub async fn delete_me() -> Response {
    refused(
        "DELETE /Me is not allowed: a user cannot delete itself through SCIM; \
         permanent deletion is done with the admin API",
    )
}

/// Any other method.
pub async fn other() -> impl IntoResponse {
    refused("this method is not allowed on /Me; it allows GET, PUT and PATCH")
}
