//! Crash safety: a server process is killed with SIGKILL while several
//! clients drive writes at it (creates, group member adds, PATCHes,
//! permanent deletes and migrations through the admin API), then started
//! again on the same database, several rounds a run. After each kill the
//! database passes its integrity check and the audit chain verifies; after
//! each restart every acknowledged write is there, and a write that was in
//! flight is there entirely or not at all (an account comes with its
//! default grants and its audit record, or does not exist), and the daily
//! usage counts still equal the audit log.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::app::Backend;
use crate::fleet::{self, Database, Server, Tenants, call, send};
use crate::leak::Client;

const WORKERS: usize = 6;
const ROUNDS: usize = 8;

/// What an account looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    exists: bool,
    iam: &'static str,
    user_name: String,
    nick: Option<String>,
    in_group: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Create,
    Nick(String),
    Join,
    Delete,
    Migrate(String),
}

impl State {
    fn after(&self, op: &Op) -> State {
        let mut s = self.clone();
        match op {
            Op::Create => s.exists = true,
            Op::Nick(n) => s.nick = Some(n.clone()),
            Op::Join => s.in_group = true,
            Op::Delete => {
                s.exists = false;
                s.in_group = false;
            }
            Op::Migrate(name) => {
                s.iam = "other";
                s.user_name = name.clone();
                // The old provider's groups and identity fields (but for
                // the name) stay behind.
                s.in_group = false;
                s.nick = None;
            }
        }
        s
    }
}

/// One account a worker drives: what was acknowledged, and the write that
/// was in flight when the server died (if any).
#[derive(Debug, Clone)]
struct Account {
    id: Option<String>,
    state: State,
    pending: Option<Op>,
}

struct Ctx {
    client: Client,
    t: Tenants,
    group: String,
}

impl Ctx {
    fn token(&self, iam: &str) -> &str {
        if iam == "idp" {
            &self.t.idp
        } else {
            &self.t.other
        }
    }
}

fn patch(op: &str, path: &str, value: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": op, "path": path, "value": value}],
    })
}

/// Sends `op` for `a`; Ok(true) when acknowledged, Ok(false) when the
/// server died before answering. Any other answer fails the test.
async fn perform(ctx: &Ctx, server: &str, a: &mut Account, op: Op) -> bool {
    a.pending = Some(op.clone());
    let id = a.id.clone().unwrap_or_default();
    let scim = |p: &str| format!("{server}/scim/v2{p}");
    let admin = |p: &str| format!("{server}/api/v1{p}");
    let (method, url, token, body, expect): (_, _, _, _, &[u16]) = match &op {
        Op::Create => (
            Method::POST,
            scim("/Users"),
            ctx.t.idp.as_str(),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": a.state.user_name,
                "emails": [{"value": "crash@example.com", "type": "work"}],
            })),
            &[201],
        ),
        Op::Nick(n) => (
            Method::PATCH,
            scim(&format!("/Users/{id}")),
            ctx.token(a.state.iam),
            Some(patch("replace", "nickName", json!(n))),
            &[200],
        ),
        Op::Join => (
            Method::PATCH,
            scim(&format!("/Groups/{}", ctx.group)),
            ctx.t.idp.as_str(),
            Some(patch("add", "members", json!([{ "value": id }]))),
            &[200, 204],
        ),
        Op::Delete => (
            Method::DELETE,
            admin(&format!("/users/{id}?confirm=Delete")),
            ctx.t.admin.as_str(),
            None,
            &[204],
        ),
        Op::Migrate(name) => (
            Method::POST,
            admin(&format!("/users/{id}/migrate")),
            ctx.t.admin.as_str(),
            Some(json!({"iam": "other", "userName": name})),
            &[200],
        ),
    };
    let Ok(reply) = send(&ctx.client, method, &url, token, body.as_ref(), None).await else {
        return false;
    };
    assert!(
        expect.contains(&reply.status),
        "{op:?} on {id}: {} {}",
        reply.status,
        reply.body
    );
    if let Op::Create = op {
        a.id = Some(reply.body["id"].as_str().expect("id").to_owned());
    }
    a.state = a.state.after(&op);
    a.pending = None;
    true
}

