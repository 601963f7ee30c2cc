//! Per-token and per-administrator rate limits: 429 with Retry-After.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{assert_scim_error, slow_rate, status_of};
use crate::app::{Backend, TestApp};
use crate::bridge::admin;

crate::both_with!(
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

crate::both_with!(
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

crate::both_with!(each_administrator_has_a_bucket_too, |c| {
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
