//! Groups: an IAM's groups, internal groups and their members, and a
//! group's managed attributes.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use uuid::Uuid;

use super::{Admin, AdminError, Answer, Body, created, id, number, text};
use crate::directory::attributes::{AttributeOwner, Layer};
use crate::directory::permissions::may;
use crate::http::AppState;
use crate::http::openapi::{
    AttributePatch, CreatedGroup, GroupPage, MemberPage, NewGroup, NewMembers, Paging, requires,
};

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
