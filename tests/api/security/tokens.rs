//! Finding 7 (disabling is not revocation): an admin token or console
//! session outlives a disable → enable (as `admin bootstrap` does), cannot
//! be revoked alone, and may be minted for a century. Finding 13, in part
//! (the admin-token key lives in the database): a key from the environment
//! or a file replaces it, so a copy of the database cannot mint tokens.

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;
use crate::bridge::{Admin, admin, call};
use crate::console::Browser;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BRIDGE: &str = scim_bridge::scim::schema::BRIDGE_USER_SCHEMA;

/// What a token holder reaches: the admin API, `/Me` and SCIM-for-admins.
async fn reaches(app: &TestApp, token: &str, user: &str) -> [u16; 3] {
    let me = call(app, Method::GET, "/me", Some(token), None).await.0;
    let scim_me = app
        .client
        .get(format!("{}/Me", app.scim()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": format!("{BRIDGE}:disabled"), "value": false}
    ]});
    let scim_admin = app
        .client
        .patch(format!("{}/Users/{user}", app.scim()))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(patch.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    [me, scim_me, scim_admin]
}

/// Whether the browser's console session still opens a page.
async fn signed_in(b: &mut Browser) -> bool {
    let r = b.get("/admin/users").await;
    match r.status().as_u16() {
        200 => true,
        303 => {
            assert_eq!(r.headers()["location"], "/admin/signin");
            false
        }
        other => panic!("console answered {other}"),
    }
}

