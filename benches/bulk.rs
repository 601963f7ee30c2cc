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
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use support::{
    Args, DEFAULT_POSTGRES, Db, args_or_exit, clk_tck, drop_schema, fresh_database, iam_and_token,
    process_ticks, runtime, start_server, user_json,
};

const USAGE: &str = "usage: cargo bench --bench bulk -- [--users N] [--batch B] [--clients C] \
[--database sqlite|postgres] [--postgres-url URL]";

struct Opts {
    users: usize,
    batch: usize,
    clients: usize,
    database: Db,
    postgres_url: String,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        users: 100_000,
        batch: 1000,
        clients: 1,
        database: Db::Sqlite,
        postgres_url: DEFAULT_POSTGRES.to_owned(),
    };
    let mut args = Args::new(USAGE);
    while let Some(key) = args.next_key() {
        match key.as_str() {
            "--users" => o.users = args.number()?,
            "--batch" => o.batch = args.number()?.max(1),
            "--clients" => o.clients = args.number()?.max(1),
            "--database" => o.database = Db::parse(&args.value()?, USAGE)?,
            "--postgres-url" => o.postgres_url = args.value()?,
            // cargo bench passes --bench to harness=false targets.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// A realistic user create, as identity providers send them.
fn user(i: usize) -> Value {
    user_json(&format!("bulk.user{i}@example.com"), &format!("ext-{i}"), i)
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
    let o = args_or_exit(parse_args());
    let code = runtime().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db, schema) = match fresh_database(o.database, &o.postgres_url, dir.path()).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("setup failed: {e}");
                return 1;
            }
        };
        let started = async {
            let token = iam_and_token(&db)?;
            let (server, origin) = start_server(&db, dir.path()).await?;
            Ok::<_, String>((token, server, origin))
        }
        .await;
        let code = match started {
            Ok((token, mut server, origin)) => {
                println!("scim-bridge bulk bench: database {}", o.database.label());
                let pid = server.pid();
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
        if let Some(s) = schema {
            drop_schema(&o.postgres_url, &s).await;
        }
        code
    });
    std::process::exit(code);
}
