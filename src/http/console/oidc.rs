//! Sign-in at the external IAM: the OIDC authorization-code flow with PKCE
//! (S256). The issuer's discovery document names the endpoints; `state`
//! (bound to this browser by a short-lived cookie) and `nonce` are checked;
//! the ID token is verified as the admin API verifies tokens (JWKS,
//! algorithm, `iss`, `exp`, `nbf`), issued to our client id; its
//! `oidc_user_claim` names the internal account. Then a session.

use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::session::{
    NEXT_COOKIE, cookie, digest, new_session, next_page, random_token, secure, set_cookie,
};
use super::{ConsoleError, Page, assets};
use crate::http::AppState;
use crate::http::principal::{admin_for_account, oidc_account};
use crate::store::sessions::PendingLogin;

const LOGIN_COOKIE: &str = "scim_bridge_login";
/// How long a sign-in may take at the identity provider.
const LOGIN_TTL_SECS: i64 = 600;
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

pub fn enabled(state: &AppState) -> bool {
    state.oidc.is_some()
        && state
            .config
            .oidc_client_id
            .as_deref()
            .is_some_and(|c| !c.is_empty())
}

fn unavailable(m: impl std::fmt::Display) -> ConsoleError {
    tracing::warn!(%m, "OIDC sign-in failed");
    ConsoleError::Status(
        StatusCode::BAD_GATEWAY,
        "The identity provider could not be reached or answered unexpectedly. Try again.".into(),
    )
}

fn refused(m: &str) -> ConsoleError {
    ConsoleError::Status(StatusCode::UNAUTHORIZED, format!("Sign-in failed: {m}"))
}

fn client() -> Result<reqwest::Client, ConsoleError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(unavailable)
}

async fn json(resp: reqwest::Response) -> Result<Value, ConsoleError> {
    if !resp.status().is_success() {
        return Err(unavailable(format!("HTTP {}", resp.status())));
    }
    let bytes = resp.bytes().await.map_err(unavailable)?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(unavailable("document too large"));
    }
    serde_json::from_slice(&bytes).map_err(unavailable)
}

struct Endpoints {
    authorization: String,
    token: String,
}

/// The issuer's discovery document; its `issuer` must be ours exactly.
async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Endpoints, ConsoleError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc = json(http.get(&url).send().await.map_err(unavailable)?).await?;
    if doc["issuer"].as_str() != Some(issuer) {
        return Err(unavailable("the discovery document names another issuer"));
    }
    let field = |k: &str| {
        doc[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| unavailable(format!("no {k}")))
    };
    Ok(Endpoints {
        authorization: field("authorization_endpoint")?,
        token: field("token_endpoint")?,
    })
}

fn redirect_uri(state: &AppState, headers: &HeaderMap) -> String {
    let origin = crate::http::origin::origin(state, headers);
    format!("{origin}/admin/auth/callback")
}

/// Starts a sign-in: a fresh `state`, `nonce` and PKCE verifier kept in
/// the database (any replica may receive the return), `state` also in a
/// Lax cookie (it must survive the cross-site return), then off to the
/// identity provider.
pub async fn login(State(s): State<AppState>, headers: HeaderMap) -> Page {
    let (Some(oidc), Some(client_id)) = (&s.oidc, s.config.oidc_client_id.as_deref()) else {
        return Err(ConsoleError::Status(
            StatusCode::NOT_FOUND,
            "Sign-in through an identity provider is not set up.".into(),
        ));
    };
    let endpoints = discover(&client()?, oidc.issuer()).await?;
    let state = random_token();
    let nonce = random_token();
    let verifier = random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    s.dir
        .store
        .insert_login(
            &digest(&state),
            &PendingLogin {
                nonce: nonce.clone(),
                verifier,
                created: s.dir.now(),
            },
        )
        .await
        .map_err(crate::directory::Error::from)?;
    let mut url = reqwest::Url::parse(&endpoints.authorization).map_err(unavailable)?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &redirect_uri(&s, &headers))
        .append_pair("scope", "openid email profile")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut resp = Redirect::to(url.as_str()).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &state,
            "Lax",
            secure(&s, &headers),
            Some(LOGIN_TTL_SECS),
        ),
    );
    Ok(resp)
}

