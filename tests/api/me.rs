//! `/Me` (RFC 7644 §3.11): the admin bearer token's user, as
//! `/Users/{id}` in the built-in IAM; identity providers' tokens name no
//! user; POST and DELETE are refused.

use reqwest::Method;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn admin(app: &TestApp) -> (String, String) {
    let (id, token) = app
        .directory()
        .await
        .bootstrap_admin(
            "me@example.com",
            Some("Me Myself"),
            time::Duration::hours(1),
        )
        .await
        .expect("bootstrap");
    (id.to_string(), token)
}

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("json")
}

async fn get_me_is_the_admin_user(app: &TestApp) {
    let (id, token) = admin(app).await;
    let r = app.request(Method::GET, "/Me", Some(&token), None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/scim+json")
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let doc = body(r).await;
    assert_eq!(doc["id"], id);
    assert_eq!(doc["userName"], "me@example.com");
    assert_eq!(doc["displayName"], "Me Myself");
    assert_eq!(doc["meta"]["resourceType"], "User");
    assert_eq!(doc["meta"]["version"], etag);
    // The location of the real resource, not of the alias.
    assert_eq!(
        doc["meta"]["location"],
        format!("{}/Users/{id}", app.scim())
    );

    // Projection parameters apply.
    let r = app
        .request(Method::GET, "/Me?attributes=userName", Some(&token), None)
        .await;
    assert_eq!(r.status(), 200);
    let doc = body(r).await;
    assert_eq!(doc["userName"], "me@example.com");
    assert_eq!(doc["id"], id);
    assert!(doc.get("displayName").is_none(), "{doc}");
    assert!(doc.get("emails").is_none(), "{doc}");

    // If-None-Match with the current ETag: 304.
    let r = app
        .client
        .get(format!("{}/Me", app.scim()))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    // The route is matched in any case, like every SCIM endpoint.
    let r = app
        .request(
            Method::GET,
            &format!("{}/scim/v2/me/", app.origin),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["id"], id);
}
both!(get_me_is_the_admin_user);

async fn patch_and_put_me_change_the_user(app: &TestApp) {
    let (id, token) = admin(app).await;
    let before = body(app.request(Method::GET, "/Me", Some(&token), None).await).await;
    let old_version = before["meta"]["version"].as_str().unwrap().to_owned();

    let patch = json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}],
    });
    let r = app
        .request(Method::PATCH, "/Me", Some(&token), Some(&patch))
        .await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let doc = body(r).await;
    assert_eq!(doc["id"], id);
    assert_eq!(doc["displayName"], "Renamed");
    assert_ne!(etag, old_version);
    assert_eq!(
        doc["meta"]["location"],
        format!("{}/Users/{id}", app.scim())
    );
    let now = body(app.request(Method::GET, "/Me", Some(&token), None).await).await;
    assert_eq!(now["displayName"], "Renamed");

    // A stale If-Match: 412, nothing changes.
    let r = app
        .client
        .patch(format!("{}/Me", app.scim()))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .header("if-match", &old_version)
        .body(
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let now = body(app.request(Method::GET, "/Me", Some(&token), None).await).await;
    assert!(now.get("title").is_none());

    // A bad PATCH is a SCIM error and changes nothing.
    let bad = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "nope[", "value": 1}]});
    let r = app
        .request(Method::PATCH, "/Me", Some(&token), Some(&bad))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(body(r).await["scimType"], "invalidPath");

    // PUT replaces, with a matching If-Match and a projection.
    let r = app
        .client
        .put(format!("{}/Me?excludedAttributes=emails", app.scim()))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .header("if-match", &etag)
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "me@example.com",
                "displayName": "Put Name",
                "emails": [{"value": "me@example.com", "type": "work", "primary": true}],
                "title": "Boss",
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = body(r).await;
    assert_eq!(doc["id"], id);
    assert_eq!(doc["displayName"], "Put Name");
    assert_eq!(doc["title"], "Boss");
    assert!(doc.get("emails").is_none(), "{doc}");
    let now = body(app.request(Method::GET, "/Me", Some(&token), None).await).await;
    assert_eq!(now["title"], "Boss");
    assert_eq!(now["emails"][0]["value"], "me@example.com");

    // The admin API still knows the same user.
    let r = app
        .client
        .get(format!("{}/api/v1/me", app.origin))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(body(r).await["id"], id);
}
both!(patch_and_put_me_change_the_user);

async fn tokens_that_name_no_user(app: &TestApp) {
    // An identity provider's SCIM token acts for an IAM, not a user.
    let r = app.get("/Me").await;
    assert_eq!(r.status(), 404);
    let doc = body(r).await;
    assert_eq!(
        doc["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(doc["status"], "404");
    let detail = doc["detail"].as_str().unwrap();
    assert!(detail.contains("identity provider"), "{detail}");
    assert!(detail.contains("not a user"), "{detail}");
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]});
    let r = app.patch("/Me", &patch).await;
    assert_eq!(r.status(), 404);

    // No token, or one that is not valid: 401.
    let r = app.request(Method::GET, "/Me", None, None).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(body(r).await["status"], "401");
    let r = app.request(Method::PATCH, "/Me", None, Some(&patch)).await;
    assert_eq!(r.status(), 401);
    let r = app
        .request(Method::GET, "/Me", Some("not-a-token"), None)
        .await;
    assert_eq!(r.status(), 401);
}
both!(tokens_that_name_no_user);

async fn post_and_delete_me_are_refused(app: &TestApp) {
    let (id, token) = admin(app).await;
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "someone@example.com",
    });
    let r = app
        .request(Method::POST, "/Me", Some(&token), Some(&user))
        .await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, PUT, PATCH");
    let doc = body(r).await;
    assert_eq!(doc["status"], "405");
    assert!(
        doc["detail"].as_str().unwrap().contains("POST /Me"),
        "{doc}"
    );

    let r = app.request(Method::DELETE, "/Me", Some(&token), None).await;
    assert_eq!(r.status(), 405);
    let doc = body(r).await;
    assert!(
        doc["detail"].as_str().unwrap().contains("admin API"),
        "{doc}"
    );

    // The user is still there.
    let r = app.request(Method::GET, "/Me", Some(&token), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["id"], id);
}
both!(post_and_delete_me_are_refused);
