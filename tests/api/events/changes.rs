//! Every change a receiver must see, made once here for each format that
//! receives them (webhooks in `delivery`, Security Event Tokens in `sets`,
//! the resource itself in `full`), so that each test checks how its format
//! tells the same changes, not a copy of the changes.

use serde_json::{Value, json};

use super::{Got, about, types};
use crate::app::TestApp;
use crate::bridge::Admin;

pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// What names a person in [`every_change`]: no event of a stream without
/// `full` carries any of it.
pub const PRIVATE: [&str; 9] = [
    "ada.lovelace",
    "Lovelace",
    "Countess",
    "Augusta",
    "grace",
    "hopper",
    "admiral",
    "ada.byron",
    "@example.com",
];

/// The resources [`every_change`] changed.
pub struct Made {
    /// Created by the identity provider `idp` (`externalId` `ext-ada`),
    /// PATCHed (`nickName`), PUT (`displayName`), given a permission
    /// (`GOVERNANCE`) and an attribute (`clearance`), disabled by an
    /// administrator, deactivated by SCIM (`active` false), in and out
    /// of `group`, then deleted by SCIM.
    pub user: String,
    /// Created with `user` as its member, who is then removed.
    pub group: String,
    /// Created by `idp`, then migrated to the IAM `okta`.
    pub moved: String,
    /// Created by `idp`, then deleted for good by an administrator.
    pub gone: String,
}

/// Makes every kind of change a receiver must see, in this order: the
/// user's create, PATCH, PUT, permission grant, attribute, disable and
/// SCIM deactivation; the group created with the user and the user
/// removed; the user's SCIM DELETE; a migration; a permanent delete.
pub async fn every_change(app: &TestApp, root: &Admin) -> Made {
    let (status, answer) = root.post(app, "/iams", &json!({"name": "okta"})).await;
    assert_eq!(status, 201, "{answer}");
    let r = app
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "ada.lovelace@example.com", "externalId": "ext-ada",
                    "name": {"givenName": "Ada", "familyName": "Lovelace"},
                    "emails": [{"value": "ada.lovelace@example.com", "primary": true}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let user = created["id"].as_str().unwrap().to_owned();
    let users = format!("/Users/{user}");
    let r = app
        .patch(
            &users,
            &patch(json!([{"op": "replace", "path": "nickName", "value": "Countess"}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut doc = created.clone();
    doc["displayName"] = json!("Augusta Ada King");
    assert_eq!(app.put(&users, &doc).await.status(), 200);
    let (status, answer) = root
        .post(
            app,
            &format!("/users/{user}/permissions"),
            &json!({"permissions": ["GOVERNANCE"]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = root
        .patch(
            app,
            &format!("/users/{user}/attributes"),
            &json!({"operations": [{"op": "add", "name": "clearance", "values": ["secret"]}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = root
        .post(app, &format!("/users/{user}/disable"), &json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let r = app
        .patch(
            &users,
            &patch(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let g = app.create_group("Analytical Engine", &[&user]).await;
    let group = g["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/Groups/{group}"),
            &patch(json!([{"op": "remove", "path": format!("members[value eq \"{user}\"]")}])),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(app.delete(&users).await.status(), 204);

    let moved = app.create_user("grace.hopper@example.com").await;
    let moved = moved["id"].as_str().unwrap().to_owned();
    let (status, view) = root
        .post(
            app,
            &format!("/users/{moved}/migrate"),
            &json!({"iam": "okta", "userName": "admiral.hopper@new.example"}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    let gone = app.create_user("ada.byron@example.com").await;
    let gone = gone["id"].as_str().unwrap().to_owned();
    let (status, answer) = root
        .delete(app, &format!("/users/{gone}?confirm=Delete"))
        .await;
    assert_eq!(status, 204, "{answer}");
    Made {
        user,
        group,
        moved,
        gone,
    }
}

/// Panics when `text` (an event as received) names a person.
pub fn names_no_one(text: &str) {
    for private in PRIVATE {
        assert!(!text.contains(private), "{private} in {text}");
    }
}

/// Whether the webhooks in `got` tell the last change of each resource
/// [`every_change`] made: the user's SCIM delete (`user.deleted` or
/// `user.deprovisioned`, as the IAM's `deleteMode` says), the member's
/// leaving the group, the migration, the permanent delete.
pub fn all_webhooks_came(m: &Made, got: &[Got]) -> bool {
    let has =
        |id: &str, what: &dyn Fn(&str) -> bool| types(&about(got, id)).iter().any(|t| what(t));
    has(&m.user, &|t| {
        t == "user.deleted" || t == "user.deprovisioned"
    }) && has(&m.group, &|t| t == "group.member_removed")
        && has(&m.moved, &|t| t == "user.migrated")
        && has(&m.gone, &|t| t == "user.deleted")
}
