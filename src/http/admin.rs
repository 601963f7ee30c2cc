//! The admin API (`/api/v1`): administrators manage what the internal IAM
//! owns. Callers present an admin bearer token (authenticated by
//! `principal`); what they may do follows their internal permissions, which
//! the directory checks for each operation (`directory::permissions::may`).
//! Errors are plain JSON `{"error": {"status", "message"}}`, never SCIM
//! documents.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;
use super::openapi::{
    AttributePatch, CreatedGroup, GroupPage, Iam, IamList, Me, MemberPage, Migration, NewGroup,
    NewIam, NewMembers, NewPermission, NewSubscription, NewToken, NewUser, Paging, PermissionDef,
    PermissionGrant, PermissionList, Token, requires,
};
pub use super::principal::Admin;
use crate::directory::Error;
use crate::directory::account_view::{AccountPage, AccountReport, AccountView};
use crate::directory::accounts::parse_sort;
use crate::directory::attributes::{AttributeLayers, AttributeOwner, Layer};
use crate::directory::audit_log::AuditPage;
use crate::directory::iam_settings::IamSettings;
use crate::directory::permissions::may;
use crate::directory::subscriptions::SubscriptionView;
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

/// An id from the path, as the type the call takes (`UserId`, `GroupId`).
fn id<T: From<Uuid>>(s: &str) -> Result<T, AdminError> {
    Uuid::parse_str(s)
        .map(T::from)
        .map_err(|_| AdminError(StatusCode::NOT_FOUND, format!("no account with id {s}")))
}

fn text<'a>(body: &'a Value, key: &str) -> Result<&'a str, AdminError> {
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

/// Create a built-in (bim) user; the email is the userName
#[utoipa::path(
    post, path = "/users",
    description = requires(may::MANAGE_ACCOUNTS),
    request_body = NewUser,
    responses((status = 201, description = "Created", body = AccountView))
)]
pub async fn create_user(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.ctx();
    let user = s
        .dir
        .create_bim_user(&ctx, Some(text(&b, "fullName")?), text(&b, "email")?)
        .await?;
    Ok(created(s.dir.account_view(&ctx, user).await?))
}

/// List accounts
#[utoipa::path(
    get, path = "/users",
    description = requires(may::READ_ACCOUNTS),
    params(
        ("includeDisabled" = Option<bool>, Query),
        ("iam" = Option<String>, Query, description = "The IAM's name"),
        ("search" = Option<String>, Query),
        ("permission" = Option<String>, Query, description = "Holders of this permission"),
        Paging,
        ("sort" = Option<String>, Query, description = "userName, created or lastModified; '-' first for descending"),
    ),
    responses((status = 200, description = "OK", body = AccountPage))
)]
pub async fn list_users(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Json<AccountPage>> {
    let ctx = admin.ctx();
    let (sort, descending) = parse_sort(q.get("sort").map(String::as_str))?;
    let iam = q.get("iam").filter(|v| !v.is_empty()).map(String::as_str);
    let query = AccountQuery {
        include_disabled: flag(&q, "includeDisabled")?,
        search: q.get("search").cloned(),
        permission: q.get("permission").filter(|v| !v.is_empty()).cloned(),
        offset: number(&q, "offset", 0, u32::MAX as u64)?,
        limit: number(&q, "limit", 50, 1000)?,
        sort,
        descending,
        ..Default::default()
    };
    Ok(Json(s.dir.list_accounts(&ctx, iam, query).await?))
}

/// The aggregated view of an account
#[utoipa::path(
    get, path = "/users/{id}",
    description = requires(may::READ_ACCOUNTS),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = AccountView))
)]
pub async fn get_user(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer<Json<AccountView>> {
    let ctx = admin.ctx();
    Ok(Json(s.dir.account_view(&ctx, id(&user)?).await?))
}

/// Permanently delete an account
#[utoipa::path(
    delete, path = "/users/{id}",
    description = requires(may::MANAGE_ACCOUNTS),
    params(
        ("id" = String, Path),
        ("confirm" = String, Query, pattern = "^Delete$", description = "Delete, to confirm"),
    ),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_user(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<StatusCode> {
    let ctx = admin.ctx();
    s.dir
        .delete_permanently(&ctx, id(&user)?, q.get("confirm").map(String::as_str))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grant permissions
#[utoipa::path(
    post, path = "/users/{id}/permissions",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path)),
    request_body = PermissionGrant,
    responses((status = 200, description = "OK", body = AccountView))
)]
pub async fn add_permissions(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Body(b): Body,
) -> Answer<Json<AccountView>> {
    let ctx = admin.ctx();
    let user = id(&user)?;
    let names: Vec<String> = b
        .get("permissions")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect())
        .ok_or_else(|| AdminError::bad("'permissions' must be an array of names"))?;
    s.dir.add_permissions(&ctx, user, &names).await?;
    Ok(Json(s.dir.account_view(&ctx, user).await?))
}

