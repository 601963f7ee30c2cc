//! PATCH errors: each scimType the RFC names, If-Match, atomicity (a
//! failing operation leaves the stored resource byte-for-byte unchanged).

use reqwest::Method;
use serde_json::json;

use super::{ENT, ops, patch_err, patch_ok, snapshot, user_path};
use crate::app::TestApp;
use crate::both;

async fn scim_types(app: &TestApp) {
    let p = user_path(app, "errors@example.com").await;
    let (before, etag) = snapshot(app, &p).await;
    for (operations, scim_type) in [
        (
            json!([{ "op": "replace", "path": "id", "value": "x" }]),
            "mutability",
        ),
        (
            json!([{ "op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z" }]),
            "mutability",
        ),
        (
            json!([{ "op": "add", "path": "groups", "value": [{ "value": "g" }] }]),
            "mutability",
        ),
        (
            json!([{ "op": "replace", "value": { "id": "not-this-one" } }]),
            "mutability",
        ),
        (
            json!([{ "op": "remove", "path": "emails[type eq \"pager\"]" }]),
            "noTarget",
        ),
        (json!([{ "op": "remove" }]), "noTarget"),
        (
            json!([{ "op": "replace", "path": "nosuch", "value": "x" }]),
            "invalidPath",
        ),
        (
            json!([{ "op": "replace", "path": "name.nosuch", "value": "x" }]),
            "invalidPath",
        ),
        (
            json!([{ "op": "replace", "path": "emails[type eq", "value": "x" }]),
            "invalidPath",
        ),
        (
            json!([{ "op": "replace", "path": "emails[nosuch eq \"x\"].value", "value": "x" }]),
            "invalidPath",
        ),
        (
            json!([{ "op": "replace", "path": "urn:example:nosuch:attr", "value": "x" }]),
            "invalidPath",
        ),
        (
            json!([{ "op": "replace", "path": "active", "value": "yes" }]),
            "invalidValue",
        ),
        (
            json!([{ "op": "replace", "path": "title", "value": 42 }]),
            "invalidValue",
        ),
        (
            json!([{ "op": "replace", "path": "userName", "value": "" }]),
            "invalidValue",
        ),
        (
            json!([{ "op": "remove", "path": "userName" }]),
            "invalidValue",
        ),
        (
            json!([{ "op": "add", "value": "not an object" }]),
            "invalidValue",
        ),
        (
            json!([{ "op": "update", "path": "title", "value": "x" }]),
            "invalidSyntax",
        ),
    ] {
        patch_err(app, &p, operations, 400, Some(scim_type)).await;
    }
    let r = app
        .patch(&p, &json!({ "schemas": ["urn:wrong"], "Operations": [] }))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(snapshot(app, &p).await, (before, etag), "nothing changed");
    let r = app
        .patch(
            "/Users/00000000-0000-7000-8000-000000000000",
            &ops(json!([{ "op": "add", "path": "title", "value": "x" }])),
        )
        .await;
    assert_eq!(r.status(), 404);
}
both!(scim_types);

async fn a_failing_operation_changes_nothing(app: &TestApp) {
    let p = user_path(app, "atomic@example.com").await;
    patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": ENT, "value": { "department": "D" } }]),
    )
    .await;
    let (before, etag) = snapshot(app, &p).await;
    patch_err(
        app,
        &p,
        json!([
            { "op": "replace", "path": "displayName", "value": "Changed" },
            { "op": "remove", "path": ENT },
            { "op": "add", "path": "emails", "value": [{ "value": "z@x", "type": "other" }] },
            { "op": "replace", "path": "active", "value": "maybe" },
        ]),
        400,
        Some("invalidValue"),
    )
    .await;
    assert_eq!(snapshot(app, &p).await, (before.clone(), etag.clone()));
    // The same with the failure found only when the result is validated.
    patch_err(
        app,
        &p,
        json!([{ "op": "replace", "path": "displayName", "value": "Changed" }, { "op": "remove", "path": "userName" }]),
        400,
        Some("invalidValue"),
    )
    .await;
    assert_eq!(snapshot(app, &p).await, (before, etag));
}
both!(a_failing_operation_changes_nothing);

async fn if_match(app: &TestApp) {
    let p = user_path(app, "etag@example.com").await;
    let (_, etag) = snapshot(app, &p).await;
    let body = ops(json!([{ "op": "replace", "path": "title", "value": "A" }]));
    let send = |tag: &str| {
        app.client
            .request(Method::PATCH, format!("{}{p}", app.scim()))
            .bearer_auth(&app.token)
            .header("content-type", "application/scim+json")
            .header("if-match", tag)
            .body(body.to_string())
            .send()
    };
    let r = send("W/\"999\"").await.unwrap();
    assert_eq!(r.status(), 412);
    let r = send(&etag).await.unwrap();
    assert_eq!(r.status(), 200);
    let new_etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let r = send(&etag).await.unwrap();
    assert_eq!(r.status(), 412, "the old version no longer matches");
    assert_eq!(send("*").await.unwrap().status(), 200);
}
both!(if_match);

async fn projection_on_the_response(app: &TestApp) {
    let p = user_path(app, "proj@example.com").await;
    let r = app
        .patch(
            &format!("{p}?attributes=title"),
            &ops(json!([{ "op": "add", "path": "title", "value": "T" }])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["title"], "T");
    assert!(doc.get("id").is_some());
    assert!(doc.get("userName").is_none() && doc.get("emails").is_none());
    let r = app
        .patch(
            &format!("{p}?excludedAttributes=emails"),
            &ops(json!([{ "op": "add", "path": "nickName", "value": "N" }])),
        )
        .await;
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc.get("emails").is_none());
    assert_eq!(doc["nickName"], "N");
}
both!(projection_on_the_response);
