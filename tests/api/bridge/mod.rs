//! The bridge's admin API: accounts, permissions, attributes, lifecycle,
//! subscriptions, reports and the audit log, over HTTP on both databases.

mod accounts;
mod audit;
mod groups;
mod lifecycle;
mod matrix;
mod metrics;
pub(crate) mod oidc;
mod openapi;
mod roles;
mod schema_extensions;
mod scim;
mod search;

use reqwest::Method;
use serde_json::Value;

use crate::app::{Backend, TestApp};

/// An administrator: the bootstrap command's account and token.
pub struct Admin {
    pub id: String,
    pub token: String,
}

/// Bootstraps an admin (USER_ADMIN plus the built-in defaults).
pub async fn admin(app: &TestApp, email: &str) -> Admin {
    let (id, token) = app
        .directory()
        .await
        .bootstrap_admin(email, Some("Admin"), time::Duration::hours(1))
        .await
        .expect("bootstrap");
    Admin {
        id: id.to_string(),
        token,
    }
}

/// One admin API call: the status and the JSON body (Null when empty).
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, format!("{}/api/v1{path}", app.origin));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    };
    (status, body)
}

/// Asserts the audit records `query` finds (`target=...&limit=...`) hold
/// each of these actions, read by a new auditor (`email`).
pub async fn assert_audited(
    app: &TestApp,
    root: &Admin,
    email: &str,
    query: &str,
    wanted: &[&str],
) {
    let auditor = root.another(app, email, &["AUDIT"]).await;
    let (status, log) = auditor.get(app, &format!("/audit?{query}")).await;
    assert_eq!(status, 200, "{log}");
    let actions: Vec<&str> = log["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in wanted {
        assert!(actions.contains(a), "{a} in {actions:?}");
    }
}

impl Admin {
    pub async fn get(&self, app: &TestApp, path: &str) -> (u16, Value) {
        call(app, Method::GET, path, Some(&self.token), None).await
    }

    pub async fn post(&self, app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
        call(app, Method::POST, path, Some(&self.token), Some(body)).await
    }

    pub async fn patch(&self, app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
        call(app, Method::PATCH, path, Some(&self.token), Some(body)).await
    }

    pub async fn put(&self, app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
        call(app, Method::PUT, path, Some(&self.token), Some(body)).await
    }

    pub async fn delete(&self, app: &TestApp, path: &str) -> (u16, Value) {
        call(app, Method::DELETE, path, Some(&self.token), None).await
    }

    /// A new built-in user through the admin API; returns its id.
    pub async fn new_user(&self, app: &TestApp, name: &str, email: &str) -> String {
        let (status, body) = self
            .post(
                app,
                "/users",
                &serde_json::json!({"fullName": name, "email": email}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// A second administrator with exactly these permissions (on top of
    /// the built-in defaults): a new built-in account and its token.
    pub async fn another(&self, app: &TestApp, email: &str, permissions: &[&str]) -> Admin {
        let id = self.new_user(app, "Other", email).await;
        if !permissions.is_empty() {
            let (status, body) = self
                .post(
                    app,
                    &format!("/users/{id}/permissions"),
                    &serde_json::json!({ "permissions": permissions }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        let dir = app.directory().await;
        let key = dir.signing_key().await.expect("key").to_vec();
        let token = scim_bridge::auth::admin_token::mint(
            &key,
            id.parse().unwrap(),
            0,
            time::OffsetDateTime::now_utc(),
            time::Duration::hours(1),
        )
        .expect("token");
        Admin { id, token }
    }
}

/// Runs SQL straight on the test's database (what an attacker with file
/// or database access could do).
pub async fn raw_sql(app: &TestApp, statements: &[&str]) {
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            for s in statements {
                sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            for s in statements {
                sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
    }
}
