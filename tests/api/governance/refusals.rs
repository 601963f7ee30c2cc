//! What governance refuses, and that a refusal changes nothing: writes
//! without the permission (403), bad input (400), unknown names and ids
//! (404), names taken (409).

use reqwest::Method;
use serde_json::{Value, json};

use super::{Governed, admitting, governed};
use crate::app::TestApp;
use crate::both;
use crate::bridge::{Admin, call};

/// Everything governance holds, and the audit log's length: what a
/// refused request must leave as it was.
async fn state(app: &TestApp, reader: &Admin) -> Value {
    let mut out = json!({});
    for path in ["/tags", "/data-sources", "/policies", "/audit?limit=1"] {
        let (status, body) = reader.get(app, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        out[path] = if path.starts_with("/audit") {
            body["count"].clone()
        } else {
            body
        };
    }
    out
}

/// A request the caller makes with `body`; its status.
async fn status(
    app: &TestApp,
    who: &Admin,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> u16 {
    call(app, method, path, Some(&who.token), body).await.0
}

both!(writes_need_governance_and_refusals_change_nothing);
async fn writes_need_governance_and_refusals_change_nothing(app: &TestApp) {
    let Governed {
        root,
        governor,
        sales: id,
    } = governed(app).await;
    let creator = root
        .another(app, "cds@example.com", &["CREATE_DATA_SOURCE"])
        .await;
    let before = state(app, &governor).await;

    // USER_ADMIN may do much, but no governance write (nor evaluate).
    let ds = format!("/data-sources/{id}");
    let writes = [
        (
            Method::POST,
            "/tags".to_owned(),
            Some(json!({"name": "Other"})),
        ),
        (Method::DELETE, "/tags/Environment.Dev".to_owned(), None),
        (
            Method::POST,
            "/data-sources".to_owned(),
            Some(json!({"name": "hr"})),
        ),
        (
            Method::POST,
            format!("{ds}/tags"),
            Some(json!({"tags": ["Environment"]})),
        ),
        (Method::DELETE, format!("{ds}/tags/Environment.Dev"), None),
        (Method::DELETE, ds.clone(), None),
        (
            Method::POST,
            "/policies".to_owned(),
            Some(admitting("p", "Environment", "a", "b")),
        ),
        (
            Method::PUT,
            "/policies/dev-only".to_owned(),
            Some(admitting("dev-only", "Environment", "a", "b")),
        ),
        (Method::DELETE, "/policies/dev-only".to_owned(), None),
        (
            Method::DELETE,
            "/data-sources/00000000-0000-0000-0000-000000000000".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/policy/evaluate".to_owned(),
            Some(json!({"userId": root.id, "dataSource": {"id": id}})),
        ),
    ];
    for (method, path, body) in &writes {
        let s = status(app, &root, method.clone(), path, body.as_ref()).await;
        assert_eq!(s, 403, "{method} {path}");
    }
    // A data source creator may register and tag its own, no other.
    for (method, path, body) in &writes[3..6] {
        let s = status(app, &creator, method.clone(), path, body.as_ref()).await;
        assert_eq!(s, 403, "{method} {path}");
    }
    assert_eq!(state(app, &governor).await, before);
    let own = creator.data_source(app, &json!({"name": "own"})).await;
    let (status, body) = creator
        .post(
            app,
            &format!("/data-sources/{own}/tags"),
            &json!({"tags": ["Environment.Dev"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owners"], json!([creator.id]));
    assert_eq!(body["tags"], json!(["Environment.Dev"]));
}

both!(bad_input_is_a_clear_400_and_changes_nothing);
async fn bad_input_is_a_clear_400_and_changes_nothing(app: &TestApp) {
    let Governed {
        root,
        governor,
        sales: id,
    } = governed(app).await;
    governor.tags(app, &["Old"]).await;
    assert_eq!(governor.delete(app, "/tags/Old").await.0, 204);
    let before = state(app, &governor).await;

    let huge = vec!["@hasAttribute('a', 'b')"; 10_000].join(" OR ");
    let advanced = |text: &str| {
        json!({"policyKey": "adv", "name": "Advanced",
               "circumstances": [{"type": "all"}],
               "actions": {"type": "entitlements", "advanced": text}})
    };
    let mut typo = admitting("typo", "Environment.Dev", "Environment", "Dev");
    typo["actions"]["shareResponsibilty"] = json!(true);
    let ds = format!("/data-sources/{id}/tags");
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::POST,
            "/tags".into(),
            json!({"name": "A..B"}),
            "name: a tag name",
        ),
        (
            Method::POST,
            "/tags".into(),
            json!({"name": "A", "colour": "red"}),
            "colour: unknown field",
        ),
        (
            Method::POST,
            "/data-sources".into(),
            json!({"name": "x", "tags": ["Nope"]}),
            "no tag named 'Nope'",
        ),
        (
            Method::POST,
            "/data-sources".into(),
            json!({"name": "x", "tags": ["Old"]}),
            "the tag 'Old' was deleted",
        ),
        (
            Method::POST,
            "/data-sources".into(),
            json!({"name": "x", "columns": [{"name": "c", "tags": ["Nope"]}]}),
            "no tag named 'Nope'",
        ),
        (
            Method::POST,
            "/data-sources".into(),
            json!({"name": "x", "owners": ["00000000-0000-0000-0000-000000000000"]}),
            "owners: no account",
        ),
        (
            Method::POST,
            ds.clone(),
            json!({"tags": ["Old"]}),
            "can no longer be applied",
        ),
        (
            Method::POST,
            ds.clone(),
            json!({"tags": []}),
            "tags names 1 to 100",
        ),
        (
            Method::POST,
            "/policies".into(),
            typo,
            "actions.shareResponsibilty: unknown field",
        ),
        (
            Method::POST,
            "/policies".into(),
            admitting("p", "Environment.Nope", "a", "b"),
            "circumstances[0].tag: no tag named",
        ),
        (
            Method::POST,
            "/policies".into(),
            advanced("@hasAttribute('a', 'b') AND"),
            "actions.advanced: at column 28: expected a function",
        ),
        (
            Method::POST,
            "/policies".into(),
            advanced(&huge),
            "the expression is longer than 8192 bytes",
        ),
        (
            Method::PUT,
            "/policies/dev-only".into(),
            admitting("other", "Environment.Dev", "a", "b"),
            "policyKey: a policy's key does not change",
        ),
        (
            Method::POST,
            "/policy/evaluate".into(),
            json!({"userId": "x", "dataSource": {"id": id}}),
            "userId must be an account id",
        ),
        (
            Method::POST,
            "/policy/evaluate".into(),
            json!({"userId": root.id, "dataSource": {"tags": ["Nope"]}}),
            "no tag named 'Nope'",
        ),
        (
            Method::POST,
            "/policy/evaluate".into(),
            json!({"userId": root.id, "dataSource": {"id": id, "tags": []}}),
            "not both",
        ),
    ];
    for (method, path, body, says) in &cases {
        let (status, answer) =
            call(app, method.clone(), path, Some(&governor.token), Some(body)).await;
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        assert!(
            message.contains(says),
            "{method} {path}: {message:?} lacks {says:?}"
        );
    }
    assert_eq!(state(app, &governor).await, before);
}

both!(unknown_names_and_ids_are_404_and_taken_ones_409);
async fn unknown_names_and_ids_are_404_and_taken_ones_409(app: &TestApp) {
    let Governed {
        root,
        governor,
        sales: id,
    } = governed(app).await;
    let before = state(app, &governor).await;
    let nobody = "00000000-0000-0000-0000-00000000beef";
    let not_found = [
        (Method::GET, format!("/data-sources/{nobody}"), None),
        (Method::GET, "/data-sources/not-an-id".to_owned(), None),
        (Method::DELETE, format!("/data-sources/{nobody}"), None),
        (
            Method::POST,
            format!("/data-sources/{nobody}/tags"),
            Some(json!({"tags": ["Environment.Dev"]})),
        ),
        (
            Method::DELETE,
            format!("/data-sources/{id}/tags/Environment"),
            None,
        ),
        (Method::DELETE, "/tags/Nope".to_owned(), None),
        (Method::GET, "/policies/nope".to_owned(), None),
        (
            Method::PUT,
            "/policies/nope".to_owned(),
            Some(admitting("nope", "Environment.Dev", "a", "b")),
        ),
        (Method::DELETE, "/policies/nope".to_owned(), None),
        (
            Method::POST,
            "/policy/evaluate".to_owned(),
            Some(json!({"userId": root.id, "dataSource": {"id": nobody}})),
        ),
        (
            Method::POST,
            "/policy/evaluate".to_owned(),
            Some(json!({"userId": nobody, "dataSource": {"tags": []}})),
        ),
    ];
    for (method, path, body) in &not_found {
        let s = status(app, &governor, method.clone(), path, body.as_ref()).await;
        assert_eq!(s, 404, "{method} {path}");
    }
    let subscription = json!({"dataSourceId": nobody});
    let path = format!("/users/{}/subscriptions", root.id);
    assert_eq!(root.post(app, &path, &subscription).await.0, 404);
    let taken = [
        ("/tags", json!({"name": "Environment.Dev"})),
        ("/tags", json!({"name": "Environment"})),
        ("/data-sources", json!({"name": "sales"})),
        (
            "/policies",
            admitting("dev-only", "Environment.Dev", "a", "b"),
        ),
    ];
    for (path, body) in &taken {
        let (s, answer) = governor.post(app, path, body).await;
        assert_eq!(s, 409, "{path} {body}: {answer}");
    }
    assert_eq!(state(app, &governor).await, before);
}
