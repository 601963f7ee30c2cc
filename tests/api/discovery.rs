//! Discovery endpoints, generated from the schema definitions.

use serde_json::Value;

use crate::app::TestApp;
use crate::both;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn discovery_documents(app: &TestApp) {
    let spc: Value = app
        .get("/ServiceProviderConfig")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        spc["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    );
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["filter"]["maxResults"], app.config.max_results);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert_eq!(
        spc["meta"]["location"],
        format!("{}/ServiceProviderConfig", app.scim())
    );

    let rts: Value = app.get("/ResourceTypes").await.json().await.unwrap();
    // Users and groups; the catalogue only to an IAM that opted in.
    assert_eq!(rts["totalResults"], 2);
    let user_rt: Value = app.get("/ResourceTypes/User").await.json().await.unwrap();
    assert_eq!(user_rt["endpoint"], "/Users");
    assert_eq!(user_rt["schema"], USER);
    assert_eq!(user_rt["schemaExtensions"][0]["schema"], ENTERPRISE);
    assert_eq!(app.get("/ResourceTypes/Nope").await.status(), 404);

    let schemas: Value = app.get("/Schemas").await.json().await.unwrap();
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&USER) && ids.contains(&ENTERPRISE));
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:Group"));

    // URNs are case-insensitive; the answer is canonical.
    let user: Value = app
        .get(&format!("/Schemas/{}", USER.to_uppercase()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["id"], USER);
    let attrs = user["attributes"].as_array().unwrap();
    let attr = |n: &str| {
        attrs
            .iter()
            .find(|a| a["name"] == n)
            .unwrap_or_else(|| panic!("{n}"))
            .clone()
    };
    for name in [
        "userName",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    ] {
        attr(name);
    }
    assert_eq!(attr("userName")["uniqueness"], "server");
    assert_eq!(attr("userName")["required"], true);
    assert_eq!(attr("password")["returned"], "never");
    assert_eq!(attr("password")["mutability"], "writeOnly");
    assert_eq!(attr("groups")["mutability"], "readOnly");
    assert_eq!(app.get("/Schemas/urn:nope").await.status(), 404);
}
both!(discovery_documents);
