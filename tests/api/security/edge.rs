//! Guards the probe's findings at the edge of the server (issue 15):
//! 2 (a declared oversized body, or a slow one without a token, held a
//! request slot until the deadline: unauthenticated denial of service),
//! 10 (a Bulk of N operations cost one request of the token's rate),
//! 11 (a client's Host header landed in `Location` and `meta.location`),
//! 13 in part (duplicate JSON keys accepted; any content type naming json
//! accepted on SCIM).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::TestApp;
use crate::bridge::{admin, call};
use crate::limits::{assert_scim_error, user, users_named};

/// Far longer than any answer here takes, far shorter than the 30 s
/// deadline a request holding a slot would wait for.
const PROMPTLY: Duration = Duration::from_secs(10);

/// A connection that has sent `raw` (a request head, maybe part of a body).
async fn attack(app: &TestApp, raw: &str) -> TcpStream {
    let addr = app.origin.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(raw.as_bytes()).await.expect("send");
    s
}

/// The response head the server sends, lower-cased; panics if none comes
/// within `PROMPTLY`.
async fn head_of(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(PROMPTLY, s.read(&mut buf)).await {
            Err(_) => panic!("no answer: the request is waiting"),
            Ok(Ok(0)) | Ok(Err(_)) => panic!("closed without an answer: {got:?}"),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).to_ascii_lowercase()
}

/// Reads until the server closes the connection.
async fn closed(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(PROMPTLY, s.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open"),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

/// A SCIM request on a fresh connection (the server closes idle ones soon).
async fn served(app: &TestApp) -> u16 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    client
        .get(format!("{}/Users?count=1", app.scim()))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("served")
        .status()
        .as_u16()
}

/// Two slots; attackers that took one until the deadline would starve it.
fn tiny_server(c: &mut scim_bridge::config::Config) {
    c.max_concurrent_requests = 2;
    c.max_queued_requests = 64;
    c.header_read_timeout_ms = 2000;
}

crate::both_with!(
    declared_oversized_bodies_are_413_at_once_and_hold_no_slot,
    |c| {
        super::tiny_server(c);
        // No queue: a request finding both slots taken is 503 at once.
        c.max_queued_requests = 0;
    }
);
async fn declared_oversized_bodies_are_413_at_once_and_hold_no_slot(app: &TestApp) {
    // Far more connections than slots and queue, no token, no body.
    let mut conns = Vec::new();
    for i in 0..30 {
        let path = ["/scim/v2/Users", "/scim/v2/Bulk", "/api/v1/users"][i % 3];
        let raw = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 1000000000\r\n\r\n"
        );
        conns.push((path, attack(app, &raw).await));
    }
    // An identity provider is served meanwhile.
    assert_eq!(served(app).await, 200);
    for (path, s) in &mut conns {
        let head = head_of(s).await;
        assert!(head.starts_with("http/1.1 413"), "{path}: {head}");
        assert!(head.contains("\r\nconnection: close\r\n"), "{path}: {head}");
    }
    // And each connection is let go, within the header-read timeout.
    for (_, s) in &mut conns {
        closed(s).await;
    }
    assert_eq!(served(app).await, 200);
}

crate::both_with!(slow_bodies_without_a_token_hold_no_slot, super::tiny_server);
async fn slow_bodies_without_a_token_hold_no_slot(app: &TestApp) {
    // A token of the right shape that does not verify.
    let forged = format!("{}x", &app.token[..app.token.len() - 1]);
    let heads = [
        // A small declared length, a few bytes of it, then nothing.
        "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\n\
         Content-Length: 200\r\n\r\n{\"userName\":"
            .to_owned(),
        // A chunked body, half a chunk of it.
        "POST /scim/v2/Bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\n\
         Transfer-Encoding: chunked\r\n\r\n100\r\n{\"schemas\":"
            .to_owned(),
        format!(
            "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {forged}\r\n\
             Content-Type: application/scim+json\r\nContent-Length: 200\r\n\r\n{{"
        ),
        "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 200\r\n\r\n{"
            .to_owned(),
        "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nonsense\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n{"
            .to_owned(),
    ];
    let mut conns = Vec::new();
    for _ in 0..4 {
        for raw in &heads {
            conns.push(attack(app, raw).await);
        }
    }
    assert_eq!(served(app).await, 200);
    for s in &mut conns {
        let head = head_of(s).await;
        assert!(head.starts_with("http/1.1 401"), "{head}");
    }
    assert_eq!(served(app).await, 200);
}

fn bulk_of(names: &[&str]) -> Value {
    let ops: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": user(n)}))
        .collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
}

