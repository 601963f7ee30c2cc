//! The authorization matrix of the SCIM endpoints: for each endpoint, each
//! kind of caller — no token, another IAM's token, this IAM's token, an
//! administrator's token — gets exactly the expected status, and a refused
//! call changes nothing. (The admin API's side is in `audit.rs`.)

use reqwest::Method;
use serde_json::{Value, json};

use super::admin;
use crate::app::TestApp;
use crate::both;

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// What the IAM's own resources look like, read with its own token.
async fn snapshot(app: &TestApp, user: &str, group: &str) -> (Value, Value, Value) {
    let u: Value = app
        .get(&format!("/Users/{user}"))
        .await
        .json()
        .await
        .unwrap();
    let g: Value = app
        .get(&format!("/Groups/{group}"))
        .await
        .json()
        .await
        .unwrap();
    let all: Value = app.get("/Users?count=100").await.json().await.unwrap();
    (u, g, all["totalResults"].clone())
}

both!(scim_endpoints_answer_each_kind_of_caller);
async fn scim_endpoints_answer_each_kind_of_caller(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let other = app.token_for_new_iam("other").await;
    let user = app.create_user("ren@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = app.create_group("Team", &[&user]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let u = format!("/Users/{user}");
    let g = format!("/Groups/{group}");
    let body_user = json!({"userName": "x@example.com"});
    let body_group = json!({"displayName": "X"});
    let patch = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let gpatch = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Y"}]});
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "PATCH", "path": u, "data": patch},
    ]});
    // (method, path, body, status for: this IAM, another IAM)
    let rows: Vec<(Method, String, Option<Value>, u16, u16)> = vec![
        (Method::GET, "/Users".into(), None, 200, 200),
        (Method::GET, u.clone(), None, 200, 404),
        (
            Method::PUT,
            u.clone(),
            Some(json!({"userName": "ren@example.com"})),
            200,
            404,
        ),
        (Method::PATCH, u.clone(), Some(patch.clone()), 200, 404),
        (Method::GET, "/Groups".into(), None, 200, 200),
        (Method::GET, g.clone(), None, 200, 404),
        (
            Method::PUT,
            g.clone(),
            Some(json!({"displayName": "Team", "members": [{"value": user}]})),
            200,
            404,
        ),
        (Method::PATCH, g.clone(), Some(gpatch.clone()), 200, 404),
        (
            Method::POST,
            "/Users/.search".into(),
            Some(search.clone()),
            200,
            200,
        ),
        (
            Method::POST,
            "/.search".into(),
            Some(search.clone()),
            200,
            200,
        ),
        (Method::POST, "/Bulk".into(), Some(bulk), 200, 200),
        (Method::GET, "/ServiceProviderConfig".into(), None, 200, 200),
        (Method::GET, "/Schemas".into(), None, 200, 200),
        (Method::GET, "/ResourceTypes".into(), None, 200, 200),
        (Method::DELETE, g.clone(), None, 204, 404),
        (Method::DELETE, u.clone(), None, 204, 404),
        (Method::POST, "/Users".into(), Some(body_user), 201, 201),
        (Method::POST, "/Groups".into(), Some(body_group), 201, 201),
    ];
    for (method, path, body, own, foreign) in &rows {
        // The refused callers first: nothing may change.
        let before = if path.starts_with("/Users/") || path.starts_with("/Groups/") {
            Some(snapshot(app, &user, &group).await)
        } else {
            None
        };
        // An administrator's token reaches SCIM only to PATCH what the
        // internal IAM owns on a user (see `admins_patch_internal_data`):
        // this PATCH of `active` is refused as the identity provider's.
        let admin_status = if *method == Method::PATCH && path.starts_with("/Users/") {
            403
        } else {
            401
        };
        for (who, token, expected) in [
            ("no token", None, 401),
            (
                "a bad token",
                Some("scb_00000000000000000000000000000000_nope"),
                401,
            ),
            ("an admin token", Some(root.token.as_str()), admin_status),
        ] {
            let r = app
                .request(method.clone(), path, token, body.as_ref())
                .await;
            assert_eq!(r.status(), expected, "{who}: {method} {path}");
            let doc: Value = r.json().await.unwrap();
            assert_eq!(
                doc["schemas"][0],
                "urn:ietf:params:scim:api:messages:2.0:Error"
            );
        }
        let r = app
            .request(method.clone(), path, Some(&other), body.as_ref())
            .await;
        assert_eq!(r.status(), *foreign, "another IAM: {method} {path}");
        if let Some(before) = before {
            assert_eq!(
                snapshot(app, &user, &group).await,
                before,
                "{method} {path}"
            );
        }
        // Another IAM's bulk PATCH of our user fails inside the response.
        if path == "/Bulk" {
            let doc: Value = r.json().await.unwrap();
            assert_eq!(doc["Operations"][0]["status"], "404", "{doc}");
        }
        let r = app
            .request(method.clone(), path, Some(&app.token), body.as_ref())
            .await;
        assert_eq!(r.status(), *own, "this IAM: {method} {path}");
    }
    // Lists never leak across IAMs.
    let theirs: Value = app
        .request(Method::GET, "/Users", Some(&other), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        theirs["totalResults"], 1,
        "only the user the other IAM created"
    );
    // /Me is for callers whose token is a user's.
    let r = app
        .request(Method::GET, "/Me", Some(&root.token), None)
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .request(Method::GET, "/Me", Some(&app.token), None)
        .await;
    assert_eq!(r.status(), 404);
    let r = app.request(Method::GET, "/Me", None, None).await;
    assert_eq!(r.status(), 401);
}

