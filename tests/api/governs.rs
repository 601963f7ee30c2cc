//! Who governs permissions (issue 20): with `permissionsSource: idp` the
//! roles and entitlements an identity provider sends on its users become
//! their grants (source `idp:<iam>`), in Okta's and Entra's shapes; with
//! `bridge` (the default) every such write is refused and nothing changes.

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;
use crate::bridge::{Admin, admin, assert_audited};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn ops(list: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": list})
}

/// Roles Admin (GOVERNANCE), Reader (AUDIT), Writer (CREATE_FILTER and
/// Reader); their SCIM ids by name.
async fn seed(app: &TestApp, root: &Admin) -> std::collections::HashMap<String, String> {
    for body in [
        json!({"name": "Admin", "permissions": ["GOVERNANCE"]}),
        json!({"name": "Reader", "permissions": ["AUDIT"]}),
        json!({"name": "Writer", "permissions": ["CREATE_FILTER"], "roles": ["Reader"]}),
    ] {
        let (status, b) = root.post(app, "/roles", &body).await;
        assert_eq!(status, 201, "{b}");
    }
    let (_, list) = root.get(app, "/roles").await;
    list["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn governs(app: &TestApp, root: &Admin, extra: Value) {
    let mut settings = json!({"permissionsSource": "idp"});
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    let (status, body) = root.put(app, "/iams/idp/settings", &settings).await;
    assert_eq!(status, 200, "{body}");
}

/// The roles an account holds and each permission's sources.
async fn holds(app: &TestApp, root: &Admin, id: &str) -> (Value, Value) {
    let (status, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(status, 200, "{view}");
    let sources: serde_json::Map<String, Value> = view["permissionSources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["permission"].as_str().unwrap().to_owned(),
                p["sources"].clone(),
            )
        })
        .collect();
    (
        view.get("roles").cloned().unwrap_or(json!([])),
        Value::Object(sources),
    )
}

fn complex(id: &str, name: &str) -> Value {
    json!({"value": json!({"id": id, "value": name, "displayName": name}).to_string()})
}

both!(okta_assigns_by_put_and_the_grants_follow);
async fn okta_assigns_by_put_and_the_grants_follow(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ids = seed(app, &root).await;
    governs(app, &root, json!({"rolesDialect": "okta"})).await;
    let user = app.create_user("okta@example.com").await;
    let id = user["id"].as_str().unwrap();
    // An administrator's own grant, which the provider never touches.
    let (status, _) = root
        .post(
            app,
            &format!("/users/{id}/permissions"),
            &json!({"permissions": ["FETCH_POLICY_INFO"]}),
        )
        .await;
    assert_eq!(status, 200);

    // Okta reads the user, then PUTs it back with the assignment: a role
    // by its id, an entitlement by its value.
    let r = app.get(&format!("/Users/{id}")).await;
    let mut body: Value = r.json().await.unwrap();
    body["roles"] = json!([{"value": ids["Writer"], "display": "Writer"}]);
    body["entitlements"] = json!([{"value": "CREATE_PROJECT", "display": "CREATE_PROJECT"}]);
    let r = app.put(&format!("/Users/{id}"), &body).await;
    assert_eq!(r.status(), 200);
    let echoed: Value = r.json().await.unwrap();
    assert_eq!(echoed["roles"], body["roles"]);
    let (roles, sources) = holds(app, &root, id).await;
    assert_eq!(roles, json!([{"role": "Writer", "source": "idp:idp"}]));
    assert_eq!(sources["AUDIT"], json!(["role:Writer"]));
    assert_eq!(sources["CREATE_FILTER"], json!(["role:Writer"]));
    assert_eq!(sources["CREATE_PROJECT"], json!(["iam-default", "idp:idp"]));
    assert_eq!(sources["FETCH_POLICY_INFO"], json!(["direct"]));
    let r = app
        .get(&format!("/Users/{id}?attributes=entitlements"))
        .await;
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc["entitlements"]
            .as_array()
            .unwrap()
            .contains(&json!({"value": "AUDIT", "type": "permission"})),
        "{doc}"
    );

    // Removal: the same PUT without them.
    body["roles"] = json!([]);
    body.as_object_mut().unwrap().remove("entitlements");
    let r = app.put(&format!("/Users/{id}"), &body).await;
    assert_eq!(r.status(), 200);
    let (roles, sources) = holds(app, &root, id).await;
    assert_eq!(roles, json!([]));
    assert!(sources.get("AUDIT").is_none(), "{sources}");
    assert!(sources.get("CREATE_FILTER").is_none());
    assert_eq!(sources["CREATE_PROJECT"], json!(["iam-default"]));
    assert_eq!(sources["FETCH_POLICY_INFO"], json!(["direct"]));

    // Recorded as any grant is.
    let query = format!("target={id}&limit=100");
    let wanted = [
        "role.added",
        "role.removed",
        "permission.added",
        "permission.removed",
    ];
    assert_audited(app, &root, "auditor@example.com", &query, &wanted).await;
}

