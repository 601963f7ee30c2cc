//! The anonymized usage metrics: every workflow counted per UTC day as its
//! audit records, reported events validated all-or-nothing, the export by
//! day range as a download, and nothing in it that names anyone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use reqwest::Method;
use serde_json::{Value, json};

use super::{Admin, admin, call};
use crate::app::{Backend, TestApp};
use crate::both;

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

/// Today's entry of a one-day export.
async fn today(app: &TestApp, who: &Admin) -> Value {
    let (status, doc) = who.get(app, "/metrics?days=1").await;
    assert_eq!(status, 200, "{doc}");
    let days = doc["days"].as_array().expect("days");
    assert_eq!(days.len(), 1, "{doc}");
    days[0].clone()
}

/// How many audit records of each action there are.
async fn audit_actions(app: &TestApp, who: &Admin) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut offset = 0;
    loop {
        let (status, log) = who
            .get(app, &format!("/audit?limit=1000&offset={offset}"))
            .await;
        assert_eq!(status, 200, "{log}");
        let hits = log["hits"].as_array().unwrap();
        for r in hits {
            *out.entry(r["action"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        offset += hits.len();
        if hits.is_empty() || offset as u64 >= log["count"].as_u64().unwrap() {
            return out;
        }
    }
}

both!(every_workflow_counts_as_its_audit_records_and_names_nobody);
async fn every_workflow_counts_as_its_audit_records_and_names_nobody(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut secrets: Vec<String> = vec![
        root.id.clone(),
        root.token.clone(),
        app.token.clone(),
        "root@example.com".into(),
    ];
    let auditor = root.another(app, "auditor@example.com", &["AUDIT"]).await;
    secrets.push(auditor.token.clone());
    let before: BTreeMap<String, u64> =
        serde_json::from_value(today(app, &root).await["workflows"].clone()).unwrap();
    // The identity provider: three users, one update, a group with all
    // three added in one PATCH and one removed, a delete.
    let mut ids = Vec::new();
    for name in ["ana@corp.example", "ben@corp.example", "cy@corp.example"] {
        let u = app.create_user(name).await;
        ids.push(u["id"].as_str().unwrap().to_owned());
        secrets.push(name.into());
    }
    secrets.extend(ids.iter().cloned());
    let r = app
        .patch(
            &format!("/Users/{}", ids[0]),
            &patch(json!([{"op": "replace", "path": "title", "value": "Analyst"}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let group = app.create_group("Analysts", &[]).await;
    let gid = group["id"].as_str().unwrap().to_owned();
    secrets.push(gid.clone());
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{"op": "add", "path": "members", "value": members}])),
        )
        .await;
    assert!(r.status().is_success());
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[2])}])),
        )
        .await;
    assert!(r.status().is_success());
    // Administrators: two permissions granted in one request, one taken
    // back; an attribute key gains values and another loses its value; a
    // subscription comes and goes; disable, enable, migrate; a SCIM token
    // issued and revoked; a permanent delete.
    let id = &ids[0];
    let (status, body) = root
        .post(
            app,
            &format!("/users/{id}/permissions"),
            &json!({"permissions": ["GOVERNANCE", "AUDIT"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = root
        .delete(app, &format!("/users/{id}/permissions/AUDIT"))
        .await;
    assert_eq!(status, 200, "the account's view");
    let path = format!("/users/{id}/attributes");
    for ops in [
        json!([{"op": "add", "name": "clearance", "values": ["secret", "internal"]},
               {"op": "add", "name": "region", "values": ["eu"]}]),
        json!([{"op": "remove", "name": "region"}]),
    ] {
        let (status, body) = root.patch(app, &path, &json!({ "operations": ops })).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, sub) = root
        .post(
            app,
            &format!("/users/{id}/subscriptions"),
            &json!({"dataSource": "sales_eu_confidential", "role": "owner"}),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    secrets.push("sales_eu_confidential".into());
    let (status, _) = root
        .delete(
            app,
            &format!("/users/{id}/subscriptions/{}", sub["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 204);
    for action in ["disable", "enable"] {
        let (status, _) = root
            .post(app, &format!("/users/{id}/{action}"), &json!({}))
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = root.post(app, "/iams", &json!({"name": "okta"})).await;
    assert_eq!(status, 201);
    let (status, _) = root
        .post(
            app,
            &format!("/users/{}/migrate", ids[1]),
            &json!({"iam": "okta", "userName": "ben.moved@corp.example"}),
        )
        .await;
    assert_eq!(status, 200);
    secrets.push("ben.moved@corp.example".into());
    let (status, token) = root.post(app, "/iams/okta/tokens", &json!({})).await;
    assert_eq!(status, 201, "{token}");
    secrets.push(token["token"].as_str().unwrap().to_owned());
    secrets.push(token["id"].as_str().unwrap().to_owned());
    let (status, _) = root
        .delete(app, &format!("/tokens/{}", token["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.delete(&format!("/Users/{}", ids[2])).await.status(),
        204
    );
    let (status, _) = root
        .delete(app, &format!("/users/{}?confirm=Delete", ids[2]))
        .await;
    assert_eq!(status, 204);

    let day = today(app, &root).await;
    let workflows: BTreeMap<String, u64> =
        serde_json::from_value(day["workflows"].clone()).unwrap();
    // Exactly the audit log, action by action.
    assert_eq!(workflows, audit_actions(app, &auditor).await, "{day}");
    let delta = |name: &str| {
        workflows.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)
    };
    for (name, n) in [
        ("user.created", 3),
        ("user.updated", 1),
        ("group.created", 1),
        ("group.member_added", 3),
        ("group.member_removed", 1),
        ("permission.added", 2),
        ("permission.removed", 1),
        ("attribute.added", 2),
        ("attribute.removed", 1),
        ("subscription.created", 1),
        ("subscription.removed", 1),
        ("user.disabled", 1),
        ("user.enabled", 1),
        ("user.migrated", 1),
        ("token.created", 1),
        ("token.revoked", 1),
        ("user.deprovisioned", 1),
        ("user.deleted", 1),
        ("iam.created", 1),
    ] {
        assert_eq!(delta(name), n, "{name}: {day}");
    }
    assert_eq!(day["ui"], json!({}));
    // Names and counts only.
    let (_, doc) = root.get(app, "/metrics?days=366").await;
    let text = doc.to_string();
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "the export names {s}");
    }
}

both!(reported_events_are_checked_all_or_nothing);
async fn reported_events_are_checked_all_or_nothing(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let reporter = root
        .another(app, "platform@example.com", &["APPLICATION_ADMIN"])
        .await;
    let (_, log) = root.get(app, "/audit?limit=1").await;
    let audit_count = log["count"].clone();
    let (status, body) = reporter
        .post(
            app,
            "/metrics/events",
            &json!({"events": [
                {"name": "project.created", "count": 2},
                {"name": "project.created"},
                {"name": "query.run", "count": 1},
                {"name": "ui.click.new-user", "count": 3},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["counted"], 4);
    let expected = today(app, &root).await;
    assert_eq!(expected["workflows"]["project.created"], 3);
    assert_eq!(expected["workflows"]["query.run"], 1);
    assert_eq!(expected["ui"], json!({"new-user": 3}));

    let good = json!({"name": "project.created"});
    let many: Vec<Value> = (0..101).map(|_| good.clone()).collect();
    for bad in [
        json!({}),
        json!([good]),
        json!({"events": []}),
        json!({"events": many}),
        json!({"events": [good, {"name": "user.created"}]}),
        json!({"events": [good, {"name": "group.member_added", "count": 1}]}),
        // The server counts its data sources, policies and tags itself.
        json!({"events": [good, {"name": "data_source.created", "count": 2}]}),
        json!({"events": [good, {"name": "policy.created"}]}),
        json!({"events": [good, {"name": "tag.deleted"}]}),
        json!({"events": [good, {"name": "subscription.added"}]}),
        json!({"events": [good, {"name": "Project.Created"}]}),
        json!({"events": [good, {"name": "project."}]}),
        json!({"events": [good, {"name": "somewhere.else"}]}),
        json!({"events": [good, {"name": format!("project.{}", "x".repeat(130))}]}),
        json!({"events": [good, {"name": "project.created", "count": 0}]}),
        json!({"events": [good, {"name": "project.created", "count": -1}]}),
        json!({"events": [good, {"name": "project.created", "count": 1.5}]}),
        json!({"events": [good, {"name": "project.created", "count": 10_001}]}),
        json!({"events": [good, {"name": "project.created", "count": "2"}]}),
        json!({"events": [good, {"name": "project.created", "user": "ana@corp.example"}]}),
        json!({"events": [good, {"name": 7}]}),
        json!({"events": [good, "project.created"]}),
    ] {
        let (status, err) = reporter.post(app, "/metrics/events", &bad).await;
        assert_eq!(status, 400, "{bad} -> {err}");
        assert!(err["error"]["message"].is_string(), "{err}");
    }
    // Not JSON, and nobody signed in.
    let r = app
        .client
        .post(format!("{}/api/v1/metrics/events", app.origin))
        .bearer_auth(&reporter.token)
        .header("content-type", "text/plain")
        .body("project.created")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let (status, _) = call(
        app,
        Method::POST,
        "/metrics/events",
        None,
        Some(&json!({"events": [good]})),
    )
    .await;
    assert_eq!(status, 401);
    // Nothing of any refused report was counted.
    assert_eq!(today(app, &root).await, expected);
    // Reports are not audited: nothing records who reported.
    let (_, log) = root.get(app, "/audit?limit=1").await;
    assert_eq!(log["count"], audit_count, "{log}");
}

both!(governance_workflows_are_counted_by_the_server_alone);
async fn governance_workflows_are_counted_by_the_server_alone(app: &TestApp) {
    // Tags, a data source and a policy: audited, so counted.
    let g = crate::governance::governed(app).await;
    let reporter = g
        .root
        .another(app, "platform@example.com", &["APPLICATION_ADMIN"])
        .await;
    // A report under their names is refused, naming why.
    for name in ["policy.created", "data_source.created", "tag.created"] {
        let events = json!({"events": [{"name": name, "count": 5}]});
        let (status, err) = reporter.post(app, "/metrics/events", &events).await;
        assert_eq!(status, 400, "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        let namespace = format!("\"{}.\"", name.split('.').next().unwrap());
        assert!(
            message.contains(&namespace) && message.contains("audit log"),
            "{message}"
        );
    }
    // The day's counts are the audit log's, nothing reported added.
    let day = today(app, &g.root).await;
    let actions = audit_actions(app, &g.governor).await;
    for name in ["tag.created", "data_source.created", "policy.created"] {
        assert!(actions[name] >= 1, "{name}: {actions:?}");
        assert_eq!(day["workflows"][name], actions[name], "{name}: {day}");
    }
}

both!(the_export_is_a_download_by_day_range_for_admins);
async fn the_export_is_a_download_by_day_range_for_admins(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let r = app
        .client
        .get(format!("{}/api/v1/metrics?days=30", app.origin))
        .bearer_auth(&root.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["schemaVersion"], 1);
    assert!(doc["generatedAt"].as_str().unwrap().ends_with('Z'));
    let days = doc["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let from = doc["from"].as_str().unwrap();
    let to = doc["to"].as_str().unwrap();
    assert_eq!(days[0]["date"], from);
    assert_eq!(days[29]["date"], to);
    assert!(
        days.windows(2)
            .all(|w| w[0]["date"].as_str() < w[1]["date"].as_str())
    );
    assert_eq!(
        disposition,
        format!("attachment; filename=\"scim-bridge-metrics-{from}-{to}.json\"")
    );
    assert_eq!(days[0], json!({"date": from, "workflows": {}, "ui": {}}));
    assert_eq!(days[29]["workflows"]["user.created"], 1, "the admin");

    let (status, doc) = root
        .get(app, "/metrics?from=2025-12-30&to=2026-01-02")
        .await;
    assert_eq!(status, 200, "{doc}");
    let dates: Vec<&str> = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(
        dates,
        ["2025-12-30", "2025-12-31", "2026-01-01", "2026-01-02"]
    );
    assert_eq!(root.get(app, "/metrics?days=366").await.0, 200);
    for bad in [
        "",
        "?days=0",
        "?days=367",
        "?days=-1",
        "?days=seven",
        "?days=",
        "?from=2026-01-02&to=2026-01-01",
        "?from=2024-01-01&to=2025-01-02",
        "?from=2026-01-01",
        "?from=2026-02-30&to=2026-03-01",
        "?days=3&from=2026-01-01&to=2026-01-02",
        "?day=7",
    ] {
        let (status, err) = root.get(app, &format!("/metrics{bad}")).await;
        assert_eq!(status, 400, "{bad} -> {err}");
    }
    // USER_ADMIN or APPLICATION_ADMIN only.
    let governance = root
        .another(app, "gov@example.com", &["GOVERNANCE", "AUDIT"])
        .await;
    assert_eq!(governance.get(app, "/metrics?days=1").await.0, 403);
    let app_admin = root
        .another(app, "apps@example.com", &["APPLICATION_ADMIN"])
        .await;
    assert_eq!(app_admin.get(app, "/metrics?days=1").await.0, 200);
    assert_eq!(
        call(app, Method::GET, "/metrics?days=1", None, None)
            .await
            .0,
        401
    );
}

/// Counts land on the UTC day of the change: a server whose clock the
/// test moves back a day, then forward again.
async fn counted_by_day(backend: Backend) {
    let offset = Arc::new(AtomicI64::new(-86_400));
    let shift = offset.clone();
    let clock = Arc::new(move || {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(shift.load(Ordering::SeqCst))
    });
    let Some(app) = TestApp::spawn_with_clock(backend, |_| {}, Some(clock)).await else {
        return;
    };
    app.create_user("yesterday@corp.example").await;
    offset.store(0, Ordering::SeqCst);
    app.create_user("today1@corp.example").await;
    app.create_user("today2@corp.example").await;
    let root = admin(&app, "root@example.com").await;
    let (status, doc) = root.get(&app, "/metrics?days=3").await;
    assert_eq!(status, 200);
    let created: Vec<Value> = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["workflows"]["user.created"].clone())
        .collect();
    // Two days ago nothing, yesterday one, today two and the admin.
    assert_eq!(created, [Value::Null, json!(1), json!(3)], "{doc}");
    // The command line writes the same document.
    let dir = app.directory().await;
    let today = dir.today();
    let cli = dir
        .metrics_export(
            &scim_bridge::directory::accounts::Ctx::cli(),
            today - time::Duration::days(2),
            today,
        )
        .await
        .unwrap();
    assert_eq!(cli["days"], doc["days"]);
    app.finish().await;
}

mod counts_land_on_their_utc_day {
    use crate::app::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::counted_by_day(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::counted_by_day(Backend::Postgres).await;
    }
}
