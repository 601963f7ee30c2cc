//! Probes and request ids: `/healthz` and `/readyz` need no credentials,
//! `/readyz` says 503 with a reason when the database's migrations are not
//! this binary's; every response carries an `X-Request-Id`.

use reqwest::Method;
use serde_json::Value;

use crate::app::{Backend, TestApp};
use crate::both;

async fn sql(app: &TestApp, statement: &str) {
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

async fn probe(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}{path}", app.origin))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn readyz_follows_the_schema(app: &TestApp) {
    assert_eq!(
        probe(app, "/healthz").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        probe(app, "/readyz").await,
        (200, serde_json::json!({"status": "ready"}))
    );

    // The latest migration "not applied".
    sql(
        app,
        "CREATE TABLE saved_migrations AS SELECT * FROM _sqlx_migrations",
    )
    .await;
    sql(
        app,
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM saved_migrations)",
    )
    .await;
    let (status, body) = probe(app, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    // The latest of this binary's migrations, by number.
    let latest = match app.backend {
        crate::app::Backend::Sqlite => std::fs::read_dir("migrations/sqlite"),
        crate::app::Backend::Postgres => std::fs::read_dir("migrations/postgres"),
    }
    .unwrap()
    .filter_map(|e| e.ok()?.file_name().to_str()?.get(..4)?.parse::<u32>().ok())
    .max()
    .unwrap();
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("migrations not applied: {latest}")),
        "{body}"
    );
    assert_eq!(probe(app, "/healthz").await.0, 200, "alive all the same");

    // Back as it was: ready again.
    sql(app, "DELETE FROM _sqlx_migrations").await;
    sql(
        app,
        "INSERT INTO _sqlx_migrations SELECT * FROM saved_migrations",
    )
    .await;
    assert_eq!(probe(app, "/readyz").await.0, 200);

    // A migration this binary does not know (a newer one migrated).
    sql(
        app,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         SELECT 99999999, 'future', success, checksum, execution_time FROM saved_migrations \
         WHERE version = 1",
    )
    .await;
    let (status, body) = probe(app, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body["reason"].as_str().unwrap().contains("99999999"),
        "{body}"
    );
    sql(app, "DELETE FROM _sqlx_migrations WHERE version = 99999999").await;

    // An applied migration edited since.
    sql(
        app,
        "UPDATE _sqlx_migrations SET checksum = \
         (SELECT checksum FROM saved_migrations WHERE version = 1) WHERE version = 2",
    )
    .await;
    let (status, body) = probe(app, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body["reason"].as_str().unwrap().contains("differs"),
        "{body}"
    );
    sql(app, "DELETE FROM _sqlx_migrations").await;
    sql(
        app,
        "INSERT INTO _sqlx_migrations SELECT * FROM saved_migrations",
    )
    .await;

    // No migrations table at all.
    sql(app, "DROP TABLE _sqlx_migrations").await;
    let (status, body) = probe(app, "/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["reason"], "cannot read the database's migrations");
    sql(
        app,
        "CREATE TABLE _sqlx_migrations AS SELECT * FROM saved_migrations",
    )
    .await;
    assert_eq!(probe(app, "/readyz").await.0, 200);
}
both!(readyz_follows_the_schema);

async fn every_response_carries_a_request_id(app: &TestApp) {
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap()
            .to_owned()
    };
    // Answers of every kind: 200, 201, 401, 404 (route and resource), 405.
    let created = app
        .request(
            Method::POST,
            "/Users",
            Some(&app.token),
            Some(&serde_json::json!({"userName": "rid@example.com"})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let mut seen = vec![id_of(&created)];
    for (method, path, token) in [
        (Method::GET, "/Users", Some(app.token.as_str())),
        (Method::GET, "/Users", None),
        (
            Method::GET,
            "/Users/00000000-0000-0000-0000-000000000000",
            Some(app.token.as_str()),
        ),
        (Method::GET, "/Nowhere", Some(app.token.as_str())),
        (Method::DELETE, "/Schemas", Some(app.token.as_str())),
        (Method::GET, &format!("{}/api/v1/users", app.origin), None),
        (Method::GET, &format!("{}/nowhere", app.origin), None),
    ] {
        let r = app.request(method.clone(), path, token, None).await;
        let id = id_of(&r);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{method} {path}: {id}");
        seen.push(id);
    }
    let distinct: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "one id per request");

    // A sane inbound id is kept; anything else is replaced.
    let with_id = |id: &str| {
        app.client
            .get(format!("{}/healthz", app.origin))
            .header("x-request-id", id)
            .send()
    };
    let r = with_id("lb-7f3a.42:abc_DEF").await.unwrap();
    assert_eq!(id_of(&r), "lb-7f3a.42:abc_DEF");
    for bad in [
        "has space",
        "semi;colon",
        "<script>",
        &"x".repeat(129),
        "ünïcode",
    ] {
        let r = app
            .client
            .get(format!("{}/healthz", app.origin))
            .header(
                "x-request-id",
                reqwest::header::HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
            )
            .send()
            .await
            .unwrap();
        let id = id_of(&r);
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "{bad:?} was kept as {id:?}"
        );
    }
}
both!(every_response_carries_a_request_id);
