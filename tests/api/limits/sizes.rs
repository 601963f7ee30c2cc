//! Size limits: bodies per route (413), PATCH operations, filters (400).

use reqwest::Method;
use serde_json::{Value, json};

use super::{assert_scim_error, user, users_named};
use crate::app::{Backend, TestApp};
use crate::bridge::admin;

crate::both_with!(bodies_over_their_route_limit_are_413, |c| {
    c.max_body_bytes = 1024;
    c.bulk_max_payload_bytes = 4096;
});
async fn bodies_over_their_route_limit_are_413(app: &TestApp) {
    let mut big = user("big@example.com");
    big["displayName"] = json!("x".repeat(2000));
    // A resource, with and without a token (nothing is authenticated for
    // a body that is refused anyway).
    let body = assert_scim_error(app.post("/Users", &big).await, 413).await;
    assert!(body["detail"].as_str().unwrap().contains("1024 bytes"));
    let r = app.request(Method::POST, "/Users", None, Some(&big)).await;
    assert_scim_error(r, 413).await;
    // The same without a declared length (chunked).
    let chunks = futures_util::stream::iter(
        big.to_string()
            .into_bytes()
            .chunks(256)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = app
        .client
        .post(format!("{}/Users", app.scim()))
        .bearer_auth(&app.token)
        .header("content-type", "application/scim+json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_scim_error(r, 413).await;

    // /Bulk takes its maxPayloadSize: what is too large for a resource is
    // fine there, above it is not.
    let op = |i: usize| {
        json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
               "data": user(&format!("bulk{i}@example.com"))})
    };
    let bulk = |n: usize| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
               "Operations": (0..n).map(op).collect::<Vec<_>>()})
    };
    let fits = bulk(8);
    assert!(fits.to_string().len() > 1024 && fits.to_string().len() < 4096);
    assert_eq!(app.post("/Bulk", &fits).await.status(), 200);
    let body = assert_scim_error(app.post("/Bulk", &bulk(40)).await, 413).await;
    assert!(
        body["detail"].as_str().unwrap().contains("maxPayloadSize"),
        "{body}"
    );

    // The admin API answers in its own error shape.
    let root = admin(app, "root@example.com").await;
    let (status, body) = root
        .post(
            app,
            "/users",
            &json!({"userName": "big", "note": "x".repeat(2000)}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["status"], 413);
    assert_eq!(users_named(app, "big@example.com").await, 0);
}

crate::both_with!(a_patch_over_the_operation_limit_is_refused_whole, |c| {
    c.patch_max_operations = 3;
});
async fn a_patch_over_the_operation_limit_is_refused_whole(app: &TestApp) {
    let u = app.create_user("ops@example.com").await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let ops = |n: usize| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": (0..n).map(|i| json!({"op": "replace", "path": "title",
                                                   "value": format!("t{i}")}))
                                   .collect::<Vec<_>>()})
    };
    let body = assert_scim_error(app.patch(&path, &ops(4)).await, 400).await;
    assert_eq!(body["scimType"], "tooMany");
    assert!(
        body["detail"].as_str().unwrap().contains("at most 3"),
        "{body}"
    );
    let now: Value = app.get(&path).await.json().await.unwrap();
    assert!(now.get("title").is_none(), "nothing applied: {now}");
    let r = app.patch(&path, &ops(3)).await;
    assert_eq!(r.status(), 200);
    let now: Value = r.json().await.unwrap();
    assert_eq!(now["title"], "t2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_over_their_limits_are_400() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.filter_max_length = 64;
        c.filter_max_terms = 2;
        c.filter_max_depth = 2;
    })
    .await
    .expect("sqlite");
    for filter in [
        format!("userName eq \"{}\"", "a".repeat(80)),
        "userName eq \"a\" or userName eq \"b\" or userName eq \"c\"".to_owned(),
        "(((userName eq \"a\")))".to_owned(),
    ] {
        let r = app
            .client
            .get(format!("{}/Users", app.scim()))
            .query(&[("filter", &filter)])
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        let body = assert_scim_error(r, 400).await;
        assert_eq!(body["scimType"], "invalidFilter", "{filter}: {body}");
    }
    app.finish().await;
}
