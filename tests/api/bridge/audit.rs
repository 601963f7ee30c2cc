//! The audit log (append-only, hash-chained, people by opaque id only) and
//! who may call the admin API.

use reqwest::Method;
use serde_json::json;

use super::{admin, call, raw_sql};
use crate::app::{Backend, TestApp};
use crate::both;

both!(changes_are_audited_and_the_chain_verifies);
async fn changes_are_audited_and_the_chain_verifies(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let id = root.new_user(app, "Pat Doe", "pat@example.com").await;
    root.post(
        app,
        &format!("/users/{id}/permissions"),
        &json!({"permissions": ["GOVERNANCE"]}),
    )
    .await;
    root.post(app, &format!("/users/{id}/disable"), &json!({}))
        .await;

    // Reading the audit log needs AUDIT.
    let (status, _) = root.get(app, "/audit").await;
    assert_eq!(status, 403);
    let auditor = root.another(app, "auditor@example.com", &["AUDIT"]).await;
    let (status, log) = auditor.get(app, &format!("/audit?target={id}")).await;
    assert_eq!(status, 200, "{log}");
    let actions: Vec<&str> = log["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["user.disabled", "permission.added", "user.created"]
    );
    let added = &log["hits"][1];
    assert_eq!(added["actor"], format!("user:{}", root.id));
    assert_eq!(added["attributes"], json!(["permissions.GOVERNANCE"]));
    assert_eq!(added["outcome"], "success");
    assert!(added["requestId"].is_string(), "{added}");
    // Names and emails never appear in the audit.
    let (_, all) = auditor.get(app, "/audit?limit=1000").await;
    let text = all.to_string();
    assert!(!text.contains("pat@example.com") && !text.contains("Pat Doe"));
    let (_, by_action) = auditor.get(app, "/audit?action=permission.added").await;
    // root's USER_ADMIN, Pat's GOVERNANCE, the auditor's AUDIT.
    assert_eq!(by_action["count"], 3);
    let (_, by_actor) = auditor
        .get(app, &format!("/audit?actor=user:{}&limit=1", root.id))
        .await;
    assert!(by_actor["count"].as_u64().unwrap() >= 5);
    assert_eq!(by_actor["hits"].as_array().unwrap().len(), 1);
    let (status, _) = auditor.get(app, "/audit?from=yesterday").await;
    assert_eq!(status, 400);
    // Every filter at once, in a window around now, paged: each narrows
    // the same answer; a window in the past holds nothing.
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
            .replace('+', "%2B")
    };
    let now = time::OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    let query = |from, to| {
        format!(
            "/audit?target={id}&actor=user:{}&action=permission.added&from={}&to={}&offset=0&limit=5",
            root.id,
            rfc(from),
            rfc(to)
        )
    };
    let (status, narrow) = auditor.get(app, &query(now - hour, now + hour)).await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["count"], 1, "{narrow}");
    assert_eq!(
        narrow["hits"][0]["attributes"],
        json!(["permissions.GOVERNANCE"])
    );
    let (_, past) = auditor
        .get(app, &query(now - hour * 3, now - hour * 2))
        .await;
    assert_eq!(past["count"], 0, "{past}");
    assert_eq!(past["hits"], json!([]));
    let (_, paged) = auditor
        .get(app, &format!("/audit?target={id}&offset=1&limit=1"))
        .await;
    assert_eq!(paged["count"], 3);
    assert_eq!(paged["hits"][0]["action"], "permission.added");

    let dir = app.directory().await;
    let n = dir.verify_audit().await.unwrap().expect("intact");
    assert_eq!(n, all["count"].as_i64().unwrap());

    // The database refuses edits; someone who drops the guard and edits a
    // record anyway is caught by verify.
    let (drop_guard, edit) = match app.backend {
        Backend::Sqlite => (
            "DROP TRIGGER audit_log_no_update",
            "UPDATE audit_log SET outcome = 'denied' WHERE seq = 2",
        ),
        Backend::Postgres => (
            "DROP TRIGGER audit_log_no_change ON audit_log",
            "UPDATE audit_log SET outcome = 'denied' WHERE seq = 2",
        ),
    };
    let refused = match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query(edit).execute(&pool).await.is_err()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::query(edit).execute(&pool).await.is_err()
        }
    };
    assert!(refused, "the audit log is append-only");
    raw_sql(app, &[drop_guard, edit]).await;
    let broken = dir.verify_audit().await.unwrap().expect_err("edited");
    assert_eq!(broken, scim_bridge::audit::Broken::Edited { seq: 2 });
}