crate::both_with!(a_bulk_costs_one_request_per_operation, |c| {
    // A bucket of 6 that does not refill during the test.
    c.rate_limit_per_second = 0.001;
    c.rate_limit_burst = 6;
});
async fn a_bulk_costs_one_request_per_operation(app: &TestApp) {
    // A second token of the same IAM sends the Bulks, so that the checks
    // below, made with the first, do not draw on its bucket.
    let (_, token) = app
        .directory()
        .await
        .create_token("idp", Some("bulk"))
        .await
        .expect("token");
    let bulk = |names: Vec<String>| {
        let token = token.clone();
        async move {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            app.request(Method::POST, "/Bulk", Some(&token), Some(&bulk_of(&names)))
                .await
        }
    };
    let names = |prefix: &str, n: usize| -> Vec<String> {
        (1..=n).map(|i| format!("{prefix}{i}@x.test")).collect()
    };
    // More operations than the bucket can ever hold: refused, saying how
    // many fit at once (this request itself cost one).
    let body = assert_scim_error(bulk(names("a", 7)).await, 413).await;
    assert_eq!(body["scimType"], "tooMany", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("at most 6"),
        "{body}"
    );
    // Five left: three operations fit.
    assert_eq!(bulk(names("b", 3)).await.status(), 200);
    // Two left; three more operations do not fit: nothing is done.
    let r = bulk(names("c", 3)).await;
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs > 1, "{secs}");
    let body = assert_scim_error(r, 429).await;
    assert!(
        body["detail"].as_str().unwrap().contains("3 operations"),
        "{body}"
    );
    assert_eq!(users_named(app, "b3@x.test").await, 1);
    for n in ["a1@x.test", "a7@x.test", "c1@x.test", "c3@x.test"] {
        assert_eq!(users_named(app, n).await, 0, "{n}");
    }
}

crate::both_with!(a_host_header_names_this_server_only_if_allowed, |c| {
    c.allowed_hosts = vec!["scim.example.test".into()];
});
async fn a_host_header_names_this_server_only_if_allowed(app: &TestApp) {
    let create = |host: &'static str, name: &'static str| async move {
        let r = app
            .client
            .post(format!("{}/Users", app.scim()))
            .bearer_auth(&app.token)
            .header("host", host)
            .header("content-type", "application/scim+json")
            .body(user(name).to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 201);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["meta"]["location"], location.as_str());
        (location, doc["id"].as_str().unwrap().to_owned())
    };
    let (location, id) = create("evil.example", "h1@x.test").await;
    assert_eq!(location, format!("{}/Users/{id}", app.scim()));
    let (location, id) = create("scim.example.test:8443", "h2@x.test").await;
    assert_eq!(
        location,
        format!("http://scim.example.test:8443/scim/v2/Users/{id}")
    );
    // Lists too.
    let r = app
        .client
        .get(format!(
            "{}/Users?filter=userName%20eq%20%22h1@x.test%22",
            app.scim()
        ))
        .bearer_auth(&app.token)
        .header("host", "evil.example:80")
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    let location = list["Resources"][0]["meta"]["location"].as_str().unwrap();
    assert!(location.starts_with(&app.scim()), "{location}");
}

/// A SCIM request with a raw body and content type.
async fn scim_raw(app: &TestApp, content_type: &str, body: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/Users", app.scim()))
        .bearer_auth(&app.token)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

crate::both_with!(repeated_keys_and_foreign_content_types_are_refused, |_| {});
async fn repeated_keys_and_foreign_content_types_are_refused(app: &TestApp) {
    let schemas = r#""schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]"#;
    for body in [
        format!(r#"{{{schemas},"userName":"k1@x.test","userName":"k2@x.test"}}"#),
        format!(
            r#"{{{schemas},"userName":"k1@x.test","name":{{"givenName":"a","givenName":"b"}}}}"#
        ),
        format!(
            r#"{{{schemas},"userName":"k1@x.test","emails":[{{"value":"a@x.test","value":"k2@x.test"}}]}}"#
        ),
    ] {
        let r = scim_raw(app, "application/scim+json", &body).await;
        let err = assert_scim_error(r, 400).await;
        assert_eq!(err["scimType"], "invalidSyntax", "{err}");
        assert!(err["detail"].as_str().unwrap().contains("twice"), "{err}");
    }
    assert_eq!(users_named(app, "k1@x.test").await, 0);
    assert_eq!(users_named(app, "k2@x.test").await, 0);

    // The admin API refuses them too, in its own shape.
    let root = admin(app, "root@example.com").await;
    let r = app
        .client
        .post(format!("{}/api/v1/permissions", app.origin))
        .bearer_auth(&root.token)
        .header("content-type", "application/json")
        .body(r#"{"name":"ONE_THING","name":"OTHER_THING"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["status"], 400, "{err}");
    let (_, list) = call(app, Method::GET, "/permissions", Some(&root.token), None).await;
    assert!(!list.to_string().contains("_THING"), "{list}");

    // Only the two JSON types SCIM clients send, parameters allowed.
    for ct in [
        "text/json",
        "application/jsonx",
        "application/x-json",
        "text/plain",
        "application/json-patch+json",
    ] {
        let r = scim_raw(app, ct, &user("t1@x.test").to_string()).await;
        assert_scim_error(r, 415).await;
    }
    assert_eq!(users_named(app, "t1@x.test").await, 0);
    for (i, ct) in [
        "application/scim+json; charset=utf-8",
        "application/json",
        "Application/JSON;charset=UTF-8",
    ]
    .iter()
    .enumerate()
    {
        let r = scim_raw(app, ct, &user(&format!("ok{i}@x.test")).to_string()).await;
        assert_eq!(r.status(), 201, "{ct}");
    }
}
