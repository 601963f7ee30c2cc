//! Load benchmark: drives a real `scim-bridge` process over HTTP.
//!
//! ```text
//! cargo bench --bench load -- [--users N] [--clients C]
//!     [--database sqlite|postgres] [--postgres-url URL]
//!     [--url SCIM_BASE_URL --token TOKEN [--server-pid PID]] [--ops N]
//!     [--phase create,get,filter,list,ext,email,id,cursor,co,patch,delete]
//!     [--seed]
//! ```
//!
//! By default the bench starts the server itself (the binary cargo built
//! for this profile) on a fresh temporary SQLite file, or on a fresh
//! schema `bench_<random>` of the PostgreSQL at `--postgres-url`, creates
//! an IAM and a token with the CLI, and stops the server (SIGTERM) at the
//! end. With `--url` and `--token` it drives a server that is already
//! running instead (the create phase then uses unique user names).
//!
//! Phases (each prints one line, latencies of whole requests including
//! the body, in milliseconds):
//! 1. create N users: the first 10% with one client, the rest with C;
//! 2. `GET /Users/{id}` at random (C clients, `--ops`, default 20,000);
//! 3. `GET /Users?filter=userName eq "..."` at random (C clients, `--ops`);
//! 4. `GET /Users?startIndex=R&count=100` (C clients, `--ops` / 10);
//!
//! and, when asked for by `--phase`:
//! - `ext`: `filter=externalId eq "..."` (C clients, `--ops`);
//! - `email`: `filter=emails[type eq "work"].value eq "..."` (C clients, `--ops`);
//! - `id`: `filter=id eq "..."` (C clients, `--ops`);
//! - `cursor`: one client walks every page of `count=100&cursor=` from the
//!   first to the last (RFC 9865 cursors), and prints the latency of the
//!   pages at 0%, 10%, 50%, 90% and 100% of the depth;
//! - `co`: `filter=userName co "..."`, a scan (C clients, `--ops` / 1000,
//!   at least 5);
//! - `patch`: `PATCH /Users/{id}` replacing `title`, at random (C clients,
//!   `--ops`), as the wrk comparison's PATCH phase sends it;
//! - `delete`: `DELETE /Users/{id}` of every user, each once (C clients;
//!   last, whatever the order given).
//!
//! `--seed` (with a server the bench starts) creates the N users before the
//! server starts, through the library's import (batches of 1,000 users in
//! one transaction each, as `scim-bridge import` writes them):
//! setup for the 1,000,000-user runs, not a measured phase. It replaces
//! the create phase.
//!
//! A non-2xx answer or a transport error counts as an error: reported, and
//! the bench exits non-zero. At the end a markdown table sums it up, with
//! the server's peak RSS (Linux, when the bench started the server). The
//! `cpu%` columns are percentages of one core during the phase (server,
//! this load generator, and everything else on the machine, e.g.
//! PostgreSQL); `srv µs/op` is the server's CPU time per request, a figure
//! that holds up better than ops/s when something else competes for the
//! CPU.

mod support;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

use support::{
    Args, DEFAULT_POSTGRES, Db, Server, args_or_exit, clk_tck, drop_schema, fresh_database,
    iam_and_token, peak_rss_kib, process_ticks, runtime, start_server, user_json,
};

const LIST_PAGE: usize = 100;

#[derive(Debug)]
struct Opts {
    users: usize,
    clients: usize,
    database: Db,
    postgres_url: String,
    url: Option<String>,
    token: Option<String>,
    /// With `--url`: the server's pid, for its CPU time and peak RSS.
    server_pid: Option<u32>,
    ops: usize,
    create: bool,
    get: bool,
    filter: bool,
    list: bool,
    ext: bool,
    email: bool,
    id_filter: bool,
    cursor: bool,
    co: bool,
    patch: bool,
    delete: bool,
    seed: bool,
    /// Drops the usage-count trigger before the server starts: the same
    /// code without counting, to measure what counting costs.
    without_usage_counts: bool,
}

