//! Authentication, once per request and before rate limiting: the
//! credentials a surface takes (on /scim/v2 an identity provider's SCIM
//! token or an administrator's bearer token, on /api/v1 an administrator's,
//! on /admin a console session cookie) become one [`Principal`] in the
//! request's extensions, which the rate limiter and the extractors read.
//! What a principal may do is the domain's to decide (`directory::
//! permissions`): nothing here checks a permission.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::AppState;
use super::admin::AdminError;
use super::console::session::{self, ConsoleSession};
use super::error::{ApiError, scim_error_response};
use super::extract::bearer;
use crate::audit::Actor;
use crate::auth::scim_token;
use crate::directory::accounts::Ctx;
use crate::directory::admins::AdminToken;
use crate::scim::ScimError;
use crate::store::accounts::Account;

/// Who a request comes from, as its credentials say.
#[derive(Clone)]
pub enum Principal {
    /// No credentials that this surface takes.
    Anonymous,
    /// An identity provider's SCIM token (`token` is its id): it acts for
    /// one IAM.
    Iam { iam: Uuid, token: Uuid },
    /// An administrator's bearer token: a bootstrap token, or the external
    /// IAM's JWT.
    Admin(Admin),
    /// A live console session (its account perhaps no administrator any
    /// more: see [`ConsoleSession::admin`]).
    ConsoleSession(ConsoleSession),
    /// A bearer token taken for an administrator's that did not
    /// authenticate: the answer, kept so that each surface gives it in its
    /// own form, and only where a handler asks who is calling.
    Refused(AdminError),
}

impl Principal {
    /// Whose writes its later reads must see (`store::read_scaling`): a
    /// SCIM token, or an administrator's account however it signed in.
    pub fn reader(&self) -> Option<Uuid> {
        match self {
            Principal::Iam { token, .. } => Some(*token),
            Principal::Admin(a) => Some(a.id),
            Principal::ConsoleSession(s) => s.admin.as_ref().ok().map(|a| a.id),
            Principal::Anonymous | Principal::Refused(_) => None,
        }
    }
}

/// An authenticated administrator: an enabled internal account, with its
/// effective permissions and the request's id for the audit.
#[derive(Clone)]
pub struct Admin {
    pub id: Uuid,
    /// The account's token generation: a console session started now
    /// carries it, and ends when the account's is bumped.
    pub token_generation: i64,
    pub permissions: Arc<BTreeSet<String>>,
    pub request_id: Option<String>,
}

impl Admin {
    /// The caller as the domain sees it: who acts (for the audit) and what
    /// it holds (what the directory's methods check).
    pub fn ctx(&self) -> Ctx {
        Ctx {
            actor: Actor::Admin(self.id),
            request_id: self.request_id.clone(),
            txn: Some(crate::audit::new_txn()),
            held: Some(self.permissions.clone()),
        }
    }
}

/// The surfaces, by the credentials each takes.
enum Surface {
    Scim,
    AdminApi,
    Console,
}

fn surface(path: &str) -> Option<Surface> {
    let under = |base: &str| {
        path.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/scim/v2") {
        Some(Surface::Scim)
    } else if under("/api/v1") {
        Some(Surface::AdminApi)
    } else if under("/admin") {
        Some(Surface::Console)
    } else {
        None
    }
}

/// Authentication (see `http::guard`): every request to a surface leaves
/// with its [`Principal`]. An identity provider's token that does not
/// verify is answered 401 here: it never gets a rate-limit bucket or
/// reaches a handler. Every other outcome is left for the handlers to
/// answer, so that a route needing no caller (the OpenAPI document, an
/// unknown path) answers as it would anyway.
pub async fn authenticate(s: &AppState, mut req: Request) -> Result<Request, Response> {
    let principal = match surface(req.uri().path()) {
        None => return Ok(req),
        Some(Surface::Scim) => scim(s, req.headers()).await?,
        Some(Surface::AdminApi) => match bearer(req.headers()) {
            // A SET poll token is the poll route's to check (`events::poll`).
            None => Principal::Anonymous,
            Some(t) if t.starts_with("spt_") => Principal::Anonymous,
            Some(_) => admin(admin_by_bearer(s, req.headers()).await),
        },
        Some(Surface::Console) => session::principal(s, req.headers()).await,
    };
    req.extensions_mut().insert(principal);
    Ok(req)
}

