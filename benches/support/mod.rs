//! Support shared by the HTTP benchmarks (`load`, `bulk`, `groups`): the
//! `scim-bridge` server process they drive, the CLI, a fresh database per
//! run, and the /proc readers behind the CPU and memory figures.
//!
//! Each bench is its own crate and includes this file with `mod support;`;
//! not every bench uses every item.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

// ---------------------------------------------------------------- main

/// The command line, read as `--key value` or `--key=value`.
pub struct Args {
    rest: std::iter::Skip<std::env::Args>,
    usage: &'static str,
    key: String,
    inline: Option<String>,
}

impl Args {
    pub fn new(usage: &'static str) -> Args {
        Args {
            rest: std::env::args().skip(1),
            usage,
            key: String::new(),
            inline: None,
        }
    }

    /// The next argument's name (of `--key=value`: `--key`).
    pub fn next_key(&mut self) -> Option<String> {
        let a = self.rest.next()?;
        (self.key, self.inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_owned(), Some(v.to_owned())),
            _ => (a, None),
        };
        Some(self.key.clone())
    }

    /// The value of the current argument: after `=`, or the next argument.
    pub fn value(&mut self) -> Result<String, String> {
        self.inline
            .take()
            .or_else(|| self.rest.next())
            .ok_or_else(|| format!("{} needs a value\n{}", self.key, self.usage))
    }

    /// The value as a count; `_` and `,` may group its digits.
    pub fn number(&mut self) -> Result<usize, String> {
        self.value()?
            .replace(['_', ','], "")
            .parse::<usize>()
            .map_err(|e| format!("{}: {e}", self.key))
    }
}

/// The value of `parse_args`, or its message and exit code 2.
pub fn args_or_exit<T>(parsed: Result<T, String>) -> T {
    parsed.unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    })
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A realistic user create, as identity providers send them.
pub fn user_json(user_name: &str, external_id: &str, i: usize) -> serde_json::Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": external_id,
        "name": {
            "givenName": format!("Given{i}"),
            "familyName": format!("Family{i}"),
            "formatted": format!("Given{i} Family{i}"),
        },
        "displayName": format!("Given{i} Family{i}"),
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
}

// ---------------------------------------------------------------- /proc

/// The 1-minute load average, for the record: the machine is shared.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

pub fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (a pid, or `"self"`), in clock ticks
/// (Linux; None elsewhere).
pub fn process_ticks(pid: impl std::fmt::Display) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: field 3 (state) is f[0]; utime is field
    // 14 and stime field 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A line of /proc/PID/status in KiB (VmHWM: peak RSS, VmRSS: current).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The peak RSS (VmHWM) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

pub fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

// ---------------------------------------------------------------- server

/// The server process the bench started; SIGKILLed on drop if still alive.
pub struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last 20 lines the server logged.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then wait (bounded) for a graceful exit.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                if !status.success() {
                    eprintln!("note: server exited with {status}");
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("server did not stop within 15 s of SIGTERM; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_scim-bridge")
}

/// Runs a CLI command against `db`; its stdout, trimmed, on success.
pub fn cli(db: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin())
        .args(args)
        .args(["--database", db])
        .env_remove("SCIM_BRIDGE_CONFIG")
        .env_remove("SCIM_BRIDGE_DATABASE_URL")
        .env("SCIM_BRIDGE_LOG", "warn")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin()))?;
    if !out.status.success() {
        return Err(format!(
            "scim-bridge {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Creates the IAM `bench` in `db` and a token for it: the token.
pub fn iam_and_token(db: &str) -> Result<String, String> {
    cli(db, &["iam", "create", "bench"])?;
    cli(db, &["token", "create", "--iam", "bench"])
}

pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Starts `scim-bridge serve` on `db` and a free port, logging to
/// `dir/server.log`; returns once /healthz answers 200 (within 30 s).
/// The per-token rate limit is off: these benches measure the server's
/// throughput with one token, not the limiter.
pub async fn start_server(db: &str, dir: &Path) -> Result<(Server, String), String> {
    start_server_with(db, dir, &[("SCIM_BRIDGE_RATE_LIMIT_PER_SECOND", "0")]).await
}

/// `start_server` with these configuration variables set.
pub async fn start_server_with(
    db: &str,
    dir: &Path,
    env: &[(&str, &str)],
) -> Result<(Server, String), String> {
    let port = free_port()?;
    let log = dir.join("server.log");
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let child = Command::new(bin())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--database", db])
        .env_remove("SCIM_BRIDGE_CONFIG")
        .env_remove("SCIM_BRIDGE_DATABASE_URL")
        .env("SCIM_BRIDGE_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin()))?;
    let mut server = Server { child, log };
    let origin = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    // Bounded: 30 s in 20 ms steps.
    for _ in 0..1500 {
        if let Ok(r) = probe.get(format!("{origin}/healthz")).send().await
            && r.status() == 200
        {
            return Ok((server, origin));
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "server exited early ({status}):\n{}",
                server.log_tail()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop();
    Err(format!(
        "server never became healthy:\n{}",
        server.log_tail()
    ))
}

// ---------------------------------------------------------------- database

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    /// The value of `--database`.
    pub fn parse(v: &str, usage: &str) -> Result<Db, String> {
        match v {
            "sqlite" => Ok(Db::Sqlite),
            "postgres" | "postgresql" => Ok(Db::Postgres),
            other => Err(format!("unknown database {other}\n{usage}")),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Db::Sqlite => "SQLite",
            Db::Postgres => "PostgreSQL",
        }
    }
}

/// A fresh database for one run: a SQLite file in `dir`, or a new schema
/// `bench_<random>` of the PostgreSQL at `postgres_url`. The URL for the
/// server and the CLI, and the schema to drop at the end (PostgreSQL).
pub async fn fresh_database(
    db: Db,
    postgres_url: &str,
    dir: &Path,
) -> Result<(String, Option<String>), String> {
    match db {
        Db::Sqlite => Ok((format!("sqlite://{}", dir.join("bench.db").display()), None)),
        Db::Postgres => {
            let schema = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
            pg_exec(postgres_url, format!("CREATE SCHEMA {schema}")).await?;
            Ok((with_search_path(postgres_url, &schema), Some(schema)))
        }
    }
}

/// Drops a schema `fresh_database` created; a failure is reported, not fatal.
pub async fn drop_schema(postgres_url: &str, schema: &str) {
    if let Err(e) = pg_exec(postgres_url, format!("DROP SCHEMA {schema} CASCADE")).await {
        eprintln!("could not drop schema {schema}: {e}");
    }
}

pub fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

pub async fn pg_exec(base: &str, sql: String) -> Result<(), String> {
    let pool = sqlx::PgPool::connect(base)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL at {base}: {e}"))?;
    let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&pool)
        .await
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e}"));
    pool.close().await;
    r
}