const USAGE: &str = "usage: cargo bench --bench load -- [--users N] [--clients C] \
[--database sqlite|postgres] [--postgres-url URL] [--url SCIM_BASE_URL --token TOKEN] \
[--server-pid PID] [--ops N] [--phase create,get,filter,list,ext,email,id,cursor,co,patch,delete] \
[--seed] \
[--without-usage-counts]";

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        users: 10_000,
        clients: 8,
        database: Db::Sqlite,
        postgres_url: DEFAULT_POSTGRES.to_owned(),
        url: None,
        token: None,
        server_pid: None,
        ops: 20_000,
        create: true,
        get: true,
        filter: true,
        list: true,
        ext: false,
        email: false,
        id_filter: false,
        cursor: false,
        co: false,
        patch: false,
        delete: false,
        seed: false,
        without_usage_counts: false,
    };
    let mut args = Args::new(USAGE);
    while let Some(key) = args.next_key() {
        match key.as_str() {
            // `cargo bench` passes `--bench` to harness = false benches.
            "--bench" => {}
            "--users" | "-n" => o.users = args.number()?,
            "--clients" | "-c" => o.clients = args.number()?,
            "--ops" => o.ops = args.number()?,
            "--database" => o.database = Db::parse(&args.value()?, USAGE)?,
            "--postgres-url" => o.postgres_url = args.value()?,
            "--url" => o.url = Some(args.value()?),
            "--token" => o.token = Some(args.value()?),
            "--server-pid" => {
                o.server_pid = Some(
                    args.value()?
                        .parse()
                        .map_err(|e| format!("--server-pid: {e}"))?,
                )
            }
            "--phase" | "--phases" => {
                let v = args.value()?;
                o.create = false;
                o.get = false;
                o.filter = false;
                o.list = false;
                for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match p {
                        "create" => o.create = true,
                        "get" => o.get = true,
                        "filter" => o.filter = true,
                        "list" => o.list = true,
                        "ext" => o.ext = true,
                        "email" => o.email = true,
                        "id" => o.id_filter = true,
                        "cursor" => o.cursor = true,
                        "co" => o.co = true,
                        "patch" => o.patch = true,
                        "delete" => o.delete = true,
                        other => return Err(format!("unknown phase {other}\n{USAGE}")),
                    }
                }
            }
            "--seed" => o.seed = true,
            "--without-usage-counts" => o.without_usage_counts = true,
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if o.url.is_some() != o.token.is_some() {
        return Err(format!("--url and --token go together\n{USAGE}"));
    }
    if o.seed && o.url.is_some() {
        return Err(format!("--seed needs a server the bench starts\n{USAGE}"));
    }
    if o.seed {
        o.create = false;
    }
    if o.users == 0 || o.clients == 0 {
        return Err("--users and --clients must be at least 1".to_owned());
    }
    Ok(o)
}

// ---------------------------------------------------------------- /proc

/// CPU time and memory figures from /proc; all None off Linux.
struct ProcStats {
    clk_tck: f64,
}

#[derive(Clone, Copy, Default)]
struct CpuSnapshot {
    server: Option<u64>,
    client: Option<u64>,
    machine_busy: Option<u64>,
}

impl ProcStats {
    fn new() -> ProcStats {
        ProcStats { clk_tck: clk_tck() }
    }

    /// Busy ticks of the whole machine (all cores).
    fn machine_busy() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest is in user)
        if v.len() < 8 {
            return None;
        }
        Some(v[0] + v[1] + v[2] + v[5] + v[6] + v[7])
    }

    fn snapshot(&self, server_pid: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            server: server_pid.and_then(process_ticks),
            client: process_ticks("self"),
            machine_busy: Self::machine_busy(),
        }
    }

    /// (server, client, other) in percent of one core over `secs`.
    fn cpu(&self, a: CpuSnapshot, b: CpuSnapshot, secs: f64) -> CpuShare {
        let pct = |x: Option<u64>, y: Option<u64>| -> Option<f64> {
            Some((y?.saturating_sub(x?)) as f64 / self.clk_tck / secs * 100.0)
        };
        let server = pct(a.server, b.server);
        let client = pct(a.client, b.client);
        let busy = pct(a.machine_busy, b.machine_busy);
        let other = busy.map(|t| (t - server.unwrap_or(0.0) - client.unwrap_or(0.0)).max(0.0));
        CpuShare {
            server,
            client,
            other,
        }
    }
}

