//! Real server processes (the built binary) on one database, for what an
//! in-process server cannot show: several replicas on one PostgreSQL
//! schema, and a server killed with SIGKILL and started again.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;

use crate::leak::{self, Client};
use serde_json::Value;

use crate::app::{Backend, postgres_url, with_search_path};

/// A fresh database: a temporary SQLite file or a PostgreSQL schema.
pub struct Database {
    pub backend: Backend,
    pub url: String,
    dir: tempfile::TempDir,
    schema: Option<String>,
}

impl Database {
    /// None when the backend is PostgreSQL and SCIM_BRIDGE_TEST_POSTGRES is unset.
    pub async fn new(backend: Backend) -> Option<Database> {
        leak::init();
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("test.db").display()),
                None,
            ),
            Backend::Postgres => {
                let base = postgres_url()?;
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                exec_pg(&base, &format!("CREATE SCHEMA {schema}")).await;
                (with_search_path(&base, &schema), Some(schema))
            }
        };
        Some(Database {
            backend,
            url,
            dir,
            schema,
        })
    }

    pub fn config(&self) -> scim_bridge::config::Config {
        scim_bridge::config::Config {
            database_url: self.url.clone(),
            pool_size: 2,
            ..Default::default()
        }
    }

    /// The database as the CLI opens it (migrations applied).
    pub async fn directory(&self) -> scim_bridge::directory::Directory {
        scim_bridge::open_directory(&self.config())
            .await
            .expect("directory")
    }

    /// Runs the command line on this database; success, stdout, stderr.
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
            .args(args)
            .env("SCIM_BRIDGE_DATABASE_URL", &self.url)
            .env_remove("SCIM_BRIDGE_CONFIG")
            .output()
            .expect("run scim-bridge");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `scim-bridge audit verify` passes; returns the number of records.
    pub fn verify_audit(&self) -> u64 {
        let (ok, stdout, stderr) = self.cli(&["audit", "verify"]);
        assert!(ok, "audit verify failed: {stdout}{stderr}");
        stdout
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .next_back()
            .unwrap_or_else(|| panic!("a record count in {stdout:?}"))
    }

    /// Starts a server process on this database, waits until it is healthy.
    pub async fn serve(&self, env: &[(&str, &str)]) -> Server {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Server::start(
            &self.url,
            self.dir.path().join(format!("server-{n}.log")),
            env,
        )
        .await
    }

    /// Drops the PostgreSQL schema (the SQLite file goes with the temp dir).
    pub async fn finish(self) {
        if leak::dir().is_some() {
            leak::dump_database(&self.directory().await).await;
        }
        if let (Some(schema), Some(base)) = (&self.schema, postgres_url()) {
            exec_pg(&base, &format!("DROP SCHEMA {schema} CASCADE")).await;
        }
    }
}

async fn exec_pg(base: &str, sql: &str) {
    let pool = sqlx::PgPool::connect(base)
        .await
        .expect("SCIM_BRIDGE_TEST_POSTGRES is set but PostgreSQL is unreachable");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&pool)
        .await
        .expect(sql);
    pool.close().await;
}

/// One `scim-bridge serve` process; killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub origin: String,
    pub log: PathBuf,
}

impl Server {
    async fn start(url: &str, log: PathBuf, env: &[(&str, &str)]) -> Server {
        // A port chosen here may be taken before the server binds it: retry.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
            // With the leak check on, JSON logs at debug into its directory.
            let (file, log) = match leak::child_server(&mut cmd) {
                Some((file, path)) => (file, path),
                None => (std::fs::File::create(&log).expect("log file"), log.clone()),
            };
            cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
                .env("SCIM_BRIDGE_DATABASE_URL", url)
                .env("SCIM_BRIDGE_POOL_SIZE", "4")
                // These tests hammer one token and one admin on purpose;
                // the rate limits have their own tests (tests/api/limits).
                .env("SCIM_BRIDGE_RATE_LIMIT_PER_SECOND", "0")
                .env("SCIM_BRIDGE_ADMIN_RATE_LIMIT_PER_SECOND", "0")
                .env_remove("SCIM_BRIDGE_CONFIG")
                .stdout(Stdio::null())
                .stderr(file);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut server = Server {
                child: cmd.spawn().expect("start scim-bridge serve"),
                origin: format!("http://127.0.0.1:{port}"),
                log: log.clone(),
            };
            if server.wait_healthy().await {
                return server;
            }
        }
        panic!(
            "scim-bridge serve never became healthy: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Polls /healthz; false if the process exited first.
    async fn wait_healthy(&mut self) -> bool {
        let client = Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", self.origin)).send().await
                && r.status() == 200
            {
                return true;
            }
            if self.child.try_wait().expect("try_wait").is_some() {
                return false;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server never became healthy: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn scim(&self, path: &str) -> String {
        format!("{}/scim/v2{path}", self.origin)
    }

    pub fn admin(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.origin)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            leak::save_metrics_blocking(&self.origin);
        }
        self.kill();
    }
}

/// What a server answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub etag: Option<String>,
}

pub fn client() -> Client {
    Client::wrap(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(0)
            .build()
            .expect("client"),
    )
}

/// One call: `Err` when no answer came (connection refused or reset).
pub async fn send(
    client: &Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
    if_match: Option<&str>,
) -> Result<Reply, reqwest::Error> {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        let kind = if url.contains("/scim/v2") {
            "application/scim+json"
        } else {
            "application/json"
        };
        req = req.header("content-type", kind).body(b.to_string());
    }
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = r.bytes().await?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok(Reply { status, body, etag })
}

/// `send` that must get an answer.
pub async fn call(
    client: &Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> Reply {
    send(client, method.clone(), url, token, body, None)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// The identity provider `idp` (with a SCIM token), the IAM `other` (with
/// one) and an administrator holding USER_ADMIN and AUDIT.
pub struct Tenants {
    pub idp: String,
    pub other: String,
    pub admin: String,
}

pub async fn tenants(db: &Database) -> Tenants {
    let dir = db.directory().await;
    dir.create_iam("idp", None).await.expect("iam idp");
    dir.create_iam("other", None).await.expect("iam other");
    let idp = dir.create_token("idp", None).await.expect("token").1;
    let other = dir.create_token("other", None).await.expect("token").1;
    let (admin_id, admin) = dir
        .bootstrap_admin("root@example.com", Some("Root"), time::Duration::hours(2))
        .await
        .expect("bootstrap");
    let ctx = scim_bridge::directory::accounts::Ctx::cli();
    dir.add_permissions(&ctx, admin_id, &["AUDIT".to_owned()])
        .await
        .expect("AUDIT");
    for t in [&idp, &other, &admin] {
        leak::note(leak::Kind::Token, t);
    }
    Tenants { idp, other, admin }
}
