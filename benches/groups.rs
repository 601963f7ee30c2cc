//! Groups at scale: drives a real `scim-bridge` process over HTTP.
//!
//! ```text
//! cargo bench --bench groups -- [--members N] [--adds A]
//!     [--database sqlite|postgres] [--postgres-url URL]
//! ```
//!
//! Starts the server (the binary cargo built for this profile) on a fresh
//! temporary SQLite file, or on a fresh schema `bench_<random>` of the
//! PostgreSQL at `--postgres-url`; creates an IAM and a token with the CLI;
//! seeds N + 2·A users directly through the library (`Users::insert_users`,
//! large transactions, before the server starts: setup, not measured).
//! Then, over HTTP, one client at a time:
//!
//! 1. a group grown to 1,000 members, then A PATCHes adding one member each:
//!    half as identity providers send them (no query: the answer lists the
//!    members up to `patch_members_response_limit`, 204 above), half with
//!    `excludedAttributes=members`;
//! 2. a group grown to N members by PATCHes adding 10,000 members each;
//! 3. A single-member PATCHes on that group, both ways again;
//! 4. `GET /Groups/{id}` of the N-member group (streamed: time, bytes, the
//!    members counted in the body, the server's peak RSS before and after);
//! 5. `GET /Groups?excludedAttributes=members` (the identity providers'
//!    lookup), 100 times;
//! 6. with `--restart`, the server restarted and the GET of step 4 again
//!    (what a fresh process spends on the same database).
//!
//! Each row notes the server's peak RSS so far; on SQLite the GET's row
//! notes the size of the WAL file before it. `GROUPS_BENCH_BEFORE_GET`, a
//! shell command run with the server's pid as `$1` just before each GET
//! (e.g. one that starts `perf record -p $1` in the background), helps
//! profile it.
//!
//! Latencies are client-side on loopback, whole requests with the body: an
//! upper bound of the server's time. `srv µs/op` is the server's CPU time
//! per request (from /proc), which holds up better when something else
//! competes for the CPU. `--members 20000` makes a quick smoke test.

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use scim_bridge::scim::schema::{USER_RESOURCE, USER_SCHEMA};
use scim_bridge::scim::search_doc;
use scim_bridge::store::UserWrite;
use serde_json::{Value, json};
use uuid::Uuid;

use support::{
    Args, DEFAULT_POSTGRES, Db, args_or_exit, clk_tck, drop_schema, fresh_database, iam_and_token,
    mib, process_ticks, runtime, start_server, status_kib,
};

const BATCH: usize = 10_000;
const SMALL: usize = 1_000;
const SEED_TX: usize = 20_000;

struct Opts {
    members: usize,
    adds: usize,
    database: Db,
    postgres_url: String,
    restart: bool,
}

