//! Receivers that misbehave, and endpoints a stream may not reach: a
//! receiver that redirects (the redirect is not followed, the delivery
//! fails), hangs (bounded by the 10 s timeout, while other streams and SCIM
//! writes go on), or answers 10 MB (read up to 64 KiB, the delivery
//! recorded); a stream whose endpoint is dead never holds up another;
//! internal addresses refused at creation and at delivery (SSRF) unless
//! `event_allow_private` allows them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Receiver, WAIT, deliveries_until, stream};
use crate::app::TestApp;
use crate::bridge::{admin, raw_sql};

/// A receiver answering every request with `answer`; its URL and how many
/// requests reached it.
async fn misbehaving<F, Fut>(answer: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = axum::response::Response> + Send + 'static,
{
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            answer()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// A receiver that redirects: the delivery fails with the 302 and the
/// place it points to is never called.
async fn redirects_are_not_followed(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let elsewhere = Receiver::start().await;
    let target = elsewhere.url.clone();
    let (url, hits) = misbehaving(move || {
        let target = target.clone();
        async move { (StatusCode::FOUND, [("location", target)]).into_response() }
    })
    .await;
    let (id, _) = stream(&root, app, &url, &["user.created"]).await;
    app.create_user("moved@example.com").await;
    let failed = deliveries_until(&root, app, &id, "failed", |h| !h.is_empty()).await;
    assert_eq!(failed[0]["lastStatus"], 302, "{failed:?}");
    assert!(
        failed[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{failed:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(elsewhere.got().is_empty(), "the redirect was followed");
}
crate::both_with!(redirects_are_not_followed, |c| {
    crate::events::loopback(c);
    c.event_retry_hours = 0;
});

/// A receiver that never answers: its attempt ends at the 10 s timeout
/// and is recorded; meanwhile SCIM writes are answered and another
/// stream receives every event.
async fn a_hanging_receiver_holds_up_nothing_else(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let (hang_url, hits) = misbehaving(|| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        StatusCode::NO_CONTENT.into_response()
    })
    .await;
    let (hanging, _) = stream(&root, app, &hang_url, &["user.created"]).await;
    let rx = Receiver::start().await;
    let (_, secret) = stream(&root, app, &rx.url, &["user.created"]).await;

    let first = app.create_user("first@example.com").await;
    let first = first["id"].as_str().unwrap().to_owned();
    // The hanging receiver has the first event ...
    let deadline = Instant::now() + WAIT;
    while hits.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the hanging receiver got nothing"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // ... while writes go on and the other stream gets each of them.
    let mut ids = vec![first];
    for i in 0..20 {
        let u = app.create_user(&format!("later-{i}@example.com")).await;
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    let got = rx.until(WAIT, |g| g.len() >= ids.len()).await;
    for g in &got {
        super::verified(&secret, g);
    }
    // The attempt still hangs (it has not been recorded) when the other
    // stream has everything: the two do not wait for each other.
    let (_, pending) = root
        .get(
            app,
            &format!("/event-streams/{hanging}/deliveries?status=pending"),
        )
        .await;
    let oldest = pending["hits"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(oldest["resource"], format!("User/{}", ids[0]));
    assert_eq!(oldest["attempts"], 0, "{pending}");
    // It ends at the timeout, recorded as such (and failed: no retry
    // window in this test).
    let failed = deliveries_until(&root, app, &hanging, "failed", |h| !h.is_empty()).await;
    assert_eq!(failed[0]["lastError"], "timed out", "{failed:?}");
    assert_eq!(failed[0]["lastStatus"], Value::Null);
}
crate::both_with!(a_hanging_receiver_holds_up_nothing_else, |c| {
    crate::events::loopback(c);
    c.event_retry_hours = 0;
});

/// A receiver answering 10 MB: at most 64 KiB is read, the delivery is
/// recorded with the receiver's status (delivered on 200, failed on 500),
/// and the stream goes on.
async fn a_huge_answer_is_read_bounded(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let (url, _) = misbehaving(move || {
        let first = n.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            let status = if first {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            (status, vec![b'x'; 10 * 1024 * 1024]).into_response()
        }
    })
    .await;
    let (id, _) = stream(&root, app, &url, &["user.created"]).await;
    let a = app.create_user("big-a@example.com").await;
    let failed = deliveries_until(&root, app, &id, "failed", |h| !h.is_empty()).await;
    assert_eq!(failed[0]["lastStatus"], 500);
    assert_eq!(
        failed[0]["resource"],
        format!("User/{}", a["id"].as_str().unwrap())
    );
    let b = app.create_user("big-b@example.com").await;
    let done = deliveries_until(&root, app, &id, "delivered", |h| !h.is_empty()).await;
    assert_eq!(done[0]["lastStatus"], 200);
    assert_eq!(
        done[0]["resource"],
        format!("User/{}", b["id"].as_str().unwrap())
    );
}
crate::both_with!(a_huge_answer_is_read_bounded, |c| {
    crate::events::loopback(c);
    c.event_retry_hours = 0;
});

/// Two streams, one to an endpoint nothing listens on: the other gets
/// every event, while the dead one's wait, tried and retried.
async fn a_dead_stream_never_slows_another(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let (dead, _) = stream(&root, app, &dead_url, &["*"]).await;
    let rx = Receiver::start().await;
    let (_, secret) = stream(&root, app, &rx.url, &["*"]).await;
    const USERS: usize = 60;
    for i in 0..USERS {
        app.create_user(&format!("live-{i}@example.com")).await;
    }
    let got = rx.until(WAIT, |g| g.len() >= USERS).await;
    for g in &got {
        super::verified(&secret, g);
    }
    let pending = deliveries_until(&root, app, &dead, "pending", |h| {
        h.len() == USERS && h.iter().any(|d| d["attempts"].as_i64() >= Some(1))
    })
    .await;
    let tried = pending.iter().find(|d| d["attempts"].as_i64() >= Some(1));
    assert_eq!(tried.unwrap()["lastError"], "could not connect");
}
crate::both_with!(a_dead_stream_never_slows_another, crate::events::loopback);

/// Internal addresses (loopback, private, link-local and the metadata
/// services, unique-local IPv6, `localhost`) are refused at creation with
/// a 400 naming `event_allow_private`, and nothing is created.
async fn internal_endpoints_are_refused(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    for endpoint in [
        "http://127.0.0.1:9/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.100.100.200/",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "https://hooks.localhost./hook",
        "https://0.0.0.0/hook",
        "https://2130706433/hook",
    ] {
        let body = json!({"endpoint": endpoint, "events": ["*"]});
        let (status, answer) = root.post(app, "/event-streams", &body).await;
        assert_eq!(status, 400, "{endpoint}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("internal address") && message.contains("event_allow_private"),
            "{endpoint}: {message}"
        );
    }
    // A network the operator allows.
    let body = json!({"endpoint": "https://10.20.0.5/hook", "events": ["*"]});
    let (status, answer) = root.post(app, "/event-streams", &body).await;
    assert_eq!(status, 201, "{answer}");
    let (_, list) = root.get(app, "/event-streams").await;
    assert_eq!(list["count"], 1, "{list}");
}
crate::both_with!(internal_endpoints_are_refused, |c| {
    c.event_allow_http = vec!["127.0.0.1".into()];
    c.event_allow_private = vec!["10.20.0.0/16".into()];
});

/// An endpoint that became internal after its creation (here: changed in
/// the database) is refused at each attempt, never connected to.
async fn internal_endpoints_are_refused_at_delivery(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let rx = Receiver::start().await;
    let (id, _) = stream(&root, app, &rx.url, &["user.created"]).await;
    let elsewhere = rx.url.replace("127.0.0.1", "127.0.0.2");
    raw_sql(
        app,
        &[&format!(
            "UPDATE event_streams SET endpoint = '{elsewhere}' WHERE endpoint = '{}'",
            rx.url
        )],
    )
    .await;
    app.create_user("probe@example.com").await;
    let failed = deliveries_until(&root, app, &id, "failed", |h| !h.is_empty()).await;
    let error = failed[0]["lastError"].as_str().unwrap();
    assert!(error.contains("internal address (127.0.0.2)"), "{error}");
    assert!(rx.got().is_empty());
}
crate::both_with!(internal_endpoints_are_refused_at_delivery, |c| {
    c.event_allow_http = vec!["127.0.0.1".into(), "127.0.0.2".into()];
    c.event_allow_private = vec!["127.0.0.1".into()];
    c.event_retry_hours = 0;
});

/// Delivered events are kept seven days, then deleted; failed ones stay
/// (they may be retried by hand). The server's clock is moved.
async fn delivered_events_are_kept_a_week(backend: crate::app::Backend) {
    use std::sync::atomic::AtomicI64;
    let offset = Arc::new(AtomicI64::new(0));
    let shift = offset.clone();
    let clock = Arc::new(move || {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(shift.load(Ordering::SeqCst))
    });
    let tweak = |c: &mut scim_bridge::config::Config| {
        super::loopback(c);
        c.event_retry_hours = 0;
    };
    let Some(app) = TestApp::spawn_with_clock(backend, tweak, Some(clock)).await else {
        return;
    };
    let root = admin(&app, "root@example.com").await;
    let rx = Receiver::start().await;
    let (kept, _) = stream(&root, &app, &rx.url, &["user.created"]).await;
    let (refusing, _) =
        misbehaving(|| async { StatusCode::INTERNAL_SERVER_ERROR.into_response() }).await;
    let (failing, _) = stream(&root, &app, &refusing, &["user.created"]).await;
    app.create_user("old@example.com").await;
    deliveries_until(&root, &app, &kept, "delivered", |h| h.len() == 1).await;
    deliveries_until(&root, &app, &failing, "failed", |h| h.len() == 1).await;

    // Six days on: nothing is deleted yet.
    offset.store(6 * 86_400, Ordering::SeqCst);
    let newer = app.create_user("newer@example.com").await;
    deliveries_until(&root, &app, &kept, "delivered", |h| h.len() == 2).await;
    // Eight days on: the first is more than a week old and goes; the one
    // delivered six days after it, and the failed ones, stay.
    offset.store(8 * 86_400, Ordering::SeqCst);
    let left = deliveries_until(&root, &app, &kept, "delivered", |h| h.len() == 1).await;
    assert_eq!(
        left[0]["resource"],
        format!("User/{}", newer["id"].as_str().unwrap())
    );
    assert_eq!(rx.got().len(), 2, "the receiver got both");
    // Both failed deliveries, the eight-day-old one included (waiting
    // for two: the newer one may still be on its way to failing).
    let failed = deliveries_until(&root, &app, &failing, "failed", |h| h.len() >= 2).await;
    assert_eq!(failed.len(), 2, "failed deliveries are kept: {failed:?}");
    app.finish().await;
}

mod delivered_events_are_kept_a_week {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::delivered_events_are_kept_a_week(crate::app::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::delivered_events_are_kept_a_week(crate::app::Backend::Postgres).await;
    }
}
