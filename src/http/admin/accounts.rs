//! Accounts: built-in users, the account list and view, permanent
//! deletion, permissions granted here, managed attributes, disable and
//! enable, session revocation and migration between IAMs.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{Admin, Answer, Body, created, flag, id, names, number, text};
use crate::directory::account_view::{AccountPage, AccountView};
use crate::directory::accounts::parse_sort;
use crate::directory::attributes::{AttributeLayers, AttributeOwner};
use crate::directory::permissions::may;
use crate::http::AppState;
use crate::http::openapi::{AttributePatch, Migration, NewUser, Paging, PermissionGrant, requires};
use crate::store::accounts::AccountQuery;

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
    let names = names(&b, "permissions")?;
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
