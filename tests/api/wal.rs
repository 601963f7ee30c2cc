//! SQLite only (PostgreSQL has no write-ahead log file of ours to watch):
//! under reads that never pause, the write-ahead log's file stays bounded
//! while several times its bound goes through it. The log starts over only
//! when a write begins at a moment no reader is still reading from it; a
//! read that holds its snapshot (a statement left un-reset, a transaction
//! left open) would make it grow for as long as the traffic lasts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::app::{Backend, TestApp};

/// Users created with a large attribute: each stores at least `BIG` bytes
/// (twice, in fact: the document and its search copy), and every page the
/// database gains goes through the log first.
const CREATES: usize = 320;
const BIG: usize = 256 * 1024;
/// What the log may reach: SQLite checkpoints it past 1,000 pages (4 MiB);
/// the rest is slack for a batch of writes committed together.
const WAL_BOUND: u64 = 40 * 1024 * 1024;
// The test writes at least twice the bound through the log.
const _: () = assert!((CREATES * BIG) as u64 >= 2 * WAL_BOUND);

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn the_write_ahead_log_stays_bounded_under_continuous_reads_and_writes() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let db = scim_bridge::store::sqlite::backup::path_of(&app.database_url).expect("path");
    let wal = {
        let mut p = db.clone().into_os_string();
        p.push("-wal");
        std::path::PathBuf::from(p)
    };
    let app = Arc::new(app);
    let mut names = Vec::new();
    for i in 0..8 {
        let name = format!("reader{i}@example.com");
        app.create_user(&name).await;
        names.push(name);
    }

    // Readers that never pause: one of them is always inside a read.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..4 {
        let (app, stop, names) = (app.clone(), stop.clone(), names.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let name = &names[(r + reads) % names.len()];
                let resp = app
                    .get(&format!(
                        "/Users?filter={}",
                        crate::users::urlencode(&format!("userName eq \"{name}\""))
                    ))
                    .await;
                assert_eq!(resp.status(), 200);
                reads += 1;
            }
            reads
        }));
    }

    let title = "x".repeat(BIG);
    let mut largest = 0;
    for i in 0..CREATES {
        let resp = app
            .post(
                "/Users",
                &json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("big{i}@example.com"),
                    "title": title,
                }),
            )
            .await;
        assert_eq!(resp.status(), 201, "create {i}");
        largest = largest.max(file_size(&wal));
    }
    stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.expect("reader");
    }

    assert!(reads > 0);
    assert!(
        largest <= WAL_BOUND,
        "the write-ahead log reached {largest} bytes while at least {} went through it \
         ({reads} reads meanwhile)",
        CREATES * BIG
    );
    Arc::try_unwrap(app)
        .ok()
        .expect("sole owner")
        .finish()
        .await;
}
