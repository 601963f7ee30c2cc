//! How long the admin console takes to render its Users screen over a
//! large directory: N users seeded through the library (setup, not
//! measured), then a real server process, signed in with a bootstrap
//! token, asked for the Users page as an administrator's browser asks
//! (first page, a search, a sort, a deep page, disabled accounts
//! included), each timed whole over HTTP, one client.
//!
//!     cargo bench --bench console -- --users 100000 [--database postgres] [--ops 50]
//!
//! (`page N` is an old address that skips rows; `from Next` follows the
//! link the page shows, which reads from the last row's position.)

mod support;

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::redirect::Policy;
use scim_bridge::scim::resource::fold_case;
use scim_bridge::scim::schema::{USER_RESOURCE, USER_SCHEMA};
use scim_bridge::scim::search_doc;
use scim_bridge::store::UserWrite;
use serde_json::json;
use support::{Args, Db};
use uuid::Uuid;

const USAGE: &str =
    "usage: cargo bench --bench console -- [--users N] [--ops N] [--database sqlite|postgres]";
const SEED_TX: usize = 10_000;

struct Opts {
    users: usize,
    ops: usize,
    db: Db,
}

fn parse() -> Result<Opts, String> {
    let mut a = Args::new(USAGE);
    let mut o = Opts {
        users: 100_000,
        ops: 50,
        db: Db::Sqlite,
    };
    while let Some(k) = a.next_key() {
        match k.as_str() {
            "--users" => o.users = a.number()?,
            "--ops" => o.ops = a.number()?,
            "--database" => o.db = Db::parse(&a.value()?, USAGE)?,
            "--bench" => {}
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// Users `0..n` in the IAM `bench`, written in transactions of 10,000.
async fn seed(db: &str, n: usize) -> Result<(), String> {
    let store = scim_bridge::store::connect(db, 2)
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let iam = store
        .iam_by_name("bench")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no IAM bench")?
        .id;
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let mut i = 0;
    while i < n {
        let end = (i + SEED_TX).min(n);
        let batch: Vec<(Uuid, UserWrite)> = (i..end)
            .map(|k| {
                let name = format!("user{k:07}@example.com");
                let display = format!("Given{k} Family{k}");
                let doc = json!({"schemas": [USER_SCHEMA], "userName": name,
                    "displayName": display, "name": {"formatted": display},
                    "emails": [{"value": name, "type": "work", "primary": true}]});
                let write = UserWrite {
                    user_name: scim_bridge::scim::user_name::UserName::parse(&name).unwrap(),
                    external_id: None,
                    display_name_folded: Some(fold_case(&display)),
                    active: true,
                    search: search_doc::build(&USER_RESOURCE, &doc),
                    doc,
                    password_hash: Some(None),
                    emails_unchanged: false,
                    keys_unchanged: false,
                };
                (Uuid::now_v7(), write)
            })
            .collect();
        store
            .insert_users(iam.into(), &batch, now)
            .await
            .map_err(|e| e.to_string())?;
        i = end;
    }
    println!(
        "seeded {n} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn run(o: Opts) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let pg = std::env::var("SCIM_BRIDGE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (db, schema) = support::fresh_database(o.db, &pg, dir.path()).await?;
    support::cli(&db, &["iam", "create", "bench"])?;
    seed(&db, o.users).await?;
    if schema.is_some() {
        // A directory that has been running has statistics (autovacuum
        // gathers them within a minute or so of a bulk load); without them
        // PostgreSQL guesses `deprovisioned IS NULL` matches 0.5% of rows
        // and sorts every enabled account instead of walking an index.
        support::pg_exec(&db, "ANALYZE users".to_owned()).await?;
    }
    let token = support::cli(
        &db,
        &["admin", "bootstrap", "--email", "bench-admin@example.com"],
    )?;
    let token = token.lines().last().unwrap_or("").to_owned();
    let (mut server, origin) = support::start_server(&db, dir.path()).await?;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let r = client
        .post(format!("{origin}/admin/signin"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or(format!("sign-in failed: {}", r.status()))?
        .to_owned();
    let deep = o.users as u64 / 50 / 2;
    // The Next link of the deep page (setup, not timed): how a person
    // reaches the page after it, from a row's position.
    let deep_page = client
        .get(format!("{origin}/admin/users?page={deep}"))
        .header("cookie", &cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let next = deep_page
        .find("rel=\"next\"")
        .and_then(|at| deep_page[..at].rfind("href=\""))
        .map(|h| {
            let rest = &deep_page[h + 6..];
            rest[..rest.find('"').unwrap_or(0)]
                .replace("&#38;", "&")
                .replace("&amp;", "&")
        })
        .unwrap_or_else(|| format!("/admin/users?page={}", deep + 1));
    println!(
        "{} · {} users · {} requests per page, one client",
        o.db.label(),
        o.users,
        o.ops
    );
    println!(
        "{:<46} {:>8} {:>8} {:>8}",
        "page", "p50 ms", "p99 ms", "max ms"
    );
    for (label, path) in [
        ("Users, first page".to_owned(), "/admin/users".to_owned()),
        (
            "Users, search \"user0042\"".to_owned(),
            "/admin/users?q=user0042".to_owned(),
        ),
        // Matched by every user: a page fills at once.
        (
            "Users, search \"example\" (all match)".to_owned(),
            "/admin/users?q=example".to_owned(),
        ),
        // Matched by none: what used to read the whole table.
        (
            "Users, search \"nobody\" (none match)".to_owned(),
            "/admin/users?q=nobody".to_owned(),
        ),
        // Too short for a trigram: the list index is walked.
        (
            "Users, search \"y9\" (two characters)".to_owned(),
            "/admin/users?q=y9".to_owned(),
        ),
        (
            "Users, sorted by created, newest first".to_owned(),
            "/admin/users?sort=-created".to_owned(),
        ),
        (
            format!("Users, page {deep}"),
            format!("/admin/users?page={deep}"),
        ),
        (format!("Users, page {} from Next", deep + 1), next.clone()),
        (
            "Users, disabled accounts included".to_owned(),
            "/admin/users?includeDisabled=on".to_owned(),
        ),
        (
            "Users, IAM filter".to_owned(),
            "/admin/users?iam=bench".to_owned(),
        ),
    ] {
        let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
        for _ in 0..o.ops {
            let t = Instant::now();
            let r = client
                .get(format!("{origin}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            let body = r.text().await.map_err(|e| e.to_string())?;
            if status != 200 || !body.contains("users-table") {
                return Err(format!("{path}: {status}"));
            }
            h.record(t.elapsed().as_micros() as u64)
                .map_err(|e| e.to_string())?;
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{label:<46} {:>8.2} {:>8.2} {:>8.2}",
            ms(0.5),
            ms(0.99),
            h.max() as f64 / 1000.0
        );
    }
    server.stop();
    if let Some(schema) = schema {
        support::drop_schema(&pg, &schema).await;
    }
    Ok(())
}

fn main() {
    let o = support::args_or_exit(parse());
    if let Err(e) = support::runtime().block_on(run(o)) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