both!(a_removed_tail_is_caught);
async fn a_removed_tail_is_caught(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    root.new_user(app, "A", "a@example.com").await;
    let dir = app.directory().await;
    let n = dir.verify_audit().await.unwrap().expect("intact");
    let drop_guard = match app.backend {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_delete",
        Backend::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log",
    };
    let cut = format!("DELETE FROM audit_log WHERE seq = {n}");
    raw_sql(app, &[drop_guard, &cut]).await;
    assert!(matches!(
        dir.verify_audit().await.unwrap(),
        Err(scim_bridge::audit::Broken::Tail { .. })
    ));
    let middle = "DELETE FROM audit_log WHERE seq = 1";
    raw_sql(app, &[middle]).await;
    assert!(matches!(
        dir.verify_audit().await.unwrap(),
        Err(scim_bridge::audit::Broken::Gap { .. })
    ));
}

both!(callers_without_the_permission_are_refused_and_change_nothing);
async fn callers_without_the_permission_are_refused_and_change_nothing(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let target = root.new_user(app, "T", "t@example.com").await;
    let plain = root.another(app, "plain@example.com", &[]).await;
    let idp = app.token.clone();
    let calls: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, "/users".into(), None),
        (
            Method::POST,
            "/users".into(),
            Some(json!({"fullName": "X", "email": "x@example.com"})),
        ),
        (Method::GET, format!("/users/{target}"), None),
        (
            Method::DELETE,
            format!("/users/{target}?confirm=Delete"),
            None,
        ),
        (
            Method::POST,
            format!("/users/{target}/permissions"),
            Some(json!({"permissions": ["AUDIT"]})),
        ),
        (
            Method::DELETE,
            format!("/users/{target}/permissions/CREATE_PROJECT"),
            None,
        ),
        (
            Method::PATCH,
            format!("/users/{target}/attributes"),
            Some(json!({"operations": [{"op": "add", "name": "k", "values": ["v"]}]})),
        ),
        (
            Method::POST,
            format!("/users/{target}/disable"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/users/{target}/migrate"),
            Some(json!({"iam": "idp", "userName": "m"})),
        ),
        (
            Method::POST,
            format!("/users/{target}/subscriptions"),
            Some(json!({"dataSource": "d"})),
        ),
        (Method::GET, format!("/users/{target}/report"), None),
        (Method::GET, "/audit".into(), None),
        (Method::GET, "/iams".into(), None),
        (
            Method::POST,
            "/iams".into(),
            Some(json!({"name": "newiam"})),
        ),
        (Method::POST, "/iams/idp/tokens".into(), Some(json!({}))),
        (
            Method::POST,
            "/permissions".into(),
            Some(json!({"name": "NEW_ONE"})),
        ),
    ];
    let before = root.get(app, &format!("/users/{target}")).await.1;
    let (_, log_before) = {
        let auditor = root.another(app, "aud@example.com", &["AUDIT"]).await;
        auditor.get(app, "/audit?limit=1").await
    };
    for (method, path, body) in &calls {
        for (who, token, expected) in [
            ("no token", None, 401),
            ("an identity provider's token", Some(idp.as_str()), 401),
            (
                "an admin without the permission",
                Some(plain.token.as_str()),
                403,
            ),
        ] {
            let (status, resp) = call(app, method.clone(), path, token, body.as_ref()).await;
            assert_eq!(status, expected, "{who}: {method} {path} → {resp}");
            assert!(resp["error"]["message"].is_string(), "{resp}");
        }
    }
    assert_eq!(root.get(app, &format!("/users/{target}")).await.1, before);
    let auditor = root.another(app, "aud2@example.com", &["AUDIT"]).await;
    let (_, log_after) = auditor.get(app, "/audit?limit=1").await;
    // Only the second auditor's creation and grant were added.
    assert_eq!(
        log_after["count"].as_u64().unwrap(),
        log_before["count"].as_u64().unwrap() + 2
    );
    // Everyone signed in may read the permission catalogue.
    let (status, _) = plain.get(app, "/permissions").await;
    assert_eq!(status, 200);
}