/// One client: writes to its own accounts (so that each account's history
/// is a sequence) until the server stops answering.
async fn worker(
    ctx: Arc<Ctx>,
    server: String,
    round: usize,
    w: usize,
    mut accounts: Vec<Account>,
    acks: Arc<AtomicUsize>,
    tick: Arc<Notify>,
) -> Vec<Account> {
    let mut rng = StdRng::from_entropy();
    for k in 0.. {
        let live: Vec<usize> = (0..accounts.len())
            .filter(|&i| accounts[i].state.exists)
            .collect();
        let (i, op) = if live.is_empty() || rng.gen_bool(0.3) {
            accounts.push(Account {
                id: None,
                state: State {
                    exists: false,
                    iam: "idp",
                    user_name: format!("c{round}-w{w}-{k}@example.com"),
                    nick: None,
                    in_group: false,
                },
                pending: None,
            });
            (accounts.len() - 1, Op::Create)
        } else {
            let i = live[rng.gen_range(0..live.len())];
            let s = &accounts[i].state;
            let op = match rng.gen_range(0..100) {
                0..40 => Op::Nick(format!("r{round}-{k}")),
                40..70 if s.iam == "idp" && !s.in_group => Op::Join,
                70..85 if s.iam == "idp" => Op::Migrate(format!("m{round}-w{w}-{k}@example.com")),
                85..100 => Op::Delete,
                _ => Op::Nick(format!("r{round}-{k}")),
            };
            (i, op)
        };
        if !perform(&ctx, &server, &mut accounts[i], op).await {
            break;
        }
        acks.fetch_add(1, Ordering::SeqCst);
        tick.notify_one();
    }
    accounts
}

/// Checks the database with the server down.
async fn check_at_rest(db: &Database) {
    if db.backend == Backend::Sqlite {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
        let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&pool)
            .await
            .expect("integrity_check");
        assert_eq!(integrity, ["ok"], "PRAGMA integrity_check");
        let orphans: Vec<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_all(&pool)
            .await
            .expect("foreign_key_check");
        assert!(orphans.is_empty(), "foreign keys: {orphans:?}");
        pool.close().await;
    } else {
        // PostgreSQL has no whole-database check; amcheck verifies every
        // B-tree index of the test's schema against its invariants.
        let pool = sqlx::PgPool::connect(&db.url).await.expect("postgres");
        sqlx::query("CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA public")
            .execute(&pool)
            .await
            .expect("amcheck (postgresql-contrib)");
        let checked: i64 = sqlx::query_scalar(
            "SELECT count(public.bt_index_check(c.oid, true))
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_am am ON am.oid = c.relam
              WHERE am.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace",
        )
        .fetch_one(&pool)
        .await
        .expect("bt_index_check");
        assert!(checked > 0, "no index checked");
        pool.close().await;
    }
    db.verify_audit();
}

