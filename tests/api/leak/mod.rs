//! The whole suite as a leak check (issue 8, point 6). With
//! `SCIM_BRIDGE_LEAK_DIR` set, every server the tests start logs there
//! (JSON, debug), every secret or personal value the tests send is noted
//! there (`secrets-*.jsonl`), and each server's audit log, `/metrics` text
//! and usage export are written there when it stops. `tests/leak_scan.rs`
//! then looks for every noted value in every one of those files.
//! Unset, all of this is off and costs nothing.

mod client;
mod extract;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::Duration;

pub use client::{Client, RequestBuilder};
pub use extract::Kind;

/// What the servers log at: debug, SQL statements included; the libraries
/// that log connection chatter (and, in the tests' own process, the client
/// side) at info.
pub const LOG_FILTER: &str = "debug,hyper=info,hyper_util=info,h2=info,rustls=info,reqwest=info";

/// Logged once by every process that logs in-process servers, and noted as
/// sent: the scan must find it, or it is not reading the logs it should.
pub const CANARY: &str = "leak-check-canary-5f0c2a";

pub fn dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(std::env::var_os("SCIM_BRIDGE_LEAK_DIR")?);
        std::fs::create_dir_all(&dir).expect("SCIM_BRIDGE_LEAK_DIR");
        Some(dir)
    })
    .as_deref()
}

/// In-process servers log through this process's subscriber: one JSON
/// file for all of them (their lines carry request ids, not test names).
pub fn init() {
    static INIT: Once = Once::new();
    let Some(dir) = dir() else { return };
    INIT.call_once(|| {
        let file =
            std::fs::File::create(dir.join(format!("log-inprocess-{}.jsonl", std::process::id())))
                .expect("log file");
        let _ = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new(LOG_FILTER))
            .with_writer(Mutex::new(file))
            .try_init();
        note(Kind::Canary, CANARY);
        tracing::info!("the leak check's canary: {CANARY}");
    });
}

/// The running test's name (libtest names its threads after the tests;
/// `#[tokio::test]` bodies run on that thread).
fn test_name() -> String {
    let t = std::thread::current();
    t.name().unwrap_or("unknown").replace("::", ".").replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '_',
        "-",
    )
}

/// A file name for something of this test's: `PREFIX-SEQ-TEST.EXT`.
pub fn file_for(prefix: &str, ext: &str) -> Option<PathBuf> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    Some(dir()?.join(format!("{prefix}-{pid}-{n:05}-{}.{ext}", test_name())))
}

/// Notes a value the tests sent (or were handed to send).
pub fn note(kind: Kind, value: &str) {
    // Once per database, so that the scan can say what each one covered.
    type Noted = (
        std::collections::HashSet<(Kind, String, bool)>,
        std::fs::File,
    );
    static NOTED: Mutex<Option<Noted>> = Mutex::new(None);
    let Some(dir) = dir() else { return };
    if value.is_empty() {
        return;
    }
    let mut guard = NOTED.lock().unwrap_or_else(|e| e.into_inner());
    let (seen, file) = guard.get_or_insert_with(|| {
        let path = dir.join(format!("secrets-{}.jsonl", std::process::id()));
        (
            Default::default(),
            std::fs::File::create(path).expect("secrets file"),
        )
    });
    let test = test_name();
    if seen.insert((kind, value.to_owned(), test.ends_with("postgres"))) {
        let line = serde_json::json!({"kind": kind.name(), "value": value, "test": test});
        writeln!(file, "{line}").expect("secrets file");
    }
}

fn note_request(req: &reqwest::Request) {
    if dir().is_some() {
        for (kind, value) in extract::request(req) {
            note(kind, &value);
        }
    }
}

fn note_response(r: &reqwest::Response) {
    if dir().is_some() {
        for (kind, value) in extract::response(r) {
            note(kind, &value);
        }
    }
}

/// Writes what a stopping server's database holds that must name no one:
/// its whole audit log and its usage export (the year around today).
pub async fn dump_database(dir: &scim_bridge::directory::Directory) {
    let Some(path) = file_for("audit", "jsonl") else {
        return;
    };
    let mut audit = String::new();
    let mut offset = 0;
    loop {
        let q = scim_bridge::store::accounts::AuditQuery {
            offset,
            limit: 1000,
            ..Default::default()
        };
        let page = dir
            .audit_log(&scim_bridge::directory::accounts::Ctx::cli(), &q)
            .await
            .expect("audit log");
        // Dumped as the admin API answers it.
        let page = serde_json::to_value(page).expect("audit JSON");
        let hits = page["hits"].as_array().expect("hits");
        for h in hits {
            audit.push_str(&h.to_string());
            audit.push('\n');
        }
        if hits.len() < 1000 {
            break;
        }
        offset += 1000;
    }
    std::fs::write(path, audit).expect("audit dump");
    let today = time::OffsetDateTime::now_utc().date();
    let usage = dir
        .metrics_export(
            &scim_bridge::directory::accounts::Ctx::cli(),
            today - time::Duration::days(183),
            today + time::Duration::days(182),
        )
        .await
        .expect("usage export");
    save("usage", "json", &usage.to_string());
}

pub fn save(prefix: &str, ext: &str, text: &str) {
    if let Some(path) = file_for(prefix, ext) {
        std::fs::write(path, text).expect("leak dir");
    }
}

/// `GET /metrics` without a runtime (from `Drop`), bounded in time: the
/// server may be gone or stalled, and then there is nothing to keep.
pub fn save_metrics_blocking(origin: &str) {
    if dir().is_none() {
        return;
    }
    let fetch = || -> std::io::Result<String> {
        use std::io::Read;
        let addr = origin.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    };
    if let Ok(text) = fetch()
        && text.starts_with("HTTP/1.")
    {
        save("metrics", "prom", &text);
    }
}

/// For a `scim-bridge serve` child process: JSON logs at debug, into a file
/// of the leak directory (the returned stderr), when the leak check is on.
pub fn child_server(cmd: &mut std::process::Command) -> Option<(std::fs::File, PathBuf)> {
    let path = file_for("log-child", "jsonl")?;
    cmd.env("SCIM_BRIDGE_LOG", LOG_FILTER)
        .env("SCIM_BRIDGE_LOG_FORMAT", "json");
    Some((std::fs::File::create(&path).expect("log file"), path))
}

/// `child_server`'s stderr, or nowhere when the leak check is off.
pub fn child_stderr(cmd: &mut std::process::Command) -> std::process::Stdio {
    match child_server(cmd) {
        Some((file, _)) => file.into(),
        None => std::process::Stdio::null(),
    }
}

/// Keeps a copy of a log a test wrote for its own checks.
pub fn keep_log(path: &Path) {
    if let (Some(to), Ok(text)) = (file_for("log-kept", "log"), std::fs::read_to_string(path)) {
        std::fs::write(to, text).expect("leak dir");
    }
}
