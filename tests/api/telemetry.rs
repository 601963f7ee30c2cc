//! `GET /metrics`: the operator's Prometheus metrics, labelled by route
//! template, never by anything a request carried.

use serde_json::json;

use crate::app::TestApp;
use crate::both;

async fn scrape(app: &TestApp) -> String {
    let r = app
        .client
        .get(format!("{}/metrics", app.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    r.text().await.unwrap()
}

/// The value of the sample with exactly these labels (in order).
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let head = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(head.as_str()))
        .map(|v| v.parse().unwrap())
}

both!(requests_errors_and_pools_are_counted_without_identifiers);
async fn requests_errors_and_pools_are_counted_without_identifiers(app: &TestApp) {
    let user = app.create_user("secret.person@corp.example").await;
    let id = user["id"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 200);
    }
    let r = app
        .get("/Users?filter=userName%20eq%20%22secret.person%40corp.example%22")
        .await;
    assert_eq!(r.status(), 200);
    // Errors: a bad filter, a duplicate, a missing user, a bad token.
    assert_eq!(
        app.get("/Users?filter=userName%20zz%20%22x%22")
            .await
            .status(),
        400
    );
    let dup = app
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "secret.person@corp.example"}),
        )
        .await;
    assert_eq!(dup.status(), 409);
    let missing = "/Users/00000000-0000-0000-0000-000000000001";
    assert_eq!(app.get(missing).await.status(), 404);
    let r = app
        .client
        .get(format!("{}/scim/v2/Users", app.origin))
        .bearer_auth("not-a-token-but-a-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(app.get("/NoSuchThing/abc").await.status(), 404);

    let text = scrape(app).await;
    let get_user = r#"route="/scim/v2/Users/{id}",method="GET",status="200""#;
    assert_eq!(
        sample(&text, "scim_bridge_http_requests_total", get_user),
        Some(3.0),
        "{text}"
    );
    let created = r#"route="/scim/v2/Users",method="POST",status="201""#;
    assert_eq!(
        sample(&text, "scim_bridge_http_requests_total", created),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "scim_bridge_scim_errors_total",
            r#"status="400",scim_type="invalidFilter""#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "scim_bridge_scim_errors_total",
            r#"status="409",scim_type="uniqueness""#
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            "scim_bridge_scim_errors_total",
            r#"status="404",scim_type="none""#
        ) >= Some(2.0)
    );
    assert!(
        sample(
            &text,
            "scim_bridge_scim_errors_total",
            r#"status="401",scim_type="none""#
        ) >= Some(1.0)
    );
    let unmatched = r#"route="unmatched",method="GET",status="404""#;
    assert_eq!(
        sample(&text, "scim_bridge_http_requests_total", unmatched),
        Some(1.0)
    );
    // Latency as a histogram with buckets, by route template (the three
    // reads and the 404).
    assert!(text.contains(
        r#"scim_bridge_http_request_duration_seconds_bucket{route="/scim/v2/Users/{id}",method="GET",le="60"} 4"#
    ), "{text}");
    // The database pools.
    assert!(
        text.contains("scim_bridge_db_pool_connections{pool="),
        "{text}"
    );
    assert!(
        text.contains("scim_bridge_db_pool_max_connections{pool="),
        "{text}"
    );
    // Nothing a request carried.
    for secret in [
        id,
        "secret.person",
        "corp.example",
        "not-a-token",
        &app.token,
        "NoSuchThing",
        "zz",
    ] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
}
