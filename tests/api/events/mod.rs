//! Events out (issue 19): event streams over the admin API, and webhooks
//! pushed to a receiver in the test, signed as Standard Webhooks says
//! (checked with the `standardwebhooks` crate, not our own code), on
//! both databases.

mod bounds;
mod changes;
mod crash;
mod delivery;
mod full;
mod metrics;
mod receiver;
mod sets;
mod streams;
mod throughput;

use std::time::Duration;

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::bridge::Admin;
use crate::leak;
pub use receiver::{FAIL, Got, Receiver, Reply};

/// How long a test waits for deliveries.
pub const WAIT: Duration = Duration::from_secs(30);

/// The servers of these tests may send to the receiver over plain http,
/// on loopback (an internal address, refused unless allowed).
pub fn loopback(c: &mut scim_bridge::config::Config) {
    c.event_allow_http = vec!["127.0.0.1".into()];
    c.event_allow_private = vec!["127.0.0.1".into()];
}

/// A stream to `url` of `events`: its id and secret.
pub async fn stream(admin: &Admin, app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let (status, body) = admin
        .post(
            app,
            "/event-streams",
            &json!({"format": "webhook", "delivery": "push", "endpoint": url, "events": events}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "enabled");
    let secret = body["secret"].as_str().expect("secret").to_owned();
    leak::note(leak::Kind::Token, &secret);
    (body["id"].as_str().expect("id").to_owned(), secret)
}

/// The body of a webhook whose signature the reference implementation
/// accepts under `secret`, and whose `id` is its `webhook-id`.
pub fn verified(secret: &str, got: &Got) -> Value {
    let wh = standardwebhooks::Webhook::new(secret).expect("a secret");
    wh.verify(&got.body, &got.headers)
        .unwrap_or_else(|e| panic!("signature refused ({e:?}): {:?}", got.headers));
    let body = got.json();
    assert_eq!(body["id"], got.id(), "the body's id is the webhook-id");
    body
}

/// The events received about one resource, each once (the first time it
/// came), in the order they came.
pub fn about(got: &[Got], resource: &str) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    got.iter()
        .map(Got::json)
        .filter(|b| b["resource"]["id"] == resource)
        .filter(|b| seen.insert(b["id"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// The types of `events`.
pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A stream's deliveries of one status, polled until `done` holds.
pub async fn deliveries_until(
    root: &Admin,
    app: &TestApp,
    stream: &str,
    status: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/event-streams/{stream}/deliveries?status={status}");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (code, page) = root.get(app, &path).await;
        assert_eq!(code, 200, "{page}");
        let hits = page["hits"].as_array().cloned().unwrap_or_default();
        if done(&hits) {
            return hits;
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
