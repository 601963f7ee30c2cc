//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`: generated from the
//! schema definitions, readable by any IAM token.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::error::ApiError;
use super::extract::{IamCaller, scope};
use super::{AppState, scim_response};
use crate::scim::ScimError;
use crate::scim::discovery::{self, SpcOptions};

fn base(s: &AppState, headers: &HeaderMap, iam: uuid::Uuid) -> String {
    scope(s, headers, iam).base_url
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
        security_event_uris: &crate::events::set::EVENT_URIS,
    }
}

pub async fn service_provider_config(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
) -> Response {
    let doc = discovery::service_provider_config(&base(&s, &headers, iam), &spc_options(&s));
    scim_response(StatusCode::OK, &doc)
}

pub async fn resource_types(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
) -> Response {
    scim_response(
        StatusCode::OK,
        &discovery::resource_types_list(&base(&s, &headers, iam)),
    )
}

pub async fn resource_type(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let doc = discovery::resource_type_doc(&name, &base(&s, &headers, iam))
        .ok_or_else(|| ScimError::not_found("no such resource type"))?;
    Ok(scim_response(StatusCode::OK, &doc))
}

pub async fn schemas(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
) -> Response {
    scim_response(
        StatusCode::OK,
        &discovery::schemas_list(&base(&s, &headers, iam)),
    )
}

pub async fn schema(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let doc = discovery::schema_doc(&id, &base(&s, &headers, iam))
        .ok_or_else(|| ScimError::not_found("no such schema"))?;
    Ok(scim_response(StatusCode::OK, &doc))
}
