//! The command line, as an operator uses it: against the database of a
//! server that is running, then SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::app::TestApp;
use crate::both;

fn cli(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(args)
        .env("SCIM_BRIDGE_DATABASE_URL", db)
        .env_remove("SCIM_BRIDGE_CONFIG")
        .output()
        .expect("run scim-bridge");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(db: &str, args: &[&str]) -> String {
    let (success, stdout, stderr) = cli(db, args);
    assert!(success, "scim-bridge {args:?} failed: {stderr}");
    stdout
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn operator_workflow_against_a_running_server(app: &TestApp) {
    let db = app.database_url.as_str();
    ok(db, &["migrate"]);
    let iam_id = ok(
        db,
        &["iam", "create", "entra", "--display-name", "Entra ID"],
    );
    assert!(
        uuid::Uuid::parse_str(iam_id.trim()).is_ok(),
        "iam create prints the id: {iam_id}"
    );
    let (success, _, stderr) = cli(db, &["iam", "create", "entra"]);
    assert!(!success, "a duplicate IAM name fails");
    assert!(stderr.contains("already exists"), "{stderr}");
    let (success, _, _) = cli(db, &["iam", "create", "bad name!"]);
    assert!(!success);
    let list = ok(db, &["iam", "list"]);
    assert!(list.contains("entra") && list.contains("bim"), "{list}");

    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
    let stderr = crate::leak::child_stderr(&mut cmd);
    let mut server = cmd
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("SCIM_BRIDGE_DATABASE_URL", db)
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
        assert!(
            std::time::Instant::now() < deadline,
            "server never became healthy"
        );
        assert!(server.try_wait().unwrap().is_none(), "server exited early");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Tokens made while the server runs work at once.
    let token = ok(
        db,
        &["token", "create", "--iam", "entra", "--label", "Entra prod"],
    );
    let lines: Vec<&str> = token.lines().collect();
    assert_eq!(lines.len(), 1, "stdout holds only the token");
    let token = lines[0].trim().to_owned();
    let users = format!("{origin}/scim/v2/Users");
    let r = client.get(&users).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["totalResults"], 0);

    let listed = ok(db, &["token", "list"]);
    assert!(!listed.contains(&token), "token list never shows secrets");
    let row = listed
        .lines()
        .find(|l| l.contains("Entra prod"))
        .expect("token listed");
    let token_id = row.split('\t').next().unwrap().to_owned();
    assert!(row.contains("active"));
    ok(db, &["token", "revoke", &token_id]);
    // A verified token is trusted for token_cache_ms (1 s by default): the
    // revocation must take effect within that, and then stay in effect.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = client.get(&users).bearer_auth(&token).send().await.unwrap();
        if r.status() == 401 {
            break;
        }
        assert_eq!(r.status(), 200);
        assert!(
            std::time::Instant::now() < deadline,
            "a revoked token kept working"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = client.get(&users).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401, "a revoked token stays refused");
    let (success, _, _) = cli(db, &["token", "revoke", &token_id]);
    assert!(!success, "revoking twice fails");
    let (success, _, _) = cli(db, &["token", "create", "--iam", "nope"]);
    assert!(!success, "unknown IAM");

    let admin = ok(
        db,
        &[
            "admin",
            "bootstrap",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
        ],
    );
    let admin = admin.trim();
    assert_eq!(admin.split('.').count(), 3, "a JWT");
    let r = client
        .get(format!("{origin}/api/v1/me"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&Value::from("USER_ADMIN")),
        "{me}"
    );
    // Everything above was audited, and the chain is intact.
    let (success, out, _) = cli(db, &["audit", "verify"]);
    assert!(success, "{out}");
    let n: u64 = out
        .trim()
        .strip_prefix("audit log intact: ")
        .and_then(|r| r.strip_suffix(" records"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {out:?}"));
    assert!(n >= 4, "iam, token, revocation, admin: {n}");
    let (success, _, _) = cli(db, &["admin", "bootstrap", "--email", "not an email"]);
    assert!(!success);

    // SIGTERM: the server finishes and exits cleanly.
    let pid = server.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = server.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server ignored SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
}
both!(operator_workflow_against_a_running_server);

#[test]
fn unknown_database_scheme_is_a_clear_error() {
    let (success, _, stderr) = cli("mysql://localhost/x", &["iam", "list"]);
    assert!(!success);
    assert!(
        stderr.contains("sqlite://") && stderr.contains("postgres://"),
        "{stderr}"
    );
}

/// `metrics export` writes the document the admin API downloads, to a file
/// or to stdout, and refuses a bad range.
async fn metrics_export_from_the_command_line(app: &TestApp) {
    let db = app.database_url.as_str();
    app.create_user("cli.metrics@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.json");
    ok(
        db,
        &[
            "metrics",
            "export",
            "--days",
            "7",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["schemaVersion"], 1);
    let days = doc["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days[6]["workflows"]["user.created"], 1, "{doc}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("cli.metrics"), "the export names nobody");
    // Stdout, by dates; the same days as the API's.
    let (from, to) = (doc["from"].as_str().unwrap(), doc["to"].as_str().unwrap());
    let out: Value =
        serde_json::from_str(&ok(db, &["metrics", "export", "--from", from, "--to", to])).unwrap();
    assert_eq!(out["days"], doc["days"]);
    for bad in [
        &["metrics", "export", "--days", "0"][..],
        &["metrics", "export", "--days", "367"],
        &[
            "metrics",
            "export",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
        ],
        &["metrics", "export", "--from", "2026-01-01"],
        &["metrics", "export"],
    ] {
        let (success, _, stderr) = cli(db, bad);
        assert!(!success, "{bad:?} succeeded");
        assert!(!stderr.is_empty(), "{bad:?} says why");
    }
}
both!(metrics_export_from_the_command_line);