/// Remove a permission granted here
#[utoipa::path(
    delete, path = "/users/{id}/permissions/{name}",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "OK", body = AccountView))
)]
pub async fn remove_permission(
    State(s): State<AppState>,
    admin: Admin,
    Path((user, name)): Path<(String, String)>,
) -> Answer<Json<AccountView>> {
    let ctx = admin.ctx();
    let user = id(&user)?;
    s.dir.remove_permission(&ctx, user, &name).await?;
    Ok(Json(s.dir.account_view(&ctx, user).await?))
}

/// Change managed attributes (atomic)
#[utoipa::path(
    patch, path = "/users/{id}/attributes",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path)),
    request_body = AttributePatch,
    responses((status = 200, description = "OK", body = AttributeLayers))
)]
pub async fn patch_user_attributes(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Body(b): Body,
) -> Answer<Json<AttributeLayers>> {
    let ctx = admin.ctx();
    let user = id(&user)?;
    s.dir
        .patch_attributes(&ctx, AttributeOwner::User(user), &b)
        .await?;
    Ok(Json(s.dir.account_view(&ctx, user).await?.attributes))
}

/// A group's managed attributes
#[utoipa::path(
    get, path = "/groups/{id}/attributes",
    description = requires(may::READ_ACCOUNTS),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = inline(Layer)))
)]
pub async fn get_group_attributes(
    State(s): State<AppState>,
    admin: Admin,
    Path(group): Path<String>,
) -> Answer<Json<Layer>> {
    let ctx = admin.ctx();
    Ok(Json(s.dir.group_attributes(&ctx, id(&group)?).await?))
}

/// Change a group's managed attributes (atomic)
#[utoipa::path(
    patch, path = "/groups/{id}/attributes",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path)),
    request_body = AttributePatch,
    responses((status = 200, description = "OK", body = inline(Layer)))
)]
pub async fn patch_group_attributes(
    State(s): State<AppState>,
    admin: Admin,
    Path(group): Path<String>,
    Body(b): Body,
) -> Answer<Json<Layer>> {
    let ctx = admin.ctx();
    let group = id(&group)?;
    s.dir
        .patch_attributes(&ctx, AttributeOwner::Group(group), &b)
        .await?;
    Ok(Json(s.dir.group_attributes(&ctx, group).await?))
}

/// Disable an account
#[utoipa::path(
    post, path = "/users/{id}/disable",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = AccountView))
)]
pub async fn disable_user(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer<Json<AccountView>> {
    let ctx = admin.ctx();
    let user = id(&user)?;
    s.dir.set_disabled(&ctx, user, true).await?;
    Ok(Json(s.dir.account_view(&ctx, user).await?))
}

/// Enable an account
#[utoipa::path(
    post, path = "/users/{id}/enable",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = AccountView))
)]
pub async fn enable_user(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer<Json<AccountView>> {
    let ctx = admin.ctx();
    let user = id(&user)?;
    s.dir.set_disabled(&ctx, user, false).await?;
    Ok(Json(s.dir.account_view(&ctx, user).await?))
}

/// End every admin token and console session of an account
///
/// Bumps the account's token generation: every admin token minted and
/// every console session started before stops working (disable and enable
/// do the same). Audited as user.sessions_revoked. Requires USER_ADMIN,
/// except for one's own account.
#[utoipa::path(
    post, path = "/users/{id}/revoke-sessions",
    params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"))
)]
pub async fn revoke_sessions(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer<StatusCode> {
    let user = id(&user)?;
    s.dir.revoke_sessions(&admin.ctx(), user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Move an account to another IAM under a userName
#[utoipa::path(
    post, path = "/users/{id}/migrate",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path)),
    request_body = Migration,
    responses((status = 200, description = "OK", body = AccountView))
)]
pub async fn migrate_user(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Body(b): Body,
) -> Answer<Json<AccountView>> {
    let ctx = admin.ctx();
    let user = id(&user)?;
    s.dir
        .migrate(&ctx, user, text(&b, "iam")?, text(&b, "userName")?)
        .await?;
    Ok(Json(s.dir.account_view(&ctx, user).await?))
}

