//! Audit: the log searched by person (a name, username or email address,
//! resolved by the directory to accounts), action, and date range; actors
//! and targets by name with links; the same filter downloaded as CSV or
//! JSON through the admin API's export. A USER_ADMIN without AUDIT is told
//! what reading it takes and may grant it to itself (which is recorded).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use time::Date;
use time::macros::format_description;

use super::{Chrome, ConsoleError, Page, Who, html_status, see_other, urlencode};
use crate::directory::audit_log::AuditView;
use crate::directory::audit_search::{AuditNames, Named, NamedKind, PersonMatch};
use crate::directory::permissions::{AUDIT, may};
use crate::http::AppState;
use crate::http::admin::audit_export::{self, Format};
use crate::store::accounts::AuditQuery;

const PAGE_SIZE: u64 = 50;

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    person: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    page: Option<u64>,
    #[serde(default)]
    format: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    c: Chrome,
    p: Params,
    rows: Vec<AuditView>,
    names: AuditNames,
    /// Whom the person search stood for (None: no person asked for).
    people: Option<Vec<PersonMatch>>,
    actions: Vec<String>,
    count: u64,
    page: u64,
    pages: u64,
    first: u64,
    last: u64,
    prev: Option<String>,
    next: Option<String>,
    csv: String,
    json: String,
    error: Option<(&'static str, String)>,
    /// Account pages open to this reader (links to them).
    may_accounts: bool,
}

impl AuditPage {
    fn actor(&self, r: &AuditView) -> Option<Link> {
        self.names.actor(&r.actor).map(|n| self.link(n))
    }

    fn target(&self, r: &AuditView) -> Option<Link> {
        self.names.target(r).map(|n| self.link(n))
    }

    fn link(&self, n: &Named) -> Link {
        link(n, self.may_accounts, self.c.can_iams)
    }

    fn person_href(&self, id: &uuid::Uuid) -> String {
        self.filter_url(&id.to_string(), 1)
    }

    fn filter_url(&self, person: &str, page: u64) -> String {
        query("/admin/audit", &self.p, person, page, None)
    }
}

/// An actor or target as a page shows it: its name, a link when the
/// reader may open its page.
pub struct Link {
    pub text: String,
    pub href: Option<String>,
}

pub fn link(n: &Named, may_accounts: bool, may_iams: bool) -> Link {
    let href = match n.kind {
        NamedKind::User if may_accounts => Some(format!("/admin/users/{}", n.id)),
        NamedKind::Group if may_accounts => Some(format!("/admin/groups/{}", n.id)),
        NamedKind::Iam if may_iams => Some(format!("/admin/iams/{}", urlencode(&n.name))),
        _ => None,
    };
    Link {
        text: n.name.clone(),
        href,
    }
}

/// The audit page's address (or the export's) with this filter.
fn query(path: &str, p: &Params, person: &str, page: u64, format: Option<&str>) -> String {
    let mut pairs = Vec::new();
    if let Some(f) = format {
        pairs.push(format!("format={f}"));
    }
    for (k, v) in [
        ("person", person),
        ("action", &p.action),
        ("from", &p.from),
        ("to", &p.to),
    ] {
        if !v.trim().is_empty() {
            pairs.push(format!("{k}={}", urlencode(v.trim())));
        }
    }
    if page > 1 {
        pairs.push(format!("page={page}"));
    }
    if pairs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

fn day(s: &str, field: &'static str) -> Result<Option<Date>, (&'static str, String)> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    Date::parse(s.trim(), format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| {
            (
                field,
                format!("“{s}” is not a date: use the form 2026-01-31."),
            )
        })
}

/// The filter as the directory reads it: `to` includes its whole day.
fn filter(p: &Params) -> Result<AuditQuery, (&'static str, String)> {
    let from = day(&p.from, "from")?.map(|d| d.midnight().assume_utc());
    let to = day(&p.to, "to")?.map(|d| d.midnight().assume_utc() + time::Duration::days(1));
    if matches!((from, to), (Some(f), Some(t)) if f >= t) {
        return Err(("to", "The “to” date is before the “from” date.".to_owned()));
    }
    Ok(AuditQuery {
        action: Some(p.action.trim().to_owned()).filter(|a| !a.is_empty()),
        from,
        to,
        ..Default::default()
    })
}

