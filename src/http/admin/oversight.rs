//! Oversight: the governance report and the audit log.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use uuid::Uuid;

use super::{Admin, AdminError, Answer, date_time, id, number};
use crate::directory::account_view::AccountReport;
use crate::directory::audit_log::AuditPage;
use crate::directory::permissions::may;
use crate::http::AppState;
use crate::http::openapi::{AuditFilter, Paging, requires};
use crate::store::accounts::AuditQuery;

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
    params(AuditFilter, Paging),
    responses((status = 200, description = "OK", body = AuditPage))
)]
pub async fn audit(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Json<AuditPage>> {
    let ctx = admin.ctx();
    let query = AuditQuery {
        offset: number(&q, "offset", 0, u32::MAX as u64)?,
        limit: number(&q, "limit", 100, 1000)?,
        ..audit_filter(&q)?
    };
    let found = s.dir.search_audit(&ctx, person(&q), &query).await?;
    Ok(Json(found.page))
}

/// The audit log as a file: every record the filter selects
#[utoipa::path(
    get, path = "/audit/export",
    description = requires(may::READ_AUDIT),
    params(
        ("format" = Option<String>, Query, description = "csv or json (the default)"),
        AuditFilter,
    ),
    responses(
        (status = 200, description = "The records, newest first, with the names their actors and targets have now", body = Object, content_type = "application/json"),
        (status = 200, description = "The same as CSV", body = String, content_type = "text/csv"),
    )
)]
pub async fn audit_export(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Response> {
    let ctx = admin.ctx();
    let format = super::audit_export::Format::parse(q.get("format").map(String::as_str))?;
    super::audit_export::export(&s.dir, &ctx, person(&q), &audit_filter(&q)?, format).await
}

fn person(q: &HashMap<String, String>) -> Option<&str> {
    q.get("person")
        .map(String::as_str)
        .filter(|p| !p.trim().is_empty())
}

/// What `/audit` and `/audit/export` filter by.
fn audit_filter(q: &HashMap<String, String>) -> Result<AuditQuery, AdminError> {
    let target = match q.get("target").filter(|v| !v.is_empty()) {
        Some(t) => Some(Uuid::parse_str(t).map_err(|_| AdminError::bad("'target' must be an id"))?),
        None => None,
    };
    Ok(AuditQuery {
        target,
        actor: q.get("actor").filter(|v| !v.is_empty()).cloned(),
        action: q.get("action").filter(|v| !v.is_empty()).cloned(),
        from: date_time(q, "from")?,
        to: date_time(q, "to")?,
        ..Default::default()
    })
}
