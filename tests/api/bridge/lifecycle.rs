//! The account's fate: disable and enable, the identity provider's DELETE
//! (deprovision or delete), permanent delete, migration between IAMs, and
//! the last USER_ADMIN that may not go.

use serde_json::{Value, json};

use super::admin;
use crate::app::TestApp;
use crate::both;

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn user_name_eq(name: &str) -> String {
    format!("/Users?filter=userName%20eq%20%22{name}%22")
}

both!(disabled_by_an_admin_stays_disabled);
async fn disabled_by_an_admin_stays_disabled(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let user = app.create_user("kim@example.com").await;
    let id = user["id"].as_str().unwrap();
    let (status, view) = root
        .post(app, &format!("/users/{id}/disable"), &json!({}))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["disabled"], true);
    // Hidden from the list unless asked for.
    let (_, list) = root.get(app, "/users?iam=idp").await;
    assert_eq!(list["count"], 0, "{list}");
    let (_, list) = root.get(app, "/users?iam=idp&includeDisabled=true").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["hits"][0]["disabled"], true);

    // The identity provider's own `active` is kept apart, and cannot
    // re-enable the account.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true}}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let scim: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(scim["active"], true, "the provider sees its own value");
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(view["active"], true);
    assert_eq!(view["disabled"], true);

    let (status, view) = root
        .post(app, &format!("/users/{id}/enable"), &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["disabled"], false);
    let (status, _) = root
        .post(
            app,
            "/users/00000000-0000-0000-0000-00000000beef/disable",
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
}

both!(an_identity_providers_delete_deprovisions_by_default);
async fn an_identity_providers_delete_deprovisions_by_default(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let user = app.create_user("lee@example.com").await;
    let id = user["id"].as_str().unwrap().to_owned();
    app.create_group("Team", &[&id]).await;
    root.post(
        app,
        &format!("/users/{id}/permissions"),
        &json!({"permissions": ["GOVERNANCE"]}),
    )
    .await;
    root.patch(
        app,
        &format!("/users/{id}/attributes"),
        &json!({"operations": [{"op": "add", "name": "clearance", "values": ["high"]}]}),
    )
    .await;

    let r = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status(), 204);
    // Gone for the identity provider (RFC 7644 §3.6)...
    assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 404);
    let list: Value = app
        .get(&user_name_eq("lee@example.com"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["totalResults"], 0);
    let group: Value = app.get("/Groups").await.json().await.unwrap();
    assert!(group["Resources"][0].get("members").is_none(), "{group}");
    // ...kept, disabled, with what the internal IAM owns, for the admins.
    let (status, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["disabled"], true);
    assert_eq!(view["iam"], Value::Null);
    assert_eq!(view["deprovisionedFrom"], "idp");
    assert!(view["deprovisioned"].is_string());
    assert!(
        view["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("GOVERNANCE"))
    );
    assert_eq!(
        view["attributes"]["managed"],
        json!({"clearance": ["high"]})
    );

    // A later POST of the same userName creates a new account.
    let again = app.create_user("lee@example.com").await;
    assert_ne!(again["id"], id.as_str());
    let (_, list) = root
        .get(app, "/users?includeDisabled=true&search=lee@")
        .await;
    assert_eq!(list["count"], 2);

    // With deleteMode "delete", a DELETE removes the account for good.
    let (status, _) = root
        .put(app, "/iams/idp/settings", &json!({"deleteMode": "delete"}))
        .await;
    assert_eq!(status, 200);
    let other = again["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/Users/{other}")).await.status(), 204);
    let (status, _) = root.get(app, &format!("/users/{other}")).await;
    assert_eq!(status, 404);
    assert_eq!(app.delete(&format!("/Users/{other}")).await.status(), 404);
}