const USAGE: &str = "usage: cargo bench --bench groups -- [--members N] [--adds A] \
[--database sqlite|postgres] [--postgres-url URL] [--restart]";

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        members: 1_000_000,
        adds: 1_000,
        database: Db::Sqlite,
        postgres_url: DEFAULT_POSTGRES.to_owned(),
        restart: false,
    };
    let mut args = Args::new(USAGE);
    while let Some(key) = args.next_key() {
        match key.as_str() {
            // `cargo bench` passes `--bench` to harness = false benches.
            "--bench" => {}
            "--members" | "-n" => o.members = args.number()?,
            "--adds" => o.adds = args.number()?,
            "--database" => o.database = Db::parse(&args.value()?, USAGE)?,
            "--postgres-url" => o.postgres_url = args.value()?,
            "--restart" => o.restart = true,
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if o.members < SMALL || o.adds == 0 {
        return Err(format!(
            "--members must be at least {SMALL}, --adds at least 1"
        ));
    }
    Ok(o)
}

// ---------------------------------------------------------------- seeding

/// N users straight into the store, `SEED_TX` per transaction.
async fn seed(db: &str, count: usize) -> Result<Vec<Uuid>, String> {
    let store = scim_bridge::store::connect(db, 2)
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let iam = store
        .iam_by_name("bench")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no IAM bench")?
        .id;
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let mut ids = Vec::with_capacity(count);
    let mut i = 0;
    while i < count {
        let end = (i + SEED_TX).min(count);
        let batch: Vec<(Uuid, UserWrite)> = (i..end)
            .map(|k| {
                let name = format!("member{k:07}@example.com");
                let doc = json!({"schemas": [USER_SCHEMA], "userName": name});
                let write = UserWrite {
                    user_name: scim_bridge::scim::user_name::UserName::parse(&name).unwrap(),
                    external_id: None,
                    display_name_folded: None,
                    active: true,
                    search: search_doc::build(&USER_RESOURCE, &doc),
                    doc,
                    password_hash: Some(None),
                    emails_unchanged: false,
                    keys_unchanged: false,
                };
                (Uuid::now_v7(), write)
            })
            .collect();
        ids.extend(batch.iter().map(|(id, _)| *id));
        store
            .insert_users(iam.into(), &batch, now)
            .await
            .map_err(|e| e.to_string())?;
        i = end;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {count} users through the library in {secs:.1} s ({:.0}/s)",
        count as f64 / secs
    );
    Ok(ids)
}

// ---------------------------------------------------------------- HTTP

struct Ctx {
    client: reqwest::Client,
    base: String,
    auth: HeaderValue,
    pid: u32,
    clk_tck: f64,
    /// The SQLite database's WAL file.
    wal: Option<std::path::PathBuf>,
}

struct Row {
    name: String,
    hist: Histogram<u64>,
    server_us_per_op: Option<f64>,
    note: String,
}

impl Row {
    fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

fn add_body(ids: &[Uuid]) -> String {
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": members}]
    })
    .to_string()
}

impl Ctx {
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<String>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut req = self
            .client
            .request(method, url)
            .header(AUTHORIZATION, self.auth.clone());
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, "application/scim+json").body(b);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if status >= 300 {
            return Err(format!(
                "{url}: {status} {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        Ok((status, bytes.to_vec()))
    }

    async fn create_group(&self, name: &str) -> Result<String, String> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name
        });
        let (_, b) = self
            .send(
                reqwest::Method::POST,
                &format!("{}/Groups", self.base),
                Some(body.to_string()),
            )
            .await?;
        let v: Value = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
        Ok(v["id"].as_str().ok_or("no id")?.to_owned())
    }

    /// Runs `bodies` as PATCHes of `group` (one at a time): a row.
    async fn patches(
        &self,
        name: &str,
        group: &str,
        query: &str,
        bodies: Vec<String>,
    ) -> Result<Row, String> {
        let url = format!("{}/Groups/{group}{query}", self.base);
        let mut hist =
            Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| e.to_string())?;
        let mut statuses = std::collections::BTreeMap::new();
        let t0 = process_ticks(self.pid);
        for b in bodies {
            let started = Instant::now();
            let (status, _) = self.send(reqwest::Method::PATCH, &url, Some(b)).await?;
            hist.saturating_record(started.elapsed().as_micros() as u64);
            *statuses.entry(status).or_insert(0) += 1;
        }
        let note = statuses
            .iter()
            .map(|(s, n)| format!("{n}× {s}"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(self.row(name, hist, t0, note))
    }

    fn row(&self, name: &str, hist: Histogram<u64>, t0: Option<u64>, note: String) -> Row {
        let ops = hist.len().max(1) as f64;
        let server_us_per_op = t0
            .zip(process_ticks(self.pid))
            .map(|(a, b)| (b - a) as f64 / self.clk_tck * 1e6 / ops);
        let note = format!(
            "{note}; peak RSS so far {}",
            mib(status_kib(self.pid, "VmHWM:"))
        );
        Row {
            name: name.to_owned(),
            hist,
            server_us_per_op,
            note,
        }
    }
}

