//! Data-source subscriptions of an account.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::{Admin, AdminError, Answer, Body, created, id};
use crate::directory::permissions::may;
use crate::directory::subscriptions::SubscriptionView;
use crate::http::AppState;
use crate::http::openapi::{NewSubscription, requires};

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