/// On /scim/v2: a token of a SCIM token's shape is an identity provider's
/// (verified here, recording its last use); any other bearer token may be
/// an administrator's (for `/Me` and an administrator's PATCH of a user).
async fn scim(s: &AppState, headers: &HeaderMap) -> Result<Principal, Response> {
    let Some(token) = bearer(headers) else {
        return Ok(Principal::Anonymous);
    };
    let Some((token_id, _)) = scim_token::parse(token) else {
        return Ok(admin(admin_by_bearer(s, headers).await));
    };
    match s.dir.authenticate_scim_token(token).await {
        Ok(Some(iam)) => Ok(Principal::Iam {
            iam,
            token: token_id,
        }),
        Ok(None) => Err(scim_error_response(&ScimError::new(
            401,
            None,
            "the bearer token is not valid",
        ))),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

fn admin(outcome: Result<Admin, AdminError>) -> Principal {
    match outcome {
        Ok(a) => Principal::Admin(a),
        Err(e) => Principal::Refused(e),
    }
}

fn unauthorized(message: &str) -> AdminError {
    AdminError::new(StatusCode::UNAUTHORIZED, message)
}

/// The administrator a request's bearer token names: a bootstrap token, or
/// the external IAM's JWT mapped by the configured claim.
pub async fn admin_by_bearer(state: &AppState, headers: &HeaderMap) -> Result<Admin, AdminError> {
    let token = bearer(headers).ok_or_else(|| unauthorized("an admin bearer token is required"))?;
    let account = match state.dir.authenticate_admin_token(token).await? {
        // A bootstrap token names the account by id (None once revoked),
        // read with its permissions.
        AdminToken::Ours(read) => {
            let (account, permissions) = read.unzip();
            return admin_with(account, permissions, state, headers).await;
        }
        // Else the external IAM's token, mapped by the configured claim.
        AdminToken::Foreign => match &state.oidc {
            Some(oidc) => {
                let claims = oidc.verify(token).await.map_err(|e| match e {
                    crate::auth::oidc::OidcError::Rejected(m) => unauthorized(&m),
                    crate::auth::oidc::OidcError::Unavailable(m) => {
                        tracing::warn!(%m, "OIDC keys unavailable");
                        AdminError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the identity provider's keys are unavailable; try again",
                        )
                    }
                })?;
                oidc_account(state, oidc, &claims).await?
            }
            None => return Err(unauthorized("the admin token is not valid")),
        },
    };
    admin_for_account(state, account, headers).await
}

/// The account a verified external-IAM token names: the one mapping from
/// claims to an account, for the admin API and the console's sign-in. A
/// claim that names no valid userName is a 401 saying why.
pub async fn oidc_account(
    state: &AppState,
    oidc: &crate::auth::oidc::Oidc,
    claims: &serde_json::Value,
) -> Result<Option<Account>, AdminError> {
    let name = crate::auth::oidc::claimed_user_name(claims, oidc.user_claim())
        .map_err(|e| unauthorized(&e.to_string()))?;
    Ok(state
        .dir
        .account_by_user_name(&state.config.oidc_iam, &name)
        .await?)
}

/// The administrator an authenticated account is: it must still exist and
/// be enabled; its effective permissions decide what it may do.
pub async fn admin_for_account(
    state: &AppState,
    account: Option<Account>,
    headers: &HeaderMap,
) -> Result<Admin, AdminError> {
    admin_with(account, None, state, headers).await
}

/// [`admin_for_account`], its effective permissions read already (or
/// None: read them).
async fn admin_with(
    account: Option<Account>,
    permissions: Option<BTreeSet<String>>,
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Admin, AdminError> {
    // An account its identity provider marked inactive is no admin either.
    let account = match account {
        Some(a) if a.enabled() && a.active => a,
        _ => {
            return Err(unauthorized(
                "the token's account is unknown, disabled, inactive or deleted, or the token was revoked",
            ));
        }
    };
    let permissions = Arc::new(match permissions {
        Some(p) => p,
        None => state
            .dir
            .effective_permissions(&account)
            .await?
            .into_keys()
            .collect(),
    });
    Ok(Admin {
        id: account.id,
        token_generation: account.token_generation,
        permissions,
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or(Principal::Anonymous))
    }
}

/// An administrator on the admin API; anyone else is answered 401.
impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::Admin(admin)) => Ok(admin.clone()),
            Some(Principal::Refused(e)) => Err(e.clone()),
            _ => Err(unauthorized("an admin bearer token is required")),
        }
    }
}
