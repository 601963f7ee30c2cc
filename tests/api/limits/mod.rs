//! Limits that answer: per-token rate limits (429 + Retry-After), the
//! concurrency limit and the request deadline (503), header-read and idle
//! timeouts, body limits per route (413), the PATCH operation limit. The
//! servers get tiny limits so that nothing waits on time it need not.

use reqwest::Method;
use scim_bridge::config::Config;
use serde_json::{Value, json};

use crate::app::{Backend, TestApp};

/// A refill so slow that no test sees one: Retry-After is 1,000 s.
pub fn slow_rate(c: &mut Config) {
    c.rate_limit_per_second = 0.001;
    c.rate_limit_burst = 3;
}

pub async fn status_of(app: &TestApp, token: &str) -> reqwest::Response {
    app.request(Method::GET, "/Users?count=1", Some(token), None)
        .await
}

pub async fn assert_scim_error(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/scim+json"
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], status.to_string());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// Holds the database's write lock (SQLite) or the users table (PostgreSQL)
/// so that a user create waits on it, until released.
pub enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    pub async fn hold(app: &TestApp) -> WriteLock {
        use sqlx::Connection;
        match app.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                    .await
                    .expect("sqlite");
                sqlx::raw_sql("BEGIN IMMEDIATE")
                    .execute(&mut c)
                    .await
                    .expect("lock");
                WriteLock::Sqlite(c)
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&app.database_url)
                    .await
                    .expect("postgres");
                sqlx::raw_sql("BEGIN; LOCK TABLE users IN EXCLUSIVE MODE")
                    .execute(&mut c)
                    .await
                    .expect("lock");
                WriteLock::Postgres(c)
            }
        }
    }

    pub async fn release(self) {
        match self {
            WriteLock::Sqlite(mut c) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap();
            }
            WriteLock::Postgres(mut c) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap();
            }
        }
    }
}

pub fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "emails": [{"value": name, "type": "work", "primary": true}],
    })
}

pub async fn users_named(app: &TestApp, name: &str) -> u64 {
    let r = app
        .get(&format!("/Users?filter=userName%20eq%20%22{name}%22"))
        .await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    list["totalResults"].as_u64().unwrap()
}

mod connections;
mod load;
mod rates;
mod sizes;
