//! Limits that answer: per-token rate limits (429 + Retry-After), the
//! concurrency limit and the request deadline (503), header-read and idle
//! timeouts, body limits per route (413), the PATCH operation limit. The
//! servers get tiny limits so that nothing waits on time it need not.

use std::time::Duration;

use reqwest::Method;
use scim_bridge::config::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::{Backend, TestApp};
use crate::bridge::admin;

/// `on_both!(name, tweak)`: `async fn name(app: &TestApp)` on SQLite and
/// PostgreSQL, each on a server whose configuration `tweak` adjusted.
macro_rules! on_both {
    ($name:ident, $tweak:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::app::TestApp::spawn_with($crate::app::Backend::Sqlite, $tweak)
                    .await
                    .expect("sqlite");
                super::$name(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::app::TestApp::spawn_with($crate::app::Backend::Postgres, $tweak).await
                {
                    Some(app) => {
                        super::$name(&app).await;
                        app.finish().await;
                    }
                    None => eprintln!(
                        "SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped"
                    ),
                }
            }
        }
    };
}

/// A refill so slow that no test sees one: Retry-After is 1,000 s.
fn slow_rate(c: &mut Config) {
    c.rate_limit_per_second = 0.001;
    c.rate_limit_burst = 3;
}

async fn status_of(app: &TestApp, token: &str) -> reqwest::Response {
    app.request(Method::GET, "/Users?count=1", Some(token), None)
        .await
}

async fn assert_scim_error(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/scim+json"
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], status.to_string());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

on_both!(
    a_token_over_its_burst_gets_429_and_others_do_not,
    super::slow_rate
);
async fn a_token_over_its_burst_gets_429_and_others_do_not(app: &TestApp) {
    for _ in 0..3 {
        assert_eq!(status_of(app, &app.token).await.status(), 200);
    }
    let r = status_of(app, &app.token).await;
    assert_eq!(r.headers()["retry-after"], "1000");
    let body = assert_scim_error(r, 429).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("retry after 1000 s")
    );
    // Writes are limited alike, and a refused one changes nothing.
    let r = app
        .request(
            Method::POST,
            "/Users",
            Some(&app.token),
            Some(&json!({"userName": "refused@example.com"})),
        )
        .await;
    assert_eq!(r.status(), 429);

    // Another IAM's token, and another token of the same IAM, have buckets
    // of their own.
    let other = app.token_for_new_iam("other").await;
    assert_eq!(status_of(app, &other).await.status(), 200);
    let second = app
        .directory()
        .await
        .create_token("idp", Some("second"))
        .await
        .expect("token")
        .1;
    let r = status_of(app, &second).await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["totalResults"], 0, "the refused create wrote nothing");

    // A token that does not verify is refused as such, never limited,
    // however often it comes.
    let (shape, _) = app.token.rsplit_once('_').unwrap();
    let forged = format!("{shape}_{}", "A".repeat(43));
    for _ in 0..10 {
        assert_scim_error(status_of(app, &forged).await, 401).await;
    }
    assert_eq!(status_of(app, &app.token).await.status(), 429);
}

