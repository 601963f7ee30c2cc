//! A durable job survives its server (issue 18, item 5): a policy change
//! made on a node that runs no jobs (`jobs = false`) waits in the
//! database; a node that runs them takes it, is killed with SIGKILL in
//! the middle of it, and the next one resumes it to the end, with every
//! account subscribed as the policy says, once.

use std::io::Write as _;

use reqwest::Method;
use serde_json::{Value, json};

use super::admitting;
use crate::app::Backend;
use crate::fleet::{Database, Server, call, client};
use crate::leak::Client;

/// Accounts seeded: every third one in Dev.
const ACCOUNTS: usize = 300;

/// Small batches, so that a kill lands between two of them.
const BATCH: &str = "5";

fn in_dev(i: usize) -> bool {
    i.is_multiple_of(3)
}

/// The IAM `idp`, the accounts (imported, each with its managed
/// attribute Environment), and an administrator holding GOVERNANCE and
/// AUDIT: its token.
async fn seed(db: &Database) -> String {
    let dir = db.directory().await;
    dir.create_iam("idp", None).await.expect("iam");
    let mut lines = Vec::new();
    for i in 0..ACCOUNTS {
        let env = if in_dev(i) { "Dev" } else { "Prod" };
        let resource = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": uuid::Uuid::now_v7().to_string(),
            "userName": format!("u{i}@example.com"),
            "meta": {"created": "2026-01-01T00:00:00Z",
                     "lastModified": "2026-01-01T00:00:00Z", "version": "W/\"1\""},
            "urn:scim-bridge:schemas:extension:bridge:2.0:User": {
                "attributes": [{"name": "Environment", "value": env,
                                "added": "2026-01-01T00:00:00Z"}],
                "disabled": false,
            },
        });
        let line = json!({"type": "User", "iam": "idp", "resource": resource});
        writeln!(lines, "{line}").expect("in memory");
    }
    let report = dir
        .import_lines(&mut std::io::Cursor::new(lines), 100, &mut |_| {})
        .await
        .expect("import");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let (admin, token) = dir
        .bootstrap_admin("root@example.com", Some("Root"), time::Duration::hours(2))
        .await
        .expect("bootstrap");
    let ctx = scim_bridge::directory::accounts::Ctx::cli();
    let perms = ["GOVERNANCE".to_owned(), "AUDIT".to_owned()];
    dir.add_permissions(&ctx, admin, &perms)
        .await
        .expect("permissions");
    crate::leak::note(crate::leak::Kind::Token, &token);
    token
}

struct Admin {
    client: Client,
    token: String,
}

impl Admin {
    async fn call(
        &self,
        server: &Server,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let reply = call(
            &self.client,
            method.clone(),
            &server.admin(path),
            &self.token,
            body.as_ref(),
        )
        .await;
        assert!(
            reply.status < 300,
            "{method} {path}: {} {}",
            reply.status,
            reply.body
        );
        reply.body
    }

    async fn job(&self, server: &Server, id: &str) -> Value {
        self.call(server, Method::GET, &format!("/jobs/{id}"), None)
            .await
    }

    /// Every record of `action` in the audit log.
    async fn audited(&self, server: &Server, action: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for offset in (0..).step_by(1000) {
            let path = format!("/audit?action={action}&limit=1000&offset={offset}");
            let page = self.call(server, Method::GET, &path, None).await;
            let hits = page["hits"].as_array().expect("hits").clone();
            let n = hits.len();
            out.extend(hits);
            if n < 1000 {
                return out;
            }
        }
        unreachable!()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_way_resumes_after_a_restart_sqlite() {
    killed_mid_job(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_way_resumes_after_a_restart_postgres() {
    killed_mid_job(Backend::Postgres).await;
}

async fn killed_mid_job(backend: Backend) {
    let Some(db) = Database::new(backend).await else {
        return;
    };
    let admin = Admin {
        client: client(),
        token: seed(&db).await,
    };
    let no_jobs = [("SCIM_BRIDGE_JOBS", "false")];
    let mut server = db.serve(&no_jobs).await;
    admin
        .call(
            &server,
            Method::POST,
            "/tags",
            Some(json!({"name": "Environment.Dev"})),
        )
        .await;
    let body = json!({"name": "sales", "tags": ["Environment.Dev"]});
    let sales = admin
        .call(&server, Method::POST, "/data-sources", Some(body))
        .await;
    let policy = admitting("dev-only", "Environment.Dev", "Environment", "Dev");
    let answer = admin
        .call(&server, Method::POST, "/policies", Some(policy))
        .await;
    let job = answer["jobId"].as_str().expect("a job").to_owned();
    // On a node that runs no jobs it waits, not started.
    let waiting = admin.job(&server, &job).await;
    assert_eq!(waiting["state"], "running", "{waiting}");
    assert_eq!(waiting["done"], 0, "{waiting}");
    let total = ACCOUNTS as u64 + 1;
    assert_eq!(
        waiting["total"], total,
        "the accounts and the administrator"
    );
    server.kill();

    // A node that runs jobs takes it; killed once it has made progress.
    let runs_jobs = [("SCIM_BRIDGE_JOB_BATCH_SIZE", BATCH)];
    let mut server = db.serve(&runs_jobs).await;
    let killed_at = loop {
        let state = admin.job(&server, &job).await;
        if state["done"].as_u64().unwrap_or(0) > 0 {
            server.kill();
            break state;
        }
    };
    assert_eq!(
        killed_at["state"], "running",
        "killed mid-way, not after the end: {killed_at}"
    );

    // The next one resumes it to the end.
    let server = db.serve(&runs_jobs).await;
    let done = loop {
        let state = admin.job(&server, &job).await;
        if state["state"] == "done" {
            break state;
        }
    };
    assert_eq!(done["done"], total, "every account once: {done}");

    // Every Dev account subscribed, once, by the policy; no other.
    let sales = sales["id"].as_str().expect("id");
    let path = format!("/data-sources/{sales}/subscribers?limit=1000");
    let subscribers = admin.call(&server, Method::GET, &path, None).await;
    let dev = (0..ACCOUNTS).filter(|i| in_dev(*i)).count();
    assert_eq!(subscribers["count"], dev, "{subscribers}");
    let hits = subscribers["hits"].as_array().expect("hits");
    assert!(
        hits.iter().all(|h| h["source"] == "policy:dev-only"),
        "{subscribers}"
    );
    let mut users: Vec<&str> = hits.iter().filter_map(|h| h["userId"].as_str()).collect();
    users.sort_unstable();
    users.dedup();
    assert_eq!(users.len(), dev, "one subscription per account");
    // One record per subscription added: a batch redone after the kill
    // added nothing twice.
    let added = admin.audited(&server, "subscription.added").await;
    assert_eq!(added.len(), dev);
    drop(server);
    db.verify_audit();
    db.finish().await;
}
