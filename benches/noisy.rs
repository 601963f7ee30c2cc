//! A noisy IAM next to a quiet one. The noisy IAM's token floods the
//! server with list pages (`count=100`) from many clients; the quiet IAM's
//! token makes user lookups at a steady rate, as an identity provider
//! does. Four phases on one server (configured rate limit off):
//!
//! 1. `quiet alone`: the quiet IAM's baseline latency;
//! 2. `noisy, unlimited`: both, with no limit on the noisy IAM;
//! 3. `noisy, limited`: both, the noisy IAM limited by its `rateLimit`
//!    setting (`PUT /api/v1/iams/noisy/settings`); its clients wait as
//!    `Retry-After` says, as identity providers do;
//! 4. `noisy, limited, ignoring Retry-After`: the same, with clients that
//!    retry at once (a hostile or broken client).
//!
//! In phase 3 the noisy IAM gets 429s and the quiet IAM's latency should be
//! back near its phase-1 baseline. Phase 4 shows what 429s cost when
//! nobody waits: the limiter saves the database, not the CPU.
//!
//! cargo bench --bench noisy -- [--database sqlite|postgres] [--secs S]
//!     [--noisy-clients C] [--quiet-rate R] [--limit R] [--users N]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use support::{Db, args_or_exit, cli, drop_schema, fresh_database, start_server_with, user_json};

const USAGE: &str = "usage: cargo bench --bench noisy -- [--database sqlite|postgres] \
                     [--secs S] [--noisy-clients C] [--quiet-rate R] [--limit R] [--users N] \
                     [--postgres URL]";

