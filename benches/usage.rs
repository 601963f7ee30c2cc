//! The usage-metrics export at full size: drives a real `scim-bridge`
//! process over HTTP.
//!
//! ```text
//! cargo bench --bench usage -- [--days 366] [--names 40] [--requests 200]
//!     [--database sqlite|postgres] [--postgres-url URL]
//! ```
//!
//! Starts the server on a fresh temporary SQLite file, or on a fresh schema
//! `bench_<random>` of the PostgreSQL at `--postgres-url`; fills the usage
//! counts of the last D days with `--names` workflow names a day (through
//! the library's `add_usage`, setup, not measured; on PostgreSQL from 16
//! connections at once, so the rows spread over the shards as concurrent
//! writers leave them), then downloads `GET /api/v1/metrics?days=D` R times,
//! one request at a time, and reports the latency (client side, whole
//! response) and the document's size.
//!
//! The cost of counting on creates is measured by the load bench:
//! `cargo bench --bench load -- --phase create --without-usage-counts`
//! against the same command without the flag.

mod support;

use std::time::Instant;

use hdrhistogram::Histogram;
use scim_bridge::config::Config;

use support::{
    Args, DEFAULT_POSTGRES, Db, args_or_exit, cli, drop_schema, fresh_database, runtime,
    start_server,
};

struct Opts {
    days: usize,
    names: usize,
    requests: usize,
    database: Db,
    postgres_url: String,
}

const USAGE: &str = "usage: cargo bench --bench usage -- [--days 366] [--names 40] \
[--requests 200] [--database sqlite|postgres] [--postgres-url URL]";

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        days: 366,
        names: 40,
        requests: 200,
        database: Db::Sqlite,
        postgres_url: DEFAULT_POSTGRES.to_owned(),
    };
    let mut args = Args::new(USAGE);
    while let Some(key) = args.next_key() {
        match key.as_str() {
            "--days" => o.days = args.number()?,
            "--names" => o.names = args.number()?,
            "--requests" => o.requests = args.number()?,
            "--database" => o.database = Db::parse(&args.value()?, USAGE)?,
            "--postgres-url" => o.postgres_url = args.value()?,
            // cargo bench passes it to every bench binary.
            "--bench" => {}
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if !(1..=366).contains(&o.days) || o.names == 0 || o.requests == 0 {
        return Err(format!(
            "days 1 to 366, names and requests at least 1\n{USAGE}"
        ));
    }
    Ok(o)
}

async fn run(o: &Opts, db: &str, dir: &std::path::Path) -> Result<(), String> {
    cli(db, &["migrate"])?;
    let token = cli(db, &["admin", "bootstrap", "--email", "bench@example.com"])?;
    let config = Config {
        database_url: db.to_owned(),
        ..Config::default()
    };
    let dir_lib = scim_bridge::open_directory(&config)
        .await
        .map_err(|e| e.to_string())?;
    let today = time::OffsetDateTime::now_utc().date();
    let writers = if o.database == Db::Postgres { 16 } else { 1 };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = dir_lib.store.clone();
        let (days, names) = (o.days, o.names);
        tasks.push(tokio::spawn(async move {
            for d in (0..days).filter(|d| d % writers == w) {
                let day = today - time::Duration::days(d as i64);
                let counts: Vec<(String, i64)> = (0..names)
                    .map(|n| (format!("workflow_{n:02}.done"), (d * n % 97 + 1) as i64))
                    .collect();
                store
                    .add_usage(day, &counts)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    eprintln!(
        "seeded {} days x {} names in {:.1} s",
        o.days,
        o.names,
        start.elapsed().as_secs_f64()
    );
    let (mut server, origin) = start_server(db, dir).await?;
    let client = reqwest::Client::new();
    let url = format!("{origin}/api/v1/metrics?days={}", o.days);
    let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let mut bytes = 0;
    for _ in 0..o.requests {
        let t = Instant::now();
        let r = client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("export answered {}", r.status()));
        }
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        h.record(t.elapsed().as_micros() as u64)
            .map_err(|e| e.to_string())?;
        bytes = body.len();
        let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let n = doc["days"].as_array().map_or(0, Vec::len);
        if n != o.days {
            return Err(format!("the export has {n} days, not {}", o.days));
        }
    }
    server.stop();
    println!(
        "| database | days | names/day | requests | p50 ms | p99 ms | max ms | bytes |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    println!(
        "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} |",
        o.database.label(),
        o.days,
        o.names,
        o.requests,
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        bytes
    );
    Ok(())
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
        eprintln!("usage bench failed: {e}");
        std::process::exit(1);
    }
}
