//! The anonymized usage metrics on the admin API: the daily export
//! (`GET /api/v1/metrics`) and reported events (`POST
//! /api/v1/metrics/events`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::admin::{Admin, AdminError, Answer, Body};
use super::openapi::{Counted, MetricsExport, MetricsRange, UsageReport, requires};
use crate::directory::permissions::may;
use crate::metrics::DayRange;

/// The anonymized usage counts of a range of days, as a file
///
/// `?days=N` (the last N days, today last) or `?from=YYYY-MM-DD&to=YYYY-MM-DD`,
/// downloaded as a JSON file.
#[utoipa::path(
    get, path = "/metrics",
    operation_id = "export_metrics",
    description = requires(may::EXPORT_METRICS),
    params(MetricsRange),
    responses((status = 200, description = "OK", body = MetricsExport))
)]
pub async fn export(
    State(s): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AdminError> {
    if let Some(k) = q
        .keys()
        .find(|k| !matches!(k.as_str(), "days" | "from" | "to"))
    {
        return Err(AdminError::bad(format!(
            "unknown parameter {:?}: use days=N, or from=YYYY-MM-DD&to=YYYY-MM-DD",
            k.chars().take(64).collect::<String>()
        )));
    }
    let range = match (q.get("days"), q.get("from"), q.get("to")) {
        (Some(days), None, None) => {
            let days: i64 = days
                .parse()
                .map_err(|_| AdminError::bad("days must be a whole number from 1 to 366"))?;
            DayRange::last(days, s.dir.today()).map_err(AdminError::bad)?
        }
        (None, Some(from), Some(to)) => DayRange::between(from, to).map_err(AdminError::bad)?,
        _ => {
            return Err(AdminError::bad(
                "give days=N (1 to 366), or both from and to (YYYY-MM-DD)",
            ));
        }
    };
    let doc = s
        .dir
        .metrics_export(&admin.ctx(), range.from, range.to)
        .await?;
    let mut resp = Json(doc).into_response();
    let disposition = format!("attachment; filename=\"{}\"", range.file_name());
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Count usage events
///
/// The data platform's service account reports; who reported is not kept
/// with the counts. The console's own interface touches go through
/// `/admin/ui-events` instead.
#[utoipa::path(
    post, path = "/metrics/events",
    operation_id = "report_events",
    description = requires(may::REPORT_USAGE),
    request_body = UsageReport,
    responses((status = 200, description = "OK", body = Counted))
)]
pub async fn report(State(s): State<AppState>, admin: Admin, Body(body): Body) -> Answer {
    let counted = s.dir.report_events(&admin.ctx(), &body).await?;
    Ok(Json(json!({"counted": counted})))
}