on_both!(
    an_iam_rate_limit_overrides_the_configured_one,
    super::slow_rate
);
async fn an_iam_rate_limit_overrides_the_configured_one(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let other = app.token_for_new_iam("other").await;
    for bad in [
        json!({"rateLimit": {"perSecond": 0, "burst": 1}}),
        json!({"rateLimit": {"perSecond": 1, "burst": 0}}),
        json!({"rateLimit": {"perSecond": -1, "burst": 5}}),
        json!({"rateLimit": {"perSecond": 1}}),
        json!({"rateLimit": {"perSecond": 1, "burst": 2, "perMinute": 3}}),
    ] {
        let (status, body) = root.put(app, "/iams/other/settings", &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = root
        .put(
            app,
            "/iams/other/settings",
            &json!({"rateLimit": {"perSecond": 0.001, "burst": 6}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rateLimit"], json!({"perSecond": 0.001, "burst": 6}));
    for i in 0..6 {
        assert_eq!(status_of(app, &other).await.status(), 200, "request {i}");
    }
    let r = status_of(app, &other).await;
    assert_eq!(r.status(), 429);
    // The configured limit still holds for the IAM without a setting.
    for _ in 0..3 {
        assert_eq!(status_of(app, &app.token).await.status(), 200);
    }
    assert_eq!(status_of(app, &app.token).await.status(), 429);
}

on_both!(each_administrator_has_a_bucket_too, |c| {
    c.admin_rate_limit_per_second = 0.001;
    c.admin_rate_limit_burst = 3;
});
async fn each_administrator_has_a_bucket_too(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let other = admin(app, "other@example.com").await;
    for _ in 0..3 {
        assert_eq!(root.get(app, "/me").await.0, 200);
    }
    let r = app
        .client
        .get(format!("{}/api/v1/me", app.origin))
        .bearer_auth(&root.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1000");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["status"], 429, "{body}");
    assert_eq!(other.get(app, "/me").await.0, 200);
    // A token that is no admin's is answered 401, as ever, however often.
    for _ in 0..5 {
        assert_eq!(
            crate::bridge::call(app, Method::GET, "/me", Some("nonsense"), None)
                .await
                .0,
            401
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_bucket_refills_after_retry_after() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.rate_limit_per_second = 4.0;
        c.rate_limit_burst = 1;
    })
    .await
    .expect("sqlite");
    assert_eq!(status_of(&app, &app.token).await.status(), 200);
    let r = status_of(&app, &app.token).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    // Poll until the bucket holds a request again: within a second, never
    // much sooner than the 250 ms one request takes to refill.
    let start = tokio::time::Instant::now();
    loop {
        let status = status_of(&app, &app.token).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(start.elapsed() < Duration::from_secs(10), "never refilled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.finish().await;
}

/// Holds the database's write lock (SQLite) or the users table (PostgreSQL)
/// so that a user create waits on it, until released.
enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    async fn hold(app: &TestApp) -> WriteLock {
        use sqlx::Connection;
        match app.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                    .await
                    .expect("sqlite");
                sqlx::raw_sql("BEGIN IMMEDIATE")
                    .execute(&mut c)
                    .await
                    .expect("lock");
                WriteLock::Sqlite(c)
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&app.database_url)
                    .await
                    .expect("postgres");
                sqlx::raw_sql("BEGIN; LOCK TABLE users IN EXCLUSIVE MODE")
                    .execute(&mut c)
                    .await
                    .expect("lock");
                WriteLock::Postgres(c)
            }
        }
    }

    async fn release(self) {
        match self {
            WriteLock::Sqlite(mut c) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap();
            }
            WriteLock::Postgres(mut c) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap();
            }
        }
    }
}

fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "emails": [{"value": name, "type": "work", "primary": true}],
    })
}

async fn users_named(app: &TestApp, name: &str) -> u64 {
    let r = app
        .get(&format!("/Users?filter=userName%20eq%20%22{name}%22"))
        .await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    list["totalResults"].as_u64().unwrap()
}

on_both!(past_the_deadline_a_create_is_503_and_not_applied, |c| {
    c.request_deadline_ms = 500;
});
async fn past_the_deadline_a_create_is_503_and_not_applied(app: &TestApp) {
    let lock = WriteLock::hold(app).await;
    let r = app.post("/Users", &user("late@example.com")).await;
    let body = assert_scim_error(r, 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("500 ms"),
        "{body}"
    );
    lock.release().await;
    // The write queue runs in order: once this create is answered, the
    // abandoned one has had its turn.
    let r = app.post("/Users", &user("after@example.com")).await;
    assert_eq!(r.status(), 201);
    assert_eq!(users_named(app, "late@example.com").await, 0);
    assert_eq!(users_named(app, "after@example.com").await, 1);
    // And it can be created now: no half of it stands in the way.
    let r = app.post("/Users", &user("late@example.com")).await;
    assert_eq!(r.status(), 201);
}

