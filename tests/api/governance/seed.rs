//! The seed's own use case ("users can only interact with Dev data"), end
//! to end: a governor tags a data source and writes a policy, an IAM maps
//! the identity provider's `department` to the `Environment` attribute,
//! and what the identity provider and an administrator do to the account
//! decides.

use serde_json::{Value, json};

use super::{ENT, Governed, governed};
use crate::app::TestApp;
use crate::both;
use crate::bridge::admin;

both!(the_provisioned_department_decides_the_subscription);
async fn the_provisioned_department_decides_the_subscription(app: &TestApp) {
    // A governor creates Environment.Dev, tags `sales` with it and admits
    // Environment=Dev there (`governed`); then Test and Prod.
    let Governed {
        root,
        governor,
        sales,
    } = governed(app).await;
    governor
        .tags(app, &["Environment.Test", "Environment.Prod"])
        .await;
    let (_, tags) = governor.get(app, "/tags?search=environment").await;
    assert_eq!(tags["count"], 4, "{tags}");
    assert_eq!(tags["hits"][1]["name"], "Environment.Dev");
    assert_eq!(tags["hits"][1]["parent"], "Environment");
    let mapping = json!({"attributeMapping": {format!("{ENT}:department"): "Environment"}});
    let (status, body) = root.put(app, "/iams/idp/settings", &mapping).await;
    assert_eq!(status, 200, "{body}");

    // The identity provider provisions a Dev user: subscribe.
    let r = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                "userName": "dana@example.com",
                ENT: {"department": "Dev"},
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let user = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let source = json!({ "id": sales });
    let answer = governor.evaluate(app, &user, source.clone()).await;
    assert_eq!(answer["decision"], "subscribe", "{answer:#}");
    let dev_only = &answer["policies"][0];
    assert_eq!(dev_only["policyKey"], "dev-only");
    assert_eq!(dev_only["matched"], true);
    assert_eq!(dev_only["mode"], "required");
    let from = format!("identity provider, via attributeMapping of {ENT}:department");
    let because = format!("attribute Environment=Dev ({from})");
    assert_eq!(dev_only["because"], json!([because]));
    assert_eq!(answer["automaticPolicies"], json!(["dev-only"]));
    let inputs = &answer["inputs"];
    assert_eq!(inputs["attributes"]["Environment"]["Dev"], json!([from]));
    assert_eq!(inputs["state"], "active");
    assert_eq!(answer["dataSource"]["name"], "sales");

    // The identity provider moves it to Prod: deny.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": format!("{ENT}:department"), "value": "Prod"}],
    });
    let r = app.patch(&format!("/Users/{user}"), &patch).await;
    assert_eq!(r.status(), 200);
    let answer = governor.evaluate(app, &user, source.clone()).await;
    assert_eq!(answer["decision"], "deny", "{answer:#}");
    assert_eq!(answer["policies"][0]["matched"], false);
    assert_eq!(
        answer["policies"][0]["because"],
        json!(["no attribute Environment=Dev"])
    );

    // Back to Dev, then an administrator disables the account: deny,
    // though the policy still admits it.
    let back = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": format!("{ENT}:department"), "value": "Dev"}],
    });
    assert_eq!(
        app.patch(&format!("/Users/{user}"), &back).await.status(),
        200
    );
    assert_eq!(
        governor.evaluate(app, &user, source.clone()).await["decision"],
        "subscribe"
    );
    let (status, _) = root
        .post(app, &format!("/users/{user}/disable"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let answer = governor.evaluate(app, &user, source).await;
    assert_eq!(answer["decision"], "deny", "{answer:#}");
    assert_eq!(answer["inputs"]["state"], "disabled");
    assert_eq!(answer["policies"][0]["matched"], true);
    assert!(
        answer["because"][0].as_str().unwrap().contains("disabled"),
        "{answer}"
    );

    // A data source described by its tags is decided alike.
    let answer = governor
        .evaluate(app, &user, json!({"tags": ["Environment.Prod"]}))
        .await;
    assert_eq!(answer["decision"], "deny");
    assert_eq!(answer["policies"][0]["applies"], false);

    // Every change is audited.
    for (action, n) in [
        ("tag.created", 4),
        ("data_source.created", 1),
        ("policy.created", 1),
    ] {
        let (_, page) = governor.get(app, &format!("/audit?action={action}")).await;
        assert_eq!(page["count"], n, "{action}: {page}");
    }
}

both!(inputs_name_groups_inherited_attributes_and_permissions);
async fn inputs_name_groups_inherited_attributes_and_permissions(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    governor.tags(app, &["Discovered.Passport"]).await;
    // Members of Engineers hold FETCH_POLICY_INFO, and inherit team=data.
    let settings = json!({"groupPermissions": {"Engineers": ["FETCH_POLICY_INFO"]}});
    root.put(app, "/iams/idp/settings", &settings).await;
    let user = app.create_user("eli@example.com").await;
    let user = user["id"].as_str().unwrap().to_owned();
    let group = app.create_group("Engineers", &[&user]).await;
    let ops = json!({"operations": [{"op": "add", "name": "team", "values": ["data"]}]});
    let path = format!("/groups/{}/attributes", group["id"].as_str().unwrap());
    assert_eq!(root.patch(app, &path, &ops).await.0, 200);
    governor
        .policy(
            app,
            &json!({
                "policyKey": "engineers",
                "name": "Engineers of the data team",
                "circumstances": [{"type": "tags", "tag": "Discovered"}],
                "actions": {"type": "entitlements",
                            "advanced": "@isInGroups('Engineers') AND @hasAttribute('team', 'data')"},
            }),
        )
        .await;
    let answer = governor
        .evaluate(app, &user, json!({"tags": ["Discovered.Passport"]}))
        .await;
    assert_eq!(answer["decision"], "subscribe", "{answer:#}");
    assert_eq!(
        answer["policies"][0]["because"],
        json!([
            "member of group Engineers",
            "attribute team=data (inherited from group Engineers)"
        ])
    );
    assert_eq!(
        answer["policies"][0]["appliesBecause"],
        json!(["data source tagged Discovered.Passport, within Discovered"])
    );
    assert_eq!(answer["inputs"]["groups"], json!(["Engineers"]));
    let permissions = answer["inputs"]["permissions"].as_array().unwrap();
    assert!(
        permissions.contains(&json!("FETCH_POLICY_INFO")),
        "{permissions:?}"
    );
}
