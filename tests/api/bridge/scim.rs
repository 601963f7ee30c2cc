//! What the internal IAM owns, as identity providers see it over SCIM:
//! read-only, only when asked for, and out of their reach — including the
//! identity-takeover shapes of real CVEs.

use reqwest::Method;
use serde_json::{Value, json};

use super::admin;
use crate::app::TestApp;
use crate::both;

const BRIDGE: &str = "urn:scim-bridge:schemas:extension:bridge:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn values(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x[key].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

both!(permissions_and_attributes_are_readable_on_request);
async fn permissions_and_attributes_are_readable_on_request(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let user = app.create_user("eve@example.com").await;
    let id = user["id"].as_str().unwrap();
    root.post(
        app,
        &format!("/users/{id}/permissions"),
        &json!({"permissions": ["GOVERNANCE"]}),
    )
    .await;
    root.patch(
        app,
        &format!("/users/{id}/attributes"),
        &json!({"operations": [{"op": "add", "name": "site", "values": ["lyon"]}]}),
    )
    .await;

    let plain: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert!(
        plain.get("entitlements").is_none(),
        "returned on request only"
    );
    assert!(plain.get(BRIDGE).is_none());

    let r: Value = app
        .get(&format!("/Users/{id}?attributes=entitlements"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        values(&r["entitlements"], "value").contains(&"GOVERNANCE".to_owned()),
        "{r}"
    );
    // Not to an identity provider its IAM does not let read it: neither
    // answered nor described (RFC 7643 §3: a resource's schemas are its
    // resource type's).
    let url = format!(
        "/Users/{id}?attributes=userName,{BRIDGE}:permissions,{BRIDGE}:attributes,{BRIDGE}:disabled"
    );
    let r: Value = app.get(&url).await.json().await.unwrap();
    assert!(r.get(BRIDGE).is_none(), "{r}");
    assert!(!r["schemas"].as_array().unwrap().contains(&json!(BRIDGE)));
    assert_eq!(app.get(&format!("/Schemas/{BRIDGE}")).await.status(), 404);
    for path in ["/Schemas", "/ResourceTypes", "/ResourceTypes/User"] {
        let doc = app.get(path).await.text().await.unwrap();
        assert!(!doc.contains(BRIDGE), "{path}: {doc}");
    }
    // An identity provider reads the bridge extension once its IAM lets it.
    let (status, body) = root
        .put(app, "/iams/idp/settings", &json!({"bridgeExtension": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let r: Value = app
        .get(&format!(
            "/Users/{id}?attributes={BRIDGE}:permissions,{BRIDGE}:attributes,{BRIDGE}:disabled"
        ))
        .await
        .json()
        .await
        .unwrap();
    let ext = &r[BRIDGE];
    assert!(
        ext["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!({"value": "GOVERNANCE", "source": "direct"})),
        "{r}"
    );
    assert_eq!(
        ext["attributes"],
        json!([{"name": "site", "value": "lyon"}])
    );
    assert_eq!(ext["disabled"], false);
    let list: Value = app
        .get("/Users?filter=userName%20eq%20%22eve@example.com%22&attributes=entitlements")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        values(&list["Resources"][0]["entitlements"], "value").contains(&"GOVERNANCE".to_owned())
    );
    // The extension is described in /Schemas, read-only.
    let schema: Value = app
        .get(&format!("/Schemas/{BRIDGE}"))
        .await
        .json()
        .await
        .unwrap();
    for a in schema["attributes"].as_array().unwrap() {
        assert_eq!(a["mutability"], "readOnly", "{a}");
        assert_eq!(a["returned"], "request", "{a}");
    }
    let user_rt = app.get("/ResourceTypes/User").await.text().await.unwrap();
    assert!(user_rt.contains(BRIDGE), "{user_rt}");
}

both!(identity_providers_cannot_write_what_the_internal_iam_owns);
async fn identity_providers_cannot_write_what_the_internal_iam_owns(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let smuggled = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", BRIDGE],
        "userName": "mallory@example.com",
        "entitlements": [{"value": "USER_ADMIN"}],
        BRIDGE: {"permissions": [{"value": "USER_ADMIN"}], "attributes": [{"name": "clearance", "value": "top"}], "disabled": false},
    });
    let r = app.post("/Users", &smuggled).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.put(&format!("/Users/{id}"), &smuggled).await;
    assert_eq!(r.status(), 200);
    for op in [
        json!({"op": "add", "path": "entitlements", "value": [{"value": "USER_ADMIN"}]}),
        json!({"op": "replace", "path": "entitlements[value eq \"X\"].value", "value": "USER_ADMIN"}),
        json!({"op": "add", "path": format!("{BRIDGE}:permissions"), "value": [{"value": "USER_ADMIN"}]}),
        json!({"op": "replace", "path": format!("{BRIDGE}:disabled"), "value": false}),
        json!({"op": "add", "value": {"entitlements": [{"value": "USER_ADMIN"}]}}),
        json!({"op": "add", "value": {format!("{BRIDGE}:attributes"): [{"name": "a", "value": "b"}]}}),
        json!({"op": "replace", "value": {BRIDGE: {"permissions": [{"value": "USER_ADMIN"}]}}}),
    ] {
        let r = app
            .patch(
                &format!("/Users/{id}"),
                &json!({"schemas": [PATCH], "Operations": [op]}),
            )
            .await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert!(status == 400 || status == 200, "{op}: {status} {body}");
        if status == 400 {
            assert_eq!(body["scimType"], "mutability", "{op}: {body}");
        }
    }
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert!(
        !view["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("USER_ADMIN")),
        "{view}"
    );
    assert_eq!(view["attributes"]["managed"], json!({}));
    let (_, admins) = root.get(app, "/users?permission=USER_ADMIN").await;
    assert_eq!(admins["count"], 1);
}

both!(identity_takeover_attempts_fail);
async fn identity_takeover_attempts_fail(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    // An identity provider sends an existing admin's userName and email:
    // it gets its own new account, never the admin's.
    let r = app
        .post(
            "/Users",
            &json!({
                "userName": "root@example.com",
                "emails": [{"value": "root@example.com", "primary": true}],
                "externalId": root.id,
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let twin: Value = r.json().await.unwrap();
    assert_ne!(twin["id"], root.id.as_str());
    let (_, view) = root
        .get(app, &format!("/users/{}", twin["id"].as_str().unwrap()))
        .await;
    assert!(
        !view["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("USER_ADMIN"))
    );
    let (_, me) = root.get(app, &format!("/users/{}", root.id)).await;
    assert_eq!(me["iam"], "bim");
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("USER_ADMIN"))
    );

    // Another IAM's accounts (the admin's, or another provider's) are out
    // of reach by id, by filter, and through group members.
    let other = app.token_for_new_iam("other").await;
    let theirs = app
        .request(
            Method::POST,
            "/Users",
            Some(&other),
            Some(&json!({"userName": "bob@example.com"})),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    for foreign in [root.id.as_str(), theirs["id"].as_str().unwrap()] {
        assert_eq!(app.get(&format!("/Users/{foreign}")).await.status(), 404);
        let r = app
            .put(
                &format!("/Users/{foreign}"),
                &json!({"userName": "x@example.com"}),
            )
            .await;
        assert_eq!(r.status(), 404);
        let r = app
            .patch(
                &format!("/Users/{foreign}"),
                &json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]}),
            )
            .await;
        assert_eq!(r.status(), 404);
        assert_eq!(app.delete(&format!("/Users/{foreign}")).await.status(), 404);
        let list: Value = app
            .get(&format!("/Users?filter=id%20eq%20%22{foreign}%22"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["totalResults"], 0);
        let r = app
            .post(
                "/Groups",
                &json!({"displayName": format!("g-{foreign}"), "members": [{"value": foreign}]}),
            )
            .await;
        let group: Value = r.json().await.unwrap();
        assert!(group.get("members").is_none(), "{group}");
    }
    let (_, me) = root.get(app, &format!("/users/{}", root.id)).await;
    assert_eq!(me["disabled"], false);
    assert_eq!(me["groups"], json!([]));
}

both!(a_put_leaves_what_the_internal_iam_owns);
async fn a_put_leaves_what_the_internal_iam_owns(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let user = app.create_user("ivy@example.com").await;
    let id = user["id"].as_str().unwrap();
    app.create_group("Ops", &[id]).await;
    root.post(
        app,
        &format!("/users/{id}/permissions"),
        &json!({"permissions": ["GOVERNANCE"]}),
    )
    .await;
    root.patch(
        app,
        &format!("/users/{id}/attributes"),
        &json!({"operations": [{"op": "add", "name": "site", "values": ["oslo"]}]}),
    )
    .await;
    root.post(
        app,
        &format!("/users/{id}/subscriptions"),
        &json!({"dataSource": "ds"}),
    )
    .await;
    let (_, before) = root.get(app, &format!("/users/{id}")).await;
    // Okta's update: GET, then a full PUT of what it owns (echoing id, meta
    // and groups), with a changed name.
    let mut body: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    body["name"]["givenName"] = json!("Ivy");
    let r = app.put(&format!("/Users/{id}"), &body).await;
    assert_eq!(r.status(), 200);
    let (_, after) = root.get(app, &format!("/users/{id}")).await;
    for key in [
        "permissions",
        "permissionSources",
        "subscriptions",
        "groups",
        "disabled",
    ] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(after["attributes"]["managed"], json!({"site": ["oslo"]}));
    // A PUT without the user's groups does not take them away either.
    body.as_object_mut().unwrap().remove("groups");
    let r = app.put(&format!("/Users/{id}"), &body).await;
    assert_eq!(r.status(), 200);
    let (_, again) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(again["groups"], before["groups"]);
}
