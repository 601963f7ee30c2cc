//! `TestApp`: a real server on a real database, reached over real HTTP.
//! Every test gets its own SQLite file or PostgreSQL schema.

use std::time::Duration;

use reqwest::{Method, Response};

use crate::leak::{self, Client};
use scim_bridge::config::Config;
use serde_json::Value;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use, from `SCIM_BRIDGE_TEST_POSTGRES`
/// (e.g. `postgres://postgres@127.0.0.1:5432/test`). Unset: PostgreSQL
/// variants are skipped, except under CI (`CI` set), where a skipped
/// PostgreSQL half would pass unseen: there an unset variable fails the
/// test instead.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("SCIM_BRIDGE_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty());
    if url.is_none() && std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!(
            "CI is set but SCIM_BRIDGE_TEST_POSTGRES is not: the PostgreSQL variants would be skipped"
        );
    }
    url
}

pub struct TestApp {
    pub backend: Backend,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    pub database_url: String,
    /// A SCIM token of the IAM `idp`.
    pub token: String,
    pub client: Client,
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    /// The server's own directory (its clock included).
    server_dir: scim_bridge::directory::Directory,
    /// The leak check's copies of audit, metrics and usage are written.
    dumped: bool,
    db: Option<TestDb>,
}

impl TestApp {
    /// A server on `backend`, or None when that backend is not configured.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        Self::spawn_with_clock(backend, tweak, None).await
    }

    /// A server whose directory reads the time from `clock` (e.g. one a
    /// test moves forward to expire what it issued).
    pub async fn spawn_with_clock(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        clock: Option<scim_bridge::directory::Clock>,
    ) -> Option<TestApp> {
        leak::init();
        let db = TestDb::create(backend).await?;
        let database_url = db.url.clone();
        let mut config = Config {
            database_url: database_url.clone(),
            pool_size: 4,
            // Tests walk thousands of pages in seconds with one token; the
            // rate limits are tested on their own (tests/api/limits).
            rate_limit_per_second: 0.0,
            admin_rate_limit_per_second: 0.0,
            ..Config::default()
        };
        tweak(&mut config);
        let state = scim_bridge::build_state_at(config.clone(), clock)
            .await
            .expect("server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let dir_handle = state.dir.clone();
        tokio::spawn(scim_bridge::http::serve_until(listener, state, async {
            let _ = rx.await;
        }));
        dir_handle
            .create_iam("idp", Some("Test identity provider"))
            .await
            .expect("iam");
        let (_, token) = dir_handle
            .create_token("idp", Some("tests"))
            .await
            .expect("token");
        leak::note(leak::Kind::Token, &token);
        let app = TestApp {
            backend,
            origin,
            database_url,
            token,
            client: Client::wrap(
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client"),
            ),
            config,
            stop: Some(tx),
            server_dir: dir_handle,
            dumped: false,
            db: Some(db),
        };
        app.wait_healthy().await;
        Some(app)
    }

    async fn wait_healthy(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self
                .client
                .get(format!("{}/healthz", self.origin))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The SCIM base URL.
    pub fn scim(&self) -> String {
        format!("{}/scim/v2", self.origin)
    }

    /// A directory over the same database, as the CLI would open it.
    pub async fn directory(&self) -> scim_bridge::directory::Directory {
        scim_bridge::open_directory(&self.config)
            .await
            .expect("directory")
    }

    /// Creates another IAM and returns a token of it.
    pub async fn token_for_new_iam(&self, name: &str) -> String {
        let dir = self.directory().await;
        dir.create_iam(name, None).await.expect("iam");
        dir.create_token(name, None).await.expect("token").1
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.scim(), path)
        };
        let mut req = self.client.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, Some(&self.token), None)
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path, Some(&self.token), None)
            .await
    }

    /// Creates a user and returns its document.
    pub async fn create_user(&self, user_name: &str) -> Value {
        let r = self
            .post(
                "/Users",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "name": {"givenName": "Given", "familyName": "Family"},
                    "emails": [{"value": user_name, "type": "work", "primary": true}],
                    "active": true,
                }),
            )
            .await;
        assert_eq!(r.status(), 201, "create {user_name}");
        r.json().await.expect("json")
    }

    pub async fn create_group(&self, name: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members
            .iter()
            .map(|m| serde_json::json!({"value": m}))
            .collect();
        let r = self
            .post(
                "/Groups",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name,
                    "members": members,
                }),
            )
            .await;
        assert_eq!(r.status(), 201, "create group {name}");
        r.json().await.expect("json")
    }

    /// The stored password hash of a user, read straight from the database.
    pub async fn stored_password_hash(&self, id: &str) -> Option<String> {
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.database_url)
                    .await
                    .expect("sqlite");
                sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .expect("row")
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.database_url)
                    .await
                    .expect("postgres");
                sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1::uuid")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .expect("row")
            }
        }
    }

    /// Stops the server and drops the PostgreSQL schema.
    pub async fn finish(mut self) {
        if leak::dir().is_some() {
            let r = self
                .client
                .get(format!("{}/metrics", self.origin))
                .send()
                .await;
            if let Ok(r) = r {
                leak::save("metrics", "prom", &r.text().await.unwrap_or_default());
            }
            leak::dump_database(&self.server_dir).await;
            self.dumped = true;
        }
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(db) = self.db.take() {
            db.finish().await;
        }
    }
}

