//! Oversight: the governance report and the audit log.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use uuid::Uuid;

use super::{Admin, AdminError, Answer, date_time, id, number};
use crate::directory::account_view::AccountReport;
use crate::directory::audit_log::AuditPage;
use crate::directory::permissions::may;
use crate::http::AppState;
use crate::http::openapi::{Paging, requires};
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
    params(
        ("target" = Option<String>, Query, description = "The id of the changed resource"),
        ("actor" = Option<String>, Query),
        ("action" = Option<String>, Query),
        ("from" = Option<String>, Query, format = DateTime, description = "RFC 3339"),
        ("to" = Option<String>, Query, format = DateTime, description = "RFC 3339"),
        Paging,
    ),
    responses((status = 200, description = "OK", body = AuditPage))
)]
pub async fn audit(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Answer<Json<AuditPage>> {
    let ctx = admin.ctx();
    let target = match q.get("target").filter(|v| !v.is_empty()) {
        Some(t) => Some(Uuid::parse_str(t).map_err(|_| AdminError::bad("'target' must be an id"))?),
        None => None,
    };
    let query = AuditQuery {
        target,
        actor: q.get("actor").filter(|v| !v.is_empty()).cloned(),
        action: q.get("action").filter(|v| !v.is_empty()).cloned(),
        from: date_time(&q, "from")?,
        to: date_time(&q, "to")?,
        offset: number(&q, "offset", 0, u32::MAX as u64)?,
        limit: number(&q, "limit", 100, 1000)?,
    };
    Ok(Json(s.dir.audit_log(&ctx, &query).await?))
}
