//! Internal groups: the built-in IAM's groups, holding accounts of any IAM,
//! whose attributes and mapped permissions their members inherit.

use serde_json::json;

use super::admin;
use crate::app::TestApp;
use crate::both;

both!(internal_groups_hold_accounts_of_any_iam);
async fn internal_groups_hold_accounts_of_any_iam(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let external = app.create_user("nia@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let local = root.new_user(app, "Lou", "lou@example.com").await;
    let (status, group) = root
        .post(app, "/groups", &json!({"displayName": "Data stewards"}))
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let (status, _) = root
        .post(app, "/groups", &json!({"displayName": "data STEWARDS"}))
        .await;
    assert_eq!(status, 409, "displayName is unique, case-insensitively");
    let (status, _) = root.post(app, "/groups", &json!({"displayName": ""})).await;
    assert_eq!(status, 400);

    let members = format!("/groups/{gid}/members");
    let (status, page) = root
        .post(app, &members, &json!({"members": [external, local]}))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["count"], 2);
    // An unknown account: 404, nothing added.
    let (status, _) = root
        .post(
            app,
            &members,
            &json!({"members": [root.id, "00000000-0000-0000-0000-00000000beef"]}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, page) = root.get(app, &format!("{members}?limit=1")).await;
    assert_eq!(page["count"], 2);
    assert_eq!(page["hits"].as_array().unwrap().len(), 1);

    // Members inherit the group's attributes and, through the built-in
    // IAM's mapping, its permissions.
    root.patch(
        app,
        &format!("/groups/{gid}/attributes"),
        &json!({"operations": [{"op": "add", "name": "domain", "values": ["finance"]}]}),
    )
    .await;
    let (status, _) = root
        .put(
            app,
            "/iams/bim/settings",
            &json!({"groupPermissions": {"Data stewards": ["GOVERNANCE"]}}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, view) = root.get(app, &format!("/users/{external}")).await;
    assert_eq!(
        view["attributes"]["inherited"],
        json!({"domain": ["finance"]})
    );
    assert!(
        view["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("GOVERNANCE")),
        "{view}"
    );
    assert!(
        view["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == gid.as_str() && g["iam"] == "bim"),
        "{view}"
    );
    // The identity provider does not see the internal group on its user.
    let scim: serde_json::Value = app
        .get(&format!("/Users/{external}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(scim.get("groups").is_none(), "{scim}");
    // An identity provider reads the bridge extension once its IAM lets it.
    let (status, body) = root
        .put(app, "/iams/idp/settings", &json!({"bridgeExtension": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    // ... but what the user inherits through it, on request: the mapped
    // permission with the group as its source, and the group's attribute.
    let bridge = scim_bridge::scim::schema::BRIDGE_USER_SCHEMA;
    let scim: serde_json::Value = app
        .get(&format!(
            "/Users/{external}?attributes={bridge}:permissions,{bridge}:attributes"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        scim[bridge]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!({"value": "GOVERNANCE", "source": format!("group:{gid}")})),
        "{scim}"
    );
    assert_eq!(
        scim[bridge]["attributes"],
        json!([{"name": "domain", "value": "finance"}]),
        "{scim}"
    );

    let (status, _) = root.delete(app, &format!("{members}/{external}")).await;
    assert_eq!(status, 204);
    let (_, view) = root.get(app, &format!("/users/{external}")).await;
    assert!(
        !view["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("GOVERNANCE"))
    );

    // An identity provider's group is its own: members change there.
    let idp_group = app.create_group("Engineering", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = root
        .post(
            app,
            &format!("/groups/{idp_group}/members"),
            &json!({"members": [local]}),
        )
        .await;
    assert_eq!(status, 409);
    let (_, listed) = root.get(app, "/groups").await;
    assert_eq!(listed["count"], 1);
    let (_, listed) = root.get(app, "/groups?iam=idp").await;
    assert_eq!(listed["hits"][0]["displayName"], "Engineering");
}