on_both!(over_the_concurrency_limit_requests_get_503_at_once, |c| {
    c.max_concurrent_requests = 1;
    c.max_queued_requests = 0;
});
async fn over_the_concurrency_limit_requests_get_503_at_once(app: &TestApp) {
    // Warm the token cache so that the probes below need no write lock.
    assert_eq!(app.get("/ServiceProviderConfig").await.status(), 200);
    let lock = WriteLock::hold(app).await;
    let busy = {
        let (client, url, token) = (app.client.clone(), app.scim(), app.token.clone());
        tokio::spawn(async move {
            client
                .post(format!("{url}/Users"))
                .bearer_auth(token)
                .header("content-type", "application/scim+json")
                .body(user("busy@example.com").to_string())
                .send()
                .await
                .expect("create")
                .status()
        })
    };
    // Until the create holds the only slot, probes pass; then they are
    // refused at once.
    let start = tokio::time::Instant::now();
    let refused = loop {
        let r = app.get("/ServiceProviderConfig").await;
        if r.status() == 503 {
            break r;
        }
        assert_eq!(r.status(), 200);
        assert!(start.elapsed() < Duration::from_secs(20), "never refused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_scim_error(refused, 503).await;
    lock.release().await;
    assert_eq!(busy.await.unwrap(), 201);
    assert_eq!(app.get("/ServiceProviderConfig").await.status(), 200);
    assert_eq!(users_named(app, "busy@example.com").await, 1);
}

/// Reads until the server closes the connection; what it sent.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open"),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_and_others_served() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.header_read_timeout_ms = 300)
        .await
        .expect("sqlite");
    let addr = app.origin.trim_start_matches("http://").to_owned();

    // Headers begun but never finished.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Nothing sent at all.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // One request answered, then idle.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    // Meanwhile others are served. (A fresh connection each: a pooled one
    // left idle longer than 300 ms on a busy machine is closed, by design.)
    let others = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let served = || async {
        others
            .get(format!("{}/Users", app.scim()))
            .bearer_auth(&app.token)
            .send()
            .await
            .expect("served")
            .status()
    };
    for _ in 0..3 {
        assert_eq!(served().await, 200);
    }
    let got = read_until_closed(&mut slow).await;
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    read_until_closed(&mut silent).await;
    let got = read_until_closed(&mut idle).await;
    assert!(got.starts_with(b"HTTP/1.1 200"), "the request was answered");
    assert_eq!(served().await, 200);
    app.finish().await;
}

on_both!(bodies_over_their_route_limit_are_413, |c| {
    c.max_body_bytes = 1024;
    c.bulk_max_payload_bytes = 4096;
});
async fn bodies_over_their_route_limit_are_413(app: &TestApp) {
    let mut big = user("big@example.com");
    big["displayName"] = json!("x".repeat(2000));
    // A resource, with and without a token (nothing is authenticated for
    // a body that is refused anyway).
    let body = assert_scim_error(app.post("/Users", &big).await, 413).await;
    assert!(body["detail"].as_str().unwrap().contains("1024 bytes"));
    let r = app.request(Method::POST, "/Users", None, Some(&big)).await;
    assert_scim_error(r, 413).await;
    // The same without a declared length (chunked).
    let chunks = futures_util::stream::iter(
        big.to_string()
            .into_bytes()
            .chunks(256)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = app
        .client
        .post(format!("{}/Users", app.scim()))
        .bearer_auth(&app.token)
        .header("content-type", "application/scim+json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_scim_error(r, 413).await;

    // /Bulk takes its maxPayloadSize: what is too large for a resource is
    // fine there, above it is not.
    let op = |i: usize| {
        json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
               "data": user(&format!("bulk{i}@example.com"))})
    };
    let bulk = |n: usize| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
               "Operations": (0..n).map(op).collect::<Vec<_>>()})
    };
    let fits = bulk(8);
    assert!(fits.to_string().len() > 1024 && fits.to_string().len() < 4096);
    assert_eq!(app.post("/Bulk", &fits).await.status(), 200);
    let body = assert_scim_error(app.post("/Bulk", &bulk(40)).await, 413).await;
    assert!(
        body["detail"].as_str().unwrap().contains("maxPayloadSize"),
        "{body}"
    );

    // The admin API answers in its own error shape.
    let root = admin(app, "root@example.com").await;
    let (status, body) = root
        .post(
            app,
            "/users",
            &json!({"userName": "big", "note": "x".repeat(2000)}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["status"], 413);
    assert_eq!(users_named(app, "big@example.com").await, 0);
}

on_both!(a_patch_over_the_operation_limit_is_refused_whole, |c| {
    c.patch_max_operations = 3;
});
async fn a_patch_over_the_operation_limit_is_refused_whole(app: &TestApp) {
    let u = app.create_user("ops@example.com").await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let ops = |n: usize| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": (0..n).map(|i| json!({"op": "replace", "path": "title",
                                                   "value": format!("t{i}")}))
                                   .collect::<Vec<_>>()})
    };
    let body = assert_scim_error(app.patch(&path, &ops(4)).await, 400).await;
    assert_eq!(body["scimType"], "tooMany");
    assert!(
        body["detail"].as_str().unwrap().contains("at most 3"),
        "{body}"
    );
    let now: Value = app.get(&path).await.json().await.unwrap();
    assert!(now.get("title").is_none(), "nothing applied: {now}");
    let r = app.patch(&path, &ops(3)).await;
    assert_eq!(r.status(), 200);
    let now: Value = r.json().await.unwrap();
    assert_eq!(now["title"], "t2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_over_their_limits_are_400() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.filter_max_length = 64;
        c.filter_max_terms = 2;
        c.filter_max_depth = 2;
    })
    .await
    .expect("sqlite");
    for filter in [
        format!("userName eq \"{}\"", "a".repeat(80)),
        "userName eq \"a\" or userName eq \"b\" or userName eq \"c\"".to_owned(),
        "(((userName eq \"a\")))".to_owned(),
    ] {
        let r = app
            .client
            .get(format!("{}/Users", app.scim()))
            .query(&[("filter", &filter)])
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        let body = assert_scim_error(r, 400).await;
        assert_eq!(body["scimType"], "invalidFilter", "{filter}: {body}");
    }
    app.finish().await;
}