both!(permanent_delete_needs_the_word);
async fn permanent_delete_needs_the_word(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let user = app.create_user("max@example.com").await;
    let id = user["id"].as_str().unwrap();
    root.post(
        app,
        &format!("/users/{id}/subscriptions"),
        &json!({"dataSource": "ds1"}),
    )
    .await;
    for q in ["", "?confirm=delete", "?confirm=yes", "?confirm=Delete%20"] {
        let (status, body) = root.delete(app, &format!("/users/{id}{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        let (status, _) = root.get(app, &format!("/users/{id}")).await;
        assert_eq!(status, 200, "still there after {q}");
    }
    let (status, _) = root
        .delete(app, &format!("/users/{id}?confirm=Delete"))
        .await;
    assert_eq!(status, 204);
    for path in [format!("/users/{id}"), format!("/users/{id}/report")] {
        let (status, _) = root.get(app, &path).await;
        assert_eq!(status, 404, "{path}");
    }
    assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 404);
    // The userName is free again; the audit keeps the event, by id only.
    app.create_user("max@example.com").await;
    root.post(
        app,
        &format!("/users/{}/permissions", root.id),
        &json!({"permissions": ["AUDIT"]}),
    )
    .await;
    let (status, audit) = root.get(app, &format!("/audit?target={id}")).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "user.deleted", "{actions:?}");
    assert!(!audit.to_string().contains("max@example.com"));
}

