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
//! seeds N + 2·A users directly through the library (`Store::insert_users`,
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
//!    lookup), 100 times.
//!
//! Latencies are client-side on loopback, whole requests with the body: an
//! upper bound of the server's time. `srv µs/op` is the server's CPU time
//! per request (from /proc), which holds up better when something else
//! competes for the CPU. `--members 20000` makes a quick smoke test.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use scim_bridge::scim::resource::fold_case;
use scim_bridge::scim::schema::{USER_RESOURCE, USER_SCHEMA};
use scim_bridge::scim::search_doc;
use scim_bridge::store::UserWrite;
use serde_json::{Value, json};
use uuid::Uuid;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const BATCH: usize = 10_000;
const SMALL: usize = 1_000;
const SEED_TX: usize = 20_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Db {
    Sqlite,
    Postgres,
}

struct Opts {
    members: usize,
    adds: usize,
    database: Db,
    postgres_url: String,
}

const USAGE: &str = "usage: cargo bench --bench groups -- [--members N] [--adds A] \
[--database sqlite|postgres] [--postgres-url URL]";

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        members: 1_000_000,
        adds: 1_000,
        database: Db::Sqlite,
        postgres_url: DEFAULT_POSTGRES.to_owned(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{key} needs a value\n{USAGE}"))
        };
        let number = |v: String| {
            v.replace(['_', ','], "")
                .parse::<usize>()
                .map_err(|e| format!("{key}: {e}"))
        };
        match key.as_str() {
            // `cargo bench` passes `--bench` to harness = false benches.
            "--bench" => {}
            "--members" | "-n" => o.members = number(value()?)?,
            "--adds" => o.adds = number(value()?)?,
            "--database" => {
                o.database = match value()?.as_str() {
                    "sqlite" => Db::Sqlite,
                    "postgres" | "postgresql" => Db::Postgres,
                    other => return Err(format!("unknown database {other}\n{USAGE}")),
                }
            }
            "--postgres-url" => o.postgres_url = value()?,
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

// ---------------------------------------------------------------- /proc

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A line of /proc/PID/status in KiB (VmHWM: peak RSS, VmRSS: current).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

// ---------------------------------------------------------------- server

/// The server process the bench started; SIGKILLed on drop if still alive.
struct Server {
    child: Child,
    log: std::path::PathBuf,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
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
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn start_server(db: &str, dir: &std::path::Path) -> Result<(Server, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))?;
    let log = dir.join("server.log");
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let child = Command::new(bin())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--database", db])
        .env_remove("SCIM_BRIDGE_CONFIG")
        .env_remove("SCIM_BRIDGE_DATABASE_URL")
        .env("SCIM_BRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin()))?;
    let mut server = Server { child, log };
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

fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

async fn pg_exec(base: &str, sql: String) -> Result<(), String> {
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
                    user_name_folded: fold_case(&name),
                    user_name: name,
                    external_id: None,
                    display_name_folded: None,
                    active: true,
                    search: search_doc::build(&USER_RESOURCE, &doc),
                    doc,
                    password_hash: Some(None),
                };
                (Uuid::now_v7(), write)
            })
            .collect();
        ids.extend(batch.iter().map(|(id, _)| *id));
        store
            .insert_users(iam, &batch, now)
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
        Row {
            name: name.to_owned(),
            hist,
            server_us_per_op,
            note,
        }
    }
}

async fn bench(o: &Opts, ctx: &Ctx, users: &[Uuid], label: &str) -> Result<(), String> {
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
    let expected = n + big_adds.len();
    rows.push(ctx.row(
        &format!("GET group of {expected}"),
        hist,
        t0,
        format!(
            "{:.1} MB, {values} members (expected {expected}), first byte {:.0} ms; \
             server RSS {} before, peak {} before / {} after",
            bytes as f64 / 1e6,
            first_byte.as_secs_f64() * 1e3,
            mib(rss_before),
            mib(hwm_before),
            mib(status_kib(ctx.pid, "VmHWM:")),
        ),
    ));
    if values != expected {
        return Err(format!("the GET listed {values} members, not {expected}"));
    }

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

    println!();
    println!("| database | phase | ops | p50 ms | p99 ms | max ms | srv µs/op | notes |");
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    for r in &rows {
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
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("no temp dir: {e}");
                return 1;
            }
        };
        let (db, schema, label) = match o.database {
            Db::Sqlite => (
                format!("sqlite://{}", dir.path().join("bench.db").display()),
                None,
                "SQLite",
            ),
            Db::Postgres => {
                let schema = format!("bench_{}", &Uuid::new_v4().simple().to_string()[..12]);
                if let Err(e) = pg_exec(&o.postgres_url, format!("CREATE SCHEMA {schema}")).await {
                    eprintln!("{e}");
                    return 1;
                }
                (
                    with_search_path(&o.postgres_url, &schema),
                    Some(schema),
                    "PostgreSQL",
                )
            }
        };
        println!(
            "scim-bridge groups bench: database {label}, N = {}, single adds = {}",
            o.members, o.adds
        );
        let result = async {
            cli(&db, &["iam", "create", "bench"])?;
            let token = cli(&db, &["token", "create", "--iam", "bench"])?
                .trim()
                .to_owned();
            let users = seed(&db, o.members + 2 * o.adds).await?;
            let (mut server, origin) = start_server(&db, dir.path()).await?;
            let ctx = Ctx {
                client: reqwest::Client::builder()
                    .http1_only()
                    .tcp_nodelay(true)
                    .timeout(Duration::from_secs(600))
                    .build()
                    .map_err(|e| e.to_string())?,
                base: format!("{origin}/scim/v2"),
                auth: HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| "bad token".to_owned())?,
                pid: server.pid(),
                clk_tck: clk_tck(),
            };
            let r = bench(&o, &ctx, &users, label).await;
            if r.is_err() {
                eprintln!("server log (tail):\n{}", server.log_tail());
            }
            server.stop();
            r
        }
        .await;
        if let Some(schema) = schema
            && let Err(e) = pg_exec(&o.postgres_url, format!("DROP SCHEMA {schema} CASCADE")).await
        {
            eprintln!("could not drop schema {schema}: {e}");
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
