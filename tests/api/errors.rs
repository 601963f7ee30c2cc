//! Bad input gets a SCIM Error document with the right status and scimType,
//! and changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;

async fn assert_scim_error(r: reqwest::Response, status: u16, scim_type: Option<&str>) -> Value {
    assert_eq!(r.status(), status);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/scim+json"), "content type {ct}");
    let e: Value = r.json().await.expect("a JSON error body");
    assert_eq!(
        e["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(e["status"], status.to_string());
    assert_eq!(e["scimType"].as_str(), scim_type, "{e}");
    assert!(e["detail"].as_str().is_some_and(|d| !d.is_empty()));
    e
}

async fn raw(app: &TestApp, method: Method, path: &str, body: &str) -> reqwest::Response {
    app.client
        .request(method, format!("{}{path}", app.scim()))
        .bearer_auth(&app.token)
        .header("content-type", "application/scim+json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn malformed_bodies_are_refused_and_change_nothing(app: &TestApp) {
    for body in ["{", "not json", "", "[1,2", "{\"userName\": \"x\",}"] {
        assert_scim_error(
            raw(app, Method::POST, "/Users", body).await,
            400,
            Some("invalidSyntax"),
        )
        .await;
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_scim_error(
        raw(app, Method::POST, "/Users", &deep).await,
        400,
        Some("invalidSyntax"),
    )
    .await;
    let deep_obj = format!(
        r#"{{"userName":"x","a":{}1{}}}"#,
        r#"{"b":"#.repeat(5000),
        "}".repeat(5000)
    );
    assert_scim_error(
        raw(app, Method::POST, "/Users", &deep_obj).await,
        400,
        Some("invalidSyntax"),
    )
    .await;
    for body in [json!([]), json!("x"), json!(42)] {
        assert_scim_error(app.post("/Users", &body).await, 400, Some("invalidSyntax")).await;
    }
    for body in [
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
        json!({"userName": ""}),
        json!({"userName": "   "}),
        json!({"userName": null}),
    ] {
        assert_scim_error(app.post("/Users", &body).await, 400, Some("invalidValue")).await;
    }
    for body in [
        json!({"userName": 42}),
        json!({"userName": "ok", "active": "maybe"}),
        json!({"userName": "ok", "name": "not an object"}),
        json!({"userName": "ok", "emails": [{"value": "a@b.c", "primary": true}, {"value": "d@e.f", "primary": true}]}),
    ] {
        assert_scim_error(app.post("/Users", &body).await, 400, Some("invalidValue")).await;
    }
    for body in [
        json!({"userName": "nul\u{0}byte"}),
        json!({"userName": "ok", "name": {"givenName": "a\u{0}"}}),
    ] {
        assert_scim_error(app.post("/Users", &body).await, 400, Some("invalidValue")).await;
    }
    let l: Value = app.get("/Users").await.json().await.unwrap();
    assert_eq!(l["totalResults"], 0, "no refused request created a user");
}
both!(malformed_bodies_are_refused_and_change_nothing);

async fn oversized_body_is_413(app: &TestApp) {
    let big = "x".repeat(app.config.max_body_bytes + 10);
    let body = json!({"userName": "big", "displayName": big});
    assert_scim_error(app.post("/Users", &body).await, 413, None).await;
    // Without a Content-Length header (chunked), the limit still holds.
    let stream =
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(body.to_string().into_bytes())]);
    let r = app
        .client
        .post(format!("{}/Users", app.scim()))
        .bearer_auth(&app.token)
        .header("content-type", "application/scim+json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    // The server may answer 413 and close before the client has sent the
    // rest; either way the request is refused.
    match r {
        Ok(r) => {
            assert_scim_error(r, 413, None).await;
        }
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    let l: Value = app.get("/Users").await.json().await.unwrap();
    assert_eq!(l["totalResults"], 0);
}
both!(oversized_body_is_413);

async fn routing_errors_are_scim_documents(app: &TestApp) {
    assert_scim_error(app.get("/Nope").await, 404, None).await;
    assert_scim_error(app.get("/Users/not-a-uuid").await, 404, None).await;
    assert_scim_error(
        app.get("/Users/00000000-0000-7000-8000-000000000000").await,
        404,
        None,
    )
    .await;
    assert_scim_error(
        app.request(Method::PATCH, "/Users", Some(&app.token), None)
            .await,
        405,
        None,
    )
    .await;
    for path in [
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        "/ResourceTypes/User",
    ] {
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let r = app
                .request(m.clone(), path, Some(&app.token), Some(&json!({})))
                .await;
            assert_scim_error(r, 405, None).await;
        }
    }
    let r = app
        .client
        .post(format!("{}/Users", app.scim()))
        .bearer_auth(&app.token)
        .header("content-type", "text/plain")
        .body("userName=x")
        .send()
        .await
        .unwrap();
    assert_scim_error(r, 415, None).await;
    // application/json is accepted as well as application/scim+json.
    let r = app
        .client
        .post(format!("{}/Users", app.scim()))
        .bearer_auth(&app.token)
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({"userName": "json@example.com"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}
both!(routing_errors_are_scim_documents);

async fn unknown_filter_grammar_is_invalid_filter(app: &TestApp) {
    for f in [
        "userName eq",
        "userName xx \"a\"",
        "((userName eq \"a\")",
        "userName eq \"unterminated",
    ] {
        let r = app
            .get(&format!("/Users?filter={}", crate::users::urlencode(f)))
            .await;
        assert_scim_error(r, 400, Some("invalidFilter")).await;
    }
    let r = app
        .get(&format!(
            "/Users?filter={}",
            crate::users::urlencode("password eq \"x\"")
        ))
        .await;
    assert_scim_error(r, 400, Some("invalidFilter")).await;
    let long = format!(
        "userName eq \"{}\"",
        "a".repeat(app.config.filter_max_length)
    );
    let r = app
        .get(&format!("/Users?filter={}", crate::users::urlencode(&long)))
        .await;
    assert_scim_error(r, 400, Some("invalidFilter")).await;
}
both!(unknown_filter_grammar_is_invalid_filter);
