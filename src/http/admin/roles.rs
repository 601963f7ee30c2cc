//! Roles (`/api/v1/roles`) and the roles an account holds
//! (`/api/v1/users/{id}/roles`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Admin, AdminError, Answer, Body, created, id, names};
use crate::directory::account_view::AccountView;
use crate::directory::permissions::may;
use crate::directory::roles::{Role, RoleInput};
use crate::http::AppState;
use crate::http::openapi::{RoleGrant, RoleList, requires};

fn input(b: Value) -> Result<RoleInput, AdminError> {
    serde_json::from_value(b).map_err(|e| AdminError::bad(format!("a role: {e}")))
}

/// The roles
#[utoipa::path(
    get, path = "/roles",
    description = requires(may::READ_ACCOUNTS),
    responses((status = 200, description = "OK", body = RoleList))
)]
pub async fn list_roles(State(s): State<AppState>, admin: Admin) -> Answer {
    let roles = s.dir.list_roles(&admin.ctx()).await?;
    Ok(Json(json!({"count": roles.len(), "hits": roles})))
}

/// Create a role
#[utoipa::path(
    post, path = "/roles",
    description = requires(may::MANAGE_ACCOUNTS),
    request_body = RoleInput,
    responses((status = 201, description = "Created", body = Role))
)]
pub async fn create_role(
    State(s): State<AppState>,
    admin: Admin,
    Body(b): Body,
) -> Answer<Response> {
    let role = s.dir.put_role(&admin.ctx(), None, input(b)?).await?;
    Ok(created(role))
}

/// A role
#[utoipa::path(
    get, path = "/roles/{name}",
    description = requires(may::READ_ACCOUNTS),
    params(("name" = String, Path)),
    responses((status = 200, description = "OK", body = Role))
)]
pub async fn get_role(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> Answer<Json<Role>> {
    Ok(Json(s.dir.get_role(&admin.ctx(), &name).await?))
}

/// Replace a role (its name never changes)
#[utoipa::path(
    put, path = "/roles/{name}",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("name" = String, Path)),
    request_body = RoleInput,
    responses((status = 200, description = "OK", body = Role))
)]
pub async fn replace_role(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Body(b): Body,
) -> Answer<Json<Role>> {
    Ok(Json(
        s.dir.put_role(&admin.ctx(), Some(&name), input(b)?).await?,
    ))
}

/// Delete a role (its holders lose it)
#[utoipa::path(
    delete, path = "/roles/{name}",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_role(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> Answer<StatusCode> {
    s.dir.delete_role(&admin.ctx(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give an account roles
#[utoipa::path(
    post, path = "/users/{id}/roles",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path)),
    request_body = RoleGrant,
    responses((status = 200, description = "OK", body = AccountView))
)]
pub async fn add_roles(
    State(s): State<AppState>,
    admin: Admin,
    Path(user): Path<String>,
    Body(b): Body,
) -> Answer<Json<AccountView>> {
    let ctx = admin.ctx();
    let user = id(&user)?;
    let names = names(&b, "roles")?;
    s.dir.add_roles(&ctx, user, &names).await?;
    Ok(Json(s.dir.account_view(&ctx, user).await?))
}

/// Take a role given here from an account
#[utoipa::path(
    delete, path = "/users/{id}/roles/{name}",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "OK", body = AccountView))
)]
pub async fn remove_role(
    State(s): State<AppState>,
    admin: Admin,
    Path((user, name)): Path<(String, String)>,
) -> Answer<Json<AccountView>> {
    let ctx = admin.ctx();
    let user = id(&user)?;
    s.dir.remove_role(&ctx, user, &name).await?;
    Ok(Json(s.dir.account_view(&ctx, user).await?))
}
