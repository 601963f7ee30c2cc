//! Console sessions: a random id in an HttpOnly, SameSite=Strict cookie
//! (Secure behind TLS), its SHA-256 in the database with the account, a
//! CSRF token, the sign-in time (absolute expiry) and the last request
//! (idle expiry). Sign-in with a bootstrap admin token or through OIDC.
//! A request's session is found once, by authentication (`principal`).

use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::Duration;

use super::{ConsoleError, Page, assets, html_status};
use crate::http::AppState;
use crate::http::admin::AdminError;
use crate::http::principal::{Admin, Principal, admin_by_bearer, admin_for_account};
use crate::store::sessions::Session;

pub const SESSION_COOKIE: &str = "scim_bridge_session";
/// The console page a browser was on when it was sent to sign in, to
/// return to after (base64url of its path and query).
pub const NEXT_COOKIE: &str = "scim_bridge_next";
/// What the last action did, shown once on the page it led to
/// (base64url of the sentence; see `super::see_other`).
pub const NOTICE_COOKIE: &str = "scim_bridge_notice";
/// Sessions are touched at most this often (a write per request would be
/// a write per click); idle expiry is exact to within this.
const TOUCH_EVERY: Duration = Duration::seconds(30);

/// A live console session, as authentication found it.
#[derive(Clone)]
pub struct ConsoleSession {
    /// The SHA-256 of the session's id: what signing out deletes.
    pub id_hash: Vec<u8>,
    /// What every state-changing request must carry (see `csrf_guard`).
    pub csrf: String,
    /// The account's userName, for the page's frame.
    pub user_name: String,
    /// The account as an administrator now: refused once it is disabled,
    /// deleted or its sessions revoked, though the session itself is
    /// still found (and its CSRF token still checked first).
    pub admin: Result<Admin, AdminError>,
}

/// A signed-in administrator, for a console page.
pub struct Who {
    pub admin: Admin,
    pub user_name: String,
    pub csrf: String,
    pub id_hash: Vec<u8>,
    /// What the action before this page did (the notice cookie), once.
    pub notice: Option<String>,
}

impl Who {
    /// Whether the administrator holds one of these permissions (see
    /// `directory::permissions::may`): what a page offers, not what the
    /// directory will allow, which it decides for itself.
    pub fn may(&self, any_of: &[&str]) -> bool {
        self.admin.ctx().may(any_of)
    }
}

pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn digest(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A short text as a cookie value (base64url: no `;`, `,` or spaces).
pub fn encode_cookie(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

/// The text `encode_cookie` made, if the value is one.
pub fn decode_cookie(value: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    String::from_utf8(bytes).ok().filter(|t| !t.is_empty())
}

/// Whether a path is a console page a sign-in may continue to: ours,
/// not the sign-in itself, and no way off this site (`//host`, `\\`).
fn is_console_page(path: &str) -> bool {
    path.starts_with("/admin/")
        && !path.starts_with("/admin/signin")
        && !path.starts_with("/admin/auth/")
        && !path.starts_with("/admin/assets/")
        && !path.contains("//")
        && !path.contains('\\')
        && path.len() <= 1024
        && path.bytes().all(|b| b.is_ascii_graphic())
}

/// Where a sign-in continues: the page the browser was on when it was
/// sent to sign in, else the users list.
pub fn next_page(headers: &HeaderMap) -> String {
    cookie(headers, NEXT_COOKIE)
        .and_then(decode_cookie)
        .filter(|p| is_console_page(p))
        .unwrap_or_else(|| "/admin/users".to_owned())
}

/// The console page a request was made from or for: a GET's own URL, else
/// the page htmx says it was on.
fn requested_page(req: &Request) -> Option<String> {
    let page = if req.method() == Method::GET {
        // Nested under /admin, the request's own URI has lost the prefix.
        let uri = match req.extensions().get::<axum::extract::OriginalUri>() {
            Some(original) => &original.0,
            None => req.uri(),
        };
        uri.path_and_query()?.as_str().to_owned()
    } else {
        let url = req.headers().get("hx-current-url")?.to_str().ok()?;
        let rest = url.split_once("://")?.1;
        rest[rest.find('/')?..].to_owned()
    };
    is_console_page(&page).then_some(page)
}

/// A browser sent to sign in (no session, or it expired or was revoked)
/// comes back to where it was: the page is kept in a cookie for the
/// sign-in to continue to. An htmx request (a boosted link or form, a
/// table refresh) would follow the redirect itself and swap the sign-in
/// page into a table: it is told to navigate instead (`HX-Redirect`).
pub async fn signin_redirects(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let htmx = req.headers().contains_key("hx-request");
    let from = requested_page(&req);
    let secure = secure(&state, req.headers());
    let resp = next.run(req).await;
    let to_signin = resp.status().is_redirection()
        && resp
            .headers()
            .get(header::LOCATION)
            .is_some_and(|l| l == "/admin/signin");
    if !to_signin {
        return resp;
    }
    let mut resp = if htmx {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut()
            .insert("hx-redirect", HeaderValue::from_static("/admin/signin"));
        r
    } else {
        resp
    };
    if let Some(page) = from {
        resp.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(
                NEXT_COOKIE,
                &encode_cookie(&page),
                "Lax",
                secure,
                Some(3600),
            ),
        );
    }
    resp
}

/// Whether cookies must be Secure: the server serves TLS itself, the
/// public URL is https, or a proxy in front says the request came over TLS.
pub fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    let public_https = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    public_https || forwarded || state.config.tls_cert.is_some()
}