fn person(p: &Params) -> Option<&str> {
    Some(p.person.trim()).filter(|s| !s.is_empty())
}

/// The action names the select offers: every workflow the server records,
/// and the one asked for if it is another.
fn actions(current: &str) -> Vec<String> {
    let mut all: Vec<String> = crate::metrics::WORKFLOWS
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    let current = current.trim();
    if !current.is_empty() {
        all.push(current.to_owned());
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// What a USER_ADMIN without AUDIT sees instead of the log.
#[derive(Template)]
#[template(path = "console/audit_closed.html")]
struct Closed {
    c: Chrome,
}

pub async fn list(State(s): State<AppState>, who: Who, Query(p): Query<Params>) -> Page {
    let ctx = who.admin.ctx();
    if !ctx.may(may::READ_AUDIT) && ctx.may_grant(AUDIT) && ctx.may(may::MANAGE_ACCOUNTS) {
        return html_status(
            StatusCode::FORBIDDEN,
            &Closed {
                c: Chrome::new(&who, "audit"),
            },
        );
    }
    let page = p.page.unwrap_or(1).max(1);
    let (q, error) = match filter(&p) {
        Ok(q) => (q, None),
        Err(e) => (AuditQuery::default(), Some(e)),
    };
    let q = AuditQuery {
        offset: (page - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
        ..q
    };
    let (rows, count, people) = if error.is_some() {
        (Vec::new(), 0, None)
    } else {
        let found = s.dir.search_audit(&ctx, person(&p), &q).await?;
        (found.page.hits, found.page.count, found.people)
    };
    let names = s.dir.audit_names(&ctx, &rows).await?;
    let pages = count.div_ceil(PAGE_SIZE).max(1);
    let first = if rows.is_empty() {
        0
    } else {
        (page - 1) * PAGE_SIZE + 1
    };
    let last = (page - 1) * PAGE_SIZE + rows.len() as u64;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let person_text = p.person.trim().to_owned();
    let mut view = AuditPage {
        c: Chrome::new(&who, "audit"),
        rows,
        names,
        people,
        actions: actions(&p.action),
        count,
        page,
        pages,
        first,
        last,
        prev: None,
        next: None,
        csv: query("/admin/audit/export", &p, &person_text, 1, Some("csv")),
        json: query("/admin/audit/export", &p, &person_text, 1, Some("json")),
        error,
        may_accounts: ctx.may(may::READ_ACCOUNTS),
        p,
    };
    view.prev = (page > 1).then(|| view.filter_url(&person_text, page - 1));
    view.next = (page * PAGE_SIZE < count).then(|| view.filter_url(&person_text, page + 1));
    html_status(status, &view)
}

/// The current filter as a file (the admin API's export).
pub async fn export(State(s): State<AppState>, who: Who, Query(p): Query<Params>) -> Page {
    let format = Format::parse(Some(p.format.as_str()))?;
    let q = filter(&p).map_err(|(_, m)| ConsoleError::Status(StatusCode::BAD_REQUEST, m))?;
    Ok(audit_export::export(&s.dir, &who.admin.ctx(), person(&p), &q, format).await?)
}

/// A USER_ADMIN grants itself AUDIT to read the log: the grant is itself
/// a record in it.
pub async fn grant_self(State(s): State<AppState>, who: Who) -> Page {
    let me = crate::directory::ids::UserId::new(who.admin.id);
    s.dir
        .add_permissions(&who.admin.ctx(), me, &[AUDIT.to_owned()])
        .await?;
    see_other(
        "/admin/audit",
        "Granted yourself AUDIT: the audit log is open to you (the grant is recorded in it).",
    )
}
