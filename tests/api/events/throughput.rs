//! Figures for docs/EVENTS.md, not run by default (`cargo test --release
//! --test api -- events::throughput --ignored --nocapture`): how fast a
//! backlog of events reaches a local receiver, and SCIM creates with one
//! enabled stream against none.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Receiver, loopback, stream};
use crate::app::{Backend, TestApp};
use crate::bridge::admin;

const BACKLOG: usize = 5_000;
const CREATES: usize = 1_000;
const CLIENTS: usize = 8;

/// Creates `n` users over Bulk, 1,000 a request.
async fn bulk_users(app: &TestApp, prefix: &str, n: usize) {
    for chunk in 0..n.div_ceil(1000) {
        let ops: Vec<_> = (0..1000.min(n - chunk * 1000))
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
                       "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                "userName": format!("{prefix}-{chunk}-{i}@example.com")}})
            })
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                          "Operations": ops});
        let r = app.post("/Bulk", &body).await;
        assert_eq!(r.status(), 200);
    }
}

/// `CREATES` users by `CLIENTS` clients at once; creates per second.
async fn creates_per_second(app: &Arc<TestApp>, prefix: &str) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let app = app.clone();
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                for i in 0..CREATES / CLIENTS {
                    app.create_user(&format!("{prefix}-{c}-{i}@example.com"))
                        .await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    CREATES as f64 / start.elapsed().as_secs_f64()
}

async fn measure(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        loopback(c);
        c.bulk_max_operations = 1000;
    })
    .await
    else {
        return;
    };
    let app = Arc::new(app);
    let root = admin(&app, "root@example.com").await;
    let none = creates_per_second(&app, "none").await;
    let rx = Receiver::start().await;
    let (id, _) = stream(&root, &app, &rx.url, &["*"]).await;
    let one = creates_per_second(&app, "one").await;
    rx.until(Duration::from_secs(120), |g| g.len() >= CREATES)
        .await;
    eprintln!(
        "{backend:?}: SCIM creates/s with no stream {none:.0}, with one enabled stream {one:.0} ({:+.1} %)",
        (one / none - 1.0) * 100.0
    );

    let path = format!("/event-streams/{id}");
    root.patch(&app, &path, &json!({"status": "paused"})).await;
    bulk_users(&app, "backlog", BACKLOG).await;
    let before = rx.got().len();
    // The backlog is fanned out (paused streams keep their events) ...
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, s) = root.get(&app, &path).await;
        if s["deliveries"]["pending"].as_u64() >= Some(BACKLOG as u64) {
            break;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ... then sent as fast as it goes.
    let start = Instant::now();
    root.patch(&app, &path, &json!({"status": "enabled"})).await;
    rx.until(Duration::from_secs(600), |g| g.len() >= before + BACKLOG)
        .await;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{backend:?}: {BACKLOG} events delivered in {secs:.1} s: {:.0}/s",
        BACKLOG as f64 / secs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn sqlite() {
    measure(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn postgres() {
    measure(Backend::Postgres).await;
}
