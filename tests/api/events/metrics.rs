//! Event delivery in the operational metrics (`GET /metrics`): pending
//! deliveries per stream, delivered events, failed attempts, the latency
//! from commit to delivery; labelled by stream id, never by endpoint.

use std::time::Instant;

use serde_json::json;

use super::{FAIL, Receiver, WAIT, stream};
use crate::app::TestApp;
use crate::bridge::admin;

/// `/metrics`, polled until it holds every one of `lines`.
async fn metrics_with(app: &TestApp, lines: &[String]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = app
            .client
            .get(format!("{}/metrics", app.origin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if lines.iter().all(|l| text.lines().any(|t| t == l)) {
            return text;
        }
        assert!(Instant::now() < deadline, "{lines:?} not in:\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn deliveries_are_in_the_metrics(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let rx = Receiver::start().await;
    let (live, _) = stream(&root, app, &rx.url, &["user.created"]).await;
    let (paused, _) = stream(&root, app, &rx.url, &["user.created"]).await;
    let (status, _) = root
        .patch(
            app,
            &format!("/event-streams/{paused}"),
            &json!({"status": "paused"}),
        )
        .await;
    assert_eq!(status, 200);

    rx.script(&[FAIL]);
    app.create_user("metered@example.com").await;
    rx.until(WAIT, |g| g.len() >= 2).await;
    let text = metrics_with(
        app,
        &[
            format!("scim_bridge_events_delivered_total{{stream=\"{live}\"}} 1"),
            format!("scim_bridge_event_attempts_failed_total{{stream=\"{live}\"}} 1"),
            format!("scim_bridge_event_delivery_seconds_count{{stream=\"{live}\"}} 1"),
            format!("scim_bridge_events_pending{{stream=\"{live}\"}} 0"),
            format!("scim_bridge_events_pending{{stream=\"{paused}\"}} 1"),
        ],
    )
    .await;
    assert!(text.contains("# TYPE scim_bridge_event_delivery_seconds histogram"));
    // Given up only after the retry window.
    assert!(!text.contains(&format!(
        "scim_bridge_events_failed_total{{stream=\"{live}\"}} 1"
    )));
    // Labels are stream ids: no endpoint.
    assert!(!text.contains("127.0.0.1:"), "the endpoint in the metrics");

    // A deleted stream's pending gauge falls to 0.
    let (status, _) = root.delete(app, &format!("/event-streams/{paused}")).await;
    assert_eq!(status, 204);
    metrics_with(
        app,
        &[format!(
            "scim_bridge_events_pending{{stream=\"{paused}\"}} 0"
        )],
    )
    .await;
}
crate::both_with!(deliveries_are_in_the_metrics, crate::events::loopback);
