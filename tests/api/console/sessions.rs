//! Sessions: cookie flags, only the id's hash stored, idle and absolute
//! expiry (on a clock the test moves), sign-out deleting the session, a
//! disabled admin's session ending at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::Browser;
use crate::app::{Backend, TestApp};
use crate::both;
use crate::bridge::admin;

both!(the_session_cookie_is_httponly_strict_and_holds_only_a_random_id);
async fn the_session_cookie_is_httponly_strict_and_holds_only_a_random_id(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut b = Browser::new(app);
    let r = b.post("/admin/signin", &[("token", &root.token)]).await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("; Path=/admin"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let id = b.cookie.clone().unwrap();
    assert!(id.len() >= 43, "256 random bits");
    assert!(!root.token.contains(&id) && !id.contains(&root.token[..20]));

    // Behind TLS (a proxy says so), the cookie is Secure.
    let r = b
        .client
        .post(format!("{}/admin/signin", app.origin))
        .header("x-forwarded-proto", "https")
        .form(&[("token", root.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.headers());
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );

    // The database holds the id's hash, never the id.
    let dir = app.directory().await;
    use sha2::Digest;
    let hash = sha2::Sha256::digest(id.as_bytes()).to_vec();
    assert!(dir.store.session(&hash).await.unwrap().is_some());
    assert!(dir.store.session(id.as_bytes()).await.unwrap().is_none());

    // A wrong token signs nobody in.
    let mut other = Browser::new(app);
    let r = other
        .post("/admin/signin", &[("token", "not-a-token")])
        .await;
    assert_eq!(r.status(), 401);
    assert!(other.cookie.is_none());
    assert_eq!(other.get("/admin/users").await.status(), 303);
}

both!(sign_out_deletes_the_session);
async fn sign_out_deletes_the_session(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let old = b.cookie.clone().unwrap();
    let csrf = b.csrf().await;
    let r = b.post("/admin/signout", &[("_csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(b.cookie.is_none());
    // The old cookie, replayed, is nobody.
    b.cookie = Some(old);
    let r = b.get("/admin/users").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/signin");
}

both!(a_disabled_admins_session_ends_at_once);
async fn a_disabled_admins_session_ends_at_once(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let other = root
        .another(app, "other@example.com", &["USER_ADMIN"])
        .await;
    let mut b = Browser::new(app);
    b.sign_in(&other.token).await;
    assert_eq!(b.get("/admin/users").await.status(), 200);
    root.post(
        app,
        &format!("/users/{}/disable", other.id),
        &serde_json::json!({}),
    )
    .await;
    assert_eq!(b.get("/admin/users").await.status(), 303);
}

async fn with_clock(
    backend: Backend,
    idle: u64,
    absolute: u64,
) -> Option<(TestApp, Arc<AtomicI64>)> {
    let offset = Arc::new(AtomicI64::new(0));
    let o = offset.clone();
    let clock: scim_bridge::directory::Clock = Arc::new(move || {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(o.load(Ordering::SeqCst))
    });
    let app = TestApp::spawn_with_clock(
        backend,
        move |c| {
            c.console_idle_timeout_secs = idle;
            c.console_absolute_timeout_secs = absolute;
        },
        Some(clock),
    )
    .await?;
    Some((app, offset))
}

async fn expiry(backend: Backend) {
    let Some((app, offset)) = with_clock(backend, 600, 3600).await else {
        return eprintln!("PostgreSQL not configured: skipped");
    };
    let root = admin(&app, "root@example.com").await;
    let mut b = Browser::new(&app);
    b.sign_in(&root.token).await;

    // Idle: active every 9 minutes, the session lives past 10.
    for _ in 0..5 {
        offset.fetch_add(540, Ordering::SeqCst);
        assert_eq!(
            b.get("/admin/users").await.status(),
            200,
            "at {}s",
            offset.load(Ordering::SeqCst)
        );
    }
    // Absolute: at 60 minutes after sign-in it ends however active.
    offset.fetch_add(540, Ordering::SeqCst); // 54 min
    assert_eq!(b.get("/admin/users").await.status(), 200);
    offset.fetch_add(420, Ordering::SeqCst); // 61 min
    let r = b.get("/admin/users").await;
    assert_eq!(r.status(), 303, "absolute expiry");
    assert_eq!(r.headers()["location"], "/admin/signin");

    // Idle expiry: 11 minutes without a request.
    b.sign_in(&root.token).await;
    assert_eq!(b.get("/admin/users").await.status(), 200);
    offset.fetch_add(660, Ordering::SeqCst);
    assert_eq!(b.get("/admin/users").await.status(), 303, "idle expiry");
    // An expired session's POST changes nothing.
    let r = b
        .post(
            "/admin/users",
            &[
                ("_csrf", "x"),
                ("fullName", "A"),
                ("email", "a@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, list) = root.get(&app, "/users?search=a@example.com").await;
    assert_eq!(list["count"], 0);
    // Signing in cleans expired sessions out of the table.
    b.sign_in(&root.token).await;
    let count = match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_sessions")
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_sessions")
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(count, 1, "only the live session is left");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_and_absolutely_sqlite() {
    expiry(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_and_absolutely_postgres() {
    expiry(Backend::Postgres).await;
}

both!(a_browser_whose_session_ended_signs_in_and_comes_back);
async fn a_browser_whose_session_ended_signs_in_and_comes_back(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let old = b.cookie.clone().unwrap();
    let csrf = b.csrf().await;
    assert_eq!(
        b.post("/admin/signout", &[("_csrf", &csrf)]).await.status(),
        303
    );
    assert!(
        b.others.is_empty(),
        "signing out keeps no page to return to"
    );

    // The table's search refresh (htmx) of an ended session: not the
    // sign-in page swapped into the table, but a navigation to sign in.
    b.cookie = Some(old);
    let r = b.htmx_get("/admin/users?q=ann").await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["hx-redirect"], "/admin/signin");
    assert!(r.text().await.unwrap().is_empty());
    assert!(b.others.contains_key("scim_bridge_next"), "{:?}", b.others);

    // Signing in goes back to that page, once.
    let r = b.post("/admin/signin", &[("token", &root.token)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/users?q=ann");
    assert!(b.others.is_empty(), "the page to return to is used once");

    // A plain navigation is redirected as before, and remembered too.
    let mut other = Browser::new(app);
    let r = other.get("/admin/groups").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/signin");
    other.sign_in_to(&root.token, "/admin/groups").await;

    // Only a console page is returned to: a forged cookie naming another
    // site, or the sign-in page itself, leads to the users list.
    for forged in [
        "//evil.example/admin/",
        "/admin/signin",
        "https://evil.example/",
    ] {
        let mut b = Browser::new(app);
        use base64::Engine;
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
        b.others.insert("scim_bridge_next".into(), value);
        b.sign_in_to(&root.token, "/admin/users").await;
    }
}

both!(an_action_says_what_it_did_once);
async fn an_action_says_what_it_did_once(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let user = app.create_user("ann@example.com").await;
    let id = user["id"].as_str().unwrap();
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let csrf = b.csrf().await;
    let r = b
        .post(
            &format!("/admin/users/{id}/attributes"),
            &[
                ("_csrf", &csrf),
                ("op", "add"),
                ("key", "project"),
                ("value", "apollo"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = b.page(&format!("/admin/users/{id}")).await;
    let notice = r#"<div class="notices" role="status" aria-live="polite" aria-atomic="true"><p class="notice" data-ui="notice">Saved the attribute project.</p></div>"#;
    assert!(page.contains(notice), "{page}");
    assert!(b.others.is_empty(), "shown once: {:?}", b.others);
    let page = b.page(&format!("/admin/users/{id}")).await;
    assert!(!page.contains("Saved the attribute"));

    // A refusal is not a notice: the form says why, nothing is noted.
    let r = b
        .post(
            &format!("/admin/users/{id}/permissions"),
            &[("_csrf", &csrf), ("permission", "NO_SUCH_PERMISSION")],
        )
        .await;
    assert_ne!(r.status(), 303);
    assert!(b.others.is_empty());
}
