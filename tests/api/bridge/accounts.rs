//! Accounts, permissions with their sources, attributes in two layers,
//! subscriptions and the governance report.

use serde_json::{Value, json};

use super::admin;
use crate::app::TestApp;
use crate::both;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

both!(new_users_get_the_default_permissions);
async fn new_users_get_the_default_permissions(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let (status, user) = root
        .post(
            app,
            "/users",
            &json!({"fullName": "Ada Lovelace", "email": "Ada@Example.com"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["iam"], "bim");
    assert_eq!(user["userName"], "Ada@Example.com");
    assert_eq!(user["fullName"], "Ada Lovelace");
    assert_eq!(user["emails"], json!(["Ada@Example.com"]));
    assert_eq!(user["disabled"], false);
    assert_eq!(
        names(&user["permissions"]),
        ["CREATE_DATA_SOURCE_IN_PROJECT", "CREATE_PROJECT"]
    );
    assert_eq!(
        user["permissionSources"][0],
        json!({"permission": "CREATE_DATA_SOURCE_IN_PROJECT", "sources": ["iam-default"]})
    );
    let id = user["id"].as_str().unwrap();
    let (status, again) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(again, user);

    // The email is the username: unique, case-insensitively.
    let (status, body) = root
        .post(
            app,
            "/users",
            &json!({"fullName": "Ada", "email": "ada@example.COM"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    for bad in [
        json!({"fullName": "X", "email": "not-an-email"}),
        json!({"fullName": "X", "email": "a@b"}),
        json!({"email": "x@example.com"}),
        json!({"fullName": "", "email": "x@example.com"}),
        json!({"fullName": "X", "email": 7}),
    ] {
        let (status, body) = root.post(app, "/users", &bad).await;
        assert_eq!(status, 400, "{bad} → {body}");
        assert!(body["error"]["message"].is_string());
    }
    let (_, list) = root.get(app, "/users?search=example.com&limit=100").await;
    // root, Ada; nothing from the refused bodies.
    assert_eq!(list["count"], 2, "{list}");
    let (_, list) = root.get(app, "/users?search=LOVELACE").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["hits"][0]["id"], id);
    let (_, list) = root.get(app, "/users?permission=USER_ADMIN").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["hits"][0]["id"], root.id.as_str());
    let (_, list) = root.get(app, "/users?sort=-userName&limit=1").await;
    assert_eq!(list["count"], 2);
    assert_eq!(list["hits"].as_array().unwrap().len(), 1);
    assert_eq!(list["hits"][0]["userName"], "root@example.com");
    for bad in [
        "sort=height",
        "limit=100000",
        "offset=-1",
        "includeDisabled=maybe",
        "iam=nosuch",
    ] {
        let (status, _) = root.get(app, &format!("/users?{bad}")).await;
        assert!(status == 400 || status == 404, "{bad}: {status}");
    }
}

both!(permissions_have_sources);
async fn permissions_have_sources(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let id = root.new_user(app, "Grace", "grace@example.com").await;
    let path = format!("/users/{id}/permissions");
    let (status, view) = root
        .post(
            app,
            &path,
            &json!({"permissions": ["GOVERNANCE", "CREATE_PROJECT"]}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        names(&view["permissions"]),
        [
            "CREATE_DATA_SOURCE_IN_PROJECT",
            "CREATE_PROJECT",
            "GOVERNANCE"
        ]
    );
    let sources: Vec<&Value> = view["permissionSources"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        sources[1],
        &json!({"permission": "CREATE_PROJECT", "sources": ["direct", "iam-default"]})
    );
    // Unknown permission: 400, and nothing of the request applied.
    let (status, _) = root
        .post(
            app,
            &path,
            &json!({"permissions": ["AUDIT", "NO_SUCH_THING"]}),
        )
        .await;
    assert_eq!(status, 400);
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert!(!names(&view["permissions"]).contains(&"AUDIT".to_owned()));
    for bad in [
        json!({}),
        json!({"permissions": "AUDIT"}),
        json!({"permissions": []}),
    ] {
        let (status, _) = root.post(app, &path, &bad).await;
        assert_eq!(status, 400, "{bad}");
    }
    // Removing takes every stored source of it.
    let (status, view) = root.delete(app, &format!("{path}/CREATE_PROJECT")).await;
    assert_eq!(status, 200);
    assert_eq!(
        names(&view["permissions"]),
        ["CREATE_DATA_SOURCE_IN_PROJECT", "GOVERNANCE"]
    );
    let (status, _) = root.delete(app, &format!("{path}/CREATE_PROJECT")).await;
    assert_eq!(status, 404);

    // Custom permissions join the catalogue.
    let (status, body) = root
        .post(
            app,
            "/permissions",
            &json!({"name": "EXPORT_REPORTS", "description": "Export"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = root
        .post(app, "/permissions", &json!({"name": "EXPORT_REPORTS"}))
        .await;
    assert_eq!(status, 409);
    let (status, _) = root
        .post(app, "/permissions", &json!({"name": "lower case"}))
        .await;
    assert_eq!(status, 400);
    let (_, catalogue) = root.get(app, "/permissions").await;
    let listed: Vec<&str> = catalogue["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "APPLICATION_ADMIN",
        "GOVERNANCE",
        "USER_ADMIN",
        "EXPORT_REPORTS",
    ] {
        assert!(listed.contains(&p), "{p}");
    }
    let (status, _) = root
        .post(app, &path, &json!({"permissions": ["EXPORT_REPORTS"]}))
        .await;
    assert_eq!(status, 200);
}

both!(group_mapping_grants_permissions_and_iam_defaults_apply);
async fn group_mapping_grants_permissions_and_iam_defaults_apply(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    // The test IAM ("idp"): members of "Governors" hold GOVERNANCE.
    let (status, settings) = root
        .put(
            app,
            "/iams/idp/settings",
            &json!({
                "defaultPermissions": ["CREATE_FILTER"],
                "groupPermissions": {"Governors": ["GOVERNANCE"]},
                "attributeMapping": {format!("{ENT}:department"): "department"},
            }),
        )
        .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["deleteMode"], "deprovision");
    let (status, _) = root
        .put(
            app,
            "/iams/idp/settings",
            &json!({"defaultPermissions": ["NOPE"]}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = root
        .put(app, "/iams/idp/settings", &json!({"deleteMode": "shred"}))
        .await;
    assert_eq!(status, 400);

    let user = app.create_user("grace@example.com").await;
    let id = user["id"].as_str().unwrap();
    app.create_group("Governors", &[id]).await;
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(view["iam"], "idp");
    let group_source = view["permissionSources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["permission"] == "GOVERNANCE")
        .expect("GOVERNANCE from the group")["sources"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(group_source.starts_with("group:"), "{group_source}");
    // A group-derived permission cannot be removed on the account.
    let (status, _) = root
        .delete(app, &format!("/users/{id}/permissions/GOVERNANCE"))
        .await;
    assert_eq!(status, 409);
}

both!(attributes_in_two_layers_and_inherited);
async fn attributes_in_two_layers_and_inherited(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    root.put(
        app,
        "/iams/idp/settings",
        &json!({"attributeMapping": {format!("{ENT}:department"): "department", "title": "title"}}),
    )
    .await;
    let r = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                "userName": "lin@example.com",
                "title": "Analyst",
                ENT: {"department": "Research"},
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = app.create_group("EU staff", &[&id]).await;
    let gid = group["id"].as_str().unwrap();

    let path = format!("/users/{id}/attributes");
    let (status, attrs) = root
        .patch(
            app,
            &path,
            &json!({"operations": [
                {"op": "add", "name": "clearance", "values": ["secret", "internal"]},
                {"op": "add", "name": "department", "values": ["Data"]},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{attrs}");
    assert_eq!(
        attrs["identityProvider"],
        json!({"department": ["Research"], "title": ["Analyst"]})
    );
    assert_eq!(
        attrs["managed"],
        json!({"clearance": ["internal", "secret"], "department": ["Data"]})
    );
    let (status, _) = root
        .patch(
            app,
            &format!("/groups/{gid}/attributes"),
            &json!({"operations": [{"op": "add", "name": "region", "values": ["eu"]}]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(view["attributes"]["inherited"], json!({"region": ["eu"]}));
    assert_eq!(
        view["attributes"]["effective"],
        json!({
            "clearance": ["internal", "secret"],
            "department": ["Data", "Research"],
            "region": ["eu"],
            "title": ["Analyst"],
        })
    );

    // Atomic: a bad operation anywhere → 400 and nothing applied.
    for bad in [
        json!({"operations": [
            {"op": "remove", "name": "clearance"},
            {"op": "explode", "name": "x", "values": ["y"]},
        ]}),
        json!({"operations": [
            {"op": "remove", "name": "clearance"},
            {"op": "add", "name": "x", "values": [""]},
        ]}),
        json!({"operations": []}),
        json!({"ops": []}),
    ] {
        let (status, _) = root.patch(app, &path, &bad).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(
        view["attributes"]["managed"]["clearance"],
        json!(["internal", "secret"])
    );
    // replace, then remove one value, then the whole key.
    let (_, attrs) = root
        .patch(
            app,
            &path,
            &json!({"operations": [
                {"op": "replace", "name": "clearance", "values": ["public", "internal"]},
                {"op": "remove", "name": "clearance", "values": ["internal"]},
                {"op": "remove", "name": "department"},
            ]}),
        )
        .await;
    assert_eq!(attrs["managed"], json!({"clearance": ["public"]}));

    // The identity provider cannot reach the managed layer through SCIM.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"title": "Lead"}}],
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(
        view["attributes"]["managed"],
        json!({"clearance": ["public"]})
    );
    assert_eq!(
        view["attributes"]["identityProvider"]["title"],
        json!(["Lead"])
    );
}

both!(subscriptions_and_the_governance_report);
async fn subscriptions_and_the_governance_report(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let user = app.create_user("sam@example.com").await;
    let id = user["id"].as_str().unwrap();
    app.create_group("Analysts", &[id]).await;
    let path = format!("/users/{id}/subscriptions");
    let (status, sub) = root
        .post(
            app,
            &path,
            &json!({"dataSource": "sales_eu", "role": "owner", "expires": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["dataSource"], "sales_eu");
    for bad in [
        json!({}),
        json!({"dataSource": ""}),
        json!({"dataSource": "x", "expires": "yesterday"}),
        json!({"dataSource": "x", "expires": "2001-01-01T00:00:00Z"}),
    ] {
        let (status, _) = root.post(app, &path, &bad).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (_, subs) = root.get(app, &path).await;
    assert_eq!(subs.as_array().unwrap().len(), 1);

    let (status, report) = root.get(app, &format!("/users/{id}/report")).await;
    assert_eq!(status, 200);
    assert_eq!(report["groups"][0]["displayName"], "Analysts");
    assert!(report["groups"][0]["joined"].is_string(), "{report}");
    assert_eq!(report["subscriptions"][0]["role"], "owner");
    let actions: Vec<&str> = report["auditTrail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"subscription.created"), "{actions:?}");

    let sid = sub["id"].as_str().unwrap();
    let (status, _) = root.delete(app, &format!("{path}/{sid}")).await;
    assert_eq!(status, 204);
    let (status, _) = root.delete(app, &format!("{path}/{sid}")).await;
    assert_eq!(status, 404);
    let (status, _) = root
        .get(app, "/users/00000000-0000-0000-0000-00000000beef/report")
        .await;
    assert_eq!(status, 404);
}

both!(malformed_and_oversized_admin_bodies_change_nothing);
async fn malformed_and_oversized_admin_bodies_change_nothing(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let url = format!("{}/api/v1/users", app.origin);
    let send = |content_type: &'static str, body: Vec<u8>| {
        app.client
            .post(&url)
            .bearer_auth(&root.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "application/json",
            b"{\"fullName\": \"A\", \"email\": ".to_vec(),
            400,
        ),
        ("application/json", b"[1, 2, 3]".to_vec(), 400),
        ("application/json", b"\"just a string\"".to_vec(), 400),
        ("application/json", vec![0xff, 0xfe, 0x00], 400),
        (
            "text/plain",
            br#"{"fullName": "A", "email": "a@example.com"}"#.to_vec(),
            415,
        ),
        (
            "application/json",
            format!(
                r#"{{"fullName": "{}", "email": "big@example.com"}}"#,
                "x".repeat(2 * 1024 * 1024)
            )
            .into_bytes(),
            413,
        ),
        (
            "application/json",
            br#"{"fullName": "A\u0000B", "email": "nul@example.com"}"#.to_vec(),
            400,
        ),
        (
            "application/json",
            br#"{"fullName": "A", "email": "a@b.c\nd"}"#.to_vec(),
            400,
        ),
    ];
    for (ct, body, expected) in cases {
        let r = send(ct, body).await.unwrap();
        assert_eq!(r.status().as_u16(), expected, "{ct}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert!(e["error"]["message"].is_string(), "{e}");
    }
    let (_, list) = root.get(app, "/users?includeDisabled=true").await;
    assert_eq!(list["count"], 1, "only the admin: {list}");
}
