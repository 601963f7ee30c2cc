//! `backup` and `restore` of a SQLite database, as an operator runs them:
//! a backup taken while a writer creates users is a database that passes
//! its integrity check and holds a prefix of what was acknowledged; restore
//! refuses while a server uses the file, then a server on the restored file
//! serves the backup's data. PostgreSQL: both point to pg_dump.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::app::postgres_url;
use crate::transfer::cli;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(db: &str) -> (Child, String) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
    let stderr = crate::leak::child_stderr(&mut cmd);
    let mut child = cmd
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("SCIM_BRIDGE_DATABASE_URL", db)
        .env_remove("SCIM_BRIDGE_CONFIG")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start server");
    let origin = format!("http://127.0.0.1:{port}");
    let client = crate::leak::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{origin}/healthz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never healthy");
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (child, origin)
}

fn stop(mut child: Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

async fn user_names(origin: &str, token: &str) -> Vec<String> {
    let r = crate::leak::Client::new()
        .get(format!(
            "{origin}/scim/v2/Users?count=1000&attributes=userName"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect()
}

fn created_name(i: usize) -> String {
    format!("u{i:05}@example.com")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_writing_then_restore_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("live.db").display());
    let (ok, _, err) = cli(&db, &["iam", "create", "entra"]);
    assert!(ok, "{err}");
    let (ok, token, err) = cli(&db, &["token", "create", "--iam", "entra"]);
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    let (server, origin) = start(&db).await;

    // One writer creating users in order: what it acknowledged is a prefix.
    let stop_writing = Arc::new(AtomicBool::new(false));
    let writer = {
        let (origin, token, stop_writing) = (origin.clone(), token.clone(), stop_writing.clone());
        tokio::spawn(async move {
            let client = crate::leak::Client::new();
            let mut acked = 0usize;
            while !stop_writing.load(Ordering::SeqCst) || acked < 20 {
                let r = client
                    .post(format!("{origin}/scim/v2/Users"))
                    .bearer_auth(&token)
                    .json(&json!({"userName": created_name(acked)}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                acked += 1;
            }
            acked
        })
    };
    // Some writes before the backup starts.
    let base = format!("{origin}/scim/v2/Users?count=0");
    loop {
        let r = crate::leak::Client::new()
            .get(&base)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        if v["totalResults"].as_u64().unwrap() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let backup = dir.path().join("copy.db");
    let backup_s = backup.to_str().unwrap();
    let (ok, _, err) = cli(&db, &["backup", "--output", backup_s]);
    assert!(ok, "{err}");
    assert!(err.contains("integrity check ok"), "{err}");
    stop_writing.store(true, Ordering::SeqCst);
    let acked = writer.await.unwrap();
    let (ok, _, err) = cli(&db, &["backup", "--output", backup_s]);
    assert!(!ok && err.contains("--force"), "never overwrites: {err}");

    // The copy: integrity ok, and a prefix of the acknowledged creates.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{backup_s}?mode=ro"))
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let mut names: Vec<String> =
        sqlx::query_scalar("SELECT user_name FROM users ORDER BY user_name")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    names.sort();
    assert!(
        names.len() >= 10 && names.len() <= acked,
        "{} of {acked}",
        names.len()
    );
    let prefix: Vec<String> = (0..names.len()).map(created_name).collect();
    assert_eq!(names, prefix, "the backup holds a prefix of the creates");

    // Restore refuses while the server runs, and changes nothing.
    let (ok, _, err) = cli(&db, &["restore", "--input", backup_s]);
    assert!(!ok && err.contains("in use"), "{err}");
    assert_eq!(user_names(&origin, &token).await.len(), acked);
    stop(server);

    // A file that is not a scim-bridge database is refused.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database").unwrap();
    let (ok, _, err) = cli(&db, &["restore", "--input", junk.to_str().unwrap()]);
    assert!(
        !ok && err.contains("not a usable scim-bridge database"),
        "{err}"
    );

    let (ok, _, err) = cli(&db, &["restore", "--input", backup_s]);
    assert!(ok, "{err}");
    let (server, origin) = start(&db).await;
    let mut served = user_names(&origin, &token).await;
    served.sort();
    assert_eq!(
        served, names,
        "the restored database serves the backup's users"
    );
    stop(server);

    if let Some(pg) = postgres_url() {
        for args in [
            ["backup", "--output", "x.db"],
            ["restore", "--input", backup_s],
        ] {
            let (ok, _, err) = cli(&pg, &args);
            assert!(!ok && err.contains("pg_dump"), "{err}");
        }
    }
}
