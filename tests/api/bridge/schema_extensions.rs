//! Custom schema extensions (issue 20, item 4): an IAM declares Entra's
//! `urn:…:CustomExtensionName:2.0:User`; its identity provider's values are
//! then validated, stored, echoed exactly, patched by their full URN path,
//! filtered and sorted on, described in `/Schemas` and `/ResourceTypes`,
//! mapped into attributes that governance decides with, and exported.
//! Bad values and bad declarations change nothing.

use serde_json::{Value, json};

use super::{Admin, admin, assert_audited};
use crate::app::TestApp;
use crate::both;
use crate::governance::{Governed, governed};

const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn declaration() -> Value {
    json!({"extensions": [{
        "id": CUSTOM,
        "resourceType": "User",
        "attributes": [
            {"name": "costCenter", "type": "string"},
            {"name": "level", "type": "integer"},
            {"name": "badges", "type": "string", "multiValued": true, "caseExact": true},
        ],
    }]})
}

async fn declare(root: &Admin, app: &TestApp, body: &Value) -> (u16, Value) {
    root.put(app, "/iams/idp/schema-extensions", body).await
}

/// Entra's create: the extension's values inside its URN.
fn entra_user(name: &str, ext: Value) -> Value {
    json!({
        "schemas": [CORE, CUSTOM],
        "userName": name,
        "active": true,
        CUSTOM: ext,
    })
}