both!(disable_then_enable_does_not_revive_tokens_or_sessions);
async fn disable_then_enable_does_not_revive_tokens_or_sessions(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ops = admin(app, "ops@example.com").await;
    let mut browser = Browser::new(app);
    browser.sign_in(&ops.token).await;
    let target = root.new_user(app, "Target", "target@example.com").await;
    assert_eq!(reaches(app, &ops.token, &target).await, [200, 200, 200]);
    assert!(signed_in(&mut browser).await);

    let (status, body) = root
        .post(app, &format!("/users/{}/disable", ops.id), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = root
        .post(app, &format!("/users/{}/enable", ops.id), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reaches(app, &ops.token, &target).await, [401, 401, 401]);
    assert!(!signed_in(&mut browser).await, "the session ended");

    // `admin bootstrap` disables nothing but enables: its new token works,
    // the one from before the disable stays dead.
    let (status, _) = root
        .post(app, &format!("/users/{}/disable", ops.id), &json!({}))
        .await;
    assert_eq!(status, 200);
    let again = admin(app, "ops@example.com").await;
    assert_eq!(again.id, ops.id);
    assert_eq!(reaches(app, &again.token, &target).await, [200, 200, 200]);
    assert_eq!(reaches(app, &ops.token, &target).await, [401, 401, 401]);
    // Enabling an enabled account (a routine SCIM sync) revokes nothing.
    let (status, _) = root
        .post(app, &format!("/users/{}/enable", ops.id), &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(reaches(app, &again.token, &target).await, [200, 200, 200]);
}

both!(revoke_sessions_ends_one_accounts_tokens_and_sessions);
async fn revoke_sessions_ends_one_accounts_tokens_and_sessions(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ops = admin(app, "ops@example.com").await;
    let mut browser = Browser::new(app);
    browser.sign_in(&ops.token).await;
    let mut root_browser = Browser::new(app);
    root_browser.sign_in(&root.token).await;
    let target = root.new_user(app, "Target", "target@example.com").await;

    let (status, body) = root
        .post(
            app,
            &format!("/users/{}/revoke-sessions", ops.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(reaches(app, &ops.token, &target).await, [401, 401, 401]);
    assert!(!signed_in(&mut browser).await);
    // The sign-in page takes the revoked token no more.
    let r = browser
        .post("/admin/signin", &[("token", &ops.token)])
        .await;
    assert_eq!(r.status(), 401);
    // Only that account's: root's token and session go on.
    assert_eq!(reaches(app, &root.token, &target).await, [200, 200, 200]);
    assert!(signed_in(&mut root_browser).await);
    // A token issued afterwards works.
    let fresh = admin(app, "ops@example.com").await;
    assert_eq!(reaches(app, &fresh.token, &target).await, [200, 200, 200]);

    // Audited, naming who revoked whose.
    let auditor = root.another(app, "auditor@example.com", &["AUDIT"]).await;
    let (status, log) = auditor
        .get(app, "/audit?action=user.sessions_revoked")
        .await;
    assert_eq!(status, 200, "{log}");
    let hits = log["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{log}");
    assert_eq!(hits[0]["actor"], format!("user:{}", root.id));
    assert_eq!(hits[0]["target"], ops.id);

    let (status, _) = root
        .post(
            app,
            &format!("/users/{}/revoke-sessions", uuid::Uuid::new_v4()),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
}

both!(only_a_user_admin_revokes_anothers_sessions_anyone_their_own);
async fn only_a_user_admin_revokes_anothers_sessions_anyone_their_own(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let governor: Admin = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let (status, body) = governor
        .post(
            app,
            &format!("/users/{}/revoke-sessions", root.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(root.get(app, "/me").await.0, 200, "nothing was revoked");

    let (status, body) = governor
        .post(
            app,
            &format!("/users/{}/revoke-sessions", governor.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(governor.get(app, "/me").await.0, 401);
    assert_eq!(root.get(app, "/me").await.0, 200);
}

/// An HS256 admin token with these claims, signed with `key`.
fn forge(key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

both!(admin_tokens_live_thirty_days_at_most);
async fn admin_tokens_live_thirty_days_at_most(app: &TestApp) {
    let dir = app.directory().await;
    let hours = |h: i64| time::Duration::hours(h);
    let err = dir
        .bootstrap_admin("long@example.com", None, hours(876_000))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 720 hours"), "{err}");
    let none = dir
        .account_by_user_name("bim", "long@example.com")
        .await
        .unwrap();
    assert!(none.is_none(), "a refused bootstrap creates no account");
    let (id, token) = dir
        .bootstrap_admin("long@example.com", None, hours(720))
        .await
        .unwrap();
    assert_eq!(
        call(app, Method::GET, "/me", Some(&token), None).await.0,
        200
    );

    // Signed with the key, but for longer than the cap (as before it):
    // refused. A token from before generations (no `gen`) is generation
    // 0, the first, and works until the account's first bump.
    let key = dir.signing_key().await.unwrap().to_vec();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |exp: i64| {
        json!({"sub": id, "iss": "scim-bridge", "aud": "scim-bridge-admin",
               "iat": now, "nbf": now, "exp": exp, "jti": uuid::Uuid::new_v4()})
    };
    let century = forge(&key, &claims(now + 100 * 365 * 86_400));
    let old_style = forge(&key, &claims(now + 3_600));
    assert_eq!(
        call(app, Method::GET, "/me", Some(&century), None).await.0,
        401
    );
    assert_eq!(
        call(app, Method::GET, "/me", Some(&old_style), None)
            .await
            .0,
        200
    );
}

/// `scim-bridge` on this database with these extra variables.
fn cli(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SCIM_BRIDGE_") {
            cmd.env_remove(name);
        }
    }
    let out = cmd
        .args(args)
        .env("SCIM_BRIDGE_DATABASE_URL", &app.database_url)
        .envs(env.iter().copied())
        .output()
        .expect("run scim-bridge");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both!(the_cli_refuses_a_token_longer_than_thirty_days);
async fn the_cli_refuses_a_token_longer_than_thirty_days(app: &TestApp) {
    let args = |h: &'static str| {
        [
            "admin",
            "bootstrap",
            "--email",
            "ops@example.com",
            "--valid-hours",
            h,
        ]
    };
    let (ok, out, err) = cli(app, &[], &args("876000"));
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("at most 720 hours (30 days)"), "{err}");
    let (ok, out, err) = cli(app, &[], &args("720"));
    assert!(ok, "{err}");
    assert_eq!(
        call(app, Method::GET, "/me", Some(out.trim()), None)
            .await
            .0,
        200
    );
}

/// A fresh admin-token key as an operator writes it (base64), noted for
/// the leak scan; and the same bytes in hex.
fn new_key() -> (String, String) {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    crate::leak::note(crate::leak::Kind::Key, &b64);
    crate::leak::note(crate::leak::Kind::Key, &hex);
    (b64, hex)
}

/// A second server on the app's database with this configuration; stops
/// when the sender is dropped.
async fn serve(config: scim_bridge::config::Config) -> (String, tokio::sync::oneshot::Sender<()>) {
    let state = scim_bridge::build_state(config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(scim_bridge::http::serve_until(listener, state, async {
        let _ = rx.await;
    }));
    (origin, tx)
}

async fn me_at(app: &TestApp, origin: &str, token: &str) -> u16 {
    app.client
        .get(format!("{origin}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

both!(a_configured_key_replaces_the_databases);
async fn a_configured_key_replaces_the_databases(app: &TestApp) {
    // The app's own server signs with the database's key (the default).
    let (b64, hex) = new_key();
    let keyed = scim_bridge::config::Config {
        admin_token_key: Some(b64.clone()),
        ..app.config.clone()
    };
    let (origin, _stop) = serve(keyed.clone()).await;

    // `admin bootstrap` given the key in the environment (hex, the same
    // bytes): its token works on the keyed server, not on the other one.
    let (ok, out, err) = cli(
        app,
        &[("SCIM_BRIDGE_ADMIN_TOKEN_KEY", &hex)],
        &["admin", "bootstrap", "--email", "ops@example.com"],
    );
    assert!(ok, "{err}");
    let keyed_token = out.trim().to_owned();
    assert!(
        !err.contains(&hex) && !err.contains(&b64),
        "the key is never shown"
    );
    assert_eq!(me_at(app, &origin, &keyed_token).await, 200);
    assert_eq!(me_at(app, &app.origin, &keyed_token).await, 401);

    // What a copy of the database mints (with the key kept in it) is
    // refused by the keyed server.
    let from_backup = admin(app, "ops@example.com").await;
    assert_eq!(me_at(app, &app.origin, &from_backup.token).await, 200);
    assert_eq!(me_at(app, &origin, &from_backup.token).await, 401);

    // From a file, and another key: every token of the old key is refused.
    let file = std::env::temp_dir().join(format!("admin-key-{}", uuid::Uuid::new_v4()));
    let (other, _) = new_key();
    std::fs::write(&file, format!("{other}\n")).unwrap();
    let rotated = scim_bridge::config::Config {
        admin_token_key: None,
        admin_token_key_file: Some(file.clone()),
        ..keyed
    };
    let (rotated_origin, _stop_rotated) = serve(rotated.clone()).await;
    assert_eq!(me_at(app, &rotated_origin, &keyed_token).await, 401);
    let (_, token) = scim_bridge::open_directory(&rotated)
        .await
        .unwrap()
        .bootstrap_admin("ops@example.com", None, time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(me_at(app, &rotated_origin, &token).await, 200);
    assert_eq!(me_at(app, &origin, &token).await, 401);
    std::fs::remove_file(&file).unwrap();
}

/// `keyed!(name)`: `async fn name(app: &TestApp)` on both databases, each
/// on a server given an admin-token key from the start.
macro_rules! keyed {
    ($name:ident) => {
        mod $name {
            use crate::app::{Backend, TestApp};
            fn tweak(c: &mut scim_bridge::config::Config) {
                c.admin_token_key = Some(super::new_key().0);
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = TestApp::spawn_with(Backend::Sqlite, tweak).await.unwrap();
                super::$name(&app).await;
                app.finish().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = TestApp::spawn_with(Backend::Postgres, tweak).await {
                    super::$name(&app).await;
                    app.finish().await;
                }
            }
        }
    };
}

/// How many keys the database holds.
async fn stored_keys(app: &TestApp) -> i64 {
    let sql = "SELECT COUNT(*) FROM signing_keys";
    match app.backend {
        crate::app::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
        }
        crate::app::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
        }
    }
}

keyed!(a_keyed_server_never_creates_a_database_key);
async fn a_keyed_server_never_creates_a_database_key(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    assert_eq!(root.get(app, "/me").await.0, 200);
    // Paging cursors are derived from the same key: walk one page.
    let r = app
        .client
        .get(format!("{}/Users?count=1&cursor", app.scim()))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(stored_keys(app).await, 0, "no key for a backup to hold");
}