both!(entras_three_role_shapes_assign_and_assertive_replace_removes);
async fn entras_three_role_shapes_assign_and_assertive_replace_removes(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ids = seed(app, &root).await;
    governs(app, &root, json!({})).await;
    let user = app.create_user("entra@example.com").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/Users/{id}");

    // SingleAppRoleAssignment.
    let r = app
        .patch(
            &path,
            &ops(json!([{"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (roles, sources) = holds(app, &root, id).await;
    assert_eq!(roles, json!([{"role": "Admin", "source": "idp:idp"}]));
    assert_eq!(sources["GOVERNANCE"], json!(["role:Admin"]));

    // AppRoleAssignmentsComplex: add only, each value a JSON object in a
    // string; echoed exactly as sent.
    let reader = complex(&ids["Reader"], "Reader");
    let r = app
        .patch(
            &path,
            &ops(json!([{"op": "add", "path": "roles", "value": [reader]}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["roles"].as_array().unwrap().contains(&reader), "{doc}");
    let (roles, _) = holds(app, &root, id).await;
    assert_eq!(
        roles,
        json!([{"role": "Admin", "source": "idp:idp"}, {"role": "Reader", "source": "idp:idp"}])
    );

    // AssertiveAppRoleAssignmentsComplex: the whole set, replaced; what
    // Entra left out goes.
    let writer = complex(&ids["Writer"], "Writer");
    let r = app
        .patch(
            &path,
            &ops(json!([{"op": "replace", "path": "roles", "value": [writer]}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (roles, sources) = holds(app, &root, id).await;
    assert_eq!(roles, json!([{"role": "Writer", "source": "idp:idp"}]));
    assert!(sources.get("GOVERNANCE").is_none(), "{sources}");
    assert_eq!(sources["AUDIT"], json!(["role:Writer"]));

    // The same through Bulk, and a create that carries its roles.
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "n",
             "data": {"schemas": [USER], "userName": "bulk@example.com", "roles": [{"value": "Admin"}]}},
            {"method": "PATCH", "path": format!("/Users/{id}"),
             "data": ops(json!([{"op": "replace", "path": "roles", "value": []}]))},
        ],
    });
    let r = app.post("/Bulk", &bulk).await;
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["Operations"][0]["status"], "201", "{out}");
    assert_eq!(out["Operations"][1]["status"], "200", "{out}");
    let created = out["Operations"][0]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let (roles, _) = holds(app, &root, &created).await;
    assert_eq!(roles, json!([{"role": "Admin", "source": "idp:idp"}]));
    let (roles, sources) = holds(app, &root, id).await;
    assert_eq!(roles, json!([]));
    assert!(sources.get("AUDIT").is_none());
}

both!(with_bridge_every_role_write_is_refused_and_nothing_changes);
async fn with_bridge_every_role_write_is_refused_and_nothing_changes(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ids = seed(app, &root).await;
    let user = app.create_user("bridge@example.com").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/Users/{id}");
    let before = root.get(app, &format!("/users/{id}")).await.1;
    let doc_before: Value = app.get(&path).await.json().await.unwrap();

    let reader = complex(&ids["Reader"], "Reader");
    for op in [
        json!({"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"}),
        json!({"op": "add", "path": "roles", "value": [reader]}),
        json!({"op": "replace", "path": "roles", "value": [reader]}),
        json!({"op": "add", "value": {"roles": [{"value": "Admin"}]}}),
        // Entitlements too: read-only here, so every PATCH of them is
        // refused (RFC 7644 §3.5.2).
        json!({"op": "add", "path": "entitlements", "value": [{"value": "AUDIT"}]}),
        json!({"op": "replace", "path": "entitlements", "value": [{"value": "AUDIT"}]}),
        json!({"op": "remove", "path": "entitlements"}),
        json!({"op": "remove", "path": "entitlements[value eq \"CREATE_PROJECT\"]"}),
        json!({"op": "Add", "path": "entitlements[primary eq \"True\"].value", "value": "AUDIT"}),
        json!({"op": "add", "path": "entitlements", "value": [reader.clone()]}),
        json!({"op": "add", "value": {"entitlements": [{"value": "AUDIT"}]}}),
        json!({"op": "replace", "value": {"entitlements": []}}),
    ] {
        let r = app.patch(&path, &ops(json!([op]))).await;
        assert_eq!(r.status(), 400, "{op}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["scimType"], "mutability", "{op}: {body}");
    }
    let mut put = doc_before.clone();
    put["roles"] = json!([{"value": ids["Writer"]}]);
    let r = app.put(&path, &put).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scimType"], "mutability");
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "new@example.com", "roles": [{"value": "Admin"}]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "n",
             "data": {"schemas": [USER], "userName": "bulk@example.com", "roles": [{"value": "Admin"}]}},
            {"method": "PATCH", "path": format!("/Users/{id}"),
             "data": ops(json!([{"op": "add", "path": "entitlements", "value": [{"value": "AUDIT"}]}]))}],
    });
    let out: Value = app.post("/Bulk", &bulk).await.json().await.unwrap();
    assert_eq!(out["Operations"][0]["status"], "400", "{out}");
    assert_eq!(out["Operations"][1]["status"], "400", "{out}");
    assert_eq!(
        out["Operations"][1]["response"]["scimType"], "mutability",
        "{out}"
    );

    // Nothing changed: not the account, not the document, no new user.
    assert_eq!(root.get(app, &format!("/users/{id}")).await.1, before);
    let doc_after: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(doc_after, doc_before);
    let list = crate::catalogue::json_of(
        app,
        "/Users?filter=userName%20sw%20%22new%40%22%20or%20userName%20sw%20%22bulk%40%22",
    )
    .await;
    assert_eq!(list["totalResults"], 0);
    // Entra's create with an empty list, and Okta's PUT echoing what it
    // read, still work; the schema says roles are read-only here.
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "empty@example.com", "roles": []}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.put(&path, &doc_before).await.status(), 200);
    // A PUT or POST value of the read-only entitlements is ignored
    // (RFC 7644 §3.5.1, §3.3): the account holds what it held.
    let mut put = doc_before.clone();
    put["entitlements"] = json!([{"value": "AUDIT"}, {"value": "GOVERNANCE"}]);
    assert_eq!(app.put(&path, &put).await.status(), 200);
    let after = root.get(app, &format!("/users/{id}")).await.1;
    assert_eq!(after["permissionSources"], before["permissionSources"]);
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "ents@example.com",
                    "entitlements": [{"value": "AUDIT"}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let posted: Value = r.json().await.unwrap();
    let (_, sources) = holds(app, &root, posted["id"].as_str().unwrap()).await;
    assert!(from_idp(&sources).is_empty(), "{sources}");
    assert!(sources.get("AUDIT").is_none(), "{sources}");
    let schema: Value = app
        .get(&format!("/Schemas/{USER}"))
        .await
        .json()
        .await
        .unwrap();
    let roles = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "roles")
        .unwrap();
    assert_eq!(roles["mutability"], "readOnly");
    let entitlements = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "entitlements")
        .unwrap();
    assert_eq!(entitlements["mutability"], "readOnly");
}

both!(assignments_beyond_what_the_provider_may_grant_are_refused);
async fn assignments_beyond_what_the_provider_may_grant_are_refused(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    seed(app, &root).await;
    let (status, _) = root
        .post(
            app,
            "/roles",
            &json!({"name": "Owners", "permissions": ["USER_ADMIN"]}),
        )
        .await;
    assert_eq!(status, 201);
    governs(app, &root, json!({})).await;
    let user = app.create_user("grabby@example.com").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/Users/{id}");
    let before = root.get(app, &format!("/users/{id}")).await.1;
    let doc_before: Value = app.get(&path).await.json().await.unwrap();

    // USER_ADMIN is not the provider's to grant by default: 403, by role
    // or by entitlement.
    let r = app
        .patch(
            &path,
            &ops(json!([{"op": "add", "path": "roles", "value": [{"value": "Owners"}]}])),
        )
        .await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("USER_ADMIN"),
        "{body}"
    );
    let mut put = doc_before.clone();
    put["entitlements"] = json!([{"value": "USER_ADMIN"}]);
    assert_eq!(app.put(&path, &put).await.status(), 403);
    // Every form of an entitlement write, and several operations of which
    // one goes too far: nothing of them applied.
    let admin_json = json!({"id": "USER_ADMIN", "value": "USER_ADMIN"}).to_string();
    for list in [
        json!([{"op": "add", "path": "entitlements", "value": [{"value": "USER_ADMIN"}]}]),
        json!([{"op": "add", "value": {"entitlements": [{"value": "APPLICATION_ADMIN"}]}}]),
        json!([{"op": "Add", "path": "entitlements[primary eq \"True\"].value", "value": "USER_ADMIN"}]),
        json!([{"op": "replace", "path": "entitlements", "value": [{"value": admin_json}]}]),
        json!([{"op": "add", "path": "entitlements", "value": [{"value": "AUDIT"}]},
               {"op": "add", "path": "entitlements", "value": [{"value": "USER_ADMIN"}]}]),
    ] {
        let r = app.patch(&path, &ops(list.clone())).await;
        assert_eq!(r.status(), 403, "{list}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap().contains("ADMIN"),
            "{list}: {body}"
        );
    }
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "admin@example.com",
                    "entitlements": [{"value": "USER_ADMIN"}]}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "n",
             "data": {"schemas": [USER], "userName": "admin@example.com",
                      "entitlements": [{"value": "USER_ADMIN"}]}},
            {"method": "PATCH", "path": format!("/Users/{id}"),
             "data": ops(json!([{"op": "add", "path": "entitlements", "value": [{"value": "USER_ADMIN"}]}]))},
        ],
    });
    let out: Value = app.post("/Bulk", &bulk).await.json().await.unwrap();
    assert_eq!(out["Operations"][0]["status"], "403", "{out}");
    assert_eq!(out["Operations"][1]["status"], "403", "{out}");
    let list = crate::catalogue::json_of(
        app,
        "/Users?filter=userName%20eq%20%22admin%40example.com%22",
    )
    .await;
    assert_eq!(list["totalResults"], 0);
    assert_eq!(root.get(app, &format!("/users/{id}")).await.1, before);

    // Unknown values: 400 naming them.
    let r = app
        .patch(
            &path,
            &ops(json!([{"op": "add", "path": "roles", "value": [{"value": "Admin"}, {"value": "Ghost"}, {"value": "Phantom"}]}])),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("Ghost") && detail.contains("Phantom"),
        "{detail}"
    );
    assert!(!detail.contains("Admin,"), "{detail}");

    // A thousand roles at once.
    let many: Vec<Value> = (0..1000)
        .map(|i| json!({"value": format!("r{i}")}))
        .collect();
    let r = app
        .patch(
            &path,
            &ops(json!([{"op": "replace", "path": "roles", "value": many}])),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("1000"), "{body}");

    // A narrower idpGrantable: Admin brings GOVERNANCE, now beyond it.
    governs(app, &root, json!({"idpGrantable": ["AUDIT"]})).await;
    let r = app
        .patch(
            &path,
            &ops(
                json!([{"op": "add", "path": "entitlements", "value": [{"value": "GOVERNANCE"}]}]),
            ),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .patch(
            &path,
            &ops(json!([{"op": "add", "path": "roles", "value": [{"value": "Admin"}]}])),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .patch(
            &path,
            &ops(json!([{"op": "add", "path": "roles", "value": [{"value": "Reader"}]}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (status, body) = root
        .put(
            app,
            "/iams/idp/settings",
            &json!({"permissionsSource": "idp", "idpGrantable": ["NOPE"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // Nothing of the refused writes was applied.
    let (roles, _) = holds(app, &root, id).await;
    assert_eq!(roles, json!([{"role": "Reader", "source": "idp:idp"}]));
    let after = root.get(app, &format!("/users/{id}")).await.1;
    assert_eq!(
        after["permissions"].as_array().unwrap().len(),
        before["permissions"].as_array().unwrap().len() + 1
    );
}

/// Each permission the account holds from the identity provider.
fn from_idp(sources: &Value) -> Vec<String> {
    let mut held: Vec<String> = sources
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, s)| s.as_array().unwrap().contains(&json!("idp:idp")))
        .map(|(p, _)| p.clone())
        .collect();
    held.sort();
    held
}

both!(entitlements_in_every_write_form_become_the_providers_grants);
async fn entitlements_in_every_write_form_become_the_providers_grants(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ids = seed(app, &root).await;
    governs(app, &root, json!({})).await;
    // The schema says what the provider may write here.
    let schema = crate::catalogue::json_of(app, &format!("/Schemas/{USER}")).await;
    let entitlements = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "entitlements")
        .unwrap();
    assert_eq!(entitlements["mutability"], "readWrite", "{entitlements}");
    assert_eq!(entitlements["returned"], "request");

    let user = app.create_user("ents@example.com").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/Users/{id}");
    let (status, _) = root
        .post(
            app,
            &format!("/users/{id}/permissions"),
            &json!({"permissions": ["FETCH_POLICY_INFO"]}),
        )
        .await;
    assert_eq!(status, 200);
    let audit_json = json!({"id": "AUDIT", "value": "AUDIT", "displayName": "AUDIT"}).to_string();

    // (operations, what the provider's grants are after them)
    let steps: Vec<(Value, Vec<&str>)> = vec![
        (
            json!([{"op": "add", "path": "entitlements", "value": [{"value": "AUDIT"}]}]),
            vec!["AUDIT"],
        ),
        (
            json!([{"op": "Add", "value": {"entitlements": [{"value": "GOVERNANCE"}]}}]),
            vec!["AUDIT", "GOVERNANCE"],
        ),
        (
            json!([{"op": "remove", "path": "entitlements[value eq \"AUDIT\"]"}]),
            vec!["GOVERNANCE"],
        ),
        // Entra's single assignment, through a value filter that matches
        // nothing yet.
        (
            json!([{"op": "Add", "path": "entitlements[primary eq \"True\"].value", "value": "CREATE_FILTER"}]),
            vec!["CREATE_FILTER", "GOVERNANCE"],
        ),
        (
            json!([{"op": "replace", "path": "entitlements[value eq \"CREATE_FILTER\"].value", "value": "AUDIT"}]),
            vec!["AUDIT", "GOVERNANCE"],
        ),
        // Entra's complex form: a JSON object inside a string.
        (
            json!([{"op": "replace", "path": "entitlements", "value": [{"value": audit_json}]}]),
            vec!["AUDIT"],
        ),
        (
            json!([{"op": "replace", "value": {"entitlements": [{"value": "CREATE_FILTER"}, {"value": "GOVERNANCE"}]}}]),
            vec!["CREATE_FILTER", "GOVERNANCE"],
        ),
        (json!([{"op": "remove", "path": "entitlements"}]), vec![]),
    ];
    for (list, want) in steps {
        let r = app.patch(&path, &ops(list.clone())).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{list}: {body}");
        let (_, sources) = holds(app, &root, id).await;
        assert_eq!(from_idp(&sources), want, "{list}: {sources}");
        // Never an administrator's own grant.
        assert_eq!(sources["FETCH_POLICY_INFO"], json!(["direct"]), "{list}");
    }

    // An entitlement may name a role too (by its id here).
    let r = app
        .patch(
            &path,
            &ops(
                json!([{"op": "add", "path": "entitlements", "value": [{"value": ids["Reader"]}]}]),
            ),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (roles, sources) = holds(app, &root, id).await;
    assert_eq!(roles, json!([{"role": "Reader", "source": "idp:idp"}]));
    assert_eq!(sources["AUDIT"], json!(["role:Reader"]));

    // PUT replaces the provider's set; what it leaves out goes.
    let mut body: Value = app.get(&path).await.json().await.unwrap();
    body["entitlements"] = json!([{"value": "GOVERNANCE"}, {"value": "CREATE_FILTER"}]);
    let r = app.put(&path, &body).await;
    assert_eq!(r.status(), 200);
    let (roles, sources) = holds(app, &root, id).await;
    assert_eq!(roles, json!([]));
    assert_eq!(from_idp(&sources), ["CREATE_FILTER", "GOVERNANCE"]);
    body.as_object_mut().unwrap().remove("entitlements");
    assert_eq!(app.put(&path, &body).await.status(), 200);
    let (_, sources) = holds(app, &root, id).await;
    assert!(from_idp(&sources).is_empty(), "{sources}");
    assert_eq!(sources["FETCH_POLICY_INFO"], json!(["direct"]));

    // POST, and Bulk (a create and a PATCH).
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "posted@example.com",
                    "entitlements": [{"value": "AUDIT"}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let posted: Value = r.json().await.unwrap();
    let (_, sources) = holds(app, &root, posted["id"].as_str().unwrap()).await;
    assert_eq!(from_idp(&sources), ["AUDIT"]);
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "n",
             "data": {"schemas": [USER], "userName": "bulk@example.com",
                      "entitlements": [{"value": "GOVERNANCE"}]}},
            {"method": "PATCH", "path": format!("/Users/{id}"),
             "data": ops(json!([{"op": "add", "path": "entitlements", "value": [{"value": "CREATE_FILTER"}]}]))},
        ],
    });
    let out: Value = app.post("/Bulk", &bulk).await.json().await.unwrap();
    assert_eq!(out["Operations"][0]["status"], "201", "{out}");
    assert_eq!(out["Operations"][1]["status"], "200", "{out}");
    let created = out["Operations"][0]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let (_, sources) = holds(app, &root, &created).await;
    assert_eq!(from_idp(&sources), ["GOVERNANCE"]);
    let (_, sources) = holds(app, &root, id).await;
    assert_eq!(from_idp(&sources), ["CREATE_FILTER"]);

    // Recorded as any grant is.
    let query = format!("target={id}&limit=100");
    let wanted = ["permission.added", "permission.removed"];
    assert_audited(app, &root, "auditor2@example.com", &query, &wanted).await;
}
