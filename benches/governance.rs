//! Governance at scale (issue 18's bars): drives a real `scim-bridge`
//! process over HTTP.
//!
//! ```text
//! cargo bench --bench governance -- [--accounts 100000] [--data-sources 10000]
//!     [--policies 50] [--evaluations 2000] [--clients 8] [--secs 10]
//!     [--job-sources 1] [--job-batch 500] [--database sqlite|postgres] [--postgres URL]
//! ```
//!
//! Setup, not measured, through the library before the server starts: the
//! IAM `bench` and its token, an administrator holding GOVERNANCE, tags
//! (`Environment.*`, `Domain.D0`–`D19`, `Sensitivity.*`, `PII`,
//! `Project.Apollo`), N data sources each tagged with an environment, a
//! domain and a sensitivity, half of them with a column tagged `PII` (360
//! distinct tag sets), the first `--job-sources` also tagged
//! `Project.Apollo`; P policies of every kind (tag, column-tag and
//! any-tag circumstances; attribute, group, `@hasTagAsAttribute` and
//! approval rules; required and shared), none subscribing automatically;
//! and the accounts, imported with a managed attribute `Environment` (Dev
//! for every other one). Then, over HTTP:
//!
//! 1. `POST /api/v1/policy/evaluate` for a random account and data source,
//!    one client: p50/p99/max;
//! 2. SCIM creates (`--clients` clients) for `--secs` seconds, with no
//!    policy subscribing automatically;
//! 3. the policy change: a policy admitting `Environment=Dev` to the data
//!    sources tagged `Project.Apollo`, subscribing automatically, starts a
//!    job over every account; SCIM creates run meanwhile, with the same
//!    clients, until the job is done (`GET /api/v1/jobs/{id}`);
//! 4. SCIM creates for `--secs` seconds again, the policy in place and no
//!    job: what the job's own work costs the creates is 3 against 4.
//!
//! The Apollo data sources' subscribers are counted at the end (every Dev
//! account). Latencies are client-side, whole requests on loopback; the
//! load generator shares the machine's cores with the server (and with
//! PostgreSQL).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng, rngs::StdRng};
use scim_bridge::directory::Directory;
use scim_bridge::directory::accounts::Ctx;
use serde_json::{Value, json};

use support::{Args, DEFAULT_POSTGRES, Db, args_or_exit, load, runtime};

const USAGE: &str = "usage: cargo bench --bench governance -- [--accounts N] \
[--data-sources N] [--policies N] [--evaluations N] [--clients C] [--secs S] \
[--job-sources N] [--job-batch N] [--database sqlite|postgres] [--postgres URL]";

