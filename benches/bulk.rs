//! Bulk create benchmark: drives a real `scim-bridge` process over HTTP.
//!
//! ```text
//! cargo bench --bench bulk -- [--users N] [--batch B] [--clients C]
//!     [--database sqlite|postgres] [--postgres-url URL]
//! ```
//!
//! Starts the server (the binary cargo built for this profile) on a fresh
//! temporary SQLite file, or on a fresh schema `bench_<random>` of the
//! PostgreSQL at `--postgres-url`, creates an IAM and a token with the CLI,
//! then creates N users (default 100,000) with `POST /Bulk` requests of B
//! operations each (default 1,000), from C concurrent clients (default 1).
//! Prints the total time, users/s, request latencies (p50/p99/max, whole
//! request including the response body) and the server's CPU time, total
//! and per user: the figure that holds up when other work competes for the
//! machine. Any request that is not 200 with every operation 201, or a
//! final user count other than N, fails the bench.
//!
//! The server start-up and /proc reading repeat a few lines of
//! `benches/load.rs` on purpose: benches are separate crates.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const USAGE: &str = "usage: cargo bench --bench bulk -- [--users N] [--batch B] [--clients C] \
[--database sqlite|postgres] [--postgres-url URL]";

struct Opts {
    users: usize,
    batch: usize,
    clients: usize,
    postgres: bool,
    postgres_url: String,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        users: 100_000,
        batch: 1000,
        clients: 1,
        postgres: false,
        postgres_url: DEFAULT_POSTGRES.to_owned(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        let number = |v: String| v.parse::<usize>().map_err(|_| format!("{a}: not a number"));
        match a.as_str() {
            "--users" => o.users = number(value()?)?,
            "--batch" => o.batch = number(value()?)?.max(1),
            "--clients" => o.clients = number(value()?)?.max(1),
            "--database" => {
                o.postgres = match value()?.as_str() {
                    "sqlite" => false,
                    "postgres" => true,
                    other => return Err(format!("unknown database {other}\n{USAGE}")),
                }
            }
            "--postgres-url" => o.postgres_url = value()?,
            // cargo bench passes --bench to harness=false targets.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// utime + stime of a process in clock ticks (Linux; None elsewhere).
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The server process; SIGTERMed by `stop`, killed on drop if still alive.
struct Server {
    child: Child,
}

impl Server {
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..750 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_scim-bridge")
}

fn cli(db: &str, args: &[&str]) -> Result<String, String> {
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

async fn start_server(db: &str, dir: &std::path::Path) -> Result<(Server, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let child = Command::new(bin())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--database", db])
        .env_remove("SCIM_BRIDGE_CONFIG")
        .env_remove("SCIM_BRIDGE_DATABASE_URL")
        .env("SCIM_BRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin()))?;
    let mut server = Server { child };
    let origin = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::new();
    // Bounded: 30 s in 20 ms steps.
    for _ in 0..1500 {
        if let Ok(r) = probe.get(format!("{origin}/healthz")).send().await
            && r.status() == 200
        {
            return Ok((server, origin));
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("server exited early ({status})"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop();
    Err("server never became healthy".to_owned())
}

async fn pg_exec(base: &str, sql: String) -> Result<(), String> {
    let pool = sqlx::PgPool::connect(base)
        .await
        .map_err(|e| e.to_string())?;
    let r = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&pool)
        .await
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e}"));
    pool.close().await;
    r
}

/// A realistic user create, as identity providers send them.
fn user(i: usize) -> Value {
    let user_name = format!("bulk.user{i}@example.com");
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": format!("ext-{i}"),
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

fn bulk_body(first: usize, n: usize) -> String {
    let ops: Vec<Value> = (first..first + n)
        .map(|i| json!({ "method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": user(i) }))
        .collect();
    json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops })
        .to_string()
}

/// One request: its latency, or why it failed.
async fn send(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    body: String,
    n: usize,
) -> Result<u64, String> {
    let start = Instant::now();
    let r = client
        .post(url)
        .header(AUTHORIZATION, auth)
        .header(CONTENT_TYPE, "application/scim+json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let doc: Value = r.json().await.map_err(|e| e.to_string())?;
    let micros = start.elapsed().as_micros() as u64;
    if status != 200 {
        return Err(format!("HTTP {status}: {doc}"));
    }
    let ops = doc["Operations"].as_array().cloned().unwrap_or_default();
    let created = ops.iter().filter(|o| o["status"] == "201").count();
    if created != n {
        let bad = ops.iter().find(|o| o["status"] != "201");
        return Err(format!("{created} of {n} created; e.g. {bad:?}"));
    }
    Ok(micros)
}

async fn run(o: &Opts, base: &str, token: &str, server_pid: u32) -> Result<(), String> {
    let url = format!("{base}/Bulk");
    let auth = format!("Bearer {token}");
    let requests = o.users.div_ceil(o.batch);
    // Bodies are built before the clock starts.
    let bodies: Arc<Vec<(String, usize)>> = Arc::new(
        (0..requests)
            .map(|r| {
                let first = r * o.batch;
                let n = o.batch.min(o.users - first);
                (bulk_body(first, n), n)
            })
            .collect(),
    );
    let payload: usize = bodies.iter().map(|(b, _)| b.len()).sum();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicUsize::new(0));
    let tck = clk_tck();
    let cpu_before = process_ticks(server_pid);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.clients {
        let (client, url, auth, bodies, next) = (
            client.clone(),
            url.clone(),
            auth.clone(),
            bodies.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, n)) = bodies.get(i) else {
                    return Ok::<_, String>(hist);
                };
                let us = send(&client, &url, &auth, body.clone(), *n).await?;
                hist.record(us).expect("record");
            }
        }));
    }
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    for t in tasks {
        let h: Histogram<u64> = t.await.map_err(|e| e.to_string())??;
        hist.add(h).map_err(|e| e.to_string())?;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_after = process_ticks(server_pid);
    let count: Value = client
        .get(format!("{base}/Users?count=0"))
        .header(AUTHORIZATION, &auth)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if count["totalResults"] != o.users {
        return Err(format!(
            "{} users stored, {} expected",
            count["totalResults"], o.users
        ));
    }
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{} users in {requests} requests of {} ({:.1} MiB of JSON), {} client(s): {secs:.2} s, {:.0} users/s",
        o.users,
        o.batch,
        payload as f64 / 1048576.0,
        o.clients,
        o.users as f64 / secs
    );
    println!(
        "per request: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(0.5),
        ms(0.99),
        hist.max() as f64 / 1000.0
    );
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        let cpu = (b - a) as f64 / tck;
        println!(
            "server CPU: {cpu:.2} s ({:.0}% of one core), {:.0} µs per user",
            cpu / secs * 100.0,
            cpu / o.users as f64 * 1e6
        );
    }
    Ok(())
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db, schema) = if o.postgres {
            let schema = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
            if let Err(e) = pg_exec(&o.postgres_url, format!("CREATE SCHEMA {schema}")).await {
                eprintln!("setup failed: {e}");
                return 1;
            }
            let sep = if o.postgres_url.contains('?') {
                '&'
            } else {
                '?'
            };
            (
                format!("{}{sep}options=-c%20search_path%3D{schema}", o.postgres_url),
                Some(schema),
            )
        } else {
            (
                format!("sqlite://{}", dir.path().join("bench.db").display()),
                None,
            )
        };
        let started = async {
            cli(&db, &["iam", "create", "bench"])?;
            let token = cli(&db, &["token", "create", "--iam", "bench"])?;
            let (server, origin) = start_server(&db, dir.path()).await?;
            Ok::<_, String>((token, server, origin))
        }
        .await;
        let code = match started {
            Ok((token, mut server, origin)) => {
                println!(
                    "scim-bridge bulk bench: database {}",
                    if o.postgres { "PostgreSQL" } else { "SQLite" }
                );
                let pid = server.child.id();
                let r = run(&o, &format!("{origin}/scim/v2"), &token, pid).await;
                server.stop();
                match r {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("bench failed: {e}");
                        1
                    }
                }
            }
            Err(e) => {
                eprintln!("setup failed: {e}");
                1
            }
        };
        if let Some(s) = schema
            && let Err(e) = pg_exec(&o.postgres_url, format!("DROP SCHEMA {s} CASCADE")).await
        {
            eprintln!("could not drop schema {s}: {e}");
        }
        code
    });
    std::process::exit(code);
}
