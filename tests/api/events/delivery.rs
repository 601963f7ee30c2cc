//! Webhooks as a receiver gets them: one per change, signed, in order per
//! resource, with no name or address outside `data`; retried after a
//! failure, not before a 429's `Retry-After`, marked failed after the
//! retry window and sent again by hand.

use std::time::Duration;

use serde_json::{Value, json};

use super::changes::{Made, all_webhooks_came, every_change, names_no_one};
use super::{FAIL, Receiver, Reply, WAIT, about, stream, types, verified};
use crate::app::TestApp;
use crate::bridge::admin;

/// Every change a receiver must see ([`every_change`]), each checked as
/// it arrives: signature, id, type, resource, changed names, the IAM, no
/// name or address.
async fn each_change_is_a_signed_webhook(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let rx = Receiver::start().await;
    let (_, secret) = stream(&root, app, &rx.url, &["*"]).await;
    let made = every_change(app, &root).await;
    let Made {
        user: uid,
        group: gid,
        moved,
        gone,
    } = &made;

    let deleted = |t: &str| t == "user.deleted" || t == "user.deprovisioned";
    let got = rx.until(WAIT, |g| all_webhooks_came(&made, g)).await;
    for g in &got {
        let body = verified(&secret, g);
        if body["resource"]["id"] == *uid || body["resource"]["id"] == *gid {
            assert_eq!(body["iam"], "idp", "{body}");
        }
        assert!(
            body["occurredAt"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{body}"
        );
        assert!(body.get("data").is_none(), "{body}");
        names_no_one(&String::from_utf8_lossy(&g.body));
    }

    // The user's events, in the order of its changes.
    let events = about(&got, uid);
    let kinds = types(&events);
    let expected = [
        "user.created",
        "user.updated",
        "user.updated",
        "permission.added",
        "attribute.added",
        "user.disabled",
        "user.updated",
    ];
    let relevant: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|t| expected.contains(t) || deleted(t))
        .collect();
    assert_eq!(&relevant[..expected.len()], expected, "{kinds:?}");
    assert!(deleted(relevant[expected.len()]), "{kinds:?}");
    let changed =
        |i: usize| events.iter().find(|e| e["type"] == expected[i]).unwrap()["changed"].clone();
    assert_eq!(events[0]["resource"], json!({"type": "User", "id": uid}));
    assert!(
        events[0]["changed"]
            .as_array()
            .unwrap()
            .contains(&json!("userName"))
    );
    let updates: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "user.updated")
        .collect();
    assert_eq!(updates[0]["changed"], json!(["nickName"]));
    assert!(
        updates[1]["changed"]
            .as_array()
            .unwrap()
            .contains(&json!("displayName"))
    );
    assert_eq!(updates[2]["changed"], json!(["active"]));
    assert_eq!(changed(3), json!(["permissions.GOVERNANCE"]));
    assert_eq!(changed(4), json!(["attributes.clearance"]));
    assert_eq!(changed(5), json!(["disabled"]));

    // The group's: created, the member joined, then left (by id only).
    let member = json!([format!("members[value eq \"{uid}\"]")]);
    let group_events = about(&got, gid);
    assert_eq!(
        types(&group_events),
        [
            "group.created",
            "group.member_added",
            "group.member_removed"
        ]
    );
    assert_eq!(
        group_events[0]["resource"],
        json!({"type": "Group", "id": gid})
    );
    assert_eq!(group_events[1]["changed"], member);
    assert_eq!(group_events[2]["changed"], member);

    // The migration, under the IAM it moved to; the permanent delete.
    let migrated = about(&got, moved);
    let migrated = migrated
        .iter()
        .find(|e| e["type"] == "user.migrated")
        .unwrap();
    assert_eq!(migrated["resource"], json!({"type": "User", "id": moved}));
    assert_eq!(migrated["iam"], "okta", "the IAM it moved to");
    assert_eq!(types(&about(&got, gone)), ["user.created", "user.deleted"]);
}
crate::both_with!(each_change_is_a_signed_webhook, crate::events::loopback);

/// A receiver that fails gets the same event (same id) again, after a
/// backoff; one that answers 429 with `Retry-After: 5` is not called again
/// before 5 s. The deliveries list says what happened.
async fn failures_are_retried(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let rx = Receiver::start().await;
    let (id, secret) = stream(&root, app, &rx.url, &["user.created"]).await;

    rx.script(&[FAIL]);
    let first = app.create_user("first@example.com").await;
    let first = first["id"].as_str().unwrap();
    let got = rx.until(WAIT, |g| g.len() >= 2).await;
    assert_eq!(got[0].id(), got[1].id(), "the same event again");
    verified(&secret, &got[1]);
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(900),
        "retried at once"
    );

    rx.script(&[Reply {
        status: 429,
        retry_after: Some(5),
    }]);
    let second = app.create_user("second@example.com").await;
    let second = second["id"].as_str().unwrap();
    let got = rx.until(WAIT, |g| g.len() >= 4).await;
    assert_eq!(got[2].id(), got[3].id());
    assert!(
        got[3].at - got[2].at >= Duration::from_secs(5),
        "Retry-After not honoured"
    );

    // Recorded once the receiver's answer is in (polled: the receiver
    // may hold the event a moment before the worker records it).
    let hits = super::deliveries_until(&root, app, &id, "delivered", |h| h.len() == 2).await;
    assert_eq!(hits[0]["resource"], format!("User/{second}"));
    assert_eq!(hits[0]["attempts"], 2);
    assert_eq!(hits[0]["lastStatus"], 204);
    assert_eq!(hits[1]["resource"], format!("User/{first}"));
    assert_eq!(hits[1]["attempts"], 2);
}
crate::both_with!(failures_are_retried, crate::events::loopback);

/// With no retry window, a failed delivery is marked failed at once;
/// sent again by hand, it arrives.
async fn failed_deliveries_are_kept_for_a_retry(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let rx = Receiver::start().await;
    let (id, secret) = stream(&root, app, &rx.url, &["user.created", "user.updated"]).await;
    rx.script(&[FAIL]);
    let user = app.create_user("late@example.com").await;
    let uid = user["id"].as_str().unwrap();
    let path = format!("/event-streams/{id}/deliveries");
    let deadline = std::time::Instant::now() + WAIT;
    let failed = loop {
        let (_, page) = root.get(app, &format!("{path}?status=failed")).await;
        if let Some(hit) = page["hits"].as_array().and_then(|h| h.first()) {
            break hit.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(failed["lastStatus"], 500);
    assert_eq!(failed["lastError"], "HTTP 500");
    assert_eq!(failed["nextTry"], Value::Null);
    let event = failed["eventId"].as_str().unwrap();

    // A pending or delivered event has nothing to retry.
    let (status, _) = root
        .post(
            app,
            &format!("{path}/7f000000-0000-0000-0000-000000000000/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, answer) = root
        .post(app, &format!("{path}/{event}/retry"), &json!({}))
        .await;
    assert_eq!(status, 202, "{answer}");
    let got = rx.until(WAIT, |g| g.len() >= 2).await;
    assert_eq!(got[1].id(), event);
    assert_eq!(verified(&secret, &got[1])["resource"]["id"], uid);
}
crate::both_with!(failed_deliveries_are_kept_for_a_retry, |c| {
    crate::events::loopback(c);
    c.event_retry_hours = 0;
});
