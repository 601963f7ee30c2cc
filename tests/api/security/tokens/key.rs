//! Finding 13, in part: the admin-token key from the environment or a
//! file replaces the database's, which is then never created; what a copy
//! of the database mints is refused, and a new key retires every token.

use crate::app::TestApp;
use crate::both;
use crate::bridge::admin;

use super::cli;

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

both!(config_check_checks_the_key_and_never_shows_it);
async fn config_check_checks_the_key_and_never_shows_it(app: &TestApp) {
    let (good, hex) = new_key();
    let (ok, out, err) = cli(
        app,
        &[("SCIM_BRIDGE_ADMIN_TOKEN_KEY", &good)],
        &["config", "check"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("admin_token_key = \"***\""), "{out}");
    assert!(!out.contains(&good) && !err.contains(&good));
    let short = &hex[..40];
    let (ok, out, err) = cli(
        app,
        &[("SCIM_BRIDGE_ADMIN_TOKEN_KEY", short)],
        &["config", "check"],
    );
    assert!(!ok);
    assert!(
        err.contains("admin_token_key: the key is 20 bytes long"),
        "{err}"
    );
    assert!(!out.contains(short) && !err.contains(short));
    let missing = "/nonexistent/scim-bridge-admin-key";
    let (ok, _, err) = cli(
        app,
        &[("SCIM_BRIDGE_ADMIN_TOKEN_KEY_FILE", missing)],
        &["config", "check"],
    );
    assert!(!ok);
    assert!(err.contains("admin_token_key_file: cannot read"), "{err}");
    // The CLI (and `serve`) refuse such a key rather than fall back to the
    // database's.
    let (ok, _, err) = cli(
        app,
        &[("SCIM_BRIDGE_ADMIN_TOKEN_KEY", short)],
        &["admin", "bootstrap", "--email", "x@example.com"],
    );
    assert!(!ok && err.contains("at least 32"), "{err}");
}