/// Data-source subscriptions
#[utoipa::path(
    get, path = "/users/{id}/subscriptions",
    description = requires(may::READ_ACCOUNTS),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = Vec<SubscriptionView>))
)]
pub async fn list_subscriptions(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer<Json<Vec<SubscriptionView>>> {
    let ctx = admin.ctx();
    Ok(Json(s.dir.subscriptions(&ctx, id(&user)?).await?))
}

/// Register a subscription
#[utoipa::path(
    post, path = "/users/{id}/subscriptions",
    description = requires(may::MANAGE_SUBSCRIPTIONS),
    params(("id" = String, Path)),
    request_body = NewSubscription,
    responses((status = 201, description = "Created", body = SubscriptionView))
)]
pub async fn add_subscription(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.ctx();
    Ok(created(s.dir.add_subscription(&ctx, id(&user)?, &b).await?))
}

/// Remove a subscription
#[utoipa::path(
    delete, path = "/users/{id}/subscriptions/{subscriptionId}",
    description = requires(may::MANAGE_SUBSCRIPTIONS),
    params(("id" = String, Path), ("subscriptionId" = String, Path)),
    responses((status = 204, description = "Removed"))
)]
pub async fn remove_subscription(
    State(s): State<AppState>,
    admin: Admin,
    Path((user, sub)): Path<(String, String)>,
) -> Answer<StatusCode> {
    let ctx = admin.ctx();
    let sub = Uuid::parse_str(&sub)
        .map_err(|_| AdminError(StatusCode::NOT_FOUND, format!("no subscription {sub}")))?;
    s.dir.remove_subscription(&ctx, id(&user)?, sub).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Governance report
#[utoipa::path(
    get, path = "/users/{id}/report",
    description = requires(may::READ_REPORTS),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = AccountReport))
)]
pub async fn report(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
) -> Answer<Json<AccountReport>> {
    let ctx = admin.ctx();
    Ok(Json(s.dir.report(&ctx, id(&user)?).await?))
}

/// The audit log, newest first
#[utoipa::path(
    get, path = "/audit",
    description = requires(may::READ_AUDIT),
    params(
        ("target" = Option<String>, Query, description = "The id of the changed resource"),
        ("actor" = Option<String>, Query),
        ("action" = Option<String>, Query),
        ("from" = Option<String>, Query, format = DateTime, description = "RFC 3339"),
        ("to" = Option<String>, Query, format = DateTime, description = "RFC 3339"),
        Paging,
    ),
    responses((status = 200, description = "OK", body = AuditPage))
)]
pub async fn audit(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Json<AuditPage>> {
    let ctx = admin.ctx();
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
    Ok(Json(s.dir.audit_log(&ctx, &query).await?))
}

/// IAMs and their settings
#[utoipa::path(
    get, path = "/iams",
    description = requires(may::MANAGE_IAMS),
    responses((status = 200, description = "OK", body = IamList))
)]
pub async fn list_iams(State(s): State<AppState>, admin: Admin) -> Answer {
    let out: Vec<Value> = s
        .dir
        .managed_iams(&admin.ctx())
        .await?
        .into_iter()
        .map(|m| {
            json!({
                "id": m.iam.id,
                "name": m.iam.name,
                "displayName": m.iam.display_name,
                "created": crate::directory::rfc3339(m.iam.created),
                "settings": m.settings,
            })
        })
        .collect();
    Ok(Json(json!({"hits": out, "count": out.len()})))
}

/// Create an IAM
#[utoipa::path(
    post, path = "/iams",
    description = requires(may::MANAGE_IAMS),
    request_body = NewIam,
    responses((status = 201, description = "Created", body = Iam))
)]
pub async fn create_iam(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.ctx();
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

/// Replace an IAM's settings
#[utoipa::path(
    put, path = "/iams/{name}/settings",
    description = requires(may::MANAGE_IAMS),
    params(("name" = String, Path)),
    request_body = IamSettings,
    responses((status = 200, description = "OK", body = IamSettings))
)]
pub async fn put_iam_settings(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Body(b): Body,
) -> Answer {
    let ctx = admin.ctx();
    Ok(Json(s.dir.set_iam_settings(&ctx, &name, &b).await?))
}