both!(migration_keeps_the_internal_state);
async fn migration_keeps_the_internal_state(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let other_token = app.token_for_new_iam("okta").await;
    let user = app.create_user("ann@old.example").await;
    let id = user["id"].as_str().unwrap();
    app.create_group("Old team", &[id]).await;
    root.post(
        app,
        &format!("/users/{id}/permissions"),
        &json!({"permissions": ["GOVERNANCE"]}),
    )
    .await;
    root.patch(
        app,
        &format!("/users/{id}/attributes"),
        &json!({"operations": [{"op": "add", "name": "project", "values": ["apollo"]}]}),
    )
    .await;
    // Someone at the new IAM already has the name we will try first.
    let r = app
        .request(
            reqwest::Method::POST,
            "/Users",
            Some(&other_token),
            Some(&json!({"userName": "taken@new.example"})),
        )
        .await;
    assert_eq!(r.status(), 201);

    let path = format!("/users/{id}/migrate");
    let (status, _) = root
        .post(
            app,
            &path,
            &json!({"iam": "okta", "userName": "TAKEN@new.example"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = root
        .post(
            app,
            &path,
            &json!({"iam": "nosuch", "userName": "ann@new.example"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = root.post(app, &path, &json!({"iam": "okta"})).await;
    assert_eq!(status, 400);
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(view["iam"], "idp", "nothing changed");

    let (status, view) = root
        .post(
            app,
            &path,
            &json!({"iam": "okta", "userName": "ann@new.example"}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["id"], id);
    assert_eq!(view["iam"], "okta");
    assert_eq!(view["userName"], "ann@new.example");
    assert!(
        view["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("GOVERNANCE"))
    );
    assert_eq!(
        view["attributes"]["managed"],
        json!({"project": ["apollo"]})
    );
    assert_eq!(
        view["groups"],
        json!([]),
        "the old provider's groups stay behind"
    );
    // The new provider finds it by userName; the old one no longer sees it.
    let r = app
        .request(
            reqwest::Method::GET,
            &user_name_eq("ann@new.example"),
            Some(&other_token),
            None,
        )
        .await;
    let found: Value = r.json().await.unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id);
    // The account keeps its email address (until the new provider sends
    // its own), and is found by it there.
    assert_eq!(
        found["Resources"][0]["emails"],
        json!([{"value": "ann@old.example", "type": "work", "primary": true}])
    );
    let r = app
        .request(
            reqwest::Method::GET,
            "/Users?filter=emails.value%20eq%20%22ANN@old.example%22",
            Some(&other_token),
            None,
        )
        .await;
    let found: Value = r.json().await.unwrap();
    assert_eq!(found["totalResults"], 1, "{found}");
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(view["emails"], json!(["ann@old.example"]), "{view}");
    assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 404);
    // And the old userName is free at the old provider.
    app.create_user("ann@old.example").await;
}

both!(the_last_user_admin_stays);
async fn the_last_user_admin_stays(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let me = root.id.clone();
    let refused = [
        (
            reqwest::Method::DELETE,
            format!("/users/{me}/permissions/USER_ADMIN"),
        ),
        (reqwest::Method::POST, format!("/users/{me}/disable")),
        (
            reqwest::Method::DELETE,
            format!("/users/{me}?confirm=Delete"),
        ),
    ];
    for (method, path) in &refused {
        let body = (*method == reqwest::Method::POST).then(|| json!({}));
        let (status, body) =
            super::call(app, method.clone(), path, Some(&root.token), body.as_ref()).await;
        assert_eq!(status, 409, "{method} {path}: {body}");
    }
    let (status, view) = root.get(app, &format!("/users/{me}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["disabled"], false);
    // With a second enabled USER_ADMIN, the first may go.
    let second = root
        .another(app, "second@example.com", &["USER_ADMIN"])
        .await;
    let (status, _) = root
        .post(app, &format!("/users/{me}/disable"), &json!({}))
        .await;
    assert_eq!(status, 200);
    // A disabled admin's token no longer works.
    let (status, _) = root.get(app, "/users").await;
    assert_eq!(status, 401);
    // The second is now the last one.
    let (status, _) = second
        .delete(app, &format!("/users/{}/permissions/USER_ADMIN", second.id))
        .await;
    assert_eq!(status, 409);
    let (status, _) = second
        .delete(app, &format!("/users/{me}?confirm=Delete"))
        .await;
    assert_eq!(status, 204);
}

/// `totalResults` of an unfiltered list (read from the counts the
/// database keeps) as a client sees it with a token.
async fn totals(app: &TestApp, token: &str) -> (u64, u64) {
    let mut out = [0u64; 2];
    for (i, path) in [
        "/Users?startIndex=1&count=1",
        "/Groups?startIndex=1&count=1",
    ]
    .into_iter()
    .enumerate()
    {
        let r = app
            .request(reqwest::Method::GET, path, Some(token), None)
            .await;
        let body: Value = r.json().await.unwrap();
        out[i] = body["totalResults"].as_u64().unwrap();
    }
    (out[0], out[1])
}

both!(unfiltered_totals_follow_every_write);
async fn unfiltered_totals_follow_every_write(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let other = app.token_for_new_iam("okta").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            app.create_user(&format!("u{i}@example.com")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let r = app
        .post(
            "/Bulk",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "b1@example.com"}},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "u0@example.com"}},
                {"method": "POST", "path": "/Groups", "bulkId": "c", "data": {"displayName": "G1"}},
            ]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // A refused duplicate counts nothing.
    assert_eq!(
        app.post("/Users", &json!({"userName": "U1@example.com"}))
            .await
            .status(),
        409
    );
    assert_eq!(totals(app, &app.token).await, (4, 1));
    let g2 = app.create_group("G2", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(totals(app, &app.token).await, (4, 2));
    // Deprovisioned: gone from the IAM's count.
    assert_eq!(
        app.delete(&format!("/Users/{}", ids[0])).await.status(),
        204
    );
    assert_eq!(totals(app, &app.token).await, (3, 2));
    // Migrated: moves between the IAMs' counts.
    let (status, _) = root
        .post(
            app,
            &format!("/users/{}/migrate", ids[1]),
            &json!({"iam": "okta", "userName": "m@example.com"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(totals(app, &app.token).await, (2, 2));
    assert_eq!(totals(app, &other).await, (1, 0));
    // The deprovisioned account migrated back in counts again.
    let (status, _) = root
        .post(
            app,
            &format!("/users/{}/migrate", ids[0]),
            &json!({"iam": "idp", "userName": "back@example.com"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(totals(app, &app.token).await, (3, 2));
    // Permanent delete and a group delete.
    let (status, _) = root
        .delete(app, &format!("/users/{}?confirm=Delete", ids[2]))
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.delete(&format!("/Groups/{g2}")).await.status(), 204);
    assert_eq!(totals(app, &app.token).await, (2, 1));
    // The counts agree with a real count (a filter that matches everyone).
    let all: Value = app
        .get("/Users?filter=userName%20pr&startIndex=1&count=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["totalResults"], 2);
}
