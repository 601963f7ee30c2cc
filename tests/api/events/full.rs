//! `"full": true`: each webhook carries `data` and each SCIM create,
//! PATCH and PUT is a `…:full` SET carrying the resource, as the SCIM GET
//! answers it, as the change left it (kept in the change's transaction:
//! a later change does not show in an earlier event); without `full`,
//! nothing names anyone (`delivery`, `sets`); a `full` that is not a
//! boolean is refused (`streams::refusals`).

use std::collections::HashSet;

use serde_json::{Value, json};

use super::changes::{Made, all_webhooks_came, every_change};
use super::sets::{PROV, all_came, event, jwks, uri_of, verify};
use super::{Receiver, WAIT, about, verified};
use crate::app::TestApp;
use crate::bridge::admin;
use crate::leak;

/// The user's events that are `type`, in the order they came.
fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

async fn full_events_carry_the_resource(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let hooks = Receiver::start().await;
    let sets = Receiver::start().await;
    let (status, hook) = root
        .post(
            app,
            "/event-streams",
            &json!({"format": "webhook", "endpoint": hooks.url, "events": ["*"], "full": true}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    assert_eq!(hook["full"], true);
    let secret = hook["secret"].as_str().unwrap().to_owned();
    leak::note(leak::Kind::Token, &secret);
    let (status, set) = root
        .post(
            app,
            "/event-streams",
            &json!({"format": "set", "endpoint": sets.url, "events": ["*"], "full": true,
                    "audience": "urn:example:full"}),
        )
        .await;
    assert_eq!(status, 201, "{set}");
    let (_, listed) = root.get(app, "/event-streams").await;
    assert!(
        listed["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["full"] == true),
        "{listed}"
    );

    let made = every_change(app, &root).await;
    let Made {
        user,
        group,
        moved,
        gone,
    } = &made;

    // Webhooks: `data` is the resource as each change left it.
    let got = hooks.until(WAIT, |g| all_webhooks_came(&made, g)).await;
    for g in &got {
        verified(&secret, g);
    }
    let events = about(&got, user);
    let created = &of(&events, "user.created")[0]["data"];
    assert_eq!(created["id"], *user);
    assert_eq!(created["userName"], "ada.lovelace@example.com");
    assert_eq!(created["name"]["familyName"], "Lovelace");
    assert_eq!(created["externalId"], "ext-ada");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(
        created["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{user}")),
        "{created}"
    );
    assert!(created.get("nickName").is_none(), "{created}");
    let updates = of(&events, "user.updated");
    // The PATCH's: its nickName, not the displayName a later PUT set.
    assert_eq!(updates[0]["data"]["nickName"], "Countess");
    assert!(
        updates[0]["data"].get("displayName").is_none(),
        "{}",
        updates[0]
    );
    assert_eq!(updates[1]["data"]["displayName"], "Augusta Ada King");
    assert_eq!(updates[2]["data"]["active"], false);
    let versions: Vec<&Value> = [created, &updates[0]["data"], &updates[1]["data"]]
        .iter()
        .map(|d| &d["meta"]["version"])
        .collect();
    assert_eq!(
        versions.iter().collect::<HashSet<_>>().len(),
        3,
        "{versions:?}"
    );
    // The bridge's own changes carry the account too; a delete none.
    assert_eq!(
        of(&events, "permission.added")[0]["data"]["userName"],
        "ada.lovelace@example.com"
    );
    for e in &events {
        let data = &e["data"];
        assert!(data.get("password").is_none(), "{e}");
        if e["type"] == "user.deleted" || e["type"] == "user.deprovisioned" {
            assert!(e.get("data").is_none(), "{e}");
        } else {
            assert_eq!(data["id"], *user, "{e}");
        }
    }
    // The group: its create carries it (no members: a member's change is
    // never sent with the group), its members' changes carry nothing.
    let group_events = about(&got, group);
    assert_eq!(group_events[0]["data"]["displayName"], "Analytical Engine");
    assert!(group_events[0]["data"].get("members").is_none());
    assert_eq!(group_events[0]["data"]["meta"]["resourceType"], "Group");
    assert!(group_events[1].get("data").is_none(), "{}", group_events[1]);
    assert!(group_events[2].get("data").is_none(), "{}", group_events[2]);
    // The migration carries the account under its new name.
    let migrated = about(&got, moved);
    assert_eq!(
        of(&migrated, "user.migrated")[0]["data"]["userName"],
        "admiral.hopper@new.example"
    );
    let gone_events = about(&got, gone);
    assert_eq!(gone_events[0]["data"]["userName"], "ada.byron@example.com");
    assert!(gone_events[1].get("data").is_none());

    // SETs: `…:full` with `ref` and `data` instead of the notice.
    let keys = jwks(app).await;
    let claims_of = |got: &[super::Got]| -> Vec<Value> {
        let mut seen = HashSet::new();
        got.iter()
            .map(|g| {
                verify(
                    std::str::from_utf8(&g.body).unwrap(),
                    &keys,
                    "urn:example:full",
                )
                .expect("verified")
            })
            .filter(|c| seen.insert(c["jti"].as_str().unwrap().to_owned()))
            .collect()
    };
    let got = sets.until(WAIT, |g| all_came(&made, &claims_of(g))).await;
    let all = claims_of(&got);
    let mine: Vec<&Value> = all
        .iter()
        .filter(|c| uri_of(c) == format!("/Users/{user}"))
        .collect();
    let full = |name: &str| -> Vec<&Value> {
        let uri = format!("{PROV}{name}");
        mine.iter().filter_map(|c| event(c, &uri)).collect()
    };
    for name in ["create:notice", "patch:notice", "put:notice"] {
        assert!(full(name).is_empty(), "{name} in a full stream");
    }
    let created = full("create:full");
    assert_eq!(created[0]["data"]["userName"], "ada.lovelace@example.com");
    assert_eq!(created[0]["ref"], created[0]["data"]["meta"]["location"]);
    let patched = full("patch:full");
    assert_eq!(patched[0]["data"]["nickName"], "Countess");
    assert!(patched[0]["data"].get("displayName").is_none());
    assert_eq!(patched[1]["data"]["active"], false);
    assert_eq!(
        full("put:full")[0]["data"]["displayName"],
        "Augusta Ada King"
    );
    assert_eq!(full("delete"), [&json!({})]);
    // A member's change stays a notice naming `members`.
    let theirs: Vec<&Value> = all
        .iter()
        .filter(|c| uri_of(c) == format!("/Groups/{group}"))
        .collect();
    assert!(event(theirs[0], &format!("{PROV}create:full")).is_some());
    assert_eq!(
        event(theirs[1], &format!("{PROV}patch:notice")),
        Some(&json!({"attributes": ["members"]}))
    );
}
crate::both_with!(full_events_carry_the_resource, crate::events::sets::config);