both!(admins_patch_internal_data);
async fn admins_patch_internal_data(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let plain = root.another(app, "plain@example.com", &[]).await;
    let user = app.create_user("sol@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let u = format!("/Users/{user}");
    let ext = "urn:scim-bridge:schemas:extension:bridge:2.0:User";
    let ops = |ops: Value| json!({"schemas": [PATCH], "Operations": ops});
    let r = app
        .request(
            Method::PATCH,
            &u,
            Some(&root.token),
            Some(&ops(json!([
                {"op": "add", "path": "entitlements", "value": [{"value": "GOVERNANCE"}, {"value": "AUDIT"}]},
                {"op": "remove", "path": "entitlements[value eq \"CREATE_PROJECT\"]"},
                {"op": "add", "path": format!("{ext}:attributes"), "value": [{"name": "site", "value": "rome"}]},
                {"op": "replace", "path": format!("{ext}:disabled"), "value": "True"},
            ]))),
        )
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    let ents: Vec<&str> = doc["entitlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        ents,
        ["AUDIT", "CREATE_DATA_SOURCE_IN_PROJECT", "GOVERNANCE"],
        "{doc}"
    );
    assert_eq!(
        doc[ext]["attributes"],
        json!([{"name": "site", "value": "rome"}])
    );
    assert_eq!(doc[ext]["disabled"], true);
    let (_, view) = root.get(app, &format!("/users/{user}")).await;
    assert_eq!(view["disabled"], true);
    // Replace sets the permissions granted here to exactly these.
    let r = app
        .request(
            Method::PATCH,
            &u,
            Some(&root.token),
            Some(&ops(
                json!([{"op": "replace", "path": "entitlements", "value": ["AUDIT"]}]),
            )),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, view) = root.get(app, &format!("/users/{user}")).await;
    assert_eq!(view["permissions"], json!(["AUDIT"]));
    // Refused, changing nothing: identity fields (even next to a valid
    // operation), unknown permissions, admins without USER_ADMIN.
    for (token, body, status) in [
        (
            &root.token,
            ops(json!([
                {"op": "add", "path": "entitlements", "value": ["GOVERNANCE"]},
                {"op": "replace", "path": "userName", "value": "evil@example.com"},
            ])),
            403,
        ),
        (
            &root.token,
            ops(json!([{"op": "add", "path": "entitlements", "value": ["NOPE"]}])),
            400,
        ),
        (
            &plain.token,
            ops(json!([{"op": "add", "path": "entitlements", "value": ["GOVERNANCE"]}])),
            403,
        ),
    ] {
        let r = app
            .request(Method::PATCH, &u, Some(token), Some(&body))
            .await;
        assert_eq!(r.status(), status, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(
            e["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
    }
    let (_, after) = root.get(app, &format!("/users/{user}")).await;
    assert_eq!(after["permissions"], json!(["AUDIT"]));
    assert_eq!(after["userName"], "sol@example.com");
}
