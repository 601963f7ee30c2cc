//! SCIM Bulk (RFC 7644 §3.7): mixed operations, bulkId references in any
//! order, cycles, failOnErrors, limits, and that each operation answers
//! what the single request would.

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn request(ops: Value) -> Value {
    json!({ "schemas": [BULK_REQUEST], "Operations": ops })
}

fn user_op(bulk_id: &str, user_name: &str) -> Value {
    json!({ "method": "POST", "path": "/Users", "bulkId": bulk_id,
            "data": { "schemas": [USER], "userName": user_name,
                      "emails": [{ "value": user_name, "type": "work" }] } })
}

fn group_op(bulk_id: &str, name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    json!({ "method": "POST", "path": "/Groups", "bulkId": bulk_id,
            "data": { "schemas": [GROUP], "displayName": name, "members": members } })
}

async fn bulk(app: &TestApp, body: &Value) -> Value {
    let r = app.post("/Bulk", body).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["schemas"], json!([BULK_RESPONSE]));
    // RFC 7644 §3.7: location in every result but a failed POST, and the
    // Error document in every failure.
    for op in ops(&doc) {
        let status: u16 = op["status"].as_str().unwrap().parse().unwrap();
        let failed_post = op["method"] == "POST" && status >= 400;
        assert_eq!(op.get("location").is_some(), !failed_post, "{op}");
        if status >= 400 {
            assert_eq!(op["response"]["status"], op["status"], "{op}");
        }
    }
    doc
}

fn ops(doc: &Value) -> &Vec<Value> {
    doc["Operations"].as_array().unwrap()
}