#[derive(Clone, Copy, Default)]
struct CpuShare {
    server: Option<f64>,
    client: Option<f64>,
    other: Option<f64>,
}

// ---------------------------------------------------------------- load

enum Req {
    Get(String),
    Create { index: usize, body: String },
    Patch { url: String, body: String },
    Delete(String),
}

#[derive(serde::Deserialize)]
struct Created {
    id: String,
}

struct Phase {
    name: String,
    clients: usize,
    ops: usize,
    secs: f64,
    hist: Histogram<u64>,
    errors: usize,
    error_samples: Vec<String>,
    cpu: CpuShare,
}

impl Phase {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    fn ms(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
    /// The server's CPU time per request, in microseconds.
    fn server_us_per_op(&self) -> Option<f64> {
        self.cpu
            .server
            .map(|pct| pct / 100.0 * self.secs * 1e6 / self.ops as f64)
    }
    fn max_ms(&self) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.max() as f64 / 1000.0
    }
}

fn fmt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

fn print_header() {
    println!(
        "{:<18} | {:>7} | {:>7} | {:>8} | {:>7} | {:>7} | {:>8} | {:>6} | {:>8} | {:>8} | {:>8} | {:>9}",
        "phase",
        "clients",
        "ops",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "srv cpu%",
        "cli cpu%",
        "oth cpu%",
        "srv µs/op"
    );
}

fn print_phase(p: &Phase) {
    println!(
        "{:<18} | {:>7} | {:>7} | {:>8.0} | {:>7.2} | {:>7.2} | {:>8.2} | {:>6} | {:>8} | {:>8} | {:>8} | {:>9}",
        p.name,
        p.clients,
        p.ops,
        p.ops_per_sec(),
        p.ms(0.5),
        p.ms(0.99),
        p.max_ms(),
        p.errors,
        fmt_pct(p.cpu.server),
        fmt_pct(p.cpu.client),
        fmt_pct(p.cpu.other),
        fmt_pct(p.server_us_per_op())
    );
    for e in &p.error_samples {
        println!("    error: {e}");
    }
}

struct Ctx {
    client: reqwest::Client,
    users_url: String,
    auth: HeaderValue,
    proc_stats: ProcStats,
    server_pid: Option<u32>,
}

/// One request; for a create, the new resource's id.
async fn exec(ctx: &Ctx, req: &Req) -> Result<Option<(usize, String)>, String> {
    let rb = match req {
        Req::Get(url) => ctx.client.get(url.as_str()),
        Req::Create { body, .. } => ctx
            .client
            .post(ctx.users_url.as_str())
            .header(CONTENT_TYPE, "application/scim+json")
            .body(body.clone()),
        Req::Patch { url, body } => ctx
            .client
            .patch(url.as_str())
            .header(CONTENT_TYPE, "application/scim+json")
            .body(body.clone()),
        Req::Delete(url) => ctx.client.delete(url.as_str()),
    };
    let resp = rb
        .header(AUTHORIZATION, ctx.auth.clone())
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading body: {e}"))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let text: String = text.chars().take(300).collect();
        return Err(format!("HTTP {status}: {text}"));
    }
    match req {
        Req::Get(_) | Req::Patch { .. } | Req::Delete(_) => Ok(None),
        Req::Create { index, .. } => {
            let c: Created = serde_json::from_slice(&body)
                .map_err(|e| format!("create answer without id: {e}"))?;
            Ok(Some((*index, c.id)))
        }
    }
}

