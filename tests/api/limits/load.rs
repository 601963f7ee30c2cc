//! The concurrency limit and the request deadline: 503, nothing half-applied.

use std::time::Duration;

use super::{WriteLock, assert_scim_error, user, users_named};
use crate::app::TestApp;

crate::both_with!(past_the_deadline_a_create_is_503_and_not_applied, |c| {
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

crate::both_with!(over_the_concurrency_limit_requests_get_503_at_once, |c| {
    c.max_concurrent_requests = 1;
    c.max_queued_requests = 0;
});
async fn over_the_concurrency_limit_requests_get_503_at_once(app: &TestApp) {
    // Warm the token cache so that the probes below need no write lock.
    assert_eq!(app.get("/ServiceProviderConfig").await.status(), 200);
    let lock = WriteLock::hold(app).await;
    let busy = {
        let (client, url, token) = (app.client.clone(), app.scim(), app.token.clone());
        // A probe may hold the only slot at the moment the create comes:
        // then the create is the one refused (no queue), and it tries again.
        tokio::spawn(async move {
            loop {
                let status = client
                    .post(format!("{url}/Users"))
                    .bearer_auth(&token)
                    .header("content-type", "application/scim+json")
                    .body(user("busy@example.com").to_string())
                    .send()
                    .await
                    .expect("create")
                    .status();
                if status != 503 {
                    break status;
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
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
