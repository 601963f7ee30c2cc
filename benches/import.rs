//! Import and export at scale through the real command line:
//!
//!     cargo bench --bench import -- [--users 1000000] [--database sqlite|postgres]
//!         [--postgres URL] [--batch-size 1000]
//!
//! Writes a JSON-lines file of N users (as `export` writes them: the IAM,
//! then users with a grant and a managed attribute each; not measured),
//! then measures `scim-bridge import` into a fresh database, `export` of
//! it, and a second `import` of the export (every record unchanged). Each
//! phase prints users/s and the peak RSS of the scim-bridge process.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Args, DEFAULT_POSTGRES, Db};

const USAGE: &str = "usage: cargo bench --bench import -- [--users N] \
[--database sqlite|postgres] [--postgres URL] [--batch-size N]";

struct Options {
    users: usize,
    db: Db,
    postgres: String,
    batch: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        users: 1_000_000,
        db: Db::Sqlite,
        postgres: DEFAULT_POSTGRES.to_owned(),
        batch: 1000,
    };
    let mut args = Args::new(USAGE);
    while let Some(key) = args.next_key() {
        match key.as_str() {
            "--users" => o.users = args.number()?,
            "--database" => o.db = Db::parse(&args.value()?, USAGE)?,
            "--postgres" => o.postgres = args.value()?,
            "--batch-size" => o.batch = args.number()?,
            // What `cargo bench` passes to every bench.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn write_input(path: &Path, n: usize) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let iam = serde_json::json!({"type": "Iam", "resource": {
        "id": uuid::Uuid::now_v7().to_string(), "name": "bench", "settings": {}}});
    writeln!(out, "{iam}")?;
    for i in 0..n {
        let mut doc =
            support::user_json(&format!("user{i}@example.com"), &format!("ext-{i:08}"), i);
        doc["id"] = uuid::Uuid::now_v7().to_string().into();
        doc["meta"] = serde_json::json!({"created": "2026-01-01T00:00:00Z",
            "lastModified": "2026-01-01T00:00:00Z", "version": "W/\"1\""});
        doc["urn:scim-bridge:schemas:extension:bridge:2.0:User"] = serde_json::json!({
            "permissions": [{"value": "CREATE_PROJECT", "source": "iam-default",
                             "granted": "2026-01-01T00:00:00Z"}],
            "attributes": [{"name": "department", "value": format!("d{}", i % 50),
                            "added": "2026-01-01T00:00:00Z"}],
            "disabled": false,
        });
        let line = serde_json::json!({"type": "User", "iam": "bench", "resource": doc});
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// Runs the CLI, sampling its peak RSS until it exits: seconds, peak KiB.
fn measured(db: &str, args: &[&str]) -> Result<(f64, Option<u64>, String), String> {
    let started = Instant::now();
    let mut child = Command::new(support::bin())
        .args(args)
        .args(["--database", db])
        .env_remove("SCIM_BRIDGE_CONFIG")
        .env_remove("SCIM_BRIDGE_DATABASE_URL")
        .env("SCIM_BRIDGE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    let mut peak = None;
    loop {
        if let Some(k) = support::peak_rss_kib(pid) {
            peak = Some(peak.map_or(k, |p: u64| p.max(k)));
        }
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = started.elapsed().as_secs_f64();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("scim-bridge {} failed: {text}", args.join(" ")));
    }
    Ok((secs, peak, text))
}

fn report(phase: &str, n: usize, (secs, peak, _): &(f64, Option<u64>, String)) {
    println!(
        "{phase:<28} {n:>9} users {secs:>8.1} s {:>9.0} users/s   peak RSS {}",
        n as f64 / secs,
        support::mib(*peak)
    );
}

fn main() {
    let o = support::args_or_exit(parse_args());
    let rt = support::runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let result = rt.block_on(async {
        let (db, schema) = support::fresh_database(o.db, &o.postgres, dir.path()).await?;
        let input = dir.path().join("in.jsonl");
        let started = Instant::now();
        write_input(&input, o.users).map_err(|e| e.to_string())?;
        eprintln!(
            "wrote {} users ({:.0} MiB) in {:.1} s (setup, not measured)",
            o.users,
            std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0,
            started.elapsed().as_secs_f64()
        );
        support::cli(&db, &["migrate"])?;
        println!("{} — batch {} lines", o.db.label(), o.batch);
        let batch = o.batch.to_string();
        let input_s = input.to_str().unwrap_or_default();
        let import = measured(&db, &["import", "--batch-size", &batch, "--input", input_s])?;
        report("import (all created)", o.users, &import);
        let exported = dir.path().join("out.jsonl");
        let exported_s = exported.to_str().unwrap_or_default();
        let export = measured(&db, &["export", "--output", exported_s])?;
        report("export", o.users, &export);
        let again = measured(
            &db,
            &["import", "--batch-size", &batch, "--input", exported_s],
        )?;
        report("import again (unchanged)", o.users, &again);
        if !again.2.contains("nothing changed") {
            return Err(format!("the second import changed something:\n{}", again.2));
        }
        if let Some(schema) = schema {
            support::drop_schema(&o.postgres, &schema).await;
        }
        Ok::<_, String>(())
    });
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
