//! Streams over the admin API: who may manage them, what a bad request
//! gets (a clear 400, nothing created), the secret shown once, and the
//! streams' statuses.

use serde_json::json;

use super::{Receiver, WAIT, about, stream, types};
use crate::app::TestApp;
use crate::bridge::admin;

async fn refusals(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let hook = "https://hooks.example.com/in";
    for (body, says) in [
        (
            json!({"endpoint": "http://hooks.example.com/in", "events": ["*"]}),
            "https",
        ),
        (
            json!({"endpoint": "ftp://hooks.example.com/in", "events": ["*"]}),
            "https",
        ),
        (
            json!({"endpoint": "https://user:pw@hooks.example.com/", "events": ["*"]}),
            "credentials",
        ),
        (json!({"endpoint": "not a url", "events": ["*"]}), "URL"),
        (
            json!({"endpoint": hook, "events": ["user.made"]}),
            "unknown event type 'user.made'",
        ),
        (json!({"endpoint": hook, "events": []}), "'events'"),
        (json!({"endpoint": hook}), "'events'"),
        (json!({"events": ["*"]}), "'endpoint' is required"),
        (
            json!({"endpoint": hook, "events": ["*"], "iam": "nobody"}),
            "no IAM named 'nobody'",
        ),
        (
            json!({"endpoint": hook, "events": ["*"], "colour": 1}),
            "unknown member 'colour'",
        ),
        (
            json!({"endpoint": hook, "events": ["*"], "format": "jwt"}),
            "'format'",
        ),
        (
            json!({"endpoint": hook, "events": ["*"], "delivery": "poll"}),
            "'delivery'",
        ),
        (
            json!({"endpoint": hook, "events": ["*"], "full": "true"}),
            "'full' must be true or false",
        ),
        (
            json!({"endpoint": hook, "events": ["*"], "full": 1}),
            "'full' must be true or false",
        ),
        (json!(["*"]), "JSON object"),
    ] {
        let (status, answer) = root.post(app, "/event-streams", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    let (_, list) = root.get(app, "/event-streams").await;
    assert_eq!(list["count"], 0, "{list}");

    // GOVERNANCE alone may not manage streams.
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let body = json!({"endpoint": hook, "events": ["*"]});
    let (status, _) = governor.post(app, "/event-streams", &body).await;
    assert_eq!(status, 403);
    let (status, _) = governor.get(app, "/event-streams").await;
    assert_eq!(status, 403);
    // APPLICATION_ADMIN may.
    let operator = root
        .another(app, "ops@example.com", &["APPLICATION_ADMIN"])
        .await;
    let (status, created) = operator.post(app, "/event-streams", &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));

    // The secret is never shown again.
    let (_, one) = root.get(app, &format!("/event-streams/{id}")).await;
    assert!(one.get("secret").is_none(), "{one}");
    assert_eq!(
        one["deliveries"],
        json!({"pending": 0, "delivered": 0, "failed": 0})
    );
    let (_, list) = root.get(app, "/event-streams").await;
    assert_eq!(list["count"], 1);
    assert!(list["hits"][0].get("secret").is_none());

    let path = format!("/event-streams/{id}");
    let (status, answer) = root.patch(app, &path, &json!({"status": "sleeping"})).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = root
        .patch(
            app,
            "/event-streams/7f000000-0000-0000-0000-000000000000",
            &json!({"status": "paused"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = root.get(app, "/event-streams/not-an-id").await;
    assert_eq!(status, 404);
    let (status, answer) = root
        .get(app, &format!("{path}/deliveries?status=lost"))
        .await;
    assert_eq!(status, 400, "{answer}");

    // Each change is audited.
    let (status, _) = root.delete(app, &path).await;
    assert_eq!(status, 204);
    let (status, _) = root.get(app, &path).await;
    assert_eq!(status, 404);
    let auditor = root.another(app, "audit@example.com", &["AUDIT"]).await;
    let (_, log) = auditor.get(app, &format!("/audit?target={id}")).await;
    let actions: Vec<&str> = log["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"event_stream.created"), "{actions:?}");
    assert!(actions.contains(&"event_stream.deleted"), "{actions:?}");
}
crate::both!(refusals);

/// A paused stream keeps its events and sends them once enabled; a
/// disabled one drops what happens meanwhile.
async fn paused_keeps_disabled_drops(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let rx = Receiver::start().await;
    let (id, _) = stream(&root, app, &rx.url, &["user.created"]).await;
    let path = format!("/event-streams/{id}");

    let (status, answer) = root.patch(app, &path, &json!({"status": "paused"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "paused");
    let kept = app.create_user("kept@example.com").await;
    let kept = kept["id"].as_str().unwrap();
    // The event waits among the stream's deliveries, unsent.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, page) = root
            .get(app, &format!("{path}/deliveries?status=pending"))
            .await;
        if page["hits"].as_array().is_some_and(|h| h.len() == 1) {
            assert_eq!(page["hits"][0]["type"], "user.created");
            assert_eq!(page["hits"][0]["resource"], format!("User/{kept}"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(rx.got().is_empty(), "a paused stream sent");

    let (status, _) = root.patch(app, &path, &json!({"status": "disabled"})).await;
    assert_eq!(status, 200);
    let dropped = app.create_user("dropped@example.com").await;
    let dropped = dropped["id"].as_str().unwrap();
    let (status, _) = root.patch(app, &path, &json!({"status": "enabled"})).await;
    assert_eq!(status, 200);
    let after = app.create_user("after@example.com").await;
    let after = after["id"].as_str().unwrap();

    let got = rx
        .until(super::WAIT, |g| {
            !about(g, after).is_empty() && !about(g, kept).is_empty()
        })
        .await;
    assert_eq!(types(&about(&got, kept)), ["user.created"]);
    assert!(
        about(&got, dropped).is_empty(),
        "a disabled stream's event was sent"
    );
    let (_, page) = root.get(app, &format!("{path}/deliveries")).await;
    let resources: Vec<&str> = page["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["resource"].as_str().unwrap())
        .collect();
    assert_eq!(resources, [format!("User/{after}"), format!("User/{kept}")]);
}
crate::both_with!(paused_keeps_disabled_drops, crate::events::loopback);
