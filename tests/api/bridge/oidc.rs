//! Administrators signed in at the external IAM: its JWTs checked against
//! issuer, audience and a JWKS this test generates and serves.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{admin, call};
use crate::app::TestApp;
use crate::both;

const ISSUER: &str = "https://idp.example.test";
const AUDIENCE: &str = "scim-bridge-admin-api";

pub(crate) struct Key {
    kid: &'static str,
    signing: SigningKey,
}

impl Key {
    pub(crate) fn new(kid: &'static str) -> Key {
        Key {
            kid,
            signing: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    pub(crate) fn jwk(&self) -> Value {
        let point = self.signing.verifying_key().to_encoded_point(false);
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
        })
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let pem = self
            .signing
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.to_owned());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }
}

pub(crate) fn claims(email: &str) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "idp-123", "email": email, "email_verified": true,
           "iat": now, "nbf": now, "exp": now + 600})
}

/// Serves a JWKS that the test can change, counting fetches.
pub(crate) struct Jwks {
    pub(crate) url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

pub(crate) async fn serve_jwks(initial: Value) -> Jwks {
    let keys = Arc::new(Mutex::new(initial));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (k, f) = (k.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                axum::Json(k.lock().await.clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Jwks { url, keys, fetches }
}

pub(crate) async fn spawn(app: &TestApp, jwks_url: &str, min_refresh: u64) -> TestApp {
    let url = jwks_url.to_owned();
    TestApp::spawn_with(app.backend, move |c| {
        c.oidc_issuer = Some(ISSUER.into());
        c.oidc_audience = Some(AUDIENCE.into());
        c.oidc_jwks_url = Some(url);
        c.oidc_algorithms = vec!["ES256".into()];
        c.oidc_jwks_min_refresh_secs = min_refresh;
    })
    .await
    .expect("app")
}

pub(crate) async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    call(app, reqwest::Method::GET, "/me", Some(token), None).await
}

both!(external_iam_tokens_authenticate_admins);
async fn external_iam_tokens_authenticate_admins(app: &TestApp) {
    let k1 = Key::new("k1");
    let jwks = serve_jwks(json!({"keys": [k1.jwk()]})).await;
    let app = spawn(app, &jwks.url, 0).await;
    let root = admin(&app, "root@example.com").await;

    // The claim names the account (case-insensitively); its permissions apply.
    let (status, body) = me(&app, &k1.sign(&claims("ROOT@example.com"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], root.id.as_str());
    let plain = root.new_user(&app, "Plain", "plain@example.com").await;
    let token = k1.sign(&claims("plain@example.com"));
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], plain.as_str());
    let (status, _) = call(&app, reqwest::Method::GET, "/users", Some(&token), None).await;
    assert_eq!(status, 403, "no USER_ADMIN");

    // Every check refuses on its own.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut bad: Vec<(&str, String)> = Vec::new();
    for (what, patch) in [
        ("wrong issuer", json!({"iss": "https://evil.example"})),
        ("wrong audience", json!({"aud": "someone-else"})),
        ("expired", json!({"exp": now - 3600, "nbf": now - 7200})),
        ("not yet valid", json!({"nbf": now + 3600})),
        ("unknown account", json!({"email": "nobody@example.com"})),
    ] {
        let mut c = claims("root@example.com");
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        bad.push((what, k1.sign(&c)));
    }
    for missing in ["exp", "nbf", "iss", "aud", "email"] {
        let mut c = claims("root@example.com");
        c.as_object_mut().unwrap().remove(missing);
        bad.push((missing, k1.sign(&c)));
    }
    let stranger = Key {
        kid: "k1",
        signing: SigningKey::random(&mut rand::rngs::OsRng),
    };
    bad.push((
        "signed by another key",
        stranger.sign(&claims("root@example.com")),
    ));
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("root@example.com"),
        &EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();
    bad.push(("HS256", hs));
    let mut none = k1.sign(&claims("root@example.com"));
    none.truncate(none.rfind('.').unwrap() + 1);
    bad.push(("no signature", none));
    for (what, token) in &bad {
        let (status, body) = me(&app, token).await;
        assert_eq!(status, 401, "{what}: {body}");
    }

    // A disabled account's token stops working.
    root.post(&app, &format!("/users/{plain}/disable"), &json!({}))
        .await;
    assert_eq!(me(&app, &token).await.0, 401);
    app.finish().await;
}

both!(the_jwks_is_cached_and_refreshed_on_an_unknown_key);
async fn the_jwks_is_cached_and_refreshed_on_an_unknown_key(app: &TestApp) {
    let (k1, k2) = (Key::new("k1"), Key::new("k2"));
    let jwks = serve_jwks(json!({"keys": [k1.jwk()]})).await;
    let fresh = spawn(app, &jwks.url, 0).await;
    admin(&fresh, "root@example.com").await;
    let t1 = k1.sign(&claims("root@example.com"));
    let t2 = k2.sign(&claims("root@example.com"));
    for _ in 0..3 {
        assert_eq!(me(&fresh, &t1).await.0, 200);
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1, "cached");
    assert_eq!(me(&fresh, &t2).await.0, 401, "k2 is not published yet");
    // The provider rotates: k2 joins; a token naming k2 triggers a fetch.
    *jwks.keys.lock().await = json!({"keys": [k1.jwk(), k2.jwk()]});
    assert_eq!(me(&fresh, &t2).await.0, 200);
    assert_eq!(me(&fresh, &t1).await.0, 200);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 3);
    fresh.finish().await;

    // With the default spacing, unknown key ids cannot make it fetch again
    // and again.
    let jwks = serve_jwks(json!({"keys": [k1.jwk()]})).await;
    let app2 = spawn(app, &jwks.url, 30).await;
    admin(&app2, "root@example.com").await;
    assert_eq!(me(&app2, &t1).await.0, 200);
    for _ in 0..5 {
        assert_eq!(me(&app2, &t2).await.0, 401);
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);
    app2.finish().await;

    // An unreachable JWKS is a 503, not a 401 or a crash.
    let dead = spawn(app, "http://127.0.0.1:9/jwks", 0).await;
    assert_eq!(me(&dead, &t1).await.0, 503);
    dead.finish().await;
}
