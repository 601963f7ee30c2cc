//! Export and import through the command line: a directory exported from
//! a server on one database and imported into a fresh one on the other
//! reads the same through the SCIM and admin APIs; a second import changes
//! nothing; a bad line is reported by number and its batch writes nothing.

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::app::{Backend, TestApp, postgres_url};
use crate::both;
use crate::bridge::{admin, call};

pub fn cli(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(args)
        .env("SCIM_BRIDGE_DATABASE_URL", db)
        .env("SCIM_BRIDGE_LOG", "warn")
        .env_remove("SCIM_BRIDGE_CONFIG")
        .output()
        .expect("run scim-bridge");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The summary row of a record type: created, unchanged, updated, failed.
fn row(summary: &str, kind: &str) -> [u64; 4] {
    let line = summary
        .lines()
        .find(|l| l.split_whitespace().next() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} row in {summary}"));
    let n: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    [n[0], n[1], n[2], n[3]]
}

/// Drops what names the server a document was read from.
fn strip_origin(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("location");
            o.remove("$ref");
            o.values_mut().for_each(strip_origin);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_origin),
        _ => {}
    }
}

async fn scim_read(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.request(Method::GET, path, Some(token), None).await;
    assert_eq!(r.status(), 200, "{path}");
    let mut v: Value = r.json().await.unwrap();
    strip_origin(&mut v);
    v
}