/// Runs `work` with `clients` concurrent tasks pulling from a shared index.
async fn run_phase(
    ctx: &Arc<Ctx>,
    name: &str,
    clients: usize,
    work: Vec<Req>,
    ids: &mut [Option<String>],
) -> Phase {
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let before = ctx.proc_stats.snapshot(ctx.server_pid);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (ctx, work, next) = (ctx.clone(), work.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram");
            let mut created = Vec::new();
            let mut errors = 0usize;
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = work.get(i) else { break };
                let t0 = Instant::now();
                let r = exec(&ctx, req).await;
                let us = t0.elapsed().as_micros() as u64;
                match r {
                    Ok(id) => {
                        hist.saturating_record(us.max(1));
                        created.extend(id);
                    }
                    Err(e) => {
                        errors += 1;
                        if samples.len() < 3 {
                            samples.push(e);
                        }
                    }
                }
            }
            (hist, created, errors, samples)
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram");
    let mut errors = 0;
    let mut error_samples = Vec::new();
    for t in tasks {
        let (h, created, e, s) = t.await.expect("client task panicked");
        hist.add(h).expect("merge histograms");
        for (i, id) in created {
            ids[i] = Some(id);
        }
        errors += e;
        for x in s {
            if error_samples.len() < 5 {
                error_samples.push(x);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let after = ctx.proc_stats.snapshot(ctx.server_pid);
    let p = Phase {
        name: name.to_owned(),
        clients,
        ops: work.len(),
        secs,
        hist,
        errors,
        error_samples,
        cpu: ctx.proc_stats.cpu(before, after, secs),
    };
    print_phase(&p);
    p
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn user_body(user_name: &str, external_id: &str, i: usize) -> String {
    user_json(user_name, external_id, i).to_string()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListAnswer {
    #[serde(rename = "Resources", default)]
    resources: Vec<ListedUser>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedUser {
    id: String,
    user_name: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CursorPage {
    next_cursor: Option<String>,
}

/// One client walks the whole list by `nextCursor`, 100 at a time.
async fn cursor_walk(ctx: &Arc<Ctx>, base: &str) -> Phase {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram");
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut error_samples = Vec::new();
    let before = ctx.proc_stats.snapshot(ctx.server_pid);
    let start = Instant::now();
    let mut cursor = String::new();
    loop {
        let url = format!("{base}/Users?count={LIST_PAGE}&cursor={}", encode(&cursor));
        let t0 = Instant::now();
        let r = async {
            let resp = ctx
                .client
                .get(url)
                .header(AUTHORIZATION, ctx.auth.clone())
                .send()
                .await
                .map_err(|e| format!("transport: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
            resp.json::<CursorPage>()
                .await
                .map_err(|e| format!("reading body: {e}"))
        }
        .await;
        let us = t0.elapsed().as_micros() as u64;
        match r {
            Ok(page) => {
                hist.saturating_record(us.max(1));
                latencies.push(us);
                match page.next_cursor {
                    Some(c) => cursor = c,
                    None => break,
                }
            }
            Err(e) => {
                errors += 1;
                error_samples.push(e);
                break;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let after = ctx.proc_stats.snapshot(ctx.server_pid);
    let p = Phase {
        name: "cursor walk (100)".to_owned(),
        clients: 1,
        ops: latencies.len() + errors,
        secs,
        hist,
        errors,
        error_samples,
        cpu: ctx.proc_stats.cpu(before, after, secs),
    };
    print_phase(&p);
    if !latencies.is_empty() {
        let at = |f: f64| {
            let i = ((latencies.len() - 1) as f64 * f) as usize;
            format!("page {}: {:.2} ms", i + 1, latencies[i] as f64 / 1000.0)
        };
        println!(
            "    by depth: {}; {}; {}; {}; {}",
            at(0.0),
            at(0.1),
            at(0.5),
            at(0.9),
            at(1.0)
        );
    }
    p
}

/// Without a create phase: the ids and userNames of up to `n` existing users.
async fn existing_users(ctx: &Ctx, base: &str, n: usize) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    while out.len() < n {
        let url = format!(
            "{base}/Users?attributes=userName&startIndex={}&count={}",
            out.len() + 1,
            (n - out.len()).min(1000)
        );
        let r = ctx
            .client
            .get(url)
            .header(AUTHORIZATION, ctx.auth.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("listing users: HTTP {}", r.status()));
        }
        let page: ListAnswer = r.json().await.map_err(|e| e.to_string())?;
        if page.resources.is_empty() {
            break;
        }
        out.extend(page.resources.into_iter().map(|u| (u.id, u.user_name)));
    }
    if out.is_empty() {
        return Err("no users to read: run the create phase too".to_owned());
    }
    Ok(out)
}

/// Creates users `0..n` through the library's import (what `scim-bridge
/// import` runs: batches of 1,000 in one transaction each), before the
/// server runs: the ids, in order. Not measured: setup for runs at a
/// million users, where creating them one request at a time would take
/// the better part of an hour on PostgreSQL.
async fn seed_users(db: &str, n: usize) -> Result<Vec<String>, String> {
    use std::io::Write as _;

    let config = scim_bridge::config::Config {
        database_url: db.to_owned(),
        pool_size: 16,
        ..Default::default()
    };
    let dir = scim_bridge::open_directory(&config)
        .await
        .map_err(|e| format!("seeding: {e}"))?;
    let started = Instant::now();
    let ids: Vec<String> = (0..n).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    const CHUNK: usize = 100_000;
    for first in (0..n).step_by(CHUNK) {
        let mut lines = Vec::with_capacity(CHUNK * 700);
        for (i, id) in ids.iter().enumerate().skip(first).take(CHUNK) {
            let mut doc: serde_json::Value = serde_json::from_str(&user_body(
                &format!("user{i}@example.com"),
                &format!("ext-{i:08}"),
                i,
            ))
            .expect("valid JSON");
            doc["id"] = id.as_str().into();
            let line = serde_json::json!({"type": "User", "iam": "bench", "resource": doc});
            writeln!(lines, "{line}").expect("writes to memory");
        }
        let mut reader = std::io::Cursor::new(lines);
        let report = dir
            .import_lines(&mut reader, 1000, &mut |_| {})
            .await
            .map_err(|e| format!("seeding: {e:?}"))?;
        if let Some(e) = report.errors.first() {
            return Err(format!("seeding: line {}: {}", e.line, e.reason));
        }
        eprintln!(
            "seeded {} users in {:.0} s",
            (first + CHUNK).min(n),
            started.elapsed().as_secs_f64()
        );
    }
    eprintln!(
        "seeded {n} users in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
    Ok(ids)
}

// ---------------------------------------------------------------- main

struct Setup {
    database_label: String,
    base: String,
    token: String,
    server: Option<Server>,
    pg_schema: Option<String>,
    /// `--seed`: the ids of users `0..N`.
    seeded: Option<Vec<String>>,
    _dir: Option<tempfile::TempDir>,
}

async fn setup(o: &Opts) -> Result<Setup, String> {
    if let (Some(url), Some(token)) = (&o.url, &o.token) {
        let mut base = url.trim_end_matches('/').to_owned();
        let has_path = base
            .split_once("://")
            .map(|(_, rest)| rest.contains('/'))
            .unwrap_or(false);
        if !has_path {
            base.push_str("/scim/v2");
        }
        return Ok(Setup {
            database_label: "external".to_owned(),
            base,
            token: token.clone(),
            server: None,
            pg_schema: None,
            seeded: None,
            _dir: None,
        });
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (db, schema) = fresh_database(o.database, &o.postgres_url, dir.path()).await?;
    let prepared = async {
        let token = iam_and_token(&db)?;
        if o.without_usage_counts {
            drop_usage_trigger(&db).await?;
        }
        let seeded = if o.seed {
            Some(seed_users(&db, o.users).await?)
        } else {
            None
        };
        let (server, origin) = start_server(&db, dir.path()).await?;
        Ok::<_, String>((token, server, origin, seeded))
    }
    .await;
    match prepared {
        Ok((token, server, origin, seeded)) => Ok(Setup {
            seeded,
            database_label: o.database.label().to_owned(),
            base: format!("{origin}/scim/v2"),
            token,
            server: Some(server),
            pg_schema: schema,
            _dir: Some(dir),
        }),
        Err(e) => {
            if let Some(s) = schema {
                drop_schema(&o.postgres_url, &s).await;
            }
            Err(e)
        }
    }
}

async fn bench(o: &Opts, s: &Setup) -> Result<Vec<Phase>, String> {
    let n = o.users;
    let c = o.clients;
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(c.max(16))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let auth = HeaderValue::from_str(&format!("Bearer {}", s.token))
        .map_err(|_| "the token is not a valid header value".to_owned())?;
    let ctx = Arc::new(Ctx {
        client,
        users_url: format!("{}/Users", s.base),
        auth,
        proc_stats: ProcStats::new(),
        server_pid: s.server.as_ref().map(Server::pid).or(o.server_pid),
    });
    let mut rng = StdRng::seed_from_u64(0x5c1b_b1d9e);
    let mut phases = Vec::new();
    print_header();

    // Users: `user{i}@example.com`, with a run prefix against a server
    // that may already hold such users.
    let prefix = if s.server.is_some() {
        String::new()
    } else {
        format!("{}-", &uuid::Uuid::new_v4().simple().to_string()[..8])
    };
    let (ids, names): (Vec<String>, Vec<String>) = if o.create {
        let names: Vec<String> = (0..n)
            .map(|i| format!("{prefix}user{i}@example.com"))
            .collect();
        let mut ids: Vec<Option<String>> = vec![None; n];
        let sequential = (n / 10).max(1);
        let work = |range: std::ops::Range<usize>| -> Vec<Req> {
            range
                .map(|i| Req::Create {
                    index: i,
                    body: user_body(&names[i], &format!("{prefix}ext-{i:08}"), i),
                })
                .collect()
        };
        phases.push(run_phase(&ctx, "create (seq)", 1, work(0..sequential), &mut ids).await);
        if sequential < n {
            phases.push(run_phase(&ctx, "create (conc)", c, work(sequential..n), &mut ids).await);
        }
        // Only users that were created are read back.
        ids.into_iter()
            .zip(names)
            .filter_map(|(id, name)| Some((id?, name)))
            .unzip()
    } else if let Some(ids) = &s.seeded {
        let names = (0..n).map(|i| format!("user{i}@example.com")).collect();
        (ids.clone(), names)
    } else {
        existing_users(&ctx, &s.base, n).await?.into_iter().unzip()
    };
    if ids.is_empty() {
        return Err("no user was created".to_owned());
    }
    let k = ids.len();

    if o.get {
        let work: Vec<Req> = (0..o.ops)
            .map(|_| Req::Get(format!("{}/Users/{}", s.base, ids[rng.gen_range(0..k)])))
            .collect();
        phases.push(run_phase(&ctx, "get by id", c, work, &mut []).await);
    }
    if o.filter {
        let work: Vec<Req> = (0..o.ops)
            .map(|_| {
                let f = format!("userName eq \"{}\"", names[rng.gen_range(0..k)]);
                Req::Get(format!("{}/Users?filter={}", s.base, encode(&f)))
            })
            .collect();
        phases.push(run_phase(&ctx, "filter userName", c, work, &mut []).await);
    }
    if o.list {
        let last_start = k.saturating_sub(LIST_PAGE) + 1;
        let work: Vec<Req> = (0..(o.ops / 10).max(1))
            .map(|_| {
                Req::Get(format!(
                    "{}/Users?startIndex={}&count={LIST_PAGE}",
                    s.base,
                    rng.gen_range(1..=last_start)
                ))
            })
            .collect();
        phases.push(run_phase(&ctx, "list page (100)", c, work, &mut []).await);
    }
    // The externalId of the user named `name`: the same number.
    let ext_of = |name: &str| {
        let i: usize = name
            .trim_start_matches(&prefix)
            .trim_start_matches("user")
            .trim_end_matches("@example.com")
            .parse()
            .unwrap_or(0);
        format!("{prefix}ext-{i:08}")
    };
    let filters = |rng: &mut StdRng, f: &dyn Fn(usize) -> String| -> Vec<Req> {
        (0..o.ops)
            .map(|_| {
                let f = f(rng.gen_range(0..k));
                Req::Get(format!("{}/Users?filter={}", s.base, encode(&f)))
            })
            .collect()
    };
    if o.ext {
        let work = filters(&mut rng, &|i| {
            format!("externalId eq \"{}\"", ext_of(&names[i]))
        });
        phases.push(run_phase(&ctx, "filter externalId", c, work, &mut []).await);
    }
    if o.email {
        let work = filters(&mut rng, &|i| {
            format!("emails[type eq \"work\"].value eq \"{}\"", names[i])
        });
        phases.push(run_phase(&ctx, "filter work email", c, work, &mut []).await);
    }
    if o.id_filter {
        let work = filters(&mut rng, &|i| format!("id eq \"{}\"", ids[i]));
        phases.push(run_phase(&ctx, "filter id", c, work, &mut []).await);
    }
    if o.cursor {
        phases.push(cursor_walk(&ctx, &s.base).await);
    }
    if o.co {
        let work: Vec<Req> = (0..(o.ops / 1000).max(5))
            .map(|_| {
                let f = format!("userName co \"r{}@\"", rng.gen_range(0..k));
                Req::Get(format!("{}/Users?filter={}&count=100", s.base, encode(&f)))
            })
            .collect();
        phases.push(run_phase(&ctx, "filter co (scan)", c, work, &mut []).await);
    }
    if o.patch {
        let work: Vec<Req> = (0..o.ops)
            .map(|n| Req::Patch {
                url: format!("{}/Users/{}", s.base, ids[rng.gen_range(0..k)]),
                body: serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "title", "value": format!("t{n}")}],
                })
                .to_string(),
            })
            .collect();
        phases.push(run_phase(&ctx, "patch title", c, work, &mut []).await);
    }
    if o.delete {
        let work: Vec<Req> = ids
            .iter()
            .map(|id| Req::Delete(format!("{}/Users/{id}", s.base)))
            .collect();
        phases.push(run_phase(&ctx, "delete", c, work, &mut []).await);
    }
    Ok(phases)
}

fn summary(o: &Opts, s: &Setup, phases: &[Phase], rss_kib: Option<u64>) {
    println!();
    println!(
        "| database | N | phase | clients | ops | ops/s | p50 ms | p99 ms | max ms | errors | server CPU µs/op |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in phases {
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} |",
            s.database_label,
            o.users,
            p.name,
            p.clients,
            p.ops,
            p.ops_per_sec(),
            p.ms(0.5),
            p.ms(0.99),
            p.max_ms(),
            p.errors,
            fmt_pct(p.server_us_per_op())
        );
    }
    if let Some(kib) = rss_kib {
        println!();
        println!("Server peak RSS (VmHWM): {:.1} MiB", kib as f64 / 1024.0);
    }
}

/// Removes the trigger that counts each audit record into the daily usage
/// counts (the comparison run of `--without-usage-counts`).
async fn drop_usage_trigger(db: &str) -> Result<(), String> {
    use sqlx::Connection;
    let sql = if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query("DROP TRIGGER audit_log_usage")
            .execute(&mut c)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(());
    } else {
        "DROP TRIGGER audit_log_usage ON audit_log".to_owned()
    };
    support::pg_exec(db, sql).await
}

fn main() {
    let o = args_or_exit(parse_args());
    let code = runtime().block_on(async {
        let mut s = match setup(&o).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("setup failed: {e}");
                return 1;
            }
        };
        println!(
            "scim-bridge load bench: database {}, N = {}, clients = {}, base {}",
            s.database_label, o.users, o.clients, s.base
        );
        let result = bench(&o, &s).await;
        let rss = s
            .server
            .as_ref()
            .map(Server::pid)
            .or(o.server_pid)
            .and_then(peak_rss_kib);
        let server_log = s.server.as_ref().map(Server::log_tail);
        if let Some(srv) = s.server.as_mut() {
            srv.stop();
        }
        if let Some(schema) = s.pg_schema.take() {
            drop_schema(&o.postgres_url, &schema).await;
        }
        match result {
            Ok(phases) => {
                summary(&o, &s, &phases, rss);
                let errors: usize = phases.iter().map(|p| p.errors).sum();
                if errors > 0 {
                    eprintln!("{errors} requests failed");
                    if let Some(log) = server_log.filter(|l| !l.is_empty()) {
                        eprintln!("server log (tail):\n{log}");
                    }
                    1
                } else {
                    0
                }
            }
            Err(e) => {
                eprintln!("bench failed: {e}");
                if let Some(log) = server_log.filter(|l| !l.is_empty()) {
                    eprintln!("server log (tail):\n{log}");
                }
                1
            }
        }
    });
    std::process::exit(code);
}