/// A `Set-Cookie` value: HttpOnly, Path=/admin, the given SameSite.
pub fn set_cookie(
    name: &str,
    value: &str,
    same_site: &str,
    secure: bool,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/admin; HttpOnly; SameSite={same_site}");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).expect("cookie values are URL-safe base64")
}

/// The live session a request's cookie names, if any: an expired one is
/// deleted and counts as none.
async fn load(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Vec<u8>, Session)>, AdminError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = digest(id);
    let store = &state.dir.store;
    let Some(session) = store
        .session(&hash)
        .await
        .map_err(crate::directory::Error::from)?
    else {
        return Ok(None);
    };
    let now = state.dir.now();
    let idle = Duration::seconds(state.config.console_idle_timeout_secs as i64);
    let absolute = Duration::seconds(state.config.console_absolute_timeout_secs as i64);
    if now - session.last_seen > idle || now - session.created > absolute {
        store
            .delete_session(&hash)
            .await
            .map_err(crate::directory::Error::from)?;
        return Ok(None);
    }
    if now - session.last_seen > TOUCH_EVERY {
        store
            .touch_session(&hash, now)
            .await
            .map_err(crate::directory::Error::from)?;
    }
    Ok(Some((hash, session)))
}

/// The principal a request's session cookie makes (for `principal`): none
/// without a live session.
pub async fn principal(state: &AppState, headers: &HeaderMap) -> Principal {
    let (id_hash, session) = match load(state, headers).await {
        Ok(Some(found)) => found,
        Ok(None) => return Principal::Anonymous,
        Err(e) => return Principal::Refused(e),
    };
    let account = state
        .dir
        .store
        .account(session.account_id)
        .await
        .map_err(|e| AdminError::from(crate::directory::Error::from(e)));
    // A session from before the account's last revoke (or disable, or
    // enable) is over, even if it was signed in while that happened.
    let account = account.map(|a| a.filter(|a| a.token_generation == session.token_generation));
    let user_name = match &account {
        Ok(Some(a)) => a.user_name.clone(),
        _ => String::new(),
    };
    let admin = match account {
        Ok(account) => admin_for_account(state, account, headers).await,
        Err(e) => Err(e),
    };
    Principal::ConsoleSession(ConsoleSession {
        id_hash,
        csrf: session.csrf,
        user_name,
        admin,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::ConsoleSession(s)) => Ok(Who {
                admin: s.admin.clone()?,
                user_name: s.user_name.clone(),
                csrf: s.csrf.clone(),
                id_hash: s.id_hash.clone(),
                notice: cookie(&parts.headers, NOTICE_COOKIE).and_then(decode_cookie),
            }),
            Some(Principal::Refused(e)) => Err(e.clone().into()),
            _ => Err(ConsoleError::SignIn),
        }
    }
}

/// The origin this server is reached at, as browsers send it in `Origin`.
fn own_origin(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let origin = crate::http::origin::origin(state, headers);
    let (scheme, rest) = origin.split_once("://")?;
    let authority = rest.split('/').next()?;
    // Without public_url, behind a TLS terminator, the browser's origin is
    // https while this server speaks plain HTTP: the scheme is the browser's.
    let scheme = match state.config.public_url {
        Some(_) => scheme,
        None if secure(state, headers) => "https",
        None => "http",
    };
    Some(format!("{scheme}://{authority}"))
}

fn refuse(message: &str) -> Response {
    ConsoleError::Status(StatusCode::FORBIDDEN, message.to_owned()).into_response()
}