/// The rows measured, the big group's id and how many members it has.
async fn bench(o: &Opts, ctx: &Ctx, users: &[Uuid]) -> Result<(Vec<Row>, String, usize), String> {
    let n = o.members;
    let a = o.adds;
    let (grow, rest) = users.split_at(n);
    let (small_adds, big_adds) = rest.split_at(a);
    let mut rows = Vec::new();
    let bodies = |ids: &[Uuid]| ids.iter().map(|id| add_body(&[*id])).collect::<Vec<_>>();
    let half = a / 2;

    // 1. one member at a time into a group of 1,000.
    let small = ctx.create_group("small").await?;
    ctx.patches("grow to 1,000", &small, "", vec![add_body(&grow[..SMALL])])
        .await?;
    rows.push(
        ctx.patches(
            "add 1 @ 1,000 (default)",
            &small,
            "",
            bodies(&small_adds[..half]),
        )
        .await?,
    );
    rows.push(
        ctx.patches(
            "add 1 @ 1,000 (excl. members)",
            &small,
            "?excludedAttributes=members",
            bodies(&small_adds[half..]),
        )
        .await?,
    );

    // 2. a group of N, 10,000 members per PATCH.
    let big = ctx.create_group("big").await?;
    let grow_bodies: Vec<String> = grow.chunks(BATCH).map(add_body).collect();
    let started = Instant::now();
    let mut row = ctx
        .patches(&format!("add 10,000 (to {n})"), &big, "", grow_bodies)
        .await?;
    row.note = format!(
        "{}; {:.1} s in all",
        row.note,
        started.elapsed().as_secs_f64()
    );
    rows.push(row);

    // 3. one member at a time into the group of N.
    rows.push(
        ctx.patches(
            &format!("add 1 @ {n} (default)"),
            &big,
            "",
            bodies(&big_adds[..half]),
        )
        .await?,
    );
    rows.push(
        ctx.patches(
            &format!("add 1 @ {n} (excl. members)"),
            &big,
            "?excludedAttributes=members",
            bodies(&big_adds[half..]),
        )
        .await?,
    );

    // 4. GET of the big group, streamed through, counted, never held.
    let expected = n + big_adds.len();
    rows.push(get_group(ctx, &big, expected).await?);

    // 5. the identity providers' lookup: no member is read.
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| e.to_string())?;
    let t0 = process_ticks(ctx.pid);
    let url = format!("{}/Groups?excludedAttributes=members", ctx.base);
    for _ in 0..100 {
        let started = Instant::now();
        ctx.send(reqwest::Method::GET, &url, None).await?;
        hist.saturating_record(started.elapsed().as_micros() as u64);
    }
    rows.push(ctx.row("list excl. members", hist, t0, String::new()));

    Ok((rows, big, expected))
}