/// Fills a directory with one of everything an export carries.
async fn populate(app: &TestApp) -> (Vec<String>, Vec<String>) {
    let root = admin(app, "root@example.com").await;
    let (s, _) = call(
        app,
        Method::POST,
        "/permissions",
        Some(&root.token),
        Some(&json!({"name": "EXPORT_REPORTS", "description": "Export reports"})),
    )
    .await;
    assert_eq!(s, 201);
    let mut users = Vec::new();
    for i in 0..5 {
        let u = app.create_user(&format!("user{i}@example.com")).await;
        users.push(u["id"].as_str().unwrap().to_owned());
    }
    let inner = app.create_group("Inner", &[&users[0], &users[1]]).await;
    let inner = inner["id"].as_str().unwrap().to_owned();
    let outer = app.create_group("Outer", &[&users[2], &inner]).await;
    let outer = outer["id"].as_str().unwrap().to_owned();
    let (s, v) = root
        .post(
            app,
            &format!("/users/{}/permissions", users[0]),
            &json!({"permissions": ["GOVERNANCE", "EXPORT_REPORTS"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = root
        .patch(
            app,
            &format!("/users/{}/attributes", users[1]),
            &json!({"operations": [{"op": "add", "name": "clearance", "values": ["secret", "internal"]}]}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = root
        .patch(
            app,
            &format!("/groups/{inner}/attributes"),
            &json!({"operations": [{"op": "add", "name": "region", "values": ["eu"]}]}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = root
        .post(
            app,
            &format!("/users/{}/subscriptions", users[2]),
            &json!({"dataSource": "sales_eu", "role": "owner", "expires": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = root
        .post(app, &format!("/users/{}/disable", users[3]), &json!({}))
        .await;
    assert_eq!(s, 200);
    let r = app
        .patch(
            &format!("/Users/{}", users[4]),
            &json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Four"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    (users, vec![inner, outer])
}

/// What an administrator and the identity provider see of the directory.
async fn view(app: &TestApp, users: &[String], groups: &[String]) -> Vec<Value> {
    let root = admin(app, "root@example.com").await;
    let mut out = Vec::new();
    for id in users {
        out.push(
            scim_read(
                app,
                &app.token,
                &format!("/Users/{id}?attributes=entitlements,groups,userName,name,emails,displayName,active,meta,urn:scim-bridge:schemas:extension:bridge:2.0:User"),
            )
            .await,
        );
        let (s, mut v) = root.get(app, &format!("/users/{id}")).await;
        assert_eq!(s, 200);
        strip_origin(&mut v);
        out.push(v);
        let (s, v) = root.get(app, &format!("/users/{id}/subscriptions")).await;
        assert_eq!(s, 200);
        out.push(v);
    }
    for id in groups {
        out.push(scim_read(app, &app.token, &format!("/Groups/{id}")).await);
        let (s, v) = root.get(app, &format!("/groups/{id}/attributes")).await;
        assert_eq!(s, 200);
        out.push(v);
    }
    let (_, catalogue) = root.get(app, "/permissions").await;
    out.push(catalogue);
    out
}

/// The other database when both are configured, else a fresh one of the same.
pub(crate) async fn other(app: &TestApp) -> TestApp {
    let backend = match (app.backend, postgres_url()) {
        (Backend::Sqlite, Some(_)) => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    TestApp::spawn(backend).await.expect("target")
}

both!(export_import_round_trip_across_databases);
async fn export_import_round_trip_across_databases(app: &TestApp) {
    let (users, groups) = populate(app).await;
    let before = view(app, &users, &groups).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.jsonl");
    let file = file.to_str().unwrap();
    let (ok, _, err) = cli(&app.database_url, &["export", "--output", file]);
    assert!(ok, "{err}");
    assert!(err.contains("5 User") || err.contains("6 User"), "{err}");
    let (ok, _, err) = cli(&app.database_url, &["export", "--output", file]);
    assert!(!ok && err.contains("--force"), "never overwrites: {err}");

    let target = other(app).await;
    let (ok, summary, err) = cli(&target.database_url, &["import", "--input", file]);
    assert!(ok, "{summary}{err}");
    assert_eq!(row(&summary, "User")[0], 6, "{summary}"); // five and the admin
    assert_eq!(row(&summary, "Group")[0], 2, "{summary}");
    assert_eq!(row(&summary, "Membership")[0], 4, "{summary}");
    assert_eq!(row(&summary, "Subscription")[0], 1, "{summary}");
    assert_eq!(row(&summary, "Permission")[0], 1, "{summary}");
    // The target already had both IAMs (bim and the test's idp): same names.
    assert_eq!(row(&summary, "Iam")[3], 0, "{summary}");
    let after = view(&target, &users, &groups).await;
    assert_eq!(
        before, after,
        "the same directory through both servers' APIs"
    );

    // Again: nothing changes, and the summary says so.
    let (ok, summary, err) = cli(&target.database_url, &["import", "--input", file]);
    assert!(ok, "{err}");
    assert!(summary.contains("nothing changed"), "{summary}");
    assert_eq!(row(&summary, "User"), [0, 6, 0, 0], "{summary}");
    assert_eq!(row(&summary, "Membership"), [0, 4, 0, 0], "{summary}");

    // A change at the source comes across as one update.
    let r = app
        .patch(
            &format!("/Users/{}", users[0]),
            &json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Zero"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (ok, _, err) = cli(&app.database_url, &["export", "--force", "--output", file]);
    assert!(ok, "{err}");
    let (ok, summary, err) = cli(&target.database_url, &["import", "--input", file]);
    assert!(ok, "{err}");
    assert_eq!(row(&summary, "User"), [0, 5, 1, 0], "{summary}");
    let doc = scim_read(&target, &target.token, &format!("/Users/{}", users[0])).await;
    assert_eq!(doc["displayName"], "Zero");
    target.finish().await;
}

fn user_line(id: &str, name: &str) -> String {
    json!({"type": "User", "iam": "idp", "resource": {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id,
        "userName": name,
    }})
    .to_string()
}

both!(a_bad_line_is_reported_and_its_batch_writes_nothing);
async fn a_bad_line_is_reported_and_its_batch_writes_nothing(app: &TestApp) {
    let existing = app.create_user("taken@example.com").await;
    let ids: Vec<String> = (0..6).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    let write = |lines: &[String]| std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let path = file.to_str().unwrap();
    let found =
        |id: String| async move { app.get(&format!("/Users/{id}")).await.status().as_u16() };

    // Batches of 3 lines: 1-3 are good, 5 is not JSON.
    write(&[
        user_line(&ids[0], "a@example.com"),
        user_line(&ids[1], "b@example.com"),
        user_line(&ids[2], "c@example.com"),
        user_line(&ids[3], "d@example.com"),
        "{\"type\": \"User\", oops".into(),
        json!({"type": "User", "iam": "nowhere", "resource": {"id": ids[5], "userName": "f"}})
            .to_string(),
    ]);
    let (ok, summary, err) = cli(
        &app.database_url,
        &["import", "--batch-size", "3", "--input", path],
    );
    assert!(!ok, "a bad line fails the import");
    assert!(err.contains("line 5: not JSON"), "{err}");
    assert!(err.contains("line 6: unknown IAM 'nowhere'"), "{err}");
    assert!(err.contains("lines 4-6"), "{err}");
    assert_eq!(row(&summary, "User"), [3, 0, 0, 1], "{summary}");
    assert_eq!(row(&summary, "(unreadable)"), [0, 0, 0, 1], "{summary}");
    for id in &ids[..3] {
        assert_eq!(found(id.clone()).await, 200, "the first batch is in");
    }
    assert_eq!(found(ids[3].clone()).await, 404, "nothing of the bad batch");

    // A line the database refuses (a userName another user has) rolls its
    // batch back too, and names the line.
    write(&[
        user_line(&ids[3], "d@example.com"),
        user_line(&ids[4], "TAKEN@example.com"),
    ]);
    let (ok, _, err) = cli(&app.database_url, &["import", "--input", path]);
    assert!(!ok);
    assert!(
        err.contains("line 2: another user of this IAM already has this userName"),
        "{err}"
    );
    assert_eq!(
        found(ids[3].clone()).await,
        404,
        "its batch was rolled back"
    );
    assert_eq!(
        found(existing["id"].as_str().unwrap().to_owned()).await,
        200
    );

    // A membership naming a user that is nowhere.
    write(&[
        json!({"type": "Members", "resource": {"id": ids[0], "members": [{"value": ids[1]}]}})
            .to_string(),
    ]);
    let (ok, _, err) = cli(&app.database_url, &["import", "--input", path]);
    assert!(!ok);
    assert!(err.contains("line 1: no group"), "{err}");
}

/// What the governor reads of governance: tags, data sources, policies,
/// and the subscriptions of `users` and `sources` (each with its source).
async fn governance_view(app: &TestApp, users: &[&str], sources: &[&str]) -> Vec<Value> {
    let governor = admin(app, "gov@example.com").await;
    let mut paths = vec![
        "/tags?limit=1000".to_owned(),
        "/data-sources?limit=1000".to_owned(),
        "/policies".to_owned(),
    ];
    paths.extend(users.iter().map(|u| format!("/users/{u}/subscriptions")));
    paths.extend(
        sources
            .iter()
            .map(|s| format!("/data-sources/{s}/subscribers")),
    );
    let mut out = Vec::new();
    for path in paths {
        let (status, v) = governor.get(app, &path).await;
        assert_eq!(status, 200, "{path}: {v}");
        out.push(v);
    }
    out
}

both!(governance_round_trips_through_export_and_import);
async fn governance_round_trips_through_export_and_import(app: &TestApp) {
    // Environment.Dev, `sales` tagged with it, `dev-only` subscribing
    // the accounts with Environment=Dev automatically.
    let g = crate::governance::governed(app).await;
    let gov = &g.governor;
    let (s, v) = gov
        .post(
            app,
            "/tags",
            &json!({"name": "Pii", "description": "Personal data"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    gov.tags(app, &["Environment.Prod"]).await;
    let owner = app.create_user("owner@example.com").await;
    let owner = owner["id"].as_str().unwrap().to_owned();
    let hr = gov
        .data_source(
            app,
            &json!({"name": "hr", "tags": ["Environment.Prod"],
                    "columns": [{"name": "email", "tags": ["Pii"]}, {"name": "salary"}],
                    "owners": [owner]}),
        )
        .await;
    // Deleted: it stays on `hr`, and can no longer be applied.
    assert_eq!(gov.delete(app, "/tags/Environment.Prod").await.0, 204);
    let ent = crate::governance::ENT;
    let mapping = json!({"attributeMapping": {format!("{ent}:department"): "Environment"}});
    assert_eq!(g.root.put(app, "/iams/idp/settings", &mapping).await.0, 200);
    crate::governance::reach::latest_job_done(gov, app).await;
    let r = app
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ent],
                    "userName": "dana@example.com", ent: {"department": "Dev"}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let dana = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/users/{dana}/subscriptions");
    let (s, v) = g.root.post(app, &path, &json!({"dataSourceId": hr})).await;
    assert_eq!(s, 201, "{v}");
    let users = [dana.as_str(), owner.as_str()];
    let sources = [g.sales.as_str(), hr.as_str()];
    let before = governance_view(app, &users, &sources).await;
    let subscriptions = &before[3];
    let held: Vec<(&str, &str)> = subscriptions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["dataSource"].as_str().unwrap(),
                s["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        held.contains(&("sales", "policy:dev-only")),
        "{subscriptions}"
    );
    assert!(held.contains(&("hr", "manual")), "{subscriptions}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.jsonl");
    let file = file.to_str().unwrap();
    let (ok, _, err) = cli(&app.database_url, &["export", "--output", file]);
    assert!(ok, "{err}");
    let target = other(app).await;
    let (ok, summary, err) = cli(&target.database_url, &["import", "--input", file]);
    assert!(ok, "{summary}{err}");
    // Environment, Environment.Dev, Environment.Prod (deleted), Pii.
    assert_eq!(row(&summary, "Tag"), [4, 0, 0, 0], "{summary}");
    assert_eq!(row(&summary, "Policy"), [1, 0, 0, 0], "{summary}");
    assert_eq!(row(&summary, "DataSource"), [2, 0, 0, 0], "{summary}");
    assert_eq!(row(&summary, "Subscription"), [2, 0, 0, 0], "{summary}");
    assert_eq!(
        governance_view(&target, &users, &sources).await,
        before,
        "the same governance through both servers' APIs"
    );
    // The deleted tag came across deleted.
    let governor = admin(&target, "gov@example.com").await;
    let apply = json!({"tags": ["Environment.Prod"]});
    let (s, v) = governor
        .post(&target, &format!("/data-sources/{}/tags", g.sales), &apply)
        .await;
    assert_eq!(s, 400, "{v}");
    // Again: nothing changes.
    let (ok, summary, err) = cli(&target.database_url, &["import", "--input", file]);
    assert!(ok, "{err}");
    assert!(summary.contains("nothing changed"), "{summary}");
    target.finish().await;

    // An export from before governance (format 1: no Format, Tag, Policy
    // or DataSource lines, subscriptions without a source) still imports,
    // its subscriptions as an administrator's.
    let old: Vec<String> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| {
            !["Format", "Tag", "Policy", "DataSource"].contains(&v["type"].as_str().unwrap())
        })
        .map(|mut v| {
            if let Some(r) = v["resource"].as_object_mut() {
                r.remove("source");
                r.remove("dataSourceId");
            }
            v.to_string()
        })
        .collect();
    let old_file = dir.path().join("old.jsonl");
    std::fs::write(&old_file, old.join("\n") + "\n").unwrap();
    let target = other(app).await;
    let old_file = old_file.to_str().unwrap();
    let (ok, summary, err) = cli(&target.database_url, &["import", "--input", old_file]);
    assert!(ok, "{summary}{err}");
    assert_eq!(row(&summary, "Subscription"), [2, 0, 0, 0], "{summary}");
    let root = admin(&target, "root@example.com").await;
    let (s, v) = root
        .get(&target, &format!("/users/{dana}/subscriptions"))
        .await;
    assert_eq!(s, 200, "{v}");
    let sources: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["manual", "manual"], "{v}");

    // A later format than this binary reads is refused, naming it, and
    // nothing of its batch is written.
    let later = dir.path().join("later.jsonl");
    let id = uuid::Uuid::now_v7().to_string();
    let lines = [
        json!({"type": "Format", "version": 3}).to_string(),
        user_line(&id, "later@example.com"),
    ];
    std::fs::write(&later, lines.join("\n") + "\n").unwrap();
    let (ok, _, err) = cli(
        &target.database_url,
        &["import", "--input", later.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(
        err.contains("line 1: this file is export format 3"),
        "{err}"
    );
    let r = target.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status(), 404);
    target.finish().await;
}
