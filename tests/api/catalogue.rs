//! The catalogue over SCIM (issue 20): `/Entitlements` (the permission
//! catalogue, custom permissions included) and `/Roles`, read-only, with
//! filters, paging and reads by id, described by `/ResourceTypes` and
//! `/Schemas` in the IAM's `rolesDialect`.

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;
use crate::bridge::admin;

const IETF_ROLE: &str = "urn:ietf:params:scim:schemas:core:2.0:Role";
const IETF_ENTITLEMENT: &str = "urn:ietf:params:scim:schemas:core:2.0:Entitlement";
const OKTA_ROLE: &str = "urn:okta:scim:schemas:core:1.0:Role";
const OKTA_ENTITLEMENT: &str = "urn:okta:scim:schemas:core:1.0:Entitlement";

/// A SCIM GET that must answer 200, and its body.
pub(crate) async fn json_of(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn values(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_owned())
        .collect()
}

/// A custom permission and two roles, one inside the other.
async fn seed(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let (status, _) = root
        .post(
            app,
            "/permissions",
            &json!({"name": "EXPORT_DATA", "description": "Export query results"}),
        )
        .await;
    assert_eq!(status, 201);
    for body in [
        json!({"name": "viewer", "description": "Sees", "permissions": ["AUDIT"]}),
        json!({"name": "exporter", "permissions": ["EXPORT_DATA"], "roles": ["viewer"]}),
    ] {
        let (status, b) = root.post(app, "/roles", &body).await;
        assert_eq!(status, 201, "{b}");
    }
}

both!(the_catalogue_is_listed_filtered_and_paged);
async fn the_catalogue_is_listed_filtered_and_paged(app: &TestApp) {
    seed(app).await;
    // Strict clients refuse an attribute RFC 7643 does not have: only an
    // IAM that opted in is told.
    let spc = json_of(app, "/ServiceProviderConfig").await;
    assert!(spc.get("RolesAndEntitlements").is_none(), "{spc}");

    let all = json_of(app, "/Entitlements").await;
    // Immuta's eleven and the custom one.
    assert_eq!(all["totalResults"], 12, "{all}");
    let export = all["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["value"] == "EXPORT_DATA")
        .unwrap();
    assert_eq!(export["schemas"], json!([IETF_ENTITLEMENT]));
    assert_eq!(export["description"], "Export query results");
    assert_eq!(export["supported"], true);
    assert_eq!(export["meta"]["resourceType"], "Entitlement");

    let one = json_of(app, "/Entitlements?filter=value%20eq%20%22AUDIT%22").await;
    assert_eq!(values(&one), ["AUDIT"]);
    let one = json_of(
        app,
        "/Entitlements?filter=displayName%20eq%20%22export_data%22",
    )
    .await;
    assert_eq!(values(&one), ["EXPORT_DATA"]);
    let page = json_of(app, "/Entitlements?startIndex=3&count=4").await;
    assert_eq!(page["totalResults"], 12);
    assert_eq!(page["startIndex"], 3);
    assert_eq!(page["itemsPerPage"], 4);
    assert_eq!(values(&page), values(&all)[2..6]);
    let by_id = json_of(app, "/Entitlements/EXPORT_DATA").await;
    assert_eq!(&by_id, export);

    let roles = json_of(app, "/Roles").await;
    assert_eq!(values(&roles), ["exporter", "viewer"]);
    let exporter = &roles["Resources"][0];
    let viewer = &roles["Resources"][1];
    assert_eq!(exporter["schemas"], json!([IETF_ROLE]));
    assert_eq!(
        exporter["contains"],
        json!([
            {"value": viewer["id"], "display": "viewer", "type": "Role",
             "$ref": format!("{}/Roles/{}", app.scim(), viewer["id"].as_str().unwrap())},
            {"value": "EXPORT_DATA", "display": "EXPORT_DATA", "type": "Entitlement",
             "$ref": format!("{}/Entitlements/EXPORT_DATA", app.scim())},
        ])
    );
    assert_eq!(viewer["containedBy"][0]["display"], "exporter");
    let id = viewer["id"].as_str().unwrap();
    assert_eq!(&json_of(app, &format!("/Roles/{id}")).await, viewer);
    let filtered = json_of(app, "/Roles?filter=value%20eq%20%22viewer%22").await;
    assert_eq!(values(&filtered), ["viewer"]);
    let projected = json_of(app, "/Roles?attributes=displayName&count=1").await;
    assert_eq!(projected["totalResults"], 2);
    assert_eq!(projected["Resources"][0]["displayName"], "exporter");
    assert!(projected["Resources"][0].get("contains").is_none());

    // Read-only, and bad requests are SCIM errors.
    let r = app.post("/Roles", &json!({"displayName": "x"})).await;
    assert_eq!(r.status(), 405);
    let r = app.delete("/Entitlements/AUDIT").await;
    assert_eq!(r.status(), 405);
    assert_eq!(app.get("/Roles/nope").await.status(), 404);
    assert_eq!(app.get("/Entitlements/NOPE").await.status(), 404);
    let r = app.get("/Roles?filter=value%20eq").await;
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["scimType"], "invalidFilter");

    // Listed in discovery once the IAM opts in (strict testers run CRUD
    // on every resource type listed).
    let types = json_of(app, "/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    let root = admin(app, "idp-admin@example.com").await;
    let (status, _) = root
        .put(
            app,
            "/iams/idp/settings",
            &json!({"permissionsSource": "idp"}),
        )
        .await;
    assert_eq!(status, 200);
    let types = json_of(app, "/ResourceTypes").await;
    assert_eq!(types["totalResults"], 4);
    let schema = json_of(app, &format!("/Schemas/{IETF_ROLE}")).await;
    let names: Vec<&str> = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "value",
            "display",
            "displayName",
            "type",
            "description",
            "supported",
            "contains",
            "containedBy"
        ]
    );
}

