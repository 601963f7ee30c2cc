//! PATCH over HTTP: the RFC's operations, every identity-provider dialect
//! shape, errors, atomicity, If-Match, large groups and replay properties.

mod dialects;
mod errors;
mod groups;
mod properties;

use serde_json::{Value, json};

use crate::app::TestApp;

pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A PatchOp body.
pub fn ops(operations: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

/// PATCHes `path`, expecting 200, and returns the response document.
pub async fn patch_ok(app: &TestApp, path: &str, operations: Value) -> Value {
    let r = app.patch(path, &ops(operations.clone())).await;
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "PATCH {path} {operations}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// PATCHes `path`, expecting a 400 error of `scim_type`.
pub async fn patch_err(
    app: &TestApp,
    path: &str,
    operations: Value,
    status: u16,
    scim_type: Option<&str>,
) {
    let r = app.patch(path, &ops(operations.clone())).await;
    assert_eq!(r.status(), status, "PATCH {path} {operations}");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["scimType"].as_str(), scim_type, "{operations}: {e}");
}

pub async fn get(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// The exact bytes and ETag of a GET.
pub async fn snapshot(app: &TestApp, path: &str) -> (String, String) {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    (r.text().await.unwrap(), etag)
}

/// Creates a user and returns its `/Users/{id}` path.
pub async fn user_path(app: &TestApp, user_name: &str) -> String {
    let u = app.create_user(user_name).await;
    format!("/Users/{}", u["id"].as_str().unwrap())
}

pub fn member_ids(group: &Value) -> Vec<String> {
    let mut v: Vec<String> = group["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