/// Mint a SCIM token for the IAM (shown once)
#[utoipa::path(
    post, path = "/iams/{name}/tokens",
    description = requires(may::MANAGE_IAMS),
    params(("name" = String, Path)),
    request_body = NewToken,
    responses((status = 201, description = "Created", body = Token))
)]
pub async fn create_token(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> Answer<Response> {
    let ctx = admin.ctx();
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

/// Revoke a SCIM token
#[utoipa::path(
    delete, path = "/tokens/{id}",
    description = requires(may::MANAGE_IAMS),
    params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"))
)]
pub async fn revoke_token(
    State(s): State<AppState>,
    admin: Admin,
    Path(token): Path<String>,
) -> Answer<StatusCode> {
    let ctx = admin.ctx();
    let token = Uuid::parse_str(&token)
        .map_err(|_| AdminError(StatusCode::NOT_FOUND, format!("no token {token}")))?;
    s.dir.revoke_token_as(&ctx, token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The permission catalogue
#[utoipa::path(
    get, path = "/permissions",
    responses((status = 200, description = "OK", body = PermissionList))
)]
pub async fn list_permissions(State(s): State<AppState>, _admin: Admin) -> Answer {
    let list = s.dir.permission_catalogue().await?;
    Ok(Json(json!({
        "hits": list.iter().map(|p| json!({
            "name": p.name, "description": p.description, "builtin": p.builtin,
        })).collect::<Vec<_>>(),
        "count": list.len(),
    })))
}

/// Add a custom permission
#[utoipa::path(
    post, path = "/permissions",
    description = requires(may::MANAGE_ACCOUNTS),
    request_body = NewPermission,
    responses((status = 201, description = "Created", body = PermissionDef))
)]
pub async fn create_permission(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.ctx();
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

/// Groups of an IAM (the built-in one by default)
#[utoipa::path(
    get, path = "/groups",
    description = requires(may::READ_ACCOUNTS),
    params(("iam" = Option<String>, Query, description = "The IAM's name"), Paging),
    responses((status = 200, description = "OK", body = GroupPage))
)]
pub async fn list_groups(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let ctx = admin.ctx();
    let iam = q.get("iam").filter(|v| !v.is_empty()).map(String::as_str);
    Ok(Json(
        s.dir
            .list_groups_of(
                &ctx,
                iam,
                number(&q, "offset", 0, u32::MAX as u64)?,
                number(&q, "limit", 50, 1000)?,
            )
            .await?,
    ))
}

/// Create an internal (built-in IAM) group
#[utoipa::path(
    post, path = "/groups",
    description = requires(may::MANAGE_ACCOUNTS),
    request_body = NewGroup,
    responses((status = 201, description = "Created", body = CreatedGroup))
)]
pub async fn create_group(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    let ctx = admin.ctx();
    Ok(created(
        s.dir
            .create_internal_group(&ctx, text(&b, "displayName")?)
            .await?,
    ))
}

/// A page of a group's members
#[utoipa::path(
    get, path = "/groups/{id}/members",
    description = requires(may::READ_ACCOUNTS),
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "OK", body = MemberPage))
)]
pub async fn group_members(
    State(s): State<AppState>,
    admin: Admin,
    Path(group): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let ctx = admin.ctx();
    Ok(Json(
        s.dir
            .group_members_page(
                &ctx,
                id(&group)?,
                number(&q, "offset", 0, u32::MAX as u64)?,
                number(&q, "limit", 100, 1000)?,
            )
            .await?,
    ))
}

/// Add accounts of any IAM to an internal group
#[utoipa::path(
    post, path = "/groups/{id}/members",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path)),
    request_body = NewMembers,
    responses((status = 200, description = "OK", body = MemberPage))
)]
pub async fn add_group_members(
    State(s): State<AppState>,
    admin: Admin,
    Path(group): Path<String>,
    Body(b): Body,
) -> Answer {
    let ctx = admin.ctx();
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
    Ok(Json(s.dir.group_members_page(&ctx, group, 0, 100).await?))
}

/// Remove an account from an internal group
#[utoipa::path(
    delete, path = "/groups/{id}/members/{member}",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path), ("member" = String, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn remove_group_member(
    State(s): State<AppState>,
    admin: Admin,
    Path((group, member)): Path<(String, String)>,
) -> Answer<StatusCode> {
    let ctx = admin.ctx();
    s.dir
        .remove_internal_member(&ctx, id(&group)?, id(&member)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
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
