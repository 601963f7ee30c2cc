//! Events out (issue 19's bars): drives a real `scim-bridge` process over
//! HTTP, with a webhook receiver in this process on loopback.
//!
//! ```text
//! cargo bench --bench events -- [--events 100000] [--clients 8] [--secs 10]
//!     [--rounds 2] [--outage-secs 0] [--outage-users 500]
//!     [--database sqlite|postgres] [--postgres URL]
//! ```
//!
//! 1. SCIM creates (`--clients` clients, `--secs` seconds a round) with no
//!    stream, then with one enabled stream whose receiver answers 204, in
//!    turn for `--rounds` rounds (the stream deleted between rounds, so
//!    that "none" has no stream at all): creates/s and the difference.
//! 2. A backlog of `--events` events: a paused stream, that many users
//!    created over SCIM Bulk (1,000 a request), the deliveries counted
//!    pending; then the stream is enabled and the time until the receiver
//!    holds every one is the delivery rate (events/s).
//! 3. With `--outage-secs N`: a stream to a receiver that is down (its
//!    port closed), `--outage-users` users each created and changed twice
//!    while it is down; after N seconds the receiver comes up on the same
//!    port: the time until everything arrived, and whether each user's
//!    events came in the order of its changes (by `occurredAt`, first
//!    arrival of each event id).
//!
//! The load generator and the receiver share the machine's cores with the
//! server (and PostgreSQL); the 1-minute load average is printed with each
//! phase.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use scim_bridge::directory::accounts::Ctx;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use support::{Args, DEFAULT_POSTGRES, Db, args_or_exit, load, runtime};

const USAGE: &str = "usage: cargo bench --bench events -- [--events N] [--clients C] \
[--secs S] [--rounds R] [--outage-secs N] [--outage-users N] [--database sqlite|postgres] \
[--postgres URL]";