#[derive(Deserialize)]
pub struct Return {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Template)]
#[template(path = "console/continue.html")]
struct Continue {
    assets: &'static assets::Urls,
    /// The console page to go on to (see `session::next_page`).
    to: String,
}

/// The identity provider's return: check `state` against this browser's
/// cookie and the stored sign-in (taken once), redeem the code with the
/// verifier, verify the ID token and its `nonce`, find the account.
pub async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<Return>,
) -> Page {
    let (Some(oidc), Some(client_id)) = (&s.oidc, s.config.oidc_client_id.as_deref()) else {
        return Err(ConsoleError::Status(
            StatusCode::NOT_FOUND,
            "Sign-in through an identity provider is not set up.".into(),
        ));
    };
    if let Some(e) = r.error {
        return Err(refused(&format!(
            "the identity provider said {e}{}",
            r.error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )));
    }
    let (Some(code), Some(state)) = (r.code, r.state) else {
        return Err(refused(
            "the identity provider's answer has no code or state",
        ));
    };
    let bound = cookie(&headers, LOGIN_COOKIE)
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(state.as_bytes())));
    if !bound {
        return Err(refused("this sign-in was not started in this browser"));
    }
    let pending = s
        .dir
        .store
        .take_login(&digest(&state))
        .await
        .map_err(crate::directory::Error::from)?
        .filter(|p| (s.dir.now() - p.created).whole_seconds() <= LOGIN_TTL_SECS)
        .ok_or_else(|| refused("this sign-in has expired or was used already; start again"))?;
    let http = client()?;
    let endpoints = discover(&http, oidc.issuer()).await?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", redirect_uri(&s, &headers)),
        ("code_verifier", pending.verifier),
    ];
    let mut req = http.post(&endpoints.token);
    match s
        .config
        .oidc_client_secret
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        Some(secret) => req = req.basic_auth(client_id, Some(secret)),
        None => form.push(("client_id", client_id.to_owned())),
    }
    let tokens = json(req.form(&form).send().await.map_err(unavailable)?).await?;
    let id_token = tokens["id_token"]
        .as_str()
        .ok_or_else(|| refused("the identity provider sent no ID token"))?;
    let claims = oidc
        .verify_for(id_token, client_id)
        .await
        .map_err(|e| match e {
            crate::auth::oidc::OidcError::Rejected(m) => refused(&m),
            crate::auth::oidc::OidcError::Unavailable(m) => unavailable(m),
        })?;
    let nonce_ok = claims["nonce"]
        .as_str()
        .is_some_and(|n| bool::from(n.as_bytes().ct_eq(pending.nonce.as_bytes())));
    if !nonce_ok {
        return Err(refused("the ID token's nonce is not this sign-in's"));
    }
    let account = oidc_account(&s, oidc, &claims)
        .await
        .map_err(|e| match e.status() {
            StatusCode::UNAUTHORIZED => refused(e.message()),
            _ => e.into(),
        })?;
    let admin = admin_for_account(&s, account, &headers)
        .await
        .map_err(|_| refused("there is no enabled account for you here; ask an administrator"))?;
    let session = new_session(&s, &headers, &admin).await?;
    // A page, not a redirect: the browser arrived here from another site,
    // and a SameSite=Strict cookie travels only on a navigation this site
    // starts (the page's refresh).
    let mut resp = super::html(&Continue {
        assets: assets::urls(),
        to: next_page(&headers),
    })?;
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, session);
    h.append(
        header::SET_COOKIE,
        set_cookie(NEXT_COOKIE, "", "Lax", secure(&s, &headers), Some(0)),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, "", "Lax", secure(&s, &headers), Some(0)),
    );
    Ok(resp)
}
