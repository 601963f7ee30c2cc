//! `/Entitlements` and `/Roles`: the catalogue, read-only, for identity
//! governance tools (see `directory::catalogue`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::error::ApiError;
use super::extract::{IamCaller, Params, scope};
use super::scim::list_response;
use super::{AppState, scim_response};
use crate::directory::catalogue::Kind;

/// The catalogue list a route names: `ROLES` for `/Roles`, else
/// `/Entitlements`.
const fn kind(roles: bool) -> Kind {
    if roles { Kind::Role } else { Kind::Entitlement }
}

/// `GET /Entitlements`, `GET /Roles`.
pub async fn list<const ROLES: bool>(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let kind = kind(ROLES);
    let dialect = s.dir.iam_settings(iam).await?.roles_dialect;
    let proj = params.projection(kind.resource_type(dialect))?;
    let paging = params.paging(s.config.max_results)?;
    let l = s
        .dir
        .list_catalogue(
            &scope(&s, &headers, iam).await?,
            kind,
            params.get("filter"),
            &paging,
            &proj,
        )
        .await?;
    Ok(list_response(l))
}

/// `GET /Entitlements/{id}`, `GET /Roles/{id}`.
pub async fn get_one<const ROLES: bool>(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    headers: HeaderMap,
    params: Params,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let kind = kind(ROLES);
    let dialect = s.dir.iam_settings(iam).await?.roles_dialect;
    let proj = params.projection(kind.resource_type(dialect))?;
    let doc = s
        .dir
        .get_catalogue(&scope(&s, &headers, iam).await?, kind, &id, &proj)
        .await?;
    Ok(scim_response(StatusCode::OK, &doc))
}