struct Options {
    events: usize,
    clients: usize,
    secs: u64,
    rounds: usize,
    outage_secs: u64,
    outage_users: usize,
    db: Db,
    postgres: String,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        events: 100_000,
        clients: 8,
        secs: 10,
        rounds: 2,
        outage_secs: 0,
        outage_users: 500,
        db: Db::Sqlite,
        postgres: DEFAULT_POSTGRES.to_owned(),
    };
    let mut args = Args::new(USAGE);
    while let Some(key) = args.next_key() {
        match key.as_str() {
            "--events" => o.events = args.number()?,
            "--clients" => o.clients = args.number()?.max(1),
            "--secs" => o.secs = args.number()? as u64,
            "--rounds" => o.rounds = args.number()?,
            "--outage-secs" => o.outage_secs = args.number()? as u64,
            "--outage-users" => o.outage_users = args.number()?.max(1),
            "--database" => o.db = Db::parse(&args.value()?, USAGE)?,
            "--postgres" => o.postgres = args.value()?,
            // What `cargo bench` passes to every bench.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

// ---------------------------------------------------------------- receiver

/// What a receiver got: per event id once, each resource's events in the
/// order they first came.
#[derive(Default)]
struct Got {
    requests: usize,
    ids: HashSet<String>,
    /// resource id → the `occurredAt` of its events, in arrival order.
    order: HashMap<String, Vec<OffsetDateTime>>,
}

struct Receiver {
    got: Arc<Mutex<Got>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn hook(State(got): State<Arc<Mutex<Got>>>, body: Bytes) -> StatusCode {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    let resource = event["resource"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let at = event["occurredAt"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
    let mut g = got.lock().unwrap();
    g.requests += 1;
    if g.ids.insert(id)
        && let Some(at) = at
    {
        g.order.entry(resource).or_default().push(at);
    }
    StatusCode::NO_CONTENT
}

impl Receiver {
    /// A receiver on `port` (0: any free one); its URL.
    async fn start(port: u16, got: Arc<Mutex<Got>>) -> Result<(Receiver, String), String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("receiver on port {port}: {e}"))?;
        let url = format!(
            "http://{}/hook",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(got.clone());
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok((Receiver { got, stop }, url))
    }

    fn distinct(&self) -> usize {
        self.got.lock().unwrap().ids.len()
    }

    fn requests(&self) -> usize {
        self.got.lock().unwrap().requests
    }

    /// Waits (up to `limit`) until `n` distinct events came.
    async fn until(&self, n: usize, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        while self.distinct() < n {
            if Instant::now() > deadline {
                return Err(format!(
                    "the receiver got {} of {n} events in {limit:?}",
                    self.distinct()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- admin API

struct Api {
    client: reqwest::Client,
    origin: String,
    admin: String,
    scim: String,
}

impl Api {
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self
            .client
            .request(method, format!("{}/api/v1{path}", self.origin))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|e| e.to_string())?;
        let status = r.status();
        let text = r.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{path}: {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn stream(&self, url: &str) -> Result<String, String> {
        let s = self
            .admin(
                reqwest::Method::POST,
                "/event-streams",
                Some(json!({"endpoint": url, "events": ["*"]})),
            )
            .await?;
        Ok(s["id"].as_str().ok_or("no stream id")?.to_owned())
    }

    async fn set_status(&self, id: &str, status: &str) -> Result<(), String> {
        self.admin(
            reqwest::Method::PATCH,
            &format!("/event-streams/{id}"),
            Some(json!({ "status": status })),
        )
        .await
        .map(|_| ())
    }

    async fn pending(&self, id: &str) -> Result<u64, String> {
        let s = self
            .admin(reqwest::Method::GET, &format!("/event-streams/{id}"), None)
            .await?;
        Ok(s["deliveries"]["pending"].as_u64().unwrap_or(0))
    }

    async fn scim(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let r = self
            .client
            .request(method, format!("{}/scim/v2{path}", self.origin))
            .bearer_auth(&self.scim)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let text = r.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{path}: {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates `n` users over Bulk, 1,000 a request, `prefix`-named.
    async fn bulk_users(&self, prefix: &str, n: usize) -> Result<(), String> {
        for chunk in 0..n.div_ceil(1000) {
            let ops: Vec<Value> = (0..1000.min(n - chunk * 1000))
                .map(|i| {
                    let k = chunk * 1000 + i;
                    let name = format!("{prefix}-{k}@example.com");
                    json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
                           "data": support::user_json(&name, &format!("{prefix}-{k}"), k)})
                })
                .collect();
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                              "Operations": ops});
            self.scim(reqwest::Method::POST, "/Bulk", &body).await?;
        }
        Ok(())
    }

    /// SCIM creates by `clients` clients for `secs` seconds: creates/s.
    async fn creates_for(&self, clients: usize, secs: u64, phase: &str) -> Result<f64, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (client, stop) = (self.client.clone(), stop.clone());
                let url = format!("{}/scim/v2/Users", self.origin);
                let (token, phase) = (self.scim.clone(), phase.to_owned());
                tokio::spawn(async move {
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let i = NEXT.fetch_add(1, Ordering::Relaxed);
                        let name = format!("{phase}-{i}@example.com");
                        let body = support::user_json(&name, &format!("{phase}-{i}"), i);
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
                        n += 1;
                    }
                    Ok::<_, String>(n)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        let mut total = 0;
        for t in tasks {
            total += t.await.map_err(|e| e.to_string())??;
        }
        Ok(total as f64 / started.elapsed().as_secs_f64())
    }
}

// ---------------------------------------------------------------- phases

/// Phase 1: creates with no stream against one enabled stream, in turn.
async fn creates_with_and_without(api: &Api, o: &Options) -> Result<(), String> {
    let (mut none, mut one) = (Vec::new(), Vec::new());
    for round in 0..o.rounds {
        none.push(
            api.creates_for(o.clients, o.secs, &format!("none{round}"))
                .await?,
        );
        let got = Arc::new(Mutex::new(Got::default()));
        let (rx, url) = Receiver::start(0, got).await?;
        let id = api.stream(&url).await?;
        let rate = api
            .creates_for(o.clients, o.secs, &format!("one{round}"))
            .await?;
        one.push(rate);
        // What was sent during the round reached the receiver: its
        // deliveries kept up (or nearly) with the writes.
        let created = (rate * o.secs as f64) as usize;
        let _ = rx.until(created * 95 / 100, Duration::from_secs(120)).await;
        println!(
            "round {round}: creates/s with no stream {:.0}, with one enabled stream {rate:.0} ({:+.1} %); the receiver had {} events when the round ended; load {}",
            none[round],
            (rate / none[round] - 1.0) * 100.0,
            rx.distinct(),
            load()
        );
        api.admin(
            reqwest::Method::DELETE,
            &format!("/event-streams/{id}"),
            None,
        )
        .await?;
        let _ = rx.stop.send(());
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "creates ({} clients): no stream {:.0}/s, one enabled stream {:.0}/s: {:+.1} % (bar: within 10 %)",
        o.clients,
        mean(&none),
        mean(&one),
        (mean(&one) / mean(&none) - 1.0) * 100.0
    );
    Ok(())
}

/// Phase 2: a backlog of `events` delivered as fast as it goes.
async fn backlog(api: &Api, o: &Options) -> Result<(), String> {
    let got = Arc::new(Mutex::new(Got::default()));
    let (rx, url) = Receiver::start(0, got).await?;
    let id = api.stream(&url).await?;
    api.set_status(&id, "paused").await?;
    let started = Instant::now();
    api.bulk_users("backlog", o.events).await?;
    let created = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(1800);
    while api.pending(&id).await? < o.events as u64 {
        if Instant::now() > deadline {
            return Err("the backlog was never fanned out".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fanned = started.elapsed().as_secs_f64();
    let load_before = load();
    let started = Instant::now();
    api.set_status(&id, "enabled").await?;
    rx.until(o.events, Duration::from_secs(3600)).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "backlog: {} users created over Bulk in {created:.1} s, pending after {fanned:.1} s; \
         {} events delivered in {secs:.1} s: {:.0} events/s (bar: 5,000/s), {} requests; load {load_before} before, {} after",
        o.events,
        o.events,
        o.events as f64 / secs,
        rx.requests(),
        load()
    );
    api.admin(
        reqwest::Method::DELETE,
        &format!("/event-streams/{id}"),
        None,
    )
    .await?;
    let _ = rx.stop.send(());
    Ok(())
}

/// Phase 3: the receiver down for `outage_secs` while users are created
/// and changed, then up on the same port.
async fn outage(api: &Api, o: &Options) -> Result<(), String> {
    let port = support::free_port()?;
    let url = format!("http://127.0.0.1:{port}/hook");
    let id = api.stream(&url).await?;
    let started = Instant::now();
    let mut expected = 0;
    let mut users = Vec::new();
    for i in 0..o.outage_users {
        let name = format!("outage-{i}@example.com");
        let u = api
            .scim(
                reqwest::Method::POST,
                "/Users",
                &support::user_json(&name, &format!("outage-{i}"), i),
            )
            .await?;
        users.push(u["id"].as_str().ok_or("no id")?.to_owned());
        expected += 1;
    }
    for round in 0..2 {
        for u in &users {
            let op = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "replace", "path": "nickName",
                                            "value": format!("n{round}")}]});
            api.scim(reqwest::Method::PATCH, &format!("/Users/{u}"), &op)
                .await?;
            expected += 1;
        }
    }
    let writes = started.elapsed().as_secs_f64();
    let down_for = Duration::from_secs(o.outage_secs).saturating_sub(started.elapsed());
    tokio::time::sleep(down_for).await;
    let pending = api.pending(&id).await?;
    let got = Arc::new(Mutex::new(Got::default()));
    let (rx, _) = Receiver::start(port, got.clone()).await?;
    let up = Instant::now();
    rx.until(expected, Duration::from_secs(3600)).await?;
    let drained = up.elapsed().as_secs_f64();
    let g = got.lock().unwrap();
    let out_of_order = g
        .order
        .values()
        .filter(|ats| ats.windows(2).any(|w| w[0] > w[1]))
        .count();
    let complete = users
        .iter()
        .filter(|u| g.order.get(*u).is_some_and(|a| a.len() == 3))
        .count();
    println!(
        "outage: receiver down {:.0} s ({} users created and changed twice in the first {writes:.1} s, {pending} deliveries pending when it came up); \
         all {expected} events arrived {drained:.1} s after it came up ({} requests); users with all 3 events: {complete} of {}; users whose events came out of order: {out_of_order}; load {}",
        o.outage_secs.max(writes as u64),
        o.outage_users,
        g.requests,
        o.outage_users,
        load()
    );
    drop(g);
    let _ = rx.stop.send(());
    Ok(())
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
    directory
        .create_iam("bench", None)
        .await
        .map_err(|e| e.to_string())?;
    let (_, scim) = directory
        .create_token("bench", None)
        .await
        .map_err(|e| e.to_string())?;
    let (admin_id, admin) = directory
        .bootstrap_admin("bench@example.com", None, time::Duration::hours(8))
        .await
        .map_err(|e| e.to_string())?;
    directory
        .add_permissions(&Ctx::cli(), admin_id, &["APPLICATION_ADMIN".to_owned()])
        .await
        .map_err(|e| e.to_string())?;
    drop(directory);
    let (mut server, origin) = support::start_server_with(
        &db,
        dir,
        &[
            ("SCIM_BRIDGE_RATE_LIMIT_PER_SECOND", "0"),
            ("SCIM_BRIDGE_ADMIN_RATE_LIMIT_PER_SECOND", "0"),
            ("SCIM_BRIDGE_EVENT_ALLOW_HTTP", "[\"127.0.0.1\"]"),
            ("SCIM_BRIDGE_EVENT_ALLOW_PRIVATE", "[\"127.0.0.1\"]"),
        ],
    )
    .await?;
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| e.to_string())?,
        origin,
        admin,
        scim,
    };
    println!("{}; load {}", o.db.label(), load());
    if o.rounds > 0 {
        creates_with_and_without(&api, o).await?;
    }
    if o.events > 0 {
        backlog(&api, o).await?;
    }
    if o.outage_secs > 0 {
        outage(&api, o).await?;
    }
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
