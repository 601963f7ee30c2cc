//! The admin console under `/admin`: server-rendered pages (askama) with
//! htmx for partial updates, calling the same directory methods as the
//! admin API, which check the same permissions (`directory::permissions`).
//! Every response carries the security headers; every state-changing
//! request must carry its session's CSRF token. It never renders a
//! credential except a new SCIM token, once.

mod access;
pub mod assets;
mod audit;
mod data_sources;
mod events;
mod groups;
mod iams;
mod metrics;
mod oidc;
mod policies;
pub mod session;
mod tags;
mod users;
mod users_bulk;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::AppState;
use super::admin::AdminError;
use crate::directory::Error;
pub use session::Who;

/// The console's routes, nested under `/admin`.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/admin/users") }))
        .route("/assets/{hash}/{name}", get(assets::serve))
        .route("/signin", get(session::signin_page).post(session::signin))
        .route("/signout", post(session::signout))
        .route("/auth/login", get(oidc::login))
        .route("/auth/callback", get(oidc::callback))
        .route("/users", get(users::list).post(users::create))
        .route("/users/bulk", post(users_bulk::bulk))
        .route("/users/export", get(users_bulk::export))
        .route("/users/{id}", get(users::page))
        .route("/users/{id}/permissions", post(users::add_permission))
        .route(
            "/users/{id}/permissions/{name}/remove",
            post(users::remove_permission),
        )
        .route("/users/{id}/attributes", post(users::change_attribute))
        .route("/users/{id}/disable", post(users::disable))
        .route("/users/{id}/enable", post(users::enable))
        .route("/users/{id}/revoke-sessions", post(users::revoke_sessions))
        .route("/users/{id}/migrate", post(users::migrate))
        .route("/users/{id}/delete", post(users::delete))
        .route("/users/{id}/access", get(access::page))
        .route("/tags", get(tags::list).post(tags::create))
        .route("/tags/{name}/delete", post(tags::delete))
        .route(
            "/data-sources",
            get(data_sources::list).post(data_sources::create),
        )
        .route("/data-sources/{id}", get(data_sources::page))
        .route("/data-sources/{id}/tags", post(data_sources::tag))
        .route("/data-sources/{id}/untag", post(data_sources::untag))
        .route("/data-sources/{id}/delete", post(data_sources::delete))
        .route("/policies", get(policies::list).post(policies::create))
        .route("/policies/new", get(policies::new))
        .route(
            "/policies/{key}",
            get(policies::page).post(policies::replace),
        )
        .route("/policies/{key}/delete", post(policies::delete))
        .route("/jobs/{id}", get(policies::job))
        .route("/groups", get(groups::list))
        .route("/groups/{id}", get(groups::page))
        .route("/groups/{id}/attributes", post(groups::change_attribute))
        .route("/iams", get(iams::list).post(iams::create))
        .route("/iams/{name}", get(iams::page))
        .route("/iams/{name}/settings", post(iams::settings))
        .route(
            "/iams/{name}/tokens",
            get(iams::tokens).post(iams::issue_token),
        )
        .route("/tokens/{id}/revoke", post(iams::revoke_token))
        .route("/event-streams", get(events::list).post(events::create))
        .route("/event-streams/{id}", get(events::page))
        .route("/event-streams/{id}/status", post(events::set_status))
        .route(
            "/event-streams/{id}/deliveries/{event}/retry",
            post(events::retry),
        )
        .route("/event-streams/{id}/delete", post(events::delete))
        .route("/audit", get(audit::list))
        .route("/audit/export", get(audit::export))
        .route("/audit/grant-self", post(audit::grant_self))
        .route("/metrics", get(metrics::page))
        .route("/metrics/download", get(metrics::download))
        .route("/ui-events", post(metrics::ui_events))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::csrf_guard,
        ))
        .layer(middleware::from_fn_with_state(
            state,
            session::signin_redirects,
        ))
        .layer(middleware::from_fn(notice_shown))
        .layer(middleware::from_fn(security_headers))
}

/// The Content-Security-Policy: scripts, styles and images from this
/// origin only (no inline script or style, no eval), no framing, forms
/// post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Adds the security headers to every `/admin` response; pages are never
/// cached (they hold the CSRF token, once a SCIM token); assets say their own.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    // same-origin, not no-referrer: with no-referrer a form POST carries
    // `Origin: null`, which the CSRF guard must refuse.
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    resp
}

/// A notice is shown once: the page that carried it clears its cookie
/// (a redirect passes it on to the page it leads to).
async fn notice_shown(req: Request, next: Next) -> Response {
    let had = session::cookie(req.headers(), session::NOTICE_COOKIE).is_some();
    let mut resp = next.run(req).await;
    let page = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if had && page && !resp.status().is_redirection() {
        resp.headers_mut().append(
            header::SET_COOKIE,
            session::set_cookie(session::NOTICE_COOKIE, "", "Strict", false, Some(0)),
        );
    }
    resp
}

/// What every page's frame shows: who is signed in, what they may open,
/// the CSRF token for htmx and forms, the asset URLs.
pub struct Chrome {
    pub csrf: String,
    pub me: String,
    pub section: &'static str,
    pub can_users: bool,
    pub can_manage: bool,
    pub can_iams: bool,
    pub can_audit: bool,
    /// The Audit section is listed: to its readers, and to a USER_ADMIN,
    /// whom it tells how to read it.
    pub show_audit: bool,
    pub can_metrics: bool,
    /// Tags, data sources and policies (GOVERNANCE, CREATE_DATA_SOURCE,
    /// FETCH_POLICY_INFO, AUDIT).
    pub can_governance: bool,
    /// Event streams (USER_ADMIN or APPLICATION_ADMIN).
    pub can_events: bool,
    pub assets: &'static assets::Urls,
    /// What the last action did, shown once (`see_other`).
    pub notice: Option<String>,
}

