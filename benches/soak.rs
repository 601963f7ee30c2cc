//! Soak: a steady mixed workload for a long time, to see whether latency
//! and memory stay flat. Drives a real `scim-bridge` process over HTTP.
//!
//! ```text
//! cargo bench --bench soak -- [--minutes 30] [--rate 300] [--users 20000]
//!     [--database sqlite|postgres] [--postgres-url URL]
//! ```
//!
//! Starts the server on a fresh database (SQLite file or PostgreSQL
//! schema), creates `--users` users and 20 groups over SCIM (setup), then
//! sends `--rate` requests a second, on a fixed schedule whatever the
//! answers take (open loop, at most 256 in flight), for `--minutes`:
//!
//! | share | request |
//! | ---: | --- |
//! | 55 % | `GET /Users?filter=userName eq "…"` (an identity provider's lookup) |
//! | 10 % | `GET /Users/{id}` |
//! | 10 % | `POST /Users` (a new user) |
//! | 10 % | `PATCH /Users/{id}` (replace title) |
//! | 10 % | `PATCH /Groups/{id}` (add or remove a member) |
//! | 5 % | admin reads: `GET /api/v1/users?search=…` and a user's report |
//!
//! Every minute it prints that minute's throughput, p50, p99 and max, the
//! errors, the server's resident memory and (SQLite) the size of the
//! database file and its write-ahead log; at the end, the first and the
//! last minute side by side, and each kind of request's p99 per minute, so
//! that a creeping tail can be pinned on what creeps. Latency is client
//! side, whole requests.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

use support::{
    Args, DEFAULT_POSTGRES, Db, args_or_exit, cli, drop_schema, fresh_database, iam_and_token,
    runtime, start_server, status_kib, user_json,
};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

struct Opts {
    minutes: usize,
    rate: usize,
    users: usize,
    database: Db,
    postgres_url: String,
}

