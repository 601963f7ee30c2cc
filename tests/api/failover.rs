//! What a PostgreSQL failover looks like to scim-bridge, on the normal test
//! PostgreSQL (no Patroni): the server's own role made read-only, as a
//! demoted primary or a standby answers (SQLSTATE 25006), and its
//! connections terminated (57P01, then broken connections), as a failover
//! does. Writes are answered 503 with `Retry-After` (a SCIM Error on
//! /scim, a JSON error on the admin API), never 500, and change nothing;
//! reads go on; `/readyz` is not ready; once the database takes writes
//! again the same server serves them, its pool recovered by itself.
//! PostgreSQL only: SQLite has no primary to lose (deploy/ha/failover-test
//! drives the real thing).

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::app::{Backend, TestApp, postgres_url};

async fn exec(pool: &PgPool, sql: String) {
    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Ends every connection the server holds (what a failover does to it).
async fn terminate(pool: &PgPool, role: &str) {
    exec(
        pool,
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = '{role}' AND pid <> pg_backend_pid()"
        ),
    )
    .await;
}

fn assert_unavailable(status: u16, retry_after: Option<&str>, body: &Value) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after, Some("2"), "Retry-After on {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(base) = postgres_url() else {
        eprintln!("SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped");
        return;
    };
    // A role of the test's own, so that making it read-only and ending its
    // connections touches no other test.
    let role = format!("r_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPool::connect(&base).await.expect("postgres");
    exec(&admin, format!("CREATE ROLE {role} LOGIN SUPERUSER")).await;
    let user = base
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(user, _)| user.to_owned())
        .expect("a user in SCIM_BRIDGE_TEST_POSTGRES");
    let as_role = base.replacen(&format!("://{user}@"), &format!("://{role}@"), 1);
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.database_url = c.database_url.replacen(&base, &as_role, 1);
    })
    .await
    .expect("postgres");
    let (_, admin_token) = app
        .directory()
        .await
        .bootstrap_admin("Root.Admin@example.com", None, time::Duration::hours(1))
        .await
        .expect("admin");
    let alice = app.create_user("alice").await;
    let alice_id = alice["id"].as_str().unwrap().to_owned();
    let ready = || async {
        let r = app
            .client
            .get(format!("{}/readyz", app.origin))
            .send()
            .await;
        r.unwrap().status().as_u16()
    };
    assert_eq!(ready().await, 200);

    // The database turns read-only, and the server's connections end.
    exec(
        &admin,
        format!("ALTER ROLE {role} SET default_transaction_read_only = on"),
    )
    .await;
    terminate(&admin, &role).await;

    // Reads go on (on new connections: the pool recovered by itself).
    let r = app.get(&format!("/Users/{alice_id}")).await;
    assert_eq!(r.status(), 200);
    // A SCIM write: 503, Retry-After, a SCIM Error; nothing written.
    let r = app
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob"}),
        )
        .await;
    let (status, retry) = (r.status().as_u16(), r.headers().get("retry-after").cloned());
    let body: Value = r.json().await.unwrap();
    assert_unavailable(status, retry.as_ref().and_then(|v| v.to_str().ok()), &body);
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], "503");
    // A PATCH too.
    let r = app
        .patch(
            &format!("/Users/{alice_id}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "title", "value": "CEO"}]}),
        )
        .await;
    let (status, retry) = (r.status().as_u16(), r.headers().get("retry-after").cloned());
    let body: Value = r.json().await.unwrap();
    assert_unavailable(status, retry.as_ref().and_then(|v| v.to_str().ok()), &body);
    // The admin API: a JSON error.
    let r = app
        .client
        .patch(format!("{}/api/v1/users/{alice_id}/attributes", app.origin))
        .bearer_auth(&admin_token)
        .json(&json!({"operations": [{"op": "add", "name": "clearance", "values": ["secret"]}]}))
        .send()
        .await
        .unwrap();
    let (status, retry) = (r.status().as_u16(), r.headers().get("retry-after").cloned());
    let body: Value = r.json().await.unwrap();
    assert_unavailable(status, retry.as_ref().and_then(|v| v.to_str().ok()), &body);
    assert_eq!(body["error"]["status"], 503, "{body}");
    // Not ready while no primary answers.
    assert_eq!(ready().await, 503);

    // The database takes writes again (a new primary), behind the same
    // URL; the server's connections end once more.
    exec(
        &admin,
        format!("ALTER ROLE {role} RESET default_transaction_read_only"),
    )
    .await;
    terminate(&admin, &role).await;
    assert_eq!(ready().await, 200);
    let r = app.get("/Users?filter=userName%20eq%20%22bob%22").await;
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["totalResults"], 0, "the refused create wrote nothing");
    let alice_now: Value = app
        .get(&format!("/Users/{alice_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(alice_now.get("title").is_none(), "{alice_now}");
    app.create_user("bob").await;
    // Every write the server acknowledged is in the audit chain, which
    // verifies.
    let verified = app.directory().await.verify_audit().await;
    assert!(matches!(verified, Ok(Ok(_))), "the audit chain verifies");

    app.finish().await;
    exec(&admin, format!("DROP OWNED BY {role}")).await;
    exec(&admin, format!("DROP ROLE {role}")).await;
    admin.close().await;
}