async fn create(app: &TestApp, body: &Value) -> (u16, Value) {
    let r = app.post("/Users", body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn list(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/Users?{query}")).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn q(s: &str) -> String {
    crate::users::urlencode(s)
}

both!(a_declared_entra_extension_is_stored_echoed_patched_filtered_and_mapped);
async fn a_declared_entra_extension_is_stored_echoed_patched_filtered_and_mapped(app: &TestApp) {
    let Governed {
        root,
        governor,
        sales,
    } = governed(app).await;
    let (status, declared) = declare(&root, app, &declaration()).await;
    assert_eq!(status, 200, "{declared}");
    let (status, shown) = root.get(app, "/iams/idp/schema-extensions").await;
    assert_eq!(status, 200);
    assert_eq!(shown, declared);
    let attrs = &shown["extensions"][0]["attributes"];
    assert_eq!(attrs[0]["mutability"], "readWrite");
    assert_eq!(attrs[2]["caseExact"], true);
    assert_audited(
        app,
        &root,
        "audit@example.com",
        "limit=50",
        &["iam.updated"],
    )
    .await;

    // POST, then GET: exactly what Entra sent.
    let sent = json!({"costCenter": "CC-Dev", "level": 3, "badges": ["A", "b"]});
    let (status, created) = create(app, &entra_user("ada@example.com", sent.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created[CUSTOM], sent);
    let id = created["id"].as_str().unwrap().to_owned();
    let got: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(got[CUSTOM], sent);
    assert!(got["schemas"].as_array().unwrap().contains(&json!(CUSTOM)));
    let (_, other) = create(
        app,
        &entra_user(
            "bob@example.com",
            json!({"costCenter": "CC-Ops", "level": 1}),
        ),
    )
    .await;

    // PATCH by the full URN path (Entra's form), and a path-less one with a
    // URN-qualified key.
    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": format!("{CUSTOM}:costCenter"), "value": "CC-Fin"},
        {"op": "add", "value": {format!("{CUSTOM}:level"): 4}},
    ]});
    let r = app.patch(&format!("/Users/{id}"), &patch).await;
    assert_eq!(r.status(), 200);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(
        patched[CUSTOM],
        json!({"costCenter": "CC-Fin", "level": 4, "badges": ["A", "b"]})
    );

    // Filters (case-insensitive unless caseExact) and sorting.
    let found = list(
        app,
        &format!(
            "filter={}",
            q(&format!("{CUSTOM}:costCenter eq \"cc-fin\""))
        ),
    )
    .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    let found = list(
        app,
        &format!("filter={}", q(&format!("{CUSTOM}:level gt 2"))),
    )
    .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    let found = list(
        app,
        &format!("filter={}", q(&format!("{CUSTOM}:badges eq \"B\""))),
    )
    .await;
    assert_eq!(found["totalResults"], 0, "caseExact: {found}");
    // A bare name no other schema has (the Enterprise User has a
    // costCenter too: that one needs its URN).
    let found = list(app, &format!("filter={}", q("level eq 1"))).await;
    assert_eq!(found["Resources"][0]["id"], other["id"], "{found}");
    let r = app
        .get(&format!("/Users?filter={}", q("costCenter eq \"CC-Ops\"")))
        .await;
    assert_eq!(r.status(), 400);
    let sorted = list(
        app,
        &format!(
            "filter={}&sortBy={}",
            q(&format!("{CUSTOM}:level pr")),
            q(&format!("{CUSTOM}:level"))
        ),
    )
    .await;
    let order: Vec<&Value> = sorted["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r[CUSTOM]["level"])
        .collect();
    assert_eq!(order, [&json!(1), &json!(4)]);
    let only = list(
        app,
        &format!(
            "filter={}&attributes={}",
            q("userName eq \"ada@example.com\""),
            q(&format!("{CUSTOM}:level"))
        ),
    )
    .await;
    assert_eq!(only["Resources"][0][CUSTOM], json!({"level": 4}), "{only}");

    // Discovery describes it to this IAM.
    let schema: Value = app
        .get(&format!("/Schemas/{CUSTOM}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(schema["id"], CUSTOM);
    assert_eq!(schema["attributes"][1]["type"], "integer");
    let rt: Value = app.get("/ResourceTypes/User").await.json().await.unwrap();
    let exts = rt["schemaExtensions"].as_array().unwrap();
    assert!(
        exts.contains(&json!({"schema": CUSTOM, "required": false})),
        "{rt}"
    );
    let schemas: Value = app.get("/Schemas").await.json().await.unwrap();
    assert!(
        schemas["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == CUSTOM)
    );

    // Mapped into an attribute, it decides what governance decides.
    let mapping = json!({"attributeMapping": {format!("{CUSTOM}:costCenter"): "Environment"}});
    let (status, body) = root.put(app, "/iams/idp/settings", &mapping).await;
    assert_eq!(status, 200, "{body}");
    let answer = governor.evaluate(app, &id, json!({"id": sales})).await;
    assert_eq!(answer["decision"], "deny", "{answer:#}");
    let to_dev = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": format!("{CUSTOM}:costCenter"), "value": "Dev"},
    ]});
    assert_eq!(
        app.patch(&format!("/Users/{id}"), &to_dev).await.status(),
        200
    );
    let answer = governor.evaluate(app, &id, json!({"id": sales})).await;
    assert_eq!(answer["decision"], "subscribe", "{answer:#}");
    let from = format!("identity provider, via attributeMapping of {CUSTOM}:costCenter");
    assert_eq!(
        answer["inputs"]["attributes"]["Environment"]["Dev"],
        json!([from])
    );

    // Another IAM declared nothing: the extension is ignored there, as any
    // undeclared one.
    let token = app.token_for_new_iam("okta").await;
    let r = app
        .request(
            reqwest::Method::POST,
            "/Users",
            Some(&token),
            Some(&entra_user("carl@example.com", json!({"costCenter": "x"}))),
        )
        .await;
    assert_eq!(r.status(), 201);
    let plain: Value = r.json().await.unwrap();
    assert!(plain.get(CUSTOM).is_none(), "{plain}");
    let r = app
        .request(
            reqwest::Method::GET,
            "/ResourceTypes/User",
            Some(&token),
            None,
        )
        .await;
    let rt: Value = r.json().await.unwrap();
    assert!(!rt.to_string().contains(CUSTOM), "{rt}");
}

both!(bad_values_and_bad_declarations_change_nothing);
async fn bad_values_and_bad_declarations_change_nothing(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    assert_eq!(declare(&root, app, &declaration()).await.0, 200);
    let (_, ada) = create(
        app,
        &entra_user("ada@example.com", json!({"costCenter": "CC-1"})),
    )
    .await;
    let id = ada["id"].as_str().unwrap().to_owned();

    // Undeclared values in a declared URN, wrong types: 400, nothing made.
    for (ext, says) in [
        (json!({"costCentre": "typo"}), "is not declared"),
        (json!({"level": "three"}), "must be an integer"),
        (json!({"badges": [1]}), "must be a string"),
    ] {
        let (status, e) = create(app, &entra_user("bad@example.com", ext.clone())).await;
        assert_eq!(status, 400, "{ext}: {e}");
        assert_eq!(e["scimType"], "invalidValue", "{e}");
        assert!(e["detail"].as_str().unwrap().contains(says), "{e}");
    }
    let none = list(
        app,
        &format!("filter={}", q("userName eq \"bad@example.com\"")),
    )
    .await;
    assert_eq!(none["totalResults"], 0);
    for op in [
        json!({"op": "add", "path": format!("{CUSTOM}:nosuch"), "value": "x"}),
        json!({"op": "replace", "path": format!("{CUSTOM}:level"), "value": "x"}),
        json!({"op": "add", "value": {CUSTOM: {"nosuch": "x"}}}),
    ] {
        let body = json!({"schemas": [PATCH_OP], "Operations": [op.clone()]});
        let r = app.patch(&format!("/Users/{id}"), &body).await;
        assert_eq!(r.status(), 400, "{op}");
    }
    let got: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(got[CUSTOM], json!({"costCenter": "CC-1"}));
    assert_eq!(got["meta"]["version"], ada["meta"]["version"]);
    let r = app
        .get(&format!(
            "/Users?filter={}",
            q(&format!("{CUSTOM}:nosuch eq \"x\""))
        ))
        .await;
    assert_eq!(r.status(), 400);

    // Bad declarations: 400 saying why; the declaration stays.
    let attr = |a: Value| json!({"extensions": [{"id": CUSTOM, "resourceType": "User", "attributes": [a]}]});
    for (body, says) in [
        (attr(json!({"name": "a", "type": "text"})), "not one of"),
        (
            json!({"extensions": [{"id": CUSTOM, "resourceType": "User", "attributes": [
                {"name": "a", "type": "string"}, {"name": "A", "type": "integer"}]}]}),
            "declared twice",
        ),
        (
            json!({"extensions": [{"id": "CustomExtensionName", "resourceType": "User",
                "attributes": [{"name": "a", "type": "string"}]}]}),
            "not a schema URN",
        ),
        (
            json!({"extensions": [{"id": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "resourceType": "User", "attributes": [{"name": "a", "type": "string"}]}]}),
            "built-in",
        ),
        (
            attr(json!({"name": "a", "type": "complex"})),
            "subAttributes",
        ),
        (json!({"extension": []}), "unknown key"),
    ] {
        let (status, e) = declare(&root, app, &body).await;
        assert_eq!(status, 400, "{body}: {e}");
        assert!(e.to_string().contains(says), "{says}: {e}");
    }
    let (_, shown) = root.get(app, "/iams/idp/schema-extensions").await;
    assert_eq!(
        shown["extensions"][0]["attributes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Only a USER_ADMIN declares.
    let auditor = root.another(app, "auditor@example.com", &["AUDIT"]).await;
    assert_eq!(
        declare(&auditor, app, &json!({"extensions": []})).await.0,
        403
    );
}

both!(a_declaration_stored_values_would_not_fit_is_refused);
async fn a_declaration_stored_values_would_not_fit_is_refused(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    assert_eq!(declare(&root, app, &declaration()).await.0, 200);
    for (name, level) in [("ada@example.com", 3), ("bob@example.com", 4)] {
        let (status, _) = create(app, &entra_user(name, json!({"level": level}))).await;
        assert_eq!(status, 201);
    }
    let (_, carl) = create(
        app,
        &entra_user("carl@example.com", json!({"costCenter": "x"})),
    )
    .await;

    let with = |level: Value| {
        json!({"extensions": [{"id": CUSTOM, "resourceType": "User", "attributes": [
            {"name": "costCenter", "type": "string"}, level,
        ]}]})
    };
    // `level` becomes a string, or goes: two users hold a level.
    for body in [
        with(json!({"name": "level", "type": "string"})),
        with(json!({"name": "level", "type": "integer", "mutability": "readOnly"})),
        json!({"extensions": [{"id": CUSTOM, "resourceType": "User", "attributes": [
            {"name": "costCenter", "type": "string"}]}]}),
    ] {
        let (status, e) = declare(&root, app, &body).await;
        assert_eq!(status, 409, "{body}: {e}");
        assert!(e.to_string().contains("2 stored resource(s)"), "{e}");
    }
    // Dropping the whole extension: three hold values.
    let (status, e) = declare(&root, app, &json!({"extensions": []})).await;
    assert_eq!(status, 409);
    assert!(e.to_string().contains("3 stored resource(s)"), "{e}");
    let (_, shown) = root.get(app, "/iams/idp/schema-extensions").await;
    assert_eq!(shown["extensions"][0]["attributes"][1]["type"], "integer");

    // What fits is accepted: a new attribute, a description.
    let mut more = declaration();
    more["extensions"][0]["attributes"][0]["description"] = json!("Finance's code");
    more["extensions"][0]["attributes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "hired", "type": "dateTime"}));
    let (status, body) = declare(&root, app, &more).await;
    assert_eq!(status, 200, "{body}");

    // Once no one holds a value, the extension can go.
    for user in list(app, "").await["Resources"].as_array().unwrap() {
        let clear =
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": CUSTOM}]});
        let r = app
            .patch(&format!("/Users/{}", user["id"].as_str().unwrap()), &clear)
            .await;
        assert_eq!(r.status(), 200);
    }
    let (status, body) = declare(&root, app, &json!({"extensions": []})).await;
    assert_eq!(status, 200, "{body}");
    let got: Value = app
        .get(&format!("/Users/{}", carl["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert!(got.get(CUSTOM).is_none(), "{got}");
}

both!(declarations_and_values_travel_through_export_and_import);
async fn declarations_and_values_travel_through_export_and_import(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    assert_eq!(declare(&root, app, &declaration()).await.0, 200);
    let sent = json!({"costCenter": "CC-7", "level": 7});
    let (_, ada) = create(app, &entra_user("ada@example.com", sent.clone())).await;
    let id = ada["id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.jsonl");
    let file = file.to_str().unwrap();
    let (ok, _, err) = crate::transfer::cli(&app.database_url, &["export", "--output", file]);
    assert!(ok, "{err}");

    let target = crate::transfer::other(app).await;
    let (ok, summary, err) =
        crate::transfer::cli(&target.database_url, &["import", "--input", file]);
    assert!(ok, "{summary}{err}");
    let (_, declared) = root.get(app, "/iams/idp/schema-extensions").await;
    let root = admin(&target, "root@example.com").await;
    let (_, shown) = root.get(&target, "/iams/idp/schema-extensions").await;
    assert_eq!(shown, declared);
    let got: Value = target
        .get(&format!("/Users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got[CUSTOM], sent);
    let found = list(
        &target,
        &format!("filter={}", q(&format!("{CUSTOM}:level eq 7"))),
    )
    .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    // Again: nothing changes.
    let (ok, summary, err) =
        crate::transfer::cli(&target.database_url, &["import", "--input", file]);
    assert!(ok && summary.contains("nothing changed"), "{summary}{err}");
    target.finish().await;
}