struct Opts {
    db: Db,
    postgres: String,
    secs: u64,
    noisy_clients: usize,
    quiet_rate: u64,
    limit: f64,
    users: usize,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        db: Db::Sqlite,
        postgres: std::env::var("SCIM_BRIDGE_TEST_POSTGRES")
            .unwrap_or_else(|_| support::DEFAULT_POSTGRES.to_owned()),
        secs: 10,
        noisy_clients: 16,
        quiet_rate: 20,
        limit: 50.0,
        users: 200,
    };
    let mut args = support::Args::new(USAGE);
    while let Some(key) = args.next_key() {
        match key.as_str() {
            "--database" => o.db = Db::parse(&args.value()?, USAGE)?,
            "--postgres" => o.postgres = args.value()?,
            "--secs" => o.secs = args.number()? as u64,
            "--noisy-clients" => o.noisy_clients = args.number()?,
            "--quiet-rate" => o.quiet_rate = args.number()? as u64,
            "--limit" => o.limit = args.value()?.parse().map_err(|e| format!("--limit: {e}"))?,
            "--users" => o.users = args.number()?,
            "--bench" => {}
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if o.secs == 0 || o.quiet_rate == 0 || o.users == 0 || o.limit <= 0.0 {
        return Err(format!(
            "--secs, --quiet-rate, --users and --limit must be positive\n{USAGE}"
        ));
    }
    Ok(o)
}

struct Phase {
    name: &'static str,
    quiet: Histogram<u64>,
    quiet_errors: u64,
    noisy_ok: u64,
    noisy_429: u64,
    noisy_other: u64,
    secs: f64,
}

fn lookup(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
) -> reqwest::RequestBuilder {
    client
        .get(format!("{base}/Users"))
        .query(&[("filter", format!("userName eq \"{name}\""))])
        .bearer_auth(token)
}

async fn phase(
    name: &'static str,
    o: &Opts,
    client: &reqwest::Client,
    base: &str,
    quiet_token: &str,
    noisy_token: Option<&str>,
    respect_retry_after: bool,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let mut noisy = Vec::new();
    if let Some(token) = noisy_token {
        for _ in 0..o.noisy_clients {
            let (stop, counts, client) = (stop.clone(), counts.clone(), client.clone());
            let (base, token) = (base.to_owned(), token.to_owned());
            noisy.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let page = client
                        .get(format!("{base}/Users?startIndex=1&count=100"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    let mut wait = 0;
                    let slot = match page {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            0
                        }
                        Ok(r) if r.status() == 429 => {
                            wait = r
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.parse::<u64>().ok())
                                .unwrap_or(1);
                            1
                        }
                        _ => 2,
                    };
                    counts[slot].fetch_add(1, Ordering::Relaxed);
                    if respect_retry_after && wait > 0 {
                        let until = Instant::now() + Duration::from_secs(wait);
                        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }));
        }
    }
    let mut quiet = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram");
    let mut quiet_errors = 0;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / o.quiet_rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_secs(o.secs) {
        tick.tick().await;
        let name = format!("quiet{}@example.com", i % o.users);
        i += 1;
        let t0 = Instant::now();
        match lookup(client, base, quiet_token, &name).send().await {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                quiet.saturating_record((t0.elapsed().as_micros() as u64).max(1));
            }
            _ => quiet_errors += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in noisy {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    Phase {
        name,
        quiet,
        quiet_errors,
        noisy_ok: counts[0].load(Ordering::Relaxed),
        noisy_429: counts[1].load(Ordering::Relaxed),
        noisy_other: counts[2].load(Ordering::Relaxed),
        secs,
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

async fn run(o: Opts) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (db, schema) = fresh_database(o.db, &o.postgres, dir.path()).await?;
    cli(&db, &["migrate"])?;
    cli(&db, &["iam", "create", "quiet"])?;
    cli(&db, &["iam", "create", "noisy"])?;
    let quiet_token = cli(&db, &["token", "create", "--iam", "quiet"])?;
    let noisy_token = cli(&db, &["token", "create", "--iam", "noisy"])?;
    let admin = cli(&db, &["admin", "bootstrap", "--email", "bench@example.com"])?;
    // The configured limit is off: only the noisy IAM's setting limits.
    let (mut server, origin) = start_server_with(
        &db,
        dir.path(),
        &[("SCIM_BRIDGE_RATE_LIMIT_PER_SECOND", "0")],
    )
    .await?;
    let base = format!("{origin}/scim/v2");
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())?;
    for (iam, token) in [("quiet", &quiet_token), ("noisy", &noisy_token)] {
        for i in 0..o.users {
            let name = format!("{iam}{i}@example.com");
            let r = client
                .post(format!("{base}/Users"))
                .bearer_auth(token)
                .header("content-type", "application/scim+json")
                .body(user_json(&name, &format!("{iam}-{i}"), i).to_string())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if r.status() != 201 {
                return Err(format!("seeding {name}: {}", r.status()));
            }
        }
    }
    println!(
        "noisy-neighbour bench: {}, {} s per phase, quiet IAM {} req/s, noisy IAM {} clients, \
         limit {}/s (indicative: shared machine)",
        o.db.label(),
        o.secs,
        o.quiet_rate,
        o.noisy_clients,
        o.limit
    );
    let mut phases = vec![
        phase("quiet alone", &o, &client, &base, &quiet_token, None, true).await,
        phase(
            "noisy, unlimited",
            &o,
            &client,
            &base,
            &quiet_token,
            Some(&noisy_token),
            true,
        )
        .await,
    ];
    let burst = o.limit.ceil().max(1.0) as u32;
    let r = client
        .put(format!("{origin}/api/v1/iams/noisy/settings"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"rateLimit": {"perSecond": o.limit, "burst": burst}}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("setting the noisy IAM's rateLimit: {}", r.status()));
    }
    for (name, respect) in [
        ("noisy, limited", true),
        ("noisy, limited, ignoring Retry-After", false),
    ] {
        phases.push(
            phase(
                name,
                &o,
                &client,
                &base,
                &quiet_token,
                Some(&noisy_token),
                respect,
            )
            .await,
        );
    }
    println!(
        "| phase | quiet ok | quiet p50 ms | quiet p99 ms | quiet max ms | quiet errors \
         | noisy 2xx/s | noisy 429/s | noisy other |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for p in &phases {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {} |",
            p.name,
            p.quiet.len(),
            ms(p.quiet.value_at_quantile(0.5)),
            ms(p.quiet.value_at_quantile(0.99)),
            ms(p.quiet.max()),
            p.quiet_errors,
            p.noisy_ok as f64 / p.secs,
            p.noisy_429 as f64 / p.secs,
            p.noisy_other,
        );
    }
    server.stop();
    if let Some(schema) = schema {
        drop_schema(&o.postgres, &schema).await;
    }
    Ok(())
}

fn main() {
    let o = args_or_exit(parse_args());
    if let Err(e) = support::runtime().block_on(run(o)) {
        eprintln!("noisy bench failed: {e}");
        std::process::exit(1);
    }
}