both!(identity_provider_writes_are_audited_with_what_changed);
async fn identity_provider_writes_are_audited_with_what_changed(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let auditor = root.another(app, "auditor@example.com", &["AUDIT"]).await;
    let user = app.create_user("kai@example.com").await;
    let id = user["id"].as_str().unwrap();
    // A new user holds its IAM's default permissions from the start.
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(
        view["permissionSources"],
        json!([
            {"permission": "CREATE_DATA_SOURCE_IN_PROJECT", "sources": ["iam-default"]},
            {"permission": "CREATE_PROJECT", "sources": ["iam-default"]},
        ])
    );
    let patch = |ops: serde_json::Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "path": "title", "value": "Lead"}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The same PATCH again changes nothing and records nothing.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "path": "title", "value": "Lead"}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let group = app.create_group("Crew", &[]).await;
    let gid = group["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
        )
        .await;
    assert!(r.status().is_success());
    assert_eq!(app.delete(&format!("/Groups/{gid}")).await.status(), 204);
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);

    let (_, log) = auditor.get(app, "/audit?actor=iam:&limit=100").await;
    assert_eq!(log["count"], 0, "actor matches exactly");
    let (_, iams) = root.get(app, "/iams").await;
    let idp = iams["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "idp")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, log) = auditor
        .get(app, &format!("/audit?actor=iam:{idp}&limit=100"))
        .await;
    let got: Vec<(String, String, serde_json::Value)> = log["hits"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["target"].as_str().unwrap().to_owned(),
                r["attributes"].clone(),
            )
        })
        .collect();
    let expected = vec![
        (
            "user.created",
            id,
            json!(["active", "emails", "name", "userName"]),
        ),
        ("user.updated", id, json!(["title"])),
        ("group.created", gid, json!(["displayName"])),
        (
            "group.member_added",
            gid,
            json!([format!("members[value eq \"{id}\"]")]),
        ),
        ("group.deleted", gid, json!([])),
        ("user.deprovisioned", id, json!([])),
    ];
    assert_eq!(got.len(), expected.len(), "{log}");
    for ((action, target, attrs), (ea, et, eattrs)) in got.iter().zip(expected) {
        assert_eq!((action.as_str(), target.as_str(), attrs), (ea, et, &eattrs));
    }
    assert!(log["hits"][0]["requestId"].is_string());
    let n = app
        .directory()
        .await
        .verify_audit()
        .await
        .unwrap()
        .expect("intact");
    assert!(n >= 6);
}

both!(bulk_creates_are_audited_and_get_the_defaults);
async fn bulk_creates_are_audited_and_get_the_defaults(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ops: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                   "data": {"userName": format!("bulk{i}@example.com")}})
        })
        .collect();
    let r = app
        .post(
            "/Bulk",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    for op in body["Operations"].as_array().unwrap() {
        assert_eq!(op["status"], "201", "{op}");
        let id = op["location"].as_str().unwrap().rsplit('/').next().unwrap();
        let (_, view) = root.get(app, &format!("/users/{id}")).await;
        assert_eq!(
            view["permissions"],
            json!(["CREATE_DATA_SOURCE_IN_PROJECT", "CREATE_PROJECT"])
        );
        let auditor_view = app.directory().await;
        let trail = auditor_view
            .audit_log(
                &scim_bridge::directory::accounts::Ctx::cli(),
                &scim_bridge::store::accounts::AuditQuery {
                    target: Some(id.parse().unwrap()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let trail = serde_json::to_value(trail).unwrap();
        assert_eq!(trail["hits"][0]["action"], "user.created", "{trail}");
    }
    app.directory()
        .await
        .verify_audit()
        .await
        .unwrap()
        .expect("intact");
}
