//! The audit log as a tool: a person searched by email address finds the
//! records done by or to that person's account (the log holds only ids),
//! the download carries the same filter, and a USER_ADMIN reads it once it
//! holds AUDIT, in the console as in the API.

use serde_json::{Value, json};

use super::{Browser, csrf_in};
use crate::app::TestApp;
use crate::both;
use crate::bridge::admin;

/// An identity provider's user whose email address is not its userName.
async fn jane(app: &TestApp) -> String {
    let r = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "jdoe",
                "name": {"formatted": "Jane Doe", "givenName": "Jane", "familyName": "Doe"},
                "emails": [{"value": "jane.doe@corp.example", "type": "work", "primary": true}],
                "active": true,
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

both!(searching_the_audit_by_email_finds_that_persons_records);
async fn searching_the_audit_by_email_finds_that_persons_records(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let auditor = root.another(app, "audit@example.com", &["AUDIT"]).await;
    let jane = jane(app).await;
    let other = app.create_user("other@x.example").await;
    let other = other["id"].as_str().unwrap().to_owned();
    for id in [&jane, &other] {
        let (status, _) = root
            .post(app, &format!("/users/{id}/disable"), &json!({}))
            .await;
        assert_eq!(status, 200);
    }

    let mut a = Browser::new(app);
    a.sign_in(&auditor.token).await;
    let page = a.page("/admin/audit?person=jane.doe%40corp.example").await;
    assert!(page.contains("Records by or about"), "{page}");
    assert!(page.contains(">Jane Doe</a> (jdoe)"), "{page}");
    assert!(page.contains("Records 1–2 of 2,"), "{page}");
    assert!(page.contains("user.created") && page.contains("user.disabled"));
    assert!(!page.contains(&other), "nobody else's records");
    // Actors and targets by name: the admin who disabled her, and her.
    let rows = &page[page.find("<tbody>").unwrap()..];
    assert!(
        rows.contains("Jane Doe") && rows.contains(">Admin<"),
        "{rows}"
    );
    assert!(
        !rows.contains(&format!("user:{}", root.id)),
        "no raw actor id"
    );
    // The action is picked from the known names.
    assert!(page.contains("<option value=\"user.disabled\""));

    // A name that matches nobody says so instead of showing everything.
    let page = a.page("/admin/audit?person=nobody%40corp.example").await;
    assert!(page.contains("No one matches"), "{page}");
    assert!(page.contains("No records match."));

    // The admin API reads the same search.
    let (status, api) = auditor
        .get(app, "/audit?person=jane.doe%40corp.example")
        .await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(api["count"], 2);
    for r in api["hits"].as_array().unwrap() {
        assert_eq!(r["target"], jane.as_str(), "{r}");
    }

    // The export: the same filter, as CSV and as JSON.
    let r = a
        .get("/admin/audit/export?format=csv&person=jane.doe%40corp.example&action=user.disabled")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"audit-"),
        "{disposition}"
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one record: {csv}");
    assert!(lines[0].starts_with("seq,id,at,actor,actorName,action,"));
    assert!(lines[1].contains(",user.disabled,User,"), "{csv}");
    assert!(
        lines[1].contains(&jane) && lines[1].contains(",Jane Doe,"),
        "{csv}"
    );
    let r = a
        .get("/admin/audit/export?format=json&person=jane.doe%40corp.example")
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["count"], 2);
    for rec in doc["records"].as_array().unwrap() {
        assert_eq!(rec["targetName"], "Jane Doe", "{rec}");
    }
    let (status, api) = auditor
        .get(app, "/audit/export?person=jdoe&format=json")
        .await;
    assert_eq!((status, &api["count"]), (200, &json!(2)), "{api}");
}

both!(a_user_admin_reads_the_audit_once_it_grants_itself_audit);
async fn a_user_admin_reads_the_audit_once_it_grants_itself_audit(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    // The section is listed; the page says what reading it takes.
    assert!(
        b.page("/admin/users")
            .await
            .contains("href=\"/admin/audit\"")
    );
    let r = b.get("/admin/audit").await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(page.contains("Grant myself AUDIT"), "{page}");
    let (status, _) = root.get(app, "/audit").await;
    assert_eq!(status, 403, "the API asks the same");
    // Without the CSRF token: refused, nothing granted.
    let r = b.post("/admin/audit/grant-self", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(root.get(app, "/audit").await.0, 403);
    let csrf = csrf_in(&page);
    let r = b.post("/admin/audit/grant-self", &[("_csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/audit");
    let page = b.page("/admin/audit").await;
    assert!(
        page.contains("Granted yourself AUDIT"),
        "the notice: {page}"
    );
    assert!(page.contains("permission.added"), "the grant is in the log");
    let (status, _) = root.get(app, "/audit").await;
    assert_eq!(status, 200);
    // Its own page shows its history, newest first.
    let page = b.page(&format!("/admin/users/{}", root.id)).await;
    assert!(
        page.contains("Changes to this account, newest first"),
        "{page}"
    );
    let history = &page[page.find("id=\"history\"").unwrap()..];
    let added = history.find("permission.added").expect("the grant");
    let created = history.find("user.created").expect("the creation");
    assert!(added < created, "newest first");
    assert!(page.contains(&format!("/admin/audit?person={}", root.id)));
}
