//! The audit log as a file: every record a filter selects, as CSV or JSON,
//! with the names its actors and targets have now. The admin API and the
//! console's download link answer with this one function.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AdminError;
use crate::directory::Directory;
use crate::directory::accounts::Ctx;
use crate::directory::audit_log::AuditView;
use crate::directory::audit_search::AuditNames;
use crate::store::accounts::AuditQuery;

/// An export holds at most this many records: a larger one asks for a
/// narrower filter instead of a file nobody can open.
pub const EXPORT_LIMIT: u64 = 100_000;
const BATCH: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn parse(s: Option<&str>) -> Result<Format, AdminError> {
        match s.unwrap_or("json") {
            "" | "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            _ => Err(AdminError::bad("'format' is csv or json")),
        }
    }
}

const COLUMNS: [&str; 13] = [
    "seq",
    "id",
    "at",
    "actor",
    "actorName",
    "action",
    "targetKind",
    "target",
    "targetName",
    "outcome",
    "requestId",
    "attributes",
    "flags",
];

/// Every record `q` (and `person`) selects, newest first, as a download.
pub async fn export(
    dir: &Directory,
    ctx: &Ctx,
    person: Option<&str>,
    q: &AuditQuery,
    format: Format,
) -> Result<Response, AdminError> {
    let mut q = AuditQuery {
        offset: 0,
        limit: BATCH,
        ..q.clone()
    };
    let first = dir.search_audit(ctx, person, &q).await?;
    if first.page.count > EXPORT_LIMIT {
        return Err(AdminError::bad(format!(
            "this filter selects {} records; an export holds at most {EXPORT_LIMIT}: narrow it (a time range, an action)",
            first.page.count
        )));
    }
    // The person's accounts, resolved once: a later page asks for the same.
    q.people = first
        .people
        .as_ref()
        .map(|p| p.iter().map(|m| m.id).collect());
    let mut rows = first.page.hits;
    while (rows.len() as u64) < first.page.count {
        q.offset = rows.len() as u64;
        let next = dir.audit_log(ctx, &q).await?;
        if next.hits.is_empty() {
            break;
        }
        rows.extend(next.hits);
    }
    let names = dir.audit_names(ctx, &rows).await?;
    let stamp = time::OffsetDateTime::now_utc();
    let day = format!(
        "{:04}{:02}{:02}",
        stamp.year(),
        stamp.month() as u8,
        stamp.day()
    );
    let (mut resp, ext) = match format {
        Format::Json => (Json(json_rows(&rows, &names)).into_response(), "json"),
        Format::Csv => {
            let mut r = csv(&rows, &names).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            (r, "csv")
        }
    };
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"audit-{day}.{ext}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

fn names_of<'a>(r: &AuditView, names: &'a AuditNames) -> (Option<&'a str>, Option<&'a str>) {
    (
        names.actor(&r.actor).map(|n| n.name.as_str()),
        names.target(r).map(|n| n.name.as_str()),
    )
}

fn json_rows(rows: &[AuditView], names: &AuditNames) -> Value {
    let records: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            let (actor, target) = names_of(r, names);
            if let Some(o) = v.as_object_mut() {
                o.insert("actorName".into(), json!(actor));
                o.insert("targetName".into(), json!(target));
            }
            v
        })
        .collect();
    json!({ "count": rows.len(), "records": records })
}

fn csv(rows: &[AuditView], names: &AuditNames) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for r in rows {
        let (actor, target) = names_of(r, names);
        let cells = [
            r.seq.to_string(),
            r.id.to_string(),
            r.at.to_string(),
            r.actor.clone(),
            actor.unwrap_or("").to_owned(),
            r.action.clone(),
            r.target_kind.clone().unwrap_or_default(),
            r.target.map(|t| t.to_string()).unwrap_or_default(),
            target.unwrap_or("").to_owned(),
            r.outcome.clone(),
            r.request_id.clone().unwrap_or_default(),
            r.attributes.join(";"),
            r.flags.join(";"),
        ];
        let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV cell (RFC 4180 quoting). Text a spreadsheet would run as a
/// formula (a name an identity provider sent as `=HYPERLINK(…)`) starts
/// with an apostrophe instead.
pub fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("@x,y"), "\"'@x,y\"");
    }
}
