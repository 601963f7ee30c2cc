//! The admin API (`/api/v1`): administrators manage what the internal IAM
//! owns. Callers present an admin bearer token; what they may do follows
//! their internal permissions (USER_ADMIN for accounts, groups, permissions,
//! attributes, IAMs and tokens; AUDIT for the audit log; GOVERNANCE or
//! USER_ADMIN for governance reports). Errors are plain JSON
//! `{"error": {"status", "message"}}`, never SCIM documents.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;
use super::extract::bearer;
use crate::audit::Actor;
use crate::directory::accounts::{Ctx, parse_sort};
use crate::directory::admins::AdminToken;
pub use crate::directory::permissions::{APPLICATION_ADMIN, AUDIT, GOVERNANCE, USER_ADMIN};
use crate::store::accounts::{AccountQuery, AuditQuery};

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

/// Who may do what, once for the admin API and the console: an admin
/// needs one of the listed permissions.
pub mod may {
    use super::{APPLICATION_ADMIN, AUDIT, GOVERNANCE, USER_ADMIN};
    /// Read accounts, groups and their members.
    pub const READ_ACCOUNTS: &[&str] = &[USER_ADMIN, GOVERNANCE];
    /// Change accounts, groups, permissions, attributes; delete, migrate.
    pub const MANAGE_ACCOUNTS: &[&str] = &[USER_ADMIN];
    /// Read and change IAMs, their settings and SCIM tokens.
    pub const MANAGE_IAMS: &[&str] = &[USER_ADMIN, APPLICATION_ADMIN];
    pub const MANAGE_SUBSCRIPTIONS: &[&str] = &[USER_ADMIN, APPLICATION_ADMIN];
    pub const READ_REPORTS: &[&str] = &[GOVERNANCE, USER_ADMIN];
    pub const READ_AUDIT: &[&str] = &[AUDIT];
    /// Download the anonymized usage metrics.
    pub const EXPORT_METRICS: &[&str] = &[APPLICATION_ADMIN, USER_ADMIN];
    /// Report usage events (what an application integrated with the
    /// bridge does; no person's data).
    pub const REPORT_USAGE: &[&str] = &[APPLICATION_ADMIN, USER_ADMIN];
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

impl From<crate::scim::ScimError> for AdminError {
    fn from(e: crate::scim::ScimError) -> Self {
        crate::directory::Error::Client(e).into()
    }
}

pub(crate) type Answer<T = Json<Value>> = Result<T, AdminError>;

/// An authenticated administrator: an enabled internal account, with its
/// effective permissions and the request's id for the audit.
#[derive(Clone)]
pub struct Admin {
    pub id: Uuid,
    /// The account's token generation: a console session started now
    /// carries it, and ends when the account's is bumped.
    pub token_generation: i64,
    pub permissions: std::sync::Arc<BTreeSet<String>>,
    pub request_id: Option<String>,
}

impl Admin {
    /// Whether the admin holds one of these permissions (what a page
    /// shows); `require` is what the server enforces.
    pub fn may(&self, any_of: &[&str]) -> bool {
        any_of.iter().any(|p| self.permissions.contains(*p))
    }

    /// Who acts, for the audit, where no permission is needed.
    pub(crate) fn ctx(&self) -> Ctx {
        Ctx {
            actor: Actor::Admin(self.id),
            request_id: self.request_id.clone(),
            held: Some(self.permissions.clone()),
        }
    }

    /// 403 unless the admin holds one of these permissions.
    pub(crate) fn require(&self, any_of: &[&str]) -> Result<Ctx, AdminError> {
        if any_of.iter().any(|p| self.permissions.contains(*p)) {
            Ok(self.ctx())
        } else {
            Err(AdminError(
                StatusCode::FORBIDDEN,
                format!("this needs the {} permission", any_of.join(" or ")),
            ))
        }
    }
}

impl<S> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Authenticated already by the rate limiter (see `limits::rate_limit`).
        if let Some(super::limits::AdminAuthenticated(outcome)) = parts.extensions.remove() {
            return outcome;
        }
        authenticate(&AppState::from_ref(state), &parts.headers).await
    }
}