struct Options {
    accounts: usize,
    data_sources: usize,
    policies: usize,
    evaluations: usize,
    clients: usize,
    secs: u64,
    job_sources: usize,
    job_batch: usize,
    db: Db,
    postgres: String,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        accounts: 100_000,
        data_sources: 10_000,
        policies: 50,
        evaluations: 2_000,
        clients: 8,
        secs: 10,
        job_sources: 1,
        job_batch: 500,
        db: Db::Sqlite,
        postgres: DEFAULT_POSTGRES.to_owned(),
    };
    let mut args = Args::new(USAGE);
    while let Some(key) = args.next_key() {
        match key.as_str() {
            "--accounts" => o.accounts = args.number()?,
            "--data-sources" => o.data_sources = args.number()?,
            "--policies" => o.policies = args.number()?,
            "--evaluations" => o.evaluations = args.number()?,
            "--clients" => o.clients = args.number()?.max(1),
            "--secs" => o.secs = args.number()? as u64,
            "--job-sources" => o.job_sources = args.number()?,
            "--job-batch" => o.job_batch = args.number()?.max(1),
            "--database" => o.db = Db::parse(&args.value()?, USAGE)?,
            "--postgres" => o.postgres = args.value()?,
            // What `cargo bench` passes to every bench.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

const ENVIRONMENTS: [&str; 3] = ["Dev", "Test", "Prod"];
const SENSITIVITY: [&str; 3] = ["Public", "Internal", "Confidential"];
const DOMAINS: usize = 20;

fn tag_names() -> Vec<String> {
    let mut out: Vec<String> = ENVIRONMENTS
        .iter()
        .map(|e| format!("Environment.{e}"))
        .collect();
    out.extend((0..DOMAINS).map(|d| format!("Domain.D{d}")));
    out.extend(SENSITIVITY.iter().map(|s| format!("Sensitivity.{s}")));
    out.extend(["PII".to_owned(), "Project.Apollo".to_owned()]);
    out
}

/// Data source `i`: an environment, a domain and a sensitivity; a column
/// tagged PII on every other one. Apollo's carry Project.Apollo alone.
fn data_source(i: usize, apollo: bool) -> Value {
    if apollo {
        return json!({"name": format!("ds{i:05}"), "tags": ["Project.Apollo"]});
    }
    let tags = vec![
        format!("Environment.{}", ENVIRONMENTS[i % 3]),
        format!("Domain.D{}", (i / 3) % DOMAINS),
        format!("Sensitivity.{}", SENSITIVITY[(i / 60) % 3]),
    ];
    let column = if i.is_multiple_of(2) {
        json!({"name": "email", "tags": ["PII"]})
    } else {
        json!({"name": "id"})
    };
    json!({"name": format!("ds{i:05}"), "tags": tags, "columns": [column]})
}

/// Policy `k` of every kind, subscribing no one automatically.
fn policy(k: usize) -> Value {
    let circumstances = match k % 5 {
        0 => json!([{"type": "tags", "tag": format!("Domain.D{}", k % DOMAINS)}]),
        1 => json!([{"type": "tags", "tag": format!("Environment.{}", ENVIRONMENTS[k % 3])}]),
        2 => json!([{"type": "columnTags", "tag": "PII"}]),
        3 => json!([{"type": "tags", "tag": format!("Sensitivity.{}", SENSITIVITY[k % 3])},
                     {"type": "tags", "tag": format!("Domain.D{}", (k + 7) % DOMAINS)}]),
        _ => json!([{"type": "noTags"}]),
    };
    let mut actions = match k % 4 {
        0 => json!({"type": "entitlements",
                    "entitlements": {"attributes": [{"name": "Environment", "value": "Dev"}]}}),
        1 => json!({"type": "entitlements", "entitlements": {"groups": [format!("G{k}")]}}),
        2 => json!({"type": "entitlements",
                    "advanced": "@hasTagAsAttribute('Environment', 'dataSource') OR @isInGroups('Admins')"}),
        _ => json!({"type": "approval", "approvals": [{"requiredPermission": "GOVERNANCE"}]}),
    };
    actions["automaticSubscription"] = json!(false);
    actions["shareResponsibility"] = json!(k.is_multiple_of(3));
    json!({"policyKey": format!("p{k:02}"), "name": format!("Policy {k}"),
           "circumstanceOperator": if k % 5 == 3 { "all" } else { "any" },
           "circumstances": circumstances, "actions": actions})
}

/// The policy change the job carries out.
fn apollo() -> Value {
    json!({"policyKey": "apollo", "name": "Apollo for Dev",
           "circumstances": [{"type": "tags", "tag": "Project.Apollo"}],
           "actions": {"type": "entitlements", "automaticSubscription": true,
                       "entitlements": {"attributes": [{"name": "Environment", "value": "Dev"}]}}})
}

struct Seeded {
    scim_token: String,
    admin_token: String,
    accounts: Vec<String>,
    data_sources: Vec<String>,
}

fn check<T, E: std::fmt::Debug>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

async fn seed(dir: &Directory, o: &Options) -> Result<Seeded, String> {
    let ctx = Ctx::cli();
    let started = Instant::now();
    check("iam", dir.create_iam("bench", None).await)?;
    let (_, scim_token) = check("token", dir.create_token("bench", None).await)?;
    let (admin, admin_token) = check(
        "admin",
        dir.bootstrap_admin("bench@example.com", None, time::Duration::hours(4))
            .await,
    )?;
    let perms = ["GOVERNANCE".to_owned(), "AUDIT".to_owned()];
    check("grant", dir.add_permissions(&ctx, admin, &perms).await)?;
    for name in tag_names() {
        check("tag", dir.create_tag(&ctx, &json!({ "name": name })).await)?;
    }
    let created: Vec<Result<String, String>> = futures_util::stream::iter(0..o.data_sources)
        .map(|i| {
            let ctx = ctx.clone();
            async move {
                let body = data_source(i, i < o.job_sources);
                let view = check("data source", dir.create_data_source(&ctx, &body).await)?;
                Ok(view.id.to_string())
            }
        })
        .buffered(8)
        .collect()
        .await;
    let data_sources = created.into_iter().collect::<Result<Vec<_>, _>>()?;
    for k in 0..o.policies {
        check("policy", dir.create_policy(&ctx, &policy(k)).await)?;
    }
    eprintln!(
        "seeded {} data sources and {} policies in {:.1} s",
        o.data_sources,
        o.policies,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let accounts: Vec<String> = (0..o.accounts)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    const CHUNK: usize = 20_000;
    for first in (0..o.accounts).step_by(CHUNK) {
        let mut lines = Vec::new();
        for (i, id) in accounts.iter().enumerate().skip(first).take(CHUNK) {
            let mut doc = support::user_json(&format!("user{i}@example.com"), &format!("x{i}"), i);
            doc["id"] = json!(id);
            doc["meta"] = json!({"created": "2026-01-01T00:00:00Z",
                "lastModified": "2026-01-01T00:00:00Z", "version": "W/\"1\""});
            let env = if i.is_multiple_of(2) { "Dev" } else { "Prod" };
            doc["urn:scim-bridge:schemas:extension:bridge:2.0:User"] = json!({
                "attributes": [{"name": "Environment", "value": env,
                                "added": "2026-01-01T00:00:00Z"}],
                "disabled": false,
            });
            let line = json!({"type": "User", "iam": "bench", "resource": doc});
            lines.extend_from_slice(line.to_string().as_bytes());
            lines.push(b'\n');
        }
        let report = check(
            "import",
            dir.import_lines(&mut std::io::Cursor::new(lines), 1000, &mut |_| {})
                .await,
        )?;
        if let Some(e) = report.errors.first() {
            return Err(format!("import: line {}: {}", e.line, e.reason));
        }
    }
    eprintln!(
        "seeded {} accounts in {:.1} s",
        o.accounts,
        started.elapsed().as_secs_f64()
    );
    Ok(Seeded {
        scim_token,
        admin_token,
        accounts,
        data_sources,
    })
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

async fn evaluations(
    client: &reqwest::Client,
    origin: &str,
    s: &Seeded,
    n: usize,
) -> Result<Histogram<u64>, String> {
    let mut rng = StdRng::seed_from_u64(18);
    let mut h = histogram();
    let url = format!("{origin}/api/v1/policy/evaluate");
    for i in 0..n + n / 10 {
        let user = &s.accounts[rng.gen_range(0..s.accounts.len())];
        let source = &s.data_sources[rng.gen_range(0..s.data_sources.len())];
        let body = json!({"userId": user, "dataSource": {"id": source}});
        let t = Instant::now();
        let r = client
            .post(&url)
            .bearer_auth(&s.admin_token)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let answer = r.bytes().await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!(
                "evaluate: {status} {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        // The first tenth warms up.
        if i >= n / 10 {
            h.record(t.elapsed().as_micros() as u64).ok();
        }
    }
    Ok(h)
}

/// SCIM creates by `clients` clients until `stop`: their latencies.
async fn creates(
    client: &reqwest::Client,
    origin: &str,
    token: &str,
    clients: usize,
    phase: &str,
    stop: Arc<AtomicBool>,
) -> Result<Histogram<u64>, String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            let url = format!("{origin}/scim/v2/Users");
            let (token, phase) = (token.to_owned(), phase.to_owned());
            tokio::spawn(async move {
                let mut h = histogram();
                while !stop.load(Ordering::Relaxed) {
                    let i = NEXT.fetch_add(1, Ordering::Relaxed);
                    let name = format!("{phase}-{i}@example.com");
                    let body = support::user_json(&name, &format!("{phase}-{i}"), i);
                    let t = Instant::now();
                    let r = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/scim+json")
                        .body(body.to_string())
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = r.status();
                    let _ = r.bytes().await;
                    if status != 201 {
                        return Err(format!("create: {status}"));
                    }
                    h.record(t.elapsed().as_micros() as u64).ok();
                }
                Ok::<_, String>(h)
            })
        })
        .collect();
    let mut all = histogram();
    for t in tasks {
        let h = t.await.map_err(|e| e.to_string())??;
        all.add(&h).ok();
    }
    Ok(all)
}

/// Creates for `secs` seconds: creates/s and latencies.
async fn create_for(
    client: &reqwest::Client,
    origin: &str,
    token: &str,
    o: &Options,
    phase: &str,
) -> Result<(f64, Histogram<u64>), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let run = creates(client, origin, token, o.clients, phase, stop.clone());
    let timer = async {
        tokio::time::sleep(Duration::from_secs(o.secs)).await;
        stop.store(true, Ordering::Relaxed);
    };
    let (h, ()) = tokio::join!(run, timer);
    let h = h?;
    Ok((h.len() as f64 / started.elapsed().as_secs_f64(), h))
}

fn report_creates(what: &str, rate: f64, h: &Histogram<u64>) {
    println!(
        "{what:<44} {rate:>8.0} creates/s  p50 {:>6.2} ms  p99 {:>7.2} ms  ({} creates)",
        ms(h, 0.5),
        ms(h, 0.99),
        h.len()
    );
}

async fn admin_json(req: reqwest::RequestBuilder, token: &str) -> Result<Value, String> {
    let r = req
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    Ok(body)
}

async fn run(o: &Options, dir: &std::path::Path) -> Result<(), String> {
    let (db, schema) = support::fresh_database(o.db, &o.postgres, dir).await?;
    let config = scim_bridge::config::Config {
        database_url: db.clone(),
        pool_size: 8,
        ..Default::default()
    };
    let directory = scim_bridge::open_directory(&config)
        .await
        .map_err(|e| format!("open: {e}"))?;
    let s = seed(&directory, o).await?;
    drop(directory);
    let batch = o.job_batch.to_string();
    let (mut server, origin) = support::start_server_with(
        &db,
        dir,
        &[
            ("SCIM_BRIDGE_RATE_LIMIT_PER_SECOND", "0"),
            ("SCIM_BRIDGE_ADMIN_RATE_LIMIT_PER_SECOND", "0"),
            ("SCIM_BRIDGE_JOB_BATCH_SIZE", &batch),
        ],
    )
    .await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    println!(
        "{} — {} accounts, {} data sources, {} policies; load {}",
        o.db.label(),
        o.accounts,
        o.data_sources,
        o.policies,
        load()
    );

    let h = evaluations(&client, &origin, &s, o.evaluations).await?;
    println!(
        "evaluate (1 client, {} requests)               p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        h.len(),
        ms(&h, 0.5),
        ms(&h, 0.99),
        h.max() as f64 / 1000.0
    );

    let (before, h) = create_for(&client, &origin, &s.scim_token, o, "before").await?;
    report_creates(
        &format!("creates, {} clients, no automatic policy", o.clients),
        before,
        &h,
    );

    // The policy change, and creates until its job is done.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let load_during = creates(
        &client,
        &origin,
        &s.scim_token,
        o.clients,
        "during",
        stop.clone(),
    );
    let job = async {
        let answer = admin_json(
            client
                .post(format!("{origin}/api/v1/policies"))
                .json(&apollo()),
            &s.admin_token,
        )
        .await?;
        let id = answer["jobId"].as_str().ok_or("no job")?.to_owned();
        let done = loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let state = admin_json(
                client.get(format!("{origin}/api/v1/jobs/{id}")),
                &s.admin_token,
            )
            .await?;
            if state["state"] == "done" {
                break state;
            }
        };
        let took = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        Ok::<_, String>((done, took))
    };
    let (during, job) = tokio::join!(load_during, job);
    let ((done, took), during) = (job?, during?);
    let rate = during.len() as f64 / started.elapsed().as_secs_f64();
    println!(
        "policy change job: {} accounts re-evaluated in {took:.1} s ({:.0}/s), batches of {}; load {}",
        done["done"],
        done["done"].as_f64().unwrap_or(0.0) / took,
        o.job_batch,
        load()
    );
    report_creates("creates during the job", rate, &during);

    let (after, h) = create_for(&client, &origin, &s.scim_token, o, "after").await?;
    report_creates("creates after it, the automatic policy in place", after, &h);
    println!(
        "creates during the job: {:+.1} % against after it, {:+.1} % against before any automatic policy",
        (rate / after - 1.0) * 100.0,
        (rate / before - 1.0) * 100.0
    );
    let mut subscribed = 0;
    for id in s.data_sources.iter().take(o.job_sources) {
        let page = admin_json(
            client.get(format!(
                "{origin}/api/v1/data-sources/{id}/subscribers?limit=1"
            )),
            &s.admin_token,
        )
        .await?;
        subscribed += page["count"].as_u64().unwrap_or(0);
    }
    println!(
        "subscribed by the job: {subscribed} (expected {})",
        o.accounts.div_ceil(2) * o.job_sources.min(o.data_sources)
    );
    server.stop();
    if let Some(schema) = schema {
        support::drop_schema(&o.postgres, &schema).await;
    }
    Ok(())
}

fn main() {
    let o = args_or_exit(parse_args());
    let dir = tempfile::tempdir().expect("temp dir");
    if let Err(e) = runtime().block_on(run(&o, dir.path())) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