/// The id at the end of an operation's location.
fn id_of(op: &Value) -> String {
    op["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

async fn user_count(app: &TestApp) -> u64 {
    let doc: Value = app.get("/Users?count=0").await.json().await.unwrap();
    doc["totalResults"].as_u64().unwrap()
}

async fn mixed_methods_and_references_in_any_order(app: &TestApp) {
    let old = app.create_user("old@example.com").await;
    let old_id = old["id"].as_str().unwrap();
    let doomed = app.create_user("doomed@example.com").await;
    let doomed_id = doomed["id"].as_str().unwrap();
    let doc = bulk(
        app,
        &request(json!([
            // The group comes first and names users created later.
            group_op("g", "Team", &["bulkId:alice", "bulkId:bob", old_id]),
            user_op("alice", "alice@example.com"),
            { "method": "post", "path": "/Users", "bulkId": "bob",
              "data": { "schemas": [USER], "userName": "bob@example.com",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                            { "manager": { "value": "bulkId:alice" } } } },
            { "method": "PUT", "path": format!("/Users/{old_id}"),
              "data": { "schemas": [USER], "userName": "old@example.com", "displayName": "Old" } },
            { "method": "Patch", "path": "/Users/bulkId:alice",
              "data": { "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{ "op": "replace", "path": "active", "value": false }] } },
            { "method": "DELETE", "path": format!("/Users/{doomed_id}") },
        ])),
    )
    .await;
    let ops = ops(&doc);
    assert_eq!(ops.len(), 6);
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "201", "200", "200", "204"]);
    assert_eq!(ops[0]["method"], "POST");
    assert_eq!(ops[0]["bulkId"], "g");
    assert_eq!(ops[2]["method"], "POST");
    assert_eq!(ops[4]["method"], "PATCH");
    assert_eq!(ops[1]["version"], "W/\"1\"");
    let (g, alice, bob) = (id_of(&ops[0]), id_of(&ops[1]), id_of(&ops[2]));
    assert_eq!(ops[1]["location"], format!("{}/Users/{alice}", app.scim()));
    assert_eq!(
        ops[5]["location"],
        format!("{}/Users/{doomed_id}", app.scim())
    );

    let group: Value = app.get(&format!("/Groups/{g}")).await.json().await.unwrap();
    let mut members: Vec<&str> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort();
    let mut want = vec![alice.as_str(), bob.as_str(), old_id];
    want.sort();
    assert_eq!(members, want);

    let b: Value = app
        .get(&format!("/Users/{bob}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        b["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"],
        alice
    );
    let a = app.get(&format!("/Users/{alice}")).await;
    let etag = a.headers()["etag"].to_str().unwrap().to_owned();
    let a: Value = a.json().await.unwrap();
    assert_eq!(a["active"], false);
    assert_eq!(ops[4]["version"], etag);
    let o: Value = app
        .get(&format!("/Users/{old_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(o["displayName"], "Old");
    assert_eq!(app.get(&format!("/Users/{doomed_id}")).await.status(), 404);
    // The users created in bulk are found like any other.
    let found: Value = app
        .get("/Users?filter=emails.value%20eq%20%22alice@example.com%22")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
}
both!(mixed_methods_and_references_in_any_order);

async fn failures_are_per_operation_and_match_the_single_request(app: &TestApp) {
    let taken = app.create_user("taken@example.com").await;
    let taken_id = taken["id"].as_str().unwrap();
    // What the single requests answer.
    let single_dup: Value = app
        .post(
            "/Users",
            &json!({ "schemas": [USER], "userName": "TAKEN@example.com" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let doc = bulk(
        app,
        &request(json!([
            user_op("a", "new1@example.com"),
            user_op("dup", "TAKEN@example.com"),
            user_op("b", "new2@example.com"),
            { "method": "POST", "path": "/Users", "bulkId": "bad", "data": { "schemas": [USER] } },
            { "method": "PUT", "path": format!("/Users/{taken_id}"), "version": "W/\"7\"",
              "data": { "schemas": [USER], "userName": "taken@example.com", "displayName": "X" } },
            { "method": "DELETE", "path": "/Users/00000000-0000-7000-8000-000000000000" },
            // Depends on the failed POST: a conflict, not performed.
            group_op("g", "G", &["bulkId:dup"]),
            // References a bulkId nobody defines.
            { "method": "DELETE", "path": "/Groups/bulkId:nobody" },
            user_op("c", "new1@EXAMPLE.com"),
        ])),
    )
    .await;
    let ops = ops(&doc);
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "201", "409", "201", "400", "412", "404", "409", "400", "409"
        ]
    );
    assert_eq!(ops[1]["response"], single_dup);
    assert_eq!(ops[1]["response"]["scimType"], "uniqueness");
    assert_eq!(ops[1]["bulkId"], "dup");
    assert!(ops[1].get("location").is_none());
    assert_eq!(ops[3]["response"]["scimType"], "invalidValue");
    assert_eq!(ops[4]["response"]["status"], "412");
    assert_eq!(ops[7]["response"]["scimType"], "invalidValue");
    assert_eq!(ops[8]["response"]["scimType"], "uniqueness");
    // The failures changed nothing; the successes stayed.
    assert_eq!(user_count(app).await, 3);
    let t: Value = app
        .get(&format!("/Users/{taken_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(t.get("displayName").is_none());
    let groups: Value = app.get("/Groups?count=0").await.json().await.unwrap();
    assert_eq!(groups["totalResults"], 0);
}
both!(failures_are_per_operation_and_match_the_single_request);

async fn version_names_the_etag_the_operation_is_conditional_on(app: &TestApp) {
    let u = app.create_user("v@example.com").await;
    let id = u["id"].as_str().unwrap();
    let v = u["meta"]["version"].as_str().unwrap();
    let patch = |version: &str| {
        json!({ "method": "PATCH", "path": format!("/Users/{id}"), "version": version,
                "data": { "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{ "op": "replace", "path": "displayName", "value": version }] } })
    };
    let doc = bulk(
        app,
        &request(json!([patch(v), patch(v), patch("nonsense")])),
    )
    .await;
    let ops = ops(&doc);
    assert_eq!(ops[0]["status"], "200");
    assert_ne!(ops[0]["version"], v);
    assert_eq!(ops[1]["status"], "412");
    assert_eq!(ops[2]["status"], "412");
    let now: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(now["displayName"], v);
    assert_eq!(now["meta"]["version"], ops[0]["version"]);
}
both!(version_names_the_etag_the_operation_is_conditional_on);

async fn circular_references_are_409_and_the_rest_runs(app: &TestApp) {
    let doc = bulk(
        app,
        &request(json!([
            group_op("a", "A", &["bulkId:b"]),
            group_op("b", "B", &["bulkId:a"]),
            user_op("u", "free@example.com"),
            group_op("c", "C", &["bulkId:a", "bulkId:u"]),
            { "method": "DELETE", "path": "/Groups/bulkId:b" },
        ])),
    )
    .await;
    let ops = ops(&doc);
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["409", "409", "201", "409", "409"]);
    assert_eq!(ops[0]["bulkId"], "a");
    assert_eq!(ops[0]["response"]["status"], "409");
    let groups: Value = app.get("/Groups?count=0").await.json().await.unwrap();
    assert_eq!(groups["totalResults"], 0);
    assert_eq!(user_count(app).await, 1);
}
both!(circular_references_are_409_and_the_rest_runs);

async fn fail_on_errors_stops_the_run(app: &TestApp) {
    app.create_user("x@example.com").await;
    let mut body = request(json!([
        user_op("1", "one@example.com"),
        user_op("2", "x@example.com"),
        user_op("3", "two@example.com"),
        user_op("4", "X@example.com"),
        user_op("5", "three@example.com"),
        { "method": "DELETE", "path": "/Users/00000000-0000-7000-8000-000000000000" },
    ]));
    body["failOnErrors"] = json!(2);
    let doc = bulk(app, &body).await;
    let ops = ops(&doc);
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    // Stopped at the second error: the operations after it did not run.
    assert_eq!(statuses, ["201", "409", "201", "409"]);
    assert_eq!(user_count(app).await, 3);

    body["failOnErrors"] = json!(1);
    body["Operations"] = json!([
        { "method": "DELETE", "path": "/Groups/00000000-0000-7000-8000-000000000000" },
        user_op("6", "four@example.com"),
    ]);
    let doc = bulk(app, &body).await;
    assert_eq!(ops_len(&doc), 1);
    assert_eq!(user_count(app).await, 3);
}
both!(fail_on_errors_stops_the_run);

fn ops_len(doc: &Value) -> usize {
    ops(doc).len()
}

async fn limits_are_advertised_and_enforced(app: &TestApp) {
    let spc: Value = app
        .get("/ServiceProviderConfig")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        spc["bulk"],
        json!({ "supported": true, "maxOperations": 1000, "maxPayloadSize": 4 * 1024 * 1024 })
    );
    let many: Vec<Value> = (0..1001)
        .map(|i| user_op(&i.to_string(), &format!("u{i}@example.com")))
        .collect();
    let r = app.post("/Bulk", &request(json!(many))).await;
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["scimType"], "tooMany");
    assert_eq!(e["status"], "413");

    // 1,000 operations fit.
    let thousand: Vec<Value> = (0..1000)
        .map(|i| user_op(&i.to_string(), &format!("u{i}@example.com")))
        .collect();
    let doc = bulk(app, &request(json!(thousand))).await;
    assert!(ops(&doc).iter().all(|o| o["status"] == "201"));
    assert_eq!(user_count(app).await, 1000);
}
both!(limits_are_advertised_and_enforced);

async fn malformed_requests_change_nothing(app: &TestApp) {
    let u = app.create_user("keep@example.com").await;
    let id = u["id"].as_str().unwrap();
    let delete = json!({ "method": "DELETE", "path": format!("/Users/{id}") });
    let cases = [
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [delete] }),
        json!({ "schemas": [BULK_REQUEST] }),
        request(json!([delete, { "method": "GET", "path": "/Users" }])),
        request(json!([delete, { "method": "POST", "path": "/Users", "data": {} }])),
        request(json!([delete, { "method": "DELETE", "path": "/Schemas/x" }])),
        request(json!([delete, { "method": "PUT", "path": "/Users" , "data": {} }])),
        request(json!([
            delete,
            user_op("x", "a@example.com"),
            user_op("x", "b@example.com")
        ])),
    ];
    for c in cases {
        let r = app.post("/Bulk", &c).await;
        assert_eq!(r.status(), 400, "{c}");
        let e: Value = r.json().await.unwrap();
        let t = e["scimType"].as_str().unwrap();
        assert!(t == "invalidSyntax" || t == "invalidValue", "{c}: {e}");
    }
    assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 200);
    assert_eq!(user_count(app).await, 1);
}
both!(malformed_requests_change_nothing);

async fn one_iam_cannot_touch_another_iams_resources(app: &TestApp) {
    let mine = app.create_user("mine@example.com").await;
    let mine_id = mine["id"].as_str().unwrap();
    let group = app.create_group("Mine", &[mine_id]).await;
    let group_id = group["id"].as_str().unwrap();
    let other = app.token_for_new_iam("other").await;
    let body = request(json!([
        { "method": "DELETE", "path": format!("/Users/{mine_id}") },
        { "method": "PUT", "path": format!("/Users/{mine_id}"),
          "data": { "schemas": [USER], "userName": "stolen@example.com" } },
        { "method": "PATCH", "path": format!("/Groups/{group_id}"),
          "data": { "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{ "op": "replace", "path": "displayName", "value": "Stolen" }] } },
        // Another IAM's user is no member here: skipped, as on POST /Groups.
        group_op("g", "Theirs", &[mine_id]),
        user_op("u", "mine@example.com"),
    ]));
    let r = app
        .request(reqwest::Method::POST, "/Bulk", Some(&other), Some(&body))
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    let ops = ops(&doc);
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["404", "404", "404", "201", "201"]);
    let theirs = id_of(&ops[3]);
    let t: Value = app
        .request(
            reqwest::Method::GET,
            &format!("/Groups/{theirs}"),
            Some(&other),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(t.get("members").is_none());
    let m: Value = app
        .get(&format!("/Users/{mine_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(m["userName"], "mine@example.com");
    let g: Value = app
        .get(&format!("/Groups/{group_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g["displayName"], "Mine");
    assert_eq!(app.get(&format!("/Groups/{theirs}")).await.status(), 404);
    // No bearer token: 401, nothing run.
    let r = app
        .request(reqwest::Method::POST, "/Bulk", None, Some(&body))
        .await;
    assert_eq!(r.status(), 401);
}
both!(one_iam_cannot_touch_another_iams_resources);

/// Both limits come from the configuration; a body above maxPayloadSize is
/// 413 and runs nothing.
async fn configured_limits(backend: crate::app::Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.bulk_max_operations = 2;
        c.bulk_max_payload_bytes = 2000;
    })
    .await
    else {
        eprintln!("SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped");
        return;
    };
    let spc: Value = app
        .get("/ServiceProviderConfig")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(spc["bulk"]["maxOperations"], 2);
    assert_eq!(spc["bulk"]["maxPayloadSize"], 2000);
    let r = app
        .post(
            "/Bulk",
            &request(json!([
                user_op("1", "a@x"),
                user_op("2", "b@x"),
                user_op("3", "c@x")
            ])),
        )
        .await;
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["scimType"], "tooMany");
    let mut fat = user_op("big", "big@example.com");
    fat["data"]["displayName"] = json!("x".repeat(2000));
    let r = app.post("/Bulk", &request(json!([fat]))).await;
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["status"], "413");
    assert!(
        e["detail"].as_str().unwrap().contains("maxPayloadSize"),
        "{e}"
    );
    assert_eq!(user_count(&app).await, 0);
    // Under both limits, it runs.
    let doc = bulk(
        &app,
        &request(json!([user_op("1", "a@x"), user_op("2", "b@x")])),
    )
    .await;
    assert_eq!(ops(&doc).len(), 2);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_limits_sqlite() {
    configured_limits(crate::app::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_limits_postgres() {
    configured_limits(crate::app::Backend::Postgres).await;
}

/// Creates written in one transaction still see each other: the second of
/// two equal userNames is the 409, and only it is undone.
async fn duplicates_within_one_request(app: &TestApp) {
    let doc = bulk(
        app,
        &request(json!([
            user_op("1", "same@example.com"),
            user_op("2", "SAME@example.com"),
            user_op("3", "other@example.com"),
            group_op("g1", "Twins", &[]),
            group_op("g2", "twins", &[]),
        ])),
    )
    .await;
    let statuses: Vec<&str> = ops(&doc)
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201", "409", "201", "201", "409"]);
    assert_eq!(user_count(app).await, 2);
    let found: Value = app
        .get("/Users?filter=emails.value%20eq%20%22same@example.com%22")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id_of(&ops(&doc)[0]));
}
both!(duplicates_within_one_request);
