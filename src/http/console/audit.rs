//! Audit: the log filtered by actor, target, action and date range, paged.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use time::Date;
use time::macros::format_description;
use uuid::Uuid;

use super::{Chrome, ConsoleError, Page, Who, html, urlencode};
use crate::directory::audit_log::AuditView;
use crate::http::AppState;
use crate::store::accounts::AuditQuery;

const PAGE_SIZE: u64 = 50;

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    page: Option<u64>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    c: Chrome,
    p: Params,
    rows: Vec<AuditView>,
    count: u64,
    prev: Option<String>,
    next: Option<String>,
}

fn bad(m: &str) -> ConsoleError {
    ConsoleError::Status(StatusCode::BAD_REQUEST, m.to_owned())
}

fn day(s: &str, what: &str) -> Result<Option<Date>, ConsoleError> {
    if s.is_empty() {
        return Ok(None);
    }
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| bad(&format!("The {what} date must look like 2026-01-31.")))
}

pub async fn list(State(s): State<AppState>, who: Who, Query(p): Query<Params>) -> Page {
    let target = match p.target.trim() {
        "" => None,
        t => Some(Uuid::parse_str(t).map_err(|_| bad("The target is an id (a UUID)."))?),
    };
    let from = day(&p.from, "from")?.map(|d| d.midnight().assume_utc());
    let to = day(&p.to, "to")?.map(|d| d.midnight().assume_utc() + time::Duration::days(1));
    let page = p.page.unwrap_or(1).max(1);
    let q = AuditQuery {
        target,
        actor: Some(p.actor.trim().to_owned()).filter(|a| !a.is_empty()),
        action: Some(p.action.trim().to_owned()).filter(|a| !a.is_empty()),
        from,
        to,
        offset: (page - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
    };
    let log = s.dir.audit_log(&who.admin.ctx(), &q).await?;
    let (count, rows) = (log.count, log.hits);
    let link = |n: u64| {
        format!(
            "/admin/audit?actor={}&target={}&action={}&from={}&to={}&page={n}",
            urlencode(&p.actor),
            urlencode(&p.target),
            urlencode(&p.action),
            urlencode(&p.from),
            urlencode(&p.to)
        )
    };
    html(&AuditPage {
        c: Chrome::new(&who, "audit"),
        prev: (page > 1).then(|| link(page - 1)),
        next: (page * PAGE_SIZE < count).then(|| link(page + 1)),
        p,
        rows,
        count,
    })
}