/// Every state-changing request: a browser's `Origin`, when sent, must be
/// ours; and but for signing in, the request must carry its session's
/// CSRF token (the `X-CSRF-Token` header htmx sends, or the `_csrf` field
/// of a form).
pub async fn csrf_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .ok()
            .is_some_and(|o| Some(o.to_owned()) == own_origin(&state, req.headers()));
        if !ok {
            return refuse("This request came from another site and was refused.");
        }
    }
    if req.uri().path().ends_with("/signin") {
        return next.run(req).await;
    }
    let csrf = match req.extensions().get::<Principal>() {
        Some(Principal::ConsoleSession(s)) => s.csrf.clone(),
        Some(Principal::Refused(e)) => return ConsoleError::from(e.clone()).into_response(),
        _ => return Redirect::to("/admin/signin").into_response(),
    };
    let header_token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = req.into_parts();
    let limit = state.config.max_body_bytes;
    let bytes = match crate::http::limits::read_capped(body, limit, &state.config).await {
        Some(b) => b,
        None => {
            return ConsoleError::Status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is too large.".into(),
            )
            .into_response();
        }
    };
    let presented = header_token.or_else(|| {
        let text = std::str::from_utf8(&bytes).ok()?;
        crate::http::extract::serde_urlencoded_pairs(text)?
            .into_iter()
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v)
    });
    let valid = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(csrf.as_bytes())));
    if !valid {
        return refuse(
            "This form has expired or did not come from this console. Reload the page and try again.",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Starts a session for an account: a fresh id (only its hash is kept)
/// and CSRF token. Returns the `Set-Cookie` value.
pub async fn new_session(
    state: &AppState,
    headers: &HeaderMap,
    admin: &Admin,
) -> Result<HeaderValue, ConsoleError> {
    let now = state.dir.now();
    let store = &state.dir.store;
    let idle = Duration::seconds(state.config.console_idle_timeout_secs as i64);
    let absolute = Duration::seconds(state.config.console_absolute_timeout_secs as i64);
    store
        .delete_expired_sessions(now - idle, now - absolute)
        .await
        .map_err(crate::directory::Error::from)?;
    let id = random_token();
    store
        .insert_session(
            &digest(&id),
            &Session {
                account_id: admin.id,
                csrf: random_token(),
                created: now,
                last_seen: now,
                token_generation: admin.token_generation,
            },
        )
        .await
        .map_err(crate::directory::Error::from)?;
    Ok(set_cookie(
        SESSION_COOKIE,
        &id,
        "Strict",
        secure(state, headers),
        None,
    ))
}

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SignInPage<'a> {
    assets: &'static assets::Urls,
    oidc: bool,
    error: Option<&'a str>,
}

pub async fn signin_page(State(state): State<AppState>) -> Page {
    super::html(&SignInPage {
        assets: assets::urls(),
        oidc: super::oidc::enabled(&state),
        error: None,
    })
}

#[derive(serde::Deserialize)]
pub struct TokenForm {
    token: String,
}

/// Sign-in with a bootstrap admin token (`scim-bridge admin bootstrap`),
/// or an identity provider's JWT, checked as the admin API checks it.
pub async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<TokenForm>,
) -> Page {
    let mut with_bearer = HeaderMap::new();
    let bearer = format!("Bearer {}", form.token.trim());
    let refused = |message: &str| {
        html_status(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                assets: assets::urls(),
                oidc: super::oidc::enabled(&state),
                error: Some(message),
            },
        )
    };
    let Ok(value) = HeaderValue::from_str(&bearer) else {
        return refused("That is not an admin token.");
    };
    with_bearer.insert(header::AUTHORIZATION, value);
    match admin_by_bearer(&state, &with_bearer).await {
        Ok(admin) => {
            let cookie = new_session(&state, &headers, &admin).await?;
            let mut resp = Redirect::to(&next_page(&headers)).into_response();
            let h = resp.headers_mut();
            h.append(header::SET_COOKIE, cookie);
            h.append(
                header::SET_COOKIE,
                set_cookie(NEXT_COOKIE, "", "Lax", secure(&state, &headers), Some(0)),
            );
            Ok(resp)
        }
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            refused("That token is not valid, or its account is disabled.")
        }
        Err(e) => Err(e.into()),
    }
}

/// Ends the session: deleted on the server, the cookie cleared.
pub async fn signout(State(state): State<AppState>, headers: HeaderMap, who: Who) -> Page {
    state
        .dir
        .store
        .delete_session(&who.id_hash)
        .await
        .map_err(crate::directory::Error::from)?;
    let mut resp = Redirect::to("/admin/signin").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            "",
            "Strict",
            secure(&state, &headers),
            Some(0),
        ),
    );
    Ok(resp)
}
