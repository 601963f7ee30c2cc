//! `POST /Bulk` (RFC 7644 §3.7): parse, run, answer the BulkResponse.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::error::ApiError;
use super::extract::{BulkBody, IamCaller, scope};
use super::limits::Charge;
use super::{AppState, scim_response};
use crate::scim::bulk::{BulkRequest, response_doc};

/// 200 with one result per performed operation, whatever each one's
/// status; a malformed or oversized request is refused as a whole, and so
/// is one whose operations the token's rate limit cannot cover (each
/// operation is charged as one request).
pub async fn bulk(
    State(s): State<AppState>,
    IamCaller(iam): IamCaller,
    charge: Charge,
    headers: HeaderMap,
    BulkBody(body): BulkBody,
) -> Result<Response, ApiError> {
    let req = BulkRequest::parse(&body, s.config.bulk_max_operations)?;
    if let Some(refused) = charge.operations(req.operations.len()) {
        return Ok(refused);
    }
    let results = s.dir.bulk(&scope(&s, &headers, iam).await?, &req).await;
    Ok(scim_response(StatusCode::OK, &response_doc(&results)))
}