/// After a restart: every account is in its acknowledged state or (with a
/// write in flight) in the state that write leads to, and nothing else
/// exists. Adopts what it finds as the new acknowledged state.
async fn check_accounts(ctx: &Ctx, server: &Server, workers: &mut [Vec<Account>]) {
    let get = |url: String, token: String| {
        let client = ctx.client.clone();
        async move { call(&client, Method::GET, &url, &token, None).await }
    };
    let created = audited_creates(ctx, server).await;
    let group = get(
        server.scim(&format!("/Groups/{}", ctx.group)),
        ctx.t.idp.clone(),
    )
    .await;
    assert_eq!(group.status, 200);
    let members: BTreeSet<String> = group.body["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut existing = BTreeSet::new();
    for a in workers.iter_mut().flatten() {
        if a.id.is_none() {
            // A create that was never answered: its id is unknown.
            let filter = format!("/Users?filter=userName%20eq%20%22{}%22", a.state.user_name);
            let found = get(server.scim(&filter), ctx.t.idp.clone()).await;
            match found.body["totalResults"].as_u64() {
                Some(0) => {}
                Some(1) => a.id = found.body["Resources"][0]["id"].as_str().map(str::to_owned),
                _ => panic!("{}", found.body),
            }
        }
        let observed = match &a.id {
            None => State {
                exists: false,
                ..a.state.clone()
            },
            Some(id) => {
                let view = get(server.admin(&format!("/users/{id}")), ctx.t.admin.clone()).await;
                match view.status {
                    404 => State {
                        exists: false,
                        in_group: false,
                        ..a.state.clone()
                    },
                    200 => {
                        let iam = if view.body["iam"] == "idp" {
                            "idp"
                        } else {
                            assert_eq!(view.body["iam"], "other");
                            "other"
                        };
                        let scim =
                            get(server.scim(&format!("/Users/{id}")), ctx.token(iam).into()).await;
                        assert_eq!(scim.status, 200, "{}", scim.body);
                        // It came with its IAM's default grants and its record.
                        assert!(
                            view.body["permissions"]
                                .as_array()
                                .unwrap()
                                .contains(&json!("CREATE_PROJECT")),
                            "{}",
                            view.body
                        );
                        assert!(created.contains(id), "no audit record of {id}'s creation");
                        existing.insert(id.clone());
                        State {
                            exists: true,
                            iam,
                            user_name: view.body["userName"].as_str().unwrap().to_owned(),
                            nick: scim.body["nickName"].as_str().map(str::to_owned),
                            in_group: members.contains(id),
                        }
                    }
                    s => panic!("{s}: {}", view.body),
                }
            }
        };
        let allowed: Vec<State> = std::iter::once(a.state.clone())
            .chain(a.pending.as_ref().map(|op| a.state.after(op)))
            .collect();
        assert!(
            allowed.contains(&observed),
            "account {:?}: found {observed:?}, acknowledged {:?}, in flight {:?}",
            a.id,
            a.state,
            a.pending
        );
        a.state = observed;
        a.pending = None;
    }
    assert!(
        members.is_subset(&existing),
        "the group lists members that do not exist"
    );
    // Nothing half-created under a name no client knows: every account is
    // one of ours, or the administrator.
    let all = get(
        server.admin("/users?includeDisabled=true&limit=1"),
        ctx.t.admin.clone(),
    )
    .await;
    assert_eq!(all.body["count"], existing.len() + 1, "{}", all.body);
}

/// Every write's usage count is bumped in its transaction: after a crash
/// the daily counts (summed over yesterday and today, in case the run
/// crosses midnight UTC) still equal the audit log, action by action.
async fn check_usage_counts(ctx: &Ctx, server: &Server) {
    let get = |url: String| {
        let client = ctx.client.clone();
        let token = ctx.t.admin.clone();
        async move { call(&client, Method::GET, &url, &token, None).await }
    };
    let export = get(server.admin("/metrics?days=2")).await;
    assert_eq!(export.status, 200, "{}", export.body);
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    for day in export.body["days"].as_array().expect("days") {
        for (k, v) in day["workflows"].as_object().expect("workflows") {
            *counted.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
    }
    let mut audited: BTreeMap<String, u64> = BTreeMap::new();
    for offset in (0..).step_by(1000) {
        let page = get(server.admin(&format!("/audit?limit=1000&offset={offset}"))).await;
        let hits = page.body["hits"].as_array().expect("hits");
        for h in hits {
            *audited
                .entry(h["action"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        if hits.len() < 1000 {
            break;
        }
    }
    assert_eq!(counted, audited, "usage counts against the audit log");
}

/// The ids that have a `user.created` audit record.
async fn audited_creates(ctx: &Ctx, server: &Server) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for offset in (0..).step_by(1000) {
        let page = call(
            &ctx.client,
            Method::GET,
            &server.admin(&format!(
                "/audit?action=user.created&limit=1000&offset={offset}"
            )),
            &ctx.t.admin,
            None,
        )
        .await;
        let hits = page.body["hits"].as_array().expect("hits");
        out.extend(
            hits.iter()
                .filter_map(|h| h["target"].as_str().map(str::to_owned)),
        );
        if hits.len() < 1000 {
            break;
        }
    }
    out
}

async fn kill_and_restart(backend: Backend) {
    let Some(db) = Database::new(backend).await else {
        eprintln!("SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped");
        return;
    };
    let mut server = db.serve(&[]).await;
    let t = fleet::tenants(&db).await;
    let client = fleet::client();
    let group = call(
        &client,
        Method::POST,
        &server.scim("/Groups"),
        &t.idp,
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Crew",
        })),
    )
    .await;
    assert_eq!(group.status, 201, "{}", group.body);
    let ctx = Arc::new(Ctx {
        client,
        t,
        group: group.body["id"].as_str().unwrap().to_owned(),
    });
    let mut rng = StdRng::from_entropy();
    let mut workers: Vec<Vec<Account>> = vec![Vec::new(); WORKERS];
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for round in 0..ROUNDS {
        let acks = Arc::new(AtomicUsize::new(0));
        let tick = Arc::new(Notify::new());
        let tasks: Vec<_> = std::mem::take(&mut workers)
            .into_iter()
            .enumerate()
            .map(|(w, accounts)| {
                tokio::spawn(worker(
                    ctx.clone(),
                    server.origin.clone(),
                    round,
                    w,
                    accounts,
                    acks.clone(),
                    tick.clone(),
                ))
            })
            .collect();
        // Kill at a random moment: after some number of acknowledgements,
        // with writes of every worker in flight.
        let at = rng.gen_range(20..200);
        while acks.load(Ordering::SeqCst) < at && !tasks.iter().all(|t| t.is_finished()) {
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(200), tick.notified()).await;
        }
        server.kill();
        for task in tasks {
            workers.push(task.await.expect("worker"));
        }
        *tally.entry("acknowledged").or_default() += acks.load(Ordering::SeqCst);
        *tally.entry("in flight").or_default() += workers
            .iter()
            .flatten()
            .filter(|a| a.pending.is_some())
            .count();
        check_at_rest(&db).await;
        server = db.serve(&[]).await;
        check_accounts(&ctx, &server, &mut workers).await;
        check_usage_counts(&ctx, &server).await;
    }
    let accounts = workers.iter().flatten().filter(|a| a.state.exists).count();
    eprintln!("{backend:?}: {ROUNDS} kills, {tally:?}, {accounts} accounts at the end");
    drop(server);
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_write_sqlite() {
    kill_and_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_write_postgres() {
    kill_and_restart(Backend::Postgres).await;
}