/// The administrator a request's bearer token names: a bootstrap token, or
/// the external IAM's JWT mapped by the configured claim.
pub async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Admin, AdminError> {
    {
        let unauthorized = |m: &str| AdminError(StatusCode::UNAUTHORIZED, m.to_owned());
        let token =
            bearer(headers).ok_or_else(|| unauthorized("an admin bearer token is required"))?;
        let account = match state.dir.authenticate_admin_token(token).await? {
            // A bootstrap token names the account by id (None once revoked).
            AdminToken::Ours(account) => account,
            // Else the external IAM's token, mapped by the configured claim.
            AdminToken::Foreign => match &state.oidc {
                Some(oidc) => {
                    let claims = oidc.verify(token).await.map_err(|e| match e {
                        crate::auth::oidc::OidcError::Rejected(m) => unauthorized(&m),
                        crate::auth::oidc::OidcError::Unavailable(m) => {
                            tracing::warn!(%m, "OIDC keys unavailable");
                            AdminError(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "the identity provider's keys are unavailable; try again".into(),
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
}

/// The account a verified external-IAM token names: the one mapping from
/// claims to an account, for the admin API and the console's sign-in. A
/// claim that names no valid userName is a 401 saying why.
pub async fn oidc_account(
    state: &AppState,
    oidc: &crate::auth::oidc::Oidc,
    claims: &serde_json::Value,
) -> Result<Option<crate::store::accounts::Account>, AdminError> {
    let name = crate::auth::oidc::claimed_user_name(claims, oidc.user_claim())
        .map_err(|e| AdminError(StatusCode::UNAUTHORIZED, e.to_string()))?;
    Ok(state
        .dir
        .account_by_user_name(&state.config.oidc_iam, &name)
        .await?)
}

/// The administrator an authenticated account is: it must still exist and
/// be enabled; its effective permissions decide what it may do.
pub async fn admin_for_account(
    state: &AppState,
    account: Option<crate::store::accounts::Account>,
    headers: &axum::http::HeaderMap,
) -> Result<Admin, AdminError> {
    // An account its identity provider marked inactive is no admin either.
    let account = match account {
        Some(a) if a.enabled() && a.active => a,
        _ => {
            return Err(AdminError(
                StatusCode::UNAUTHORIZED,
                "the token's account is unknown, disabled, inactive or deleted, or the token was revoked"
                    .into(),
            ));
        }
    };
    let permissions = std::sync::Arc::new(
        state
            .dir
            .effective_permissions(&account)
            .await?
            .into_keys()
            .collect(),
    );
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

/// A JSON request body (`application/json`), bounded by `max_body_bytes`.
pub struct Body(pub Value);

impl<S> FromRequest<S> for Body
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).config.max_body_bytes;
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
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                AdminError(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {limit} bytes"),
                )
            })?;
        parse_body(&bytes).map(Body)
    }
}

fn parse_body(bytes: &Bytes) -> Result<Value, AdminError> {
    let v: Value = super::json::parse(bytes)
        .map_err(|e| AdminError::bad(format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(AdminError::bad("the body must be a JSON object"));
    }
    Ok(v)
}

fn id(s: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(s)
        .map_err(|_| AdminError(StatusCode::NOT_FOUND, format!("no account with id {s}")))
}

fn text<'a>(body: &'a Value, key: &str) -> Result<&'a str, AdminError> {
    body.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| AdminError::bad(format!("'{key}' must be a string")))
}

fn number(
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

fn flag(q: &HashMap<String, String>, key: &str) -> Result<bool, AdminError> {
    match q.get(key).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(AdminError::bad(format!("'{key}' is true or false"))),
    }
}

fn date_time(q: &HashMap<String, String>, key: &str) -> Result<Option<OffsetDateTime>, AdminError> {
    q.get(key)
        .filter(|v| !v.is_empty())
        .map(|v| {
            OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                .map_err(|_| AdminError::bad(format!("'{key}' must be an RFC 3339 date-time")))
        })
        .transpose()
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

pub async fn me(admin: Admin) -> Answer {
    Ok(Json(
        json!({"id": admin.id, "permissions": admin.permissions}),
    ))
}

pub async fn create_user(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let user = s
        .dir
        .create_bim_user(&ctx, Some(text(&b, "fullName")?), text(&b, "email")?)
        .await?;
    Ok(created(s.dir.account_view(user).await?))
}

pub async fn list_users(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    admin.require(may::READ_ACCOUNTS)?;
    let (sort, descending) = parse_sort(q.get("sort").map(String::as_str))?;
    let iam = match q.get("iam").filter(|v| !v.is_empty()) {
        Some(name) => Some(s.dir.iam(name).await?.id),
        None => None,
    };
    let query = AccountQuery {
        include_disabled: flag(&q, "includeDisabled")?,
        iam,
        search: q.get("search").cloned(),
        permission: q.get("permission").filter(|v| !v.is_empty()).cloned(),
        offset: number(&q, "offset", 0, u32::MAX as u64)?,
        limit: number(&q, "limit", 50, 1000)?,
        sort,
        descending,
        ..Default::default()
    };
    Ok(Json(s.dir.list_accounts(query).await?))
}

pub async fn get_user(State(s): State<AppState>, admin: Admin, Path(user): Path<String>) -> Answer {
    admin.require(may::READ_ACCOUNTS)?;
    Ok(Json(s.dir.account_view(id(&user)?).await?))
}

pub async fn delete_user(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<StatusCode> {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    s.dir
        .delete_permanently(&ctx, id(&user)?, q.get("confirm").map(String::as_str))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_permissions(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Body(b): Body,
) -> Answer {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let user = id(&user)?;
    let names: Vec<String> = b
        .get("permissions")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect())
        .ok_or_else(|| AdminError::bad("'permissions' must be an array of names"))?;
    s.dir.add_permissions(&ctx, user, &names).await?;
    Ok(Json(s.dir.account_view(user).await?))
}

pub async fn remove_permission(
    State(s): State<AppState>,
    admin: Admin,
    Path((user, name)): Path<(String, String)>,
) -> Answer {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let user = id(&user)?;
    s.dir.remove_permission(&ctx, user, &name).await?;
    Ok(Json(s.dir.account_view(user).await?))
}

pub async fn patch_user_attributes(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Body(b): Body,
) -> Answer {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let user = id(&user)?;
    s.dir.patch_attributes(&ctx, "User", user, &b).await?;
    Ok(Json(s.dir.account_view(user).await?["attributes"].take()))
}

pub async fn get_group_attributes(
    State(s): State<AppState>,
    admin: Admin,
    Path(group): Path<String>,
) -> Answer {
    admin.require(may::READ_ACCOUNTS)?;
    Ok(Json(s.dir.group_attributes(id(&group)?).await?))
}

pub async fn patch_group_attributes(
    State(s): State<AppState>,
    admin: Admin,
    Path(group): Path<String>,
    Body(b): Body,
) -> Answer {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let group = id(&group)?;
    s.dir.patch_attributes(&ctx, "Group", group, &b).await?;
    Ok(Json(s.dir.group_attributes(group).await?))
}

pub async fn disable_user(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let user = id(&user)?;
    s.dir.set_disabled(&ctx, user, true).await?;
    Ok(Json(s.dir.account_view(user).await?))
}

pub async fn enable_user(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let user = id(&user)?;
    s.dir.set_disabled(&ctx, user, false).await?;
    Ok(Json(s.dir.account_view(user).await?))
}

/// Ends every admin token and console session of an account issued so
/// far. USER_ADMIN for anyone's; any administrator for its own.
pub async fn revoke_sessions(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer<StatusCode> {
    let user = id(&user)?;
    let ctx = if user == admin.id {
        admin.ctx()
    } else {
        admin.require(may::MANAGE_ACCOUNTS)?
    };
    s.dir.revoke_sessions(&ctx, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn migrate_user(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Body(b): Body,
) -> Answer {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let user = id(&user)?;
    s.dir
        .migrate(&ctx, user, text(&b, "iam")?, text(&b, "userName")?)
        .await?;
    Ok(Json(s.dir.account_view(user).await?))
}

pub async fn list_subscriptions(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer {
    admin.require(may::READ_ACCOUNTS)?;
    Ok(Json(s.dir.subscriptions(id(&user)?).await?))
}

pub async fn add_subscription(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.require(may::MANAGE_SUBSCRIPTIONS)?;
    Ok(created(s.dir.add_subscription(&ctx, id(&user)?, &b).await?))
}

pub async fn remove_subscription(
    State(s): State<AppState>,
    admin: Admin,
    Path((user, sub)): Path<(String, String)>,
) -> Answer<StatusCode> {
    let ctx = admin.require(may::MANAGE_SUBSCRIPTIONS)?;
    let sub = Uuid::parse_str(&sub)
        .map_err(|_| AdminError(StatusCode::NOT_FOUND, format!("no subscription {sub}")))?;
    s.dir.remove_subscription(&ctx, id(&user)?, sub).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn report(State(s): State<AppState>, admin: Admin, Path(user): Path<String>) -> Answer {
    admin.require(may::READ_REPORTS)?;
    Ok(Json(s.dir.report(id(&user)?).await?))
}

pub async fn audit(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    admin.require(may::READ_AUDIT)?;
    let target = match q.get("target").filter(|v| !v.is_empty()) {
        Some(t) => Some(Uuid::parse_str(t).map_err(|_| AdminError::bad("'target' must be an id"))?),
        None => None,
    };
    let query = AuditQuery {
        target,
        actor: q.get("actor").filter(|v| !v.is_empty()).cloned(),
        action: q.get("action").filter(|v| !v.is_empty()).cloned(),
        from: date_time(&q, "from")?,
        to: date_time(&q, "to")?,
        offset: number(&q, "offset", 0, u32::MAX as u64)?,
        limit: number(&q, "limit", 100, 1000)?,
    };
    Ok(Json(s.dir.audit_log(&query).await?))
}

pub async fn list_iams(State(s): State<AppState>, admin: Admin) -> Answer {
    admin.require(may::MANAGE_IAMS)?;
    let mut out = Vec::new();
    for iam in s.dir.list_iams().await? {
        let settings = s.dir.iam_settings(iam.id).await?;
        out.push(json!({
            "id": iam.id,
            "name": iam.name,
            "displayName": iam.display_name,
            "created": crate::directory::rfc3339(iam.created),
            "settings": settings,
        }));
    }
    Ok(Json(json!({"hits": out, "count": out.len()})))
}

pub async fn create_iam(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.require(may::MANAGE_IAMS)?;
    let name = text(&b, "name")?;
    let display = match b.get("displayName") {
        None | Some(Value::Null) => None,
        Some(_) => Some(text(&b, "displayName")?),
    };
    let iam = s.dir.create_iam_as(&ctx, name, display).await?;
    let settings = match b.get("settings") {
        None | Some(Value::Null) => serde_json::to_value(s.dir.iam_settings(iam.id).await?)
            .map_err(|e| AdminError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
        Some(v) => s.dir.set_iam_settings(&ctx, &iam.name, v).await?,
    };
    Ok(created(json!({
        "id": iam.id,
        "name": iam.name,
        "displayName": iam.display_name,
        "created": crate::directory::rfc3339(iam.created),
        "settings": settings,
    })))
}

pub async fn put_iam_settings(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Body(b): Body,
) -> Answer {
    let ctx = admin.require(may::MANAGE_IAMS)?;
    Ok(Json(s.dir.set_iam_settings(&ctx, &name, &b).await?))
}

pub async fn create_token(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> Answer<Response> {
    let ctx = admin.require(may::MANAGE_IAMS)?;
    // The body is optional: `{"label": "..."}` or nothing.
    let body = if body.is_empty() {
        json!({})
    } else {
        parse_body(&body)?
    };
    let label = match body.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(l)) => Some(l.as_str()),
        Some(_) => return Err(AdminError::bad("'label' must be a string")),
    };
    let (info, secret) = s.dir.create_token_as(&ctx, &name, label).await?;
    Ok(created(json!({
        "id": info.id,
        "iam": info.iam_name,
        "label": info.label,
        "created": crate::directory::rfc3339(info.created),
        "token": secret,
    })))
}

pub async fn revoke_token(
    State(s): State<AppState>,
    admin: Admin,
    Path(token): Path<String>,
) -> Answer<StatusCode> {
    let ctx = admin.require(may::MANAGE_IAMS)?;
    let token = Uuid::parse_str(&token)
        .map_err(|_| AdminError(StatusCode::NOT_FOUND, format!("no token {token}")))?;
    s.dir.revoke_token_as(&ctx, token).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_permissions(State(s): State<AppState>, _admin: Admin) -> Answer {
    let list = s.dir.permission_catalogue().await?;
    Ok(Json(json!({
        "hits": list.iter().map(|p| json!({
            "name": p.name, "description": p.description, "builtin": p.builtin,
        })).collect::<Vec<_>>(),
        "count": list.len(),
    })))
}

pub async fn create_permission(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let description = match b.get("description") {
        None | Some(Value::Null) => "",
        Some(_) => text(&b, "description")?,
    };
    let p = s
        .dir
        .add_custom_permission(&ctx, text(&b, "name")?, description)
        .await?;
    Ok(created(
        json!({"name": p.name, "description": p.description, "builtin": false}),
    ))
}

pub async fn list_groups(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    admin.require(may::READ_ACCOUNTS)?;
    let iam = q.get("iam").filter(|v| !v.is_empty()).map(String::as_str);
    Ok(Json(
        s.dir
            .list_groups_of(
                iam,
                number(&q, "offset", 0, u32::MAX as u64)?,
                number(&q, "limit", 50, 1000)?,
            )
            .await?,
    ))
}

pub async fn create_group(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    Ok(created(
        s.dir
            .create_internal_group(&ctx, text(&b, "displayName")?)
            .await?,
    ))
}

pub async fn group_members(
    State(s): State<AppState>,
    admin: Admin,
    Path(group): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    admin.require(may::READ_ACCOUNTS)?;
    Ok(Json(
        s.dir
            .group_members_page(
                id(&group)?,
                number(&q, "offset", 0, u32::MAX as u64)?,
                number(&q, "limit", 100, 1000)?,
            )
            .await?,
    ))
}

pub async fn add_group_members(
    State(s): State<AppState>,
    admin: Admin,
    Path(group): Path<String>,
    Body(b): Body,
) -> Answer {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    let group = id(&group)?;
    let ids: Vec<Uuid> = b
        .get("members")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .collect()
        })
        .ok_or_else(|| AdminError::bad("'members' must be an array of account ids"))?;
    s.dir.add_internal_members(&ctx, group, &ids).await?;
    Ok(Json(s.dir.group_members_page(group, 0, 100).await?))
}

pub async fn remove_group_member(
    State(s): State<AppState>,
    admin: Admin,
    Path((group, member)): Path<(String, String)>,
) -> Answer<StatusCode> {
    let ctx = admin.require(may::MANAGE_ACCOUNTS)?;
    s.dir
        .remove_internal_member(&ctx, id(&group)?, id(&member)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The admin API's OpenAPI document (no token needed to read it).
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
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