impl Drop for TestApp {
    /// A test that ends without `finish` still leaves its server's audit,
    /// metrics and usage for the leak check (read on a thread of its own:
    /// this one may be the runtime the server runs on).
    fn drop(&mut self) {
        if self.dumped || leak::dir().is_none() || std::thread::panicking() {
            return;
        }
        leak::save_metrics_blocking(&self.origin);
        let config = self.config.clone();
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    let dir = scim_bridge::open_directory(&config)
                        .await
                        .expect("directory");
                    leak::dump_database(&dir).await;
                });
            });
        });
    }
}

/// A fresh, empty database of its own for one test: a SQLite file in a
/// temporary directory, or a new PostgreSQL schema (dropped by `finish`).
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<String>,
}

impl TestDb {
    /// None when `backend` is PostgreSQL and no server is configured.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        Some(match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    schema: None,
                }
            }
            Backend::Postgres => {
                let base = postgres_url()?;
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                create_schema(&base, &schema).await;
                TestDb {
                    url: with_search_path(&base, &schema),
                    _dir: None,
                    schema: Some(schema),
                }
            }
        })
    }

    /// Drops the PostgreSQL schema (the SQLite file goes with the value).
    pub async fn finish(mut self) {
        if let (Some(schema), Some(base)) = (self.schema.take(), postgres_url()) {
            drop_schema(&base, &schema).await;
        }
    }
}

pub fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

async fn create_schema(base: &str, schema: &str) {
    let pool = sqlx::PgPool::connect(base)
        .await
        .expect("SCIM_BRIDGE_TEST_POSTGRES is set but PostgreSQL is unreachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .expect("create schema");
    pool.close().await;
}

async fn drop_schema(base: &str, schema: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(base).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

/// Declares a test that runs once on SQLite and once on PostgreSQL:
/// `both!(name)` for an `async fn name(app: TestApp)`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::app::TestApp::spawn($crate::app::Backend::Sqlite)
                    .await
                    .expect("sqlite");
                super::$name(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::app::TestApp::spawn($crate::app::Backend::Postgres).await {
                    Some(app) => {
                        super::$name(&app).await;
                        app.finish().await;
                    }
                    None => eprintln!(
                        "SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped"
                    ),
                }
            }
        }
    };
}

/// Like `both!`, on servers whose configuration `tweak` adjusted:
/// `both_with!(name, tweak)` for an `async fn name(app: &TestApp)`.
#[macro_export]
macro_rules! both_with {
    ($name:ident, $tweak:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::app::TestApp::spawn_with($crate::app::Backend::Sqlite, $tweak)
                    .await
                    .expect("sqlite");
                super::$name(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::app::TestApp::spawn_with($crate::app::Backend::Postgres, $tweak).await
                {
                    Some(app) => {
                        super::$name(&app).await;
                        app.finish().await;
                    }
                    None => eprintln!(
                        "SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped"
                    ),
                }
            }
        }
    };
}