both!(okta_governance_discovers_the_catalogue_in_its_own_urns);
async fn okta_governance_discovers_the_catalogue_in_its_own_urns(app: &TestApp) {
    seed(app).await;
    let root = admin(app, "okta-admin@example.com").await;
    let (status, body) = root
        .put(app, "/iams/idp/settings", &json!({"rolesDialect": "okta"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rolesDialect"], "okta");
    let spc = json_of(app, "/ServiceProviderConfig").await;
    assert_eq!(spc["RolesAndEntitlements"]["roles"]["supported"], true);

    // Okta Identity Governance's sequence: the resource types, the
    // schemas they name, then every entitlement and role, in pages.
    let types = json_of(app, "/ResourceTypes").await;
    let by_schema: Vec<(&str, &str)> = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["schema"].as_str().unwrap(),
                t["endpoint"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(by_schema.contains(&(OKTA_ENTITLEMENT, "/Entitlements")));
    assert!(by_schema.contains(&(OKTA_ROLE, "/Roles")));
    assert!(!by_schema.iter().any(|(s, _)| *s == IETF_ROLE));
    let schema = json_of(app, &format!("/Schemas/{OKTA_ROLE}")).await;
    assert_eq!(schema["id"], OKTA_ROLE);
    assert_eq!(
        app.get(&format!("/Schemas/{IETF_ROLE}")).await.status(),
        404
    );

    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let page = json_of(app, &format!("/Entitlements?startIndex={start}&count=5")).await;
        let items = page["Resources"].as_array().unwrap();
        for e in items {
            assert_eq!(e["schemas"], json!([OKTA_ENTITLEMENT]));
        }
        seen.extend(values(&page));
        start += 5;
        if start > page["totalResults"].as_u64().unwrap() {
            break;
        }
    }
    assert_eq!(seen.len(), 12);
    assert!(seen.contains(&"EXPORT_DATA".to_owned()));
    let roles = json_of(app, "/Roles?startIndex=1&count=1").await;
    assert_eq!(roles["Resources"][0]["schemas"], json!([OKTA_ROLE]));
    assert_eq!(roles["totalResults"], 2);

    let (status, body) = root
        .put(
            app,
            "/iams/idp/settings",
            &json!({"rolesDialect": "klingon"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}
