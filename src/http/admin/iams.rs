//! IAMs, their settings and SCIM tokens, and the permission catalogue.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Admin, AdminError, Answer, Body, created, parse_body, text};
use crate::directory::iam_settings::IamSettings;
use crate::directory::permissions::may;
use crate::http::AppState;
use crate::http::openapi::{
    Iam, IamList, NewIam, NewPermission, NewToken, PermissionDef, PermissionList, SchemaExtensions,
    Token, requires,
};
use axum::body::Bytes;

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

/// The schema extensions the IAM declares
#[utoipa::path(
    get, path = "/iams/{name}/schema-extensions",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("name" = String, Path)),
    responses((status = 200, description = "OK", body = SchemaExtensions))
)]
pub async fn get_schema_extensions(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> Answer {
    Ok(Json(s.dir.schema_extensions(&admin.ctx(), &name).await?))
}

/// Replace the schema extensions the IAM declares (409 while stored values
/// would not fit)
#[utoipa::path(
    put, path = "/iams/{name}/schema-extensions",
    description = requires(may::MANAGE_ACCOUNTS),
    params(("name" = String, Path)),
    request_body = SchemaExtensions,
    responses((status = 200, description = "OK", body = SchemaExtensions))
)]
pub async fn put_schema_extensions(
    State(s): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Body(b): Body,
) -> Answer {
    let ctx = admin.ctx();
    Ok(Json(s.dir.set_schema_extensions(&ctx, &name, &b).await?))
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