/// `GET /Groups/{id}` of the big group, streamed through and counted,
/// never held: a row.
async fn get_group(ctx: &Ctx, big: &str, expected: usize) -> Result<Row, String> {
    let wal = ctx.wal.as_ref().map_or(String::new(), |p| {
        let size = std::fs::metadata(p).map_or(0, |m| m.len());
        format!("; WAL {:.1} MB before", size as f64 / 1e6)
    });
    if let Ok(cmd) = std::env::var("GROUPS_BENCH_BEFORE_GET") {
        let status = std::process::Command::new("sh")
            .args(["-c", &cmd, "sh", &ctx.pid.to_string()])
            .status()
            .map_err(|e| format!("GROUPS_BENCH_BEFORE_GET: {e}"))?;
        if !status.success() {
            return Err(format!("GROUPS_BENCH_BEFORE_GET: {status}"));
        }
    }
    let hwm_before = status_kib(ctx.pid, "VmHWM:");
    let rss_before = status_kib(ctx.pid, "VmRSS:");
    let t0 = process_ticks(ctx.pid);
    let started = Instant::now();
    let resp = ctx
        .client
        .get(format!("{}/Groups/{big}", ctx.base))
        .header(AUTHORIZATION, ctx.auth.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != 200 {
        return Err(format!("GET big group: {}", resp.status()));
    }
    let first_byte = started.elapsed();
    let mut body = resp.bytes_stream();
    let (mut bytes, mut values, mut tail) = (0usize, 0usize, Vec::<u8>::new());
    let needle = b"\"value\":";
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("GET big group body: {e}"))?;
        bytes += chunk.len();
        tail.extend_from_slice(&chunk);
        values += tail.windows(needle.len()).filter(|w| w == needle).count();
        let keep = tail.len().min(needle.len() - 1);
        tail.drain(..tail.len() - keep);
    }
    let elapsed = started.elapsed();
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| e.to_string())?;
    hist.saturating_record(elapsed.as_micros() as u64);
    if values != expected {
        return Err(format!("the GET listed {values} members, not {expected}"));
    }
    Ok(ctx.row(
        &format!("GET group of {expected}"),
        hist,
        t0,
        format!(
            "{:.1} MB, {values} members, first byte {:.0} ms; \
             server RSS {} before, peak {} before{wal}",
            bytes as f64 / 1e6,
            first_byte.as_secs_f64() * 1e3,
            mib(rss_before),
            mib(hwm_before),
        ),
    ))
}

fn print_rows(rows: &[Row], label: &str) {
    println!();
    println!("| database | phase | ops | p50 ms | p99 ms | max ms | srv µs/op | notes |");
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    for r in rows {
        println!(
            "| {label} | {} | {} | {:.2} | {:.2} | {:.1} | {} | {} |",
            r.name,
            r.hist.len(),
            r.ms(0.5),
            r.ms(0.99),
            r.hist.max() as f64 / 1000.0,
            r.server_us_per_op
                .map_or("?".to_owned(), |u| format!("{u:.0}")),
            r.note
        );
    }
}

fn main() {
    let o = args_or_exit(parse_args());
    let code = runtime().block_on(async {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("no temp dir: {e}");
                return 1;
            }
        };
        let (db, schema) = match fresh_database(o.database, &o.postgres_url, dir.path()).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        };
        let label = o.database.label();
        println!(
            "scim-bridge groups bench: database {label}, N = {}, single adds = {}",
            o.members, o.adds
        );
        let result = async {
            let token = iam_and_token(&db)?;
            let users = seed(&db, o.members + 2 * o.adds).await?;
            let (mut server, origin) = start_server(&db, dir.path()).await?;
            let client = reqwest::Client::builder()
                .http1_only()
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(600))
                .build()
                .map_err(|e| e.to_string())?;
            let wal = (o.database == Db::Sqlite).then(|| dir.path().join("bench.db-wal"));
            let mut ctx = Ctx {
                client,
                base: format!("{origin}/scim/v2"),
                auth: HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| "bad token".to_owned())?,
                pid: server.pid(),
                clk_tck: clk_tck(),
                wal,
            };
            let r = bench(&o, &ctx, &users).await;
            if r.is_err() {
                eprintln!("server log (tail):\n{}", server.log_tail());
            }
            server.stop();
            let (mut rows, big, expected) = r?;
            if o.restart {
                let (mut server, origin) = start_server(&db, dir.path()).await?;
                ctx.base = format!("{origin}/scim/v2");
                ctx.pid = server.pid();
                let mut row = get_group(&ctx, &big, expected).await;
                if let Ok(row) = &mut row {
                    row.name = format!("{} (restarted)", row.name);
                }
                server.stop();
                rows.push(row?);
            }
            print_rows(&rows, label);
            Ok::<(), String>(())
        }
        .await;
        if let Some(schema) = schema {
            drop_schema(&o.postgres_url, &schema).await;
        }
        match result {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("bench failed: {e}");
                1
            }
        }
    });
    std::process::exit(code);
}
