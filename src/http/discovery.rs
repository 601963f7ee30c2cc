//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`: generated from the
//! schema definitions, readable by any IAM token.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::error::ApiError;
use super::extract::{IamCaller, base_url};
use super::{AppState, scim_response};
use crate::directory::iam_settings::PermissionsSource;
use crate::scim::ScimError;
use crate::scim::discovery::{self, SpcOptions};
use crate::scim::schema::catalogue::RolesDialect;
use crate::scim::schema::{BRIDGE_USER_SCHEMA, ResourceTypeDef};
use serde_json::Value;

fn base(s: &AppState, headers: &HeaderMap, _iam: uuid::Uuid) -> String {
    base_url(s, headers)
}

/// The spelling of the catalogue's schemas this IAM asked for, and
/// whether it opted into them: strict testers (scim2-tester) run CRUD on
/// every resource type listed, so only an IAM with `permissionsSource:
/// idp` or `rolesDialect: okta` is shown the read-only catalogue's.
/// The resource types this IAM is shown: its User and Group (with the
/// schema extensions it declared), then the catalogue's in its dialect.
async fn types(s: &AppState, iam: uuid::Uuid) -> Result<[&'static ResourceTypeDef; 4], ApiError> {
    let dialect = s.dir.iam_settings(iam).await?.roles_dialect;
    Ok(dialect.resource_types_with(s.dir.resource_types(iam).await?))
}

async fn opted_in(s: &AppState, iam: uuid::Uuid) -> Result<bool, ApiError> {
    let settings = s.dir.iam_settings(iam).await?;
    Ok(settings.permissions_source == PermissionsSource::Idp
        || settings.roles_dialect == RolesDialect::Okta)
}

/// A list without the catalogue's entries (by `name` for resource types,
/// `id` for schemas), for an IAM that did not opt in.
fn without_catalogue(mut doc: Value) -> Value {
    let catalogue = |r: &Value| {
        let n = r["name"].as_str().unwrap_or("");
        n == "Role" || n == "Entitlement"
    };
    if let Some(Value::Array(list)) = doc.get_mut("Resources") {
        list.retain(|r| !catalogue(r));
        let n = list.len();
        doc["totalResults"] = n.into();
        doc["itemsPerPage"] = n.into();
    }
    doc
}

/// A `/Schemas` answer as this IAM's identity provider may act on it:
/// `roles` read-only unless it governs permissions; the bridge extension
/// only if it may read it.
async fn schemas_for(s: &AppState, iam: uuid::Uuid, mut doc: Value) -> Result<Value, ApiError> {
    let settings = s.dir.iam_settings(iam).await?;
    if settings.permissions_source == PermissionsSource::Bridge {
        discovery::roles_read_only(&mut doc);
    }
    if !settings.bridge_extension {
        discovery::without_schema(&mut doc, BRIDGE_USER_SCHEMA);
    }
    Ok(doc)
}

/// A `/ResourceTypes` answer without the bridge extension, unless this
/// IAM's identity provider may read it (`bridgeExtension`).
async fn types_for(s: &AppState, iam: uuid::Uuid, mut doc: Value) -> Result<Value, ApiError> {
    if !s.dir.iam_settings(iam).await?.bridge_extension {
        discovery::without_schema(&mut doc, BRIDGE_USER_SCHEMA);
    }
    Ok(doc)
}

pub fn spc_options(s: &AppState) -> SpcOptions {
    SpcOptions {
        max_results: s.config.max_results,
        max_bulk_operations: u32::try_from(s.config.bulk_max_operations).unwrap_or(u32::MAX),
        max_bulk_payload: s.config.bulk_max_payload_bytes as u64,
        bulk_supported: true,
        patch_supported: true,
        etag_supported: true,
        sort_supported: true,
        filter_supported: true,
        change_password_supported: true,
        cursor_supported: true,
        max_page_size_for_cursor: s.config.max_results,
        cursor_timeout_secs: s.config.cursor_timeout_secs,
        documentation_uri: None,
        security_event_uris: &[],
        roles_and_entitlements: false,
    }
}

pub async fn service_provider_config(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Advertised to an IAM that opted into governance by its identity
    // provider (or Okta's dialect): strict clients refuse the attribute.
    let settings = s.dir.iam_settings(iam).await?;
    // Likewise `securityEvents`: advertised where a SET stream carries
    // this IAM's events.
    let security_event_uris: &[&str] = if s.dir.sets_cover(iam).await? {
        &crate::events::set::EVENT_URIS
    } else {
        &[]
    };
    let opts = SpcOptions {
        roles_and_entitlements: settings.permissions_source == PermissionsSource::Idp
            || settings.roles_dialect == RolesDialect::Okta,
        security_event_uris,
        ..spc_options(&s)
    };
    let doc = discovery::service_provider_config(&base(&s, &headers, iam), &opts);
    Ok(scim_response(StatusCode::OK, &doc))
}

pub async fn resource_types(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let types = types(&s, iam).await?;
    let mut doc = discovery::resource_types_list(&base(&s, &headers, iam), &types);
    if !opted_in(&s, iam).await? {
        doc = without_catalogue(doc);
    }
    Ok(scim_response(
        StatusCode::OK,
        &types_for(&s, iam, doc).await?,
    ))
}

pub async fn resource_type(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let types = types(&s, iam).await?;
    let shown = opted_in(&s, iam).await?
        || !(name.eq_ignore_ascii_case("Role") || name.eq_ignore_ascii_case("Entitlement"));
    let doc = discovery::resource_type_doc(&name, &base(&s, &headers, iam), &types)
        .filter(|_| shown)
        .ok_or_else(|| ScimError::not_found("no such resource type"))?;
    Ok(scim_response(
        StatusCode::OK,
        &types_for(&s, iam, doc).await?,
    ))
}

pub async fn schemas(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let types = types(&s, iam).await?;
    let mut doc = discovery::schemas_list(&base(&s, &headers, iam), &types);
    if !opted_in(&s, iam).await? {
        doc = without_catalogue(doc);
    }
    Ok(scim_response(
        StatusCode::OK,
        &schemas_for(&s, iam, doc).await?,
    ))
}

pub async fn schema(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let types = types(&s, iam).await?;
    let doc = discovery::schema_doc(&id, &base(&s, &headers, iam), &types)
        .ok_or_else(|| ScimError::not_found("no such schema"))?;
    // The bridge extension, for an IAM that may not read it: no such
    // schema here.
    let hidden =
        doc["id"] == BRIDGE_USER_SCHEMA && !s.dir.iam_settings(iam).await?.bridge_extension;
    if hidden {
        return Err(ScimError::not_found("no such schema").into());
    }
    let doc = schemas_for(&s, iam, doc).await?;
    Ok(scim_response(StatusCode::OK, &doc))
}
