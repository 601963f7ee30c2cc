//! Read scaling (`database_read_url`): list, search and report reads go to
//! the read replica when it has what the reader wrote and is within the
//! lag bound, else to the primary; a replica that cannot be reached sends
//! its reads to the primary without an error. PostgreSQL only: SQLite has
//! no replicas (the configuration refuses one, `config` unit tests).
//!
//! A streaming standby is heavy (deploy/ha/read-scaling drives the real
//! one); here the "replica" is the test PostgreSQL itself, reached with a
//! search path that makes it look like a standby: the same data (the
//! cheap case), or an empty copy of the schema whose `pg_is_in_recovery`
//! and `pg_last_wal_replay_lsn` are the test's own functions, so that the
//! test sets how far it has "replayed" and sees, by what a list returns,
//! which server answered.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::app::{Backend, TestApp, postgres_url, with_search_path};

async fn scaled_reads(app: &TestApp) -> Vec<(String, f64)> {
    let text = app
        .client
        .get(format!("{}/metrics", app.origin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("scim_bridge_db_scaled_reads_total{"))
        .map(|l| {
            let (labels, value) = l.split_once("} ").unwrap();
            (labels.to_owned(), value.parse().unwrap())
        })
        .collect()
}

async fn count(app: &TestApp, labels: &str) -> f64 {
    scaled_reads(app)
        .await
        .into_iter()
        .find(|(l, _)| l == labels)
        .map_or(0.0, |(_, v)| v)
}

const REPLICA: &str = "served_by=\"replica\"";
const OWN_WRITE: &str = "served_by=\"primary\",reason=\"own_write\"";
const LAGGING: &str = "served_by=\"primary\",reason=\"lagging\"";
const UNAVAILABLE: &str = "served_by=\"primary\",reason=\"unavailable\"";

/// The userNames a token's list of users shows.
async fn listed(app: &TestApp, token: &str) -> Vec<String> {
    let r = app
        .request(reqwest::Method::GET, "/Users", Some(token), None)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let mut names: Vec<String> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Creates a user as `token`'s client; its id.
async fn create(app: &TestApp, token: &str, user_name: &str) -> String {
    let r = app
        .request(
            reqwest::Method::POST,
            "/Users",
            Some(token),
            Some(
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                         "userName": user_name}),
            ),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_database_as_replica_serves_lists_and_a_client_sees_its_create() {
    if postgres_url().is_none() {
        eprintln!("SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped");
        return;
    }
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.database_read_url = Some(c.database_url.clone());
    })
    .await
    .unwrap();
    for i in 0..5 {
        let name = format!("u{i}@example.com");
        app.create_user(&name).await;
        // The very next list of the client that created it shows it.
        assert!(listed(&app, &app.token).await.contains(&name));
        let r = app
            .get(&format!("/Users?filter=userName%20eq%20%22{name}%22"))
            .await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["totalResults"], 1, "{body}");
    }
    let r = app
        .post(
            "/.search",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": "userName sw \"u\""}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["totalResults"], 5);
    // Ten lists and a search, every one of them served by the replica (it
    // is the primary: it has every write the moment it is made).
    assert_eq!(count(&app, REPLICA).await, 11.0);
    assert_eq!(count(&app, OWN_WRITE).await, 0.0);
    assert_eq!(count(&app, LAGGING).await, 0.0);
    // The read pool is one of the pools the metrics show.
    let text = app
        .client
        .get(format!("{}/metrics", app.origin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("scim_bridge_db_pool_max_connections{pool=\"postgres_read\"} 4"));
    app.finish().await;
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A schema holding the "standby"'s replay position and the two functions
/// that report it in place of PostgreSQL's (first on the search path).
async fn fake_standby(pool: &PgPool, schema: &str) {
    exec(pool, &format!("CREATE SCHEMA {schema}")).await;
    exec(
        pool,
        &format!("CREATE TABLE {schema}.replayed (lsn pg_lsn NOT NULL)"),
    )
    .await;
    exec(
        pool,
        &format!("INSERT INTO {schema}.replayed VALUES ('0/0')"),
    )
    .await;
    exec(
        pool,
        &format!(
            "CREATE FUNCTION {schema}.pg_is_in_recovery() RETURNS boolean \
             LANGUAGE sql AS 'SELECT true'"
        ),
    )
    .await;
    exec(
        pool,
        &format!(
            "CREATE FUNCTION {schema}.pg_last_wal_replay_lsn() RETURNS pg_lsn \
             LANGUAGE sql AS 'SELECT lsn FROM {schema}.replayed'"
        ),
    )
    .await;
}

/// Sets how far the fake standby has replayed: the primary's position
/// now, or `lsn`.
async fn replayed(pool: &PgPool, schema: &str, lsn: Option<&str>) {
    let value = lsn.map_or("pg_current_wal_lsn()".to_owned(), |l| format!("'{l}'"));
    exec(pool, &format!("UPDATE {schema}.replayed SET lsn = {value}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_reads_the_primary_until_the_replica_has_replayed_its_write() {
    let Some(base) = postgres_url() else {
        eprintln!("SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped");
        return;
    };
    let admin = PgPool::connect(&base).await.unwrap();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (fake, stale) = (format!("f_{id}"), format!("s_{id}"));
    fake_standby(&admin, &fake).await;
    // The "replica": an empty copy of the schema, behind the fake
    // functions, so that a list it serves shows no one.
    exec(&admin, &format!("CREATE SCHEMA {stale}")).await;
    let stale_url = with_search_path(&base, &stale);
    let store = scim_bridge::store::connect(&stale_url, 1).await.unwrap();
    store.migrate().await.unwrap();
    drop(store);
    let replica_url = with_search_path(&base, &format!("{fake}%2Cpg_catalog%2C{stale}"));
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.database_read_url = Some(replica_url.clone());
        c.database_read_max_lag_ms = 60_000;
    })
    .await
    .unwrap();
    let writer = app.token.clone();
    let (_, other) = app
        .directory()
        .await
        .create_token("idp", Some("another client"))
        .await
        .unwrap();

    // A standby that has replayed nothing is further behind than the
    // bound: the primary answers.
    app.create_user("before@example.com").await;
    assert_eq!(listed(&app, &other).await, ["before@example.com"]);
    assert_eq!(count(&app, LAGGING).await, 1.0);

    // Caught up with the primary: a client that did not write reads the
    // replica (which, being the empty copy, shows no one).
    replayed(&admin, &fake, None).await;
    assert!(listed(&app, &other).await.is_empty());
    assert_eq!(count(&app, REPLICA).await, 1.0);

    // A write the replica has not replayed: its writer's very next list
    // and search go to the primary and show it; the other client, which
    // did not write, may read the replica (within the lag bound).
    let mine = create(&app, &writer, "mine@example.com").await;
    assert_eq!(
        listed(&app, &writer).await,
        ["before@example.com", "mine@example.com"]
    );
    let r = app
        .request(
            reqwest::Method::POST,
            "/Users/.search",
            Some(&writer),
            Some(
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                         "filter": "userName eq \"mine@example.com\""}),
            ),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["totalResults"], 1);
    assert_eq!(count(&app, OWN_WRITE).await, 2.0);
    assert!(listed(&app, &other).await.is_empty());
    assert_eq!(count(&app, REPLICA).await, 2.0);

    // Once the replica has replayed it, the writer reads the replica too.
    replayed(&admin, &fake, None).await;
    assert!(listed(&app, &writer).await.is_empty());
    assert_eq!(count(&app, REPLICA).await, 3.0);
    assert_eq!(count(&app, OWN_WRITE).await, 2.0);

    // A single resource is read from the primary, whatever the replica has.
    let r = app
        .request(
            reqwest::Method::GET,
            &format!("/Users/{mine}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(count(&app, REPLICA).await, 3.0);
    app.finish().await;
    exec(&admin, &format!("DROP SCHEMA {fake} CASCADE")).await;
    exec(&admin, &format!("DROP SCHEMA {stale} CASCADE")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_be_reached_sends_reads_to_the_primary() {
    let Some(base) = postgres_url() else {
        eprintln!("SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped");
        return;
    };
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_, rest) = base.split_once('@').unwrap();
    let (_, db) = rest.split_once('/').unwrap();
    let dead = format!("postgres://postgres@127.0.0.1:{port}/{db}");
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.database_read_url = Some(dead);
    })
    .await
    .unwrap();
    app.create_user("one@example.com").await;
    for _ in 0..3 {
        assert_eq!(listed(&app, &app.token).await, ["one@example.com"]);
    }
    // The first read found it down; the next ones did not try it again.
    assert_eq!(count(&app, UNAVAILABLE).await, 3.0);
    assert_eq!(count(&app, REPLICA).await, 0.0);
    app.finish().await;
}