const USAGE: &str = "usage: cargo bench --bench soak -- [--minutes 30] [--rate 300] \
[--users 20000] [--database sqlite|postgres] [--postgres-url URL]";

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        minutes: 30,
        rate: 300,
        users: 20_000,
        database: Db::Sqlite,
        postgres_url: DEFAULT_POSTGRES.to_owned(),
    };
    let mut args = Args::new(USAGE);
    while let Some(key) = args.next_key() {
        match key.as_str() {
            "--minutes" => o.minutes = args.number()?,
            "--rate" => o.rate = args.number()?,
            "--users" => o.users = args.number()?,
            "--database" => o.database = Db::parse(&args.value()?, USAGE)?,
            "--postgres-url" => o.postgres_url = args.value()?,
            // cargo bench passes it to every bench binary.
            "--bench" => {}
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if o.minutes == 0 || o.rate == 0 || o.users < 100 {
        return Err(format!(
            "minutes and rate at least 1, users at least 100\n{USAGE}"
        ));
    }
    Ok(o)
}

/// The kinds of request in the mix, in the order of the table above.
const KINDS: [&str; 7] = [
    "lookup",
    "get",
    "create",
    "patch user",
    "patch group",
    "admin search",
    "admin report",
];

/// One minute's figures.
struct Minute {
    hist: Histogram<u64>,
    /// The same requests by kind (index into `KINDS`).
    kinds: Vec<Histogram<u64>>,
    errors: usize,
}

impl Minute {
    fn new() -> Minute {
        Minute {
            hist: Histogram::new(3).expect("histogram"),
            kinds: KINDS
                .iter()
                .map(|_| Histogram::new(3).expect("histogram"))
                .collect(),
            errors: 0,
        }
    }
}

struct Ctx {
    client: reqwest::Client,
    base: String,
    origin: String,
    token: String,
    admin: String,
    users: Vec<(String, String)>,
    groups: Vec<String>,
    created: AtomicUsize,
}

async fn send(req: reqwest::RequestBuilder) -> bool {
    match req.send().await {
        Ok(r) => {
            let ok = r.status().is_success();
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

/// The kind (index into `KINDS`) of the i-th request of the schedule.
fn kind(i: usize) -> usize {
    match i.wrapping_mul(2_654_435_761) % 100 {
        0..55 => 0,
        55..65 => 1,
        65..75 => 2,
        75..85 => 3,
        85..95 => 4,
        _ if i.is_multiple_of(2) => 5,
        _ => 6,
    }
}

/// The i-th request of the schedule.
async fn one(c: &Ctx, i: usize) -> bool {
    let pick = i.wrapping_mul(2_654_435_761) % 100;
    let (id, name) = &c.users[i.wrapping_mul(40_503) % c.users.len()];
    let scim = |r: reqwest::RequestBuilder| {
        r.bearer_auth(&c.token)
            .header("content-type", "application/scim+json")
    };
    match pick {
        0..55 => {
            let url = format!("{}/Users?filter=userName%20eq%20%22{name}%22", c.base);
            send(scim(c.client.get(url))).await
        }
        55..65 => send(scim(c.client.get(format!("{}/Users/{id}", c.base)))).await,
        65..75 => {
            let n = c.created.fetch_add(1, Ordering::Relaxed);
            let body = user_json(&format!("soak{n}@example.com"), &format!("soak-{n}"), n);
            send(scim(c.client.post(format!("{}/Users", c.base))).body(body.to_string())).await
        }
        75..85 => {
            let body = json!({"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "title", "value": format!("Title {i}")}]});
            send(scim(c.client.patch(format!("{}/Users/{id}", c.base))).body(body.to_string()))
                .await
        }
        85..95 => {
            let g = &c.groups[i % c.groups.len()];
            let op = if i.is_multiple_of(2) {
                json!({"op": "add", "path": "members", "value": [{"value": id}]})
            } else {
                json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")})
            };
            let body = json!({"schemas": [PATCH], "Operations": [op]});
            send(
                scim(
                    c.client
                        .patch(format!("{}/Groups/{g}?excludedAttributes=members", c.base)),
                )
                .body(body.to_string()),
            )
            .await
        }
        _ => {
            let url = if i.is_multiple_of(2) {
                format!("{}/api/v1/users?search=user{}&limit=20", c.origin, i % 1000)
            } else {
                format!("{}/api/v1/users/{id}/report", c.origin)
            };
            send(c.client.get(url).bearer_auth(&c.admin)).await
        }
    }
}

async fn setup(
    o: &Opts,
    db: &str,
    dir: &std::path::Path,
) -> Result<(Ctx, support::Server), String> {
    let token = iam_and_token(db)?;
    let admin = cli(db, &["admin", "bootstrap", "--email", "soak@example.com"])?;
    let (server, origin) = start_server(db, dir).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("{origin}/scim/v2");
    let started = Instant::now();
    let sem = Arc::new(Semaphore::new(16));
    let users = Arc::new(Mutex::new(Vec::with_capacity(o.users)));
    let mut tasks = Vec::new();
    for i in 0..o.users {
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (client, base, token, users) =
            (client.clone(), base.clone(), token.clone(), users.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let name = format!("user{i}@example.com");
            let r = client
                .post(format!("{base}/Users"))
                .bearer_auth(&token)
                .header("content-type", "application/scim+json")
                .body(user_json(&name, &format!("ext-{i}"), i).to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            let id = v["id"]
                .as_str()
                .ok_or(format!("create {i}: {v}"))?
                .to_owned();
            users.lock().await.push((id, name));
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let mut groups = Vec::new();
    for g in 0..20 {
        let r = client
            .post(format!("{base}/Groups"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                       "displayName": format!("Soak group {g}")})
                .to_string(),
            )
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        groups.push(v["id"].as_str().ok_or(format!("group: {v}"))?.to_owned());
    }
    eprintln!(
        "setup: {} users, 20 groups in {:.0} s",
        o.users,
        started.elapsed().as_secs_f64()
    );
    let users = Arc::try_unwrap(users)
        .map_err(|_| "users still shared".to_owned())?
        .into_inner();
    Ok((
        Ctx {
            client,
            base,
            origin,
            token,
            admin,
            users,
            groups,
            created: AtomicUsize::new(0),
        },
        server,
    ))
}

/// The sizes of the SQLite database file and its write-ahead log.
fn files(o: &Opts, dir: &std::path::Path) -> String {
    if o.database != Db::Sqlite {
        return "-".to_owned();
    }
    let size = |name: &str| {
        std::fs::metadata(dir.join(name))
            .map(|m| format!("{:.1}", m.len() as f64 / (1024.0 * 1024.0)))
            .unwrap_or_else(|_| "0".to_owned())
    };
    format!("{} / {}", size("bench.db"), size("bench.db-wal"))
}

async fn run(o: &Opts, db: &str, dir: &std::path::Path) -> Result<(), String> {
    let (ctx, mut server) = setup(o, db, dir).await?;
    let ctx = Arc::new(ctx);
    let pid = server.pid();
    let minutes: Arc<Vec<Mutex<Minute>>> =
        Arc::new((0..o.minutes).map(|_| Mutex::new(Minute::new())).collect());
    let in_flight = Arc::new(Semaphore::new(256));
    let interval = Duration::from_secs_f64(1.0 / o.rate as f64);
    let start = tokio::time::Instant::now();
    let total = o.rate * 60 * o.minutes;
    let mut skipped = 0usize;
    let mut reported = 0;
    println!(
        "| minute | requests | ops/s | p50 ms | p99 ms | max ms | errors | server RSS | db / wal MiB |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut rss = Vec::new();
    for i in 0..total {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let minute = (start.elapsed().as_secs() / 60) as usize;
        while reported < minute.min(o.minutes) {
            // The minute before last is complete (requests finish within it
            // in practice; a straggler lands in its own minute's figures).
            let kib = status_kib(pid, "VmRSS:");
            rss.push(kib.unwrap_or(0));
            let m = minutes[reported].lock().await;
            print_minute(reported + 1, &m, kib, &files(o, dir));
            reported += 1;
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let (ctx, minutes) = (ctx.clone(), minutes.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let t = Instant::now();
            let ok = one(&ctx, i).await;
            let us = t.elapsed().as_micros() as u64;
            let slot = (i / (total / minutes.len()).max(1)).min(minutes.len() - 1);
            let mut m = minutes[slot].lock().await;
            let _ = m.hist.record(us.max(1));
            let _ = m.kinds[kind(i)].record(us.max(1));
            if !ok {
                m.errors += 1;
            }
        });
    }
    // Let the last requests finish.
    let _ = in_flight.acquire_many(256).await;
    while reported < o.minutes {
        let kib = status_kib(pid, "VmRSS:");
        rss.push(kib.unwrap_or(0));
        let m = minutes[reported].lock().await;
        print_minute(reported + 1, &m, kib, &files(o, dir));
        reported += 1;
    }
    server.stop();
    println!("\np99 ms by kind of request:\n");
    println!("| minute | {} |", KINDS.join(" | "));
    println!("| ---: |{}", " ---: |".repeat(KINDS.len()));
    for (n, m) in minutes.iter().enumerate() {
        let m = m.lock().await;
        let cells: Vec<String> = m
            .kinds
            .iter()
            .map(|h| format!("{:.2}", h.value_at_quantile(0.99) as f64 / 1000.0))
            .collect();
        println!("| {} | {} |", n + 1, cells.join(" | "));
    }
    let first = minutes[0].lock().await;
    let last = minutes[o.minutes - 1].lock().await;
    println!(
        "\nfirst minute p99 {:.2} ms, last minute p99 {:.2} ms; server RSS {:.1} -> {:.1} MiB (max {:.1}); {} requests not sent (256 in flight)",
        first.hist.value_at_quantile(0.99) as f64 / 1000.0,
        last.hist.value_at_quantile(0.99) as f64 / 1000.0,
        rss.first().copied().unwrap_or(0) as f64 / 1024.0,
        rss.last().copied().unwrap_or(0) as f64 / 1024.0,
        rss.iter().copied().max().unwrap_or(0) as f64 / 1024.0,
        skipped
    );
    Ok(())
}

fn print_minute(n: usize, m: &Minute, rss_kib: Option<u64>, files: &str) {
    let h = &m.hist;
    println!(
        "| {n} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {files} |",
        h.len(),
        h.len() as f64 / 60.0,
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        m.errors,
        support::mib(rss_kib)
    );
}

fn main() {
    let o = args_or_exit(parse_args());
    let rt = runtime();
    let result = rt.block_on(async {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (db, schema) = fresh_database(o.database, &o.postgres_url, dir.path()).await?;
        let r = run(&o, &db, dir.path()).await;
        if let Some(s) = schema {
            drop_schema(&o.postgres_url, &s).await;
        }
        r
    });
    if let Err(e) = result {
        eprintln!("soak failed: {e}");
        std::process::exit(1);
    }
}
