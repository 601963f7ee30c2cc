//! Sign-in through OIDC: a test identity provider (discovery, authorize,
//! token endpoint checking PKCE, JWKS) started by the test; `state` bound
//! to the browser and used once, `nonce` checked, the ID token verified.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};
use sha2::Digest;
use tokio::sync::Mutex;

use super::Browser;
use crate::app::TestApp;
use crate::both;
use crate::bridge::admin;

pub(crate) const CLIENT_ID: &str = "scim-bridge-console";

#[derive(Default)]
pub(crate) struct Provider {
    pub(crate) issuer: String,
    /// code → (challenge, nonce, redirect_uri)
    codes: HashMap<String, (String, String, String)>,
    /// Who signs in next.
    pub(crate) email: String,
    /// Sends this nonce instead of the one asked for.
    wrong_nonce: bool,
}

pub(crate) type Shared = Arc<(Mutex<Provider>, SigningKey)>;

fn jwk(key: &SigningKey) -> Value {
    let p = key.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k1",
           "x": URL_SAFE_NO_PAD.encode(p.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(p.y().unwrap())})
}

async fn discovery(State(s): State<Shared>) -> impl IntoResponse {
    let issuer = s.0.lock().await.issuer.clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
    }))
}

async fn authorize(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    let code = format!("code-{}", uuid::Uuid::new_v4());
    let redirect = q["redirect_uri"].clone();
    s.0.lock().await.codes.insert(
        code.clone(),
        (
            q["code_challenge"].clone(),
            q["nonce"].clone(),
            redirect.clone(),
        ),
    );
    Redirect::to(&format!("{redirect}?code={code}&state={}", q["state"]))
}

async fn token(
    State(s): State<Shared>,
    Form(f): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let mut p = s.0.lock().await;
    let Some((challenge, nonce, redirect)) = p.codes.remove(&f["code"]) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verified =
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(f["code_verifier"].as_bytes())) == challenge;
    if !verified || f["redirect_uri"] != redirect || f["client_id"] != CLIENT_ID {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({
        "iss": p.issuer, "aud": CLIENT_ID, "sub": "person-1", "email": p.email,
        "email_verified": true,
        "nonce": if p.wrong_nonce { "another".to_owned() } else { nonce },
        "iat": now, "nbf": now, "exp": now + 300,
    });
    let pem = s.1.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    let id_token = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap();
    axum::Json(json!({"access_token": "opaque", "token_type": "Bearer", "id_token": id_token}))
        .into_response()
}

pub(crate) async fn provider() -> Shared {
    let shared: Shared = Arc::new((
        Mutex::new(Provider::default()),
        SigningKey::random(&mut rand::rngs::OsRng),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    shared.0.lock().await.issuer = format!("http://{}", listener.local_addr().unwrap());
    let jwks = json!({"keys": [jwk(&shared.1)]});
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(discovery),
        )
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .route(
            "/jwks",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        )
        .with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    shared
}

fn login_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let rest = v.strip_prefix("scim_bridge_login=")?;
        assert!(v.contains("HttpOnly") && v.contains("SameSite=Lax"), "{v}");
        Some(rest.split(';').next()?.to_owned())
    })
}

/// Starts a sign-in; returns the login cookie and the provider's answer
/// (the callback URL with code and state).
pub(crate) async fn start(b: &mut Browser) -> (String, String) {
    let r = b.get("/admin/auth/login").await;
    assert_eq!(r.status(), 303);
    let cookie = login_cookie(&r).expect("the login cookie");
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let r = b.client.get(&to).send().await.unwrap();
    assert!(r.status().is_redirection());
    (cookie, r.headers()["location"].to_str().unwrap().to_owned())
}

pub(crate) async fn finish(b: &mut Browser, cookie: &str, callback: &str) -> reqwest::Response {
    let r = b
        .client
        .get(callback)
        .header("cookie", format!("scim_bridge_login={cookie}"))
        .send()
        .await
        .unwrap();
    b.keep(&r);
    r
}

both!(administrators_sign_in_through_oidc_with_pkce_state_and_nonce);
async fn administrators_sign_in_through_oidc_with_pkce_state_and_nonce(app: &TestApp) {
    let idp = provider().await;
    let issuer = idp.0.lock().await.issuer.clone();
    let app = TestApp::spawn_with(app.backend, {
        let issuer = issuer.clone();
        move |c| {
            c.oidc_issuer = Some(issuer.clone());
            c.oidc_audience = Some("scim-bridge-api".into());
            c.oidc_jwks_url = Some(format!("{issuer}/jwks"));
            c.oidc_algorithms = vec!["ES256".into()];
            c.oidc_client_id = Some(CLIENT_ID.into());
        }
    })
    .await
    .unwrap();
    admin(&app, "root@example.com").await;
    idp.0.lock().await.email = "ROOT@example.com".into();
    let mut b = Browser::new(&app);
    assert!(b.page("/admin/signin").await.contains("/admin/auth/login"));

    let (cookie, callback) = start(&mut b).await;
    assert!(callback.starts_with(&format!("{}/admin/auth/callback?", app.origin)));
    // Without the browser's cookie, the return is refused (and not used up).
    let mut stranger = Browser::new(&app);
    let r = finish(&mut stranger, "someone-elses", &callback).await;
    assert_eq!(r.status(), 401);
    assert!(stranger.cookie.is_none());
    // With it: a session, set on a page that then goes to the console.
    let r = finish(&mut b, &cookie, &callback).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("http-equiv=\"refresh\""));
    assert!(b.cookie.is_some());
    assert!(b.page("/admin/users").await.contains("root@example.com"));
    // A state is good once.
    let mut again = Browser::new(&app);
    assert_eq!(finish(&mut again, &cookie, &callback).await.status(), 401);

    // A wrong nonce in the ID token: refused.
    idp.0.lock().await.wrong_nonce = true;
    let mut c = Browser::new(&app);
    let (cookie, callback) = start(&mut c).await;
    let r = finish(&mut c, &cookie, &callback).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("nonce"));
    assert!(c.cookie.is_none());
    idp.0.lock().await.wrong_nonce = false;

    // Someone the bridge does not know: no session.
    idp.0.lock().await.email = "stranger@example.com".into();
    let mut d = Browser::new(&app);
    let (cookie, callback) = start(&mut d).await;
    assert_eq!(finish(&mut d, &cookie, &callback).await.status(), 401);
    assert!(d.cookie.is_none());

    // The identity provider reporting an error.
    let r = finish(
        &mut d,
        "x",
        &format!("{}/admin/auth/callback?error=access_denied", app.origin),
    )
    .await;
    assert_eq!(r.status(), 401);
    app.finish().await;
}