impl Chrome {
    pub fn new(who: &Who, section: &'static str) -> Self {
        use crate::directory::permissions::may;
        let ctx = who.admin.ctx();
        Chrome {
            csrf: who.csrf.clone(),
            me: who.user_name.clone(),
            section,
            can_users: ctx.may(may::READ_ACCOUNTS),
            can_manage: ctx.may(may::MANAGE_ACCOUNTS),
            can_iams: ctx.may(may::MANAGE_IAMS),
            can_audit: ctx.may(may::READ_AUDIT),
            show_audit: ctx.may(may::READ_AUDIT) || ctx.may(may::MANAGE_ACCOUNTS),
            can_metrics: ctx.may(may::EXPORT_METRICS),
            can_governance: ctx.may(may::READ_GOVERNANCE),
            can_events: ctx.may(may::MANAGE_EVENTS),
            assets: assets::urls(),
            notice: who.notice.clone(),
        }
    }
}

/// A console error, rendered as a page (or a redirect to sign in).
#[derive(Debug)]
pub enum ConsoleError {
    SignIn,
    Status(StatusCode, String),
}

impl From<AdminError> for ConsoleError {
    fn from(e: AdminError) -> Self {
        if e.status() == StatusCode::UNAUTHORIZED {
            ConsoleError::SignIn
        } else {
            ConsoleError::Status(e.status(), e.message().to_owned())
        }
    }
}

impl From<Error> for ConsoleError {
    fn from(e: Error) -> Self {
        AdminError::from(e).into()
    }
}

/// What a form shows next to its fields when the directory refuses what
/// was entered, and the status the page answers with. A missing
/// permission or a fault of ours is not the form's: it comes back, for
/// the error page.
fn form_error(e: Error) -> Result<(StatusCode, String), Error> {
    match e {
        Error::Forbidden(_) | Error::Internal(_) | Error::Unavailable(_) => Err(e),
        e => Ok((super::admin::status_of(&e), e.to_string())),
    }
}

/// A form's refusal placed beside the field it is about: the domain's
/// message names the field by its JSON path (`name: …`,
/// `actions.advanced: at column 7: …`), which a page maps to its fields.
#[derive(Debug, Default)]
pub struct Errors {
    field: Option<&'static str>,
    message: Option<String>,
}

impl Errors {
    /// `fields` maps path prefixes to the form's fields, the first that
    /// matches wins; a message naming no known path stays the form's.
    pub fn new(message: String, fields: &[(&str, &'static str)]) -> Errors {
        let path = message
            .split_once(": ")
            .map(|(p, _)| p)
            .filter(|p| {
                p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._[]".contains(c))
            })
            .unwrap_or("");
        let within = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        Errors {
            field: fields.iter().find(|(p, _)| within(p)).map(|(_, f)| *f),
            message: Some(message),
        }
    }

    /// The same refusal, beside `field`.
    pub fn at_field(message: String, field: &'static str) -> Errors {
        Errors {
            field: Some(field),
            message: Some(message),
        }
    }

    /// The message when it is about this field.
    pub fn at(&self, field: &str) -> Option<&str> {
        self.message
            .as_deref()
            .filter(|_| self.field == Some(field))
    }

    /// The message when it is about no one field.
    pub fn general(&self) -> Option<&str> {
        self.message.as_deref().filter(|_| self.field.is_none())
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        tracing::error!(%e, "template rendering failed");
        ConsoleError::Status(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
    assets: &'static assets::Urls,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::SignIn => Redirect::to("/admin/signin").into_response(),
            ConsoleError::Status(status, message) => {
                let page = ErrorPage {
                    status: status.as_u16(),
                    reason: status.canonical_reason().unwrap_or(""),
                    message: &message,
                    assets: assets::urls(),
                };
                match page.render() {
                    Ok(html) => (status, axum::response::Html(html)).into_response(),
                    Err(_) => status.into_response(),
                }
            }
        }
    }
}

pub type Page = Result<Response, ConsoleError>;

/// Renders a template as a page.
pub fn html(t: &impl Template) -> Page {
    Ok(axum::response::Html(t.render()?).into_response())
}

/// Renders a template with a status other than 200 (a form with errors).
pub fn html_status(status: StatusCode, t: &impl Template) -> Page {
    Ok((status, axum::response::Html(t.render()?)).into_response())
}

/// A page answering a form POST (an error, a token shown once) stands for
/// this URL: htmx shows it in the address bar, so a reload GETs the page
/// instead of the POST's address.
pub fn stands_for(mut page: Response, url: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(url) {
        page.headers_mut().insert("hx-replace-url", v);
    }
    page
}

/// A count with its noun, singular for one: "1 group", "2 groups".
pub fn counted(n: impl std::fmt::Display, one: &str, many: &str) -> String {
    let n = n.to_string();
    let noun = if n == "1" { one } else { many };
    format!("{n} {noun}")
}

/// After a change: back to a page (303, so the browser GETs it), which
/// says what was done (a notice, announced to screen readers, once).
pub fn see_other(to: &str, notice: &str) -> Page {
    let mut resp = Redirect::to(to).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            session::NOTICE_COOKIE,
            &session::encode_cookie(notice),
            "Strict",
            false,
            Some(60),
        ),
    );
    Ok(resp)
}

async fn not_found() -> ConsoleError {
    ConsoleError::Status(StatusCode::NOT_FOUND, "There is no such page.".into())
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The non-empty lines of a text box, trimmed: one tag, group or value
/// each.
pub fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
