//! Tags as a hierarchy: a child brings its parents, a circumstance on a
//! tag covers those below it, a deleted tag stays where it is applied and
//! cannot be applied again; subscriptions name registered data sources.

use serde_json::json;

use crate::app::TestApp;
use crate::both;
use crate::bridge::admin;

both!(a_tag_covers_those_below_it);
async fn a_tag_covers_those_below_it(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let (status, tag) = governor
        .post(
            app,
            "/tags",
            &json!({"name": "Environment.Dev", "description": "Development"}),
        )
        .await;
    assert_eq!(status, 201, "{tag}");
    assert_eq!(tag["parent"], "Environment");
    assert_eq!(tag["description"], "Development");
    let (_, tags) = governor.get(app, "/tags").await;
    let names: Vec<&str> = tags["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Environment", "Environment.Dev"]);
    assert_eq!(tags["hits"][0]["parent"], json!(null));

    let sales = governor
        .data_source(app, &json!({"name": "sales", "tags": ["Environment.Dev"]}))
        .await;
    let anyone = |tag: &str| {
        json!({"policyKey": "env", "name": "Environments",
               "circumstances": [{"type": "tags", "tag": tag}],
               "actions": {"type": "anyone"}})
    };
    governor.policy(app, &anyone("Environment")).await;
    let answer = governor.evaluate(app, &root.id, json!({"id": sales})).await;
    assert_eq!(answer["decision"], "subscribe", "{answer:#}");
    assert_eq!(
        answer["policies"][0]["appliesBecause"],
        json!(["data source tagged Environment.Dev, within Environment"])
    );
    // A policy on the child does not cover a data source on the parent.
    let (status, body) = governor
        .put(app, "/policies/env", &anyone("Environment.Dev"))
        .await;
    assert_eq!(status, 200, "{body}");
    let answer = governor
        .evaluate(app, &root.id, json!({"tags": ["Environment"]}))
        .await;
    assert_eq!(answer["decision"], "noPolicy", "{answer:#}");
}

both!(a_deleted_tag_stays_applied_but_cannot_be_applied);
async fn a_deleted_tag_stays_applied_but_cannot_be_applied(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    governor.tags(app, &["PII.Email", "Public"]).await;
    let id = governor
        .data_source(
            app,
            &json!({"name": "crm", "columns": [{"name": "mail", "tags": ["PII.Email"]}]}),
        )
        .await;
    assert_eq!(governor.delete(app, "/tags/PII").await.0, 204);
    assert_eq!(
        governor.delete(app, "/tags/PII.Email").await.0,
        404,
        "deleted with its parent"
    );
    let (_, tags) = governor.get(app, "/tags").await;
    assert_eq!(tags["count"], 1);
    let (_, source) = governor.get(app, &format!("/data-sources/{id}")).await;
    assert_eq!(
        source["columns"],
        json!([{"name": "mail", "tags": ["PII.Email"]}])
    );
    let (status, _) = governor
        .post(
            app,
            &format!("/data-sources/{id}/tags"),
            &json!({"tags": ["PII"]}),
        )
        .await;
    assert_eq!(status, 400);
    // Still decided on: a policy on the deleted tag's column applies.
    let policy = json!({"policyKey": "pii", "name": "PII",
                        "circumstances": [{"type": "columnTags", "tag": "PII"}],
                        "actions": {"type": "manual"}});
    governor.policy(app, &policy).await;
    let answer = governor.evaluate(app, &root.id, json!({"id": id})).await;
    assert_eq!(answer["decision"], "manual", "{answer:#}");
    // Created again, it can be applied again.
    governor.tags(app, &["PII"]).await;
    let (status, source) = governor
        .post(
            app,
            &format!("/data-sources/{id}/tags"),
            &json!({"tags": ["PII", "Public"]}),
        )
        .await;
    assert_eq!(status, 200, "{source}");
    assert_eq!(source["tags"], json!(["PII", "Public"]));
    let (status, source) = governor
        .delete(app, &format!("/data-sources/{id}/tags/Public"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(source["tags"], json!(["PII"]));
}

both!(subscriptions_name_a_registered_data_source_by_id);
async fn subscriptions_name_a_registered_data_source_by_id(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let user = root.new_user(app, "Pat", "pat@example.com").await;
    let subscriptions = format!("/users/{user}/subscriptions");
    // Free text written before the data source is registered...
    let (status, before) = root
        .post(app, &subscriptions, &json!({"dataSource": "sales"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(before["dataSourceId"], json!(null));
    let id = governor.data_source(app, &json!({"name": "sales"})).await;
    // ...is linked once it is; a new one names it by id.
    let (status, by_id) = root
        .post(app, &subscriptions, &json!({"dataSourceId": id}))
        .await;
    assert_eq!(status, 201, "{by_id}");
    assert_eq!(by_id["dataSource"], "sales");
    let (_, list) = root.get(app, &subscriptions).await;
    let ids: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["dataSourceId"])
        .collect();
    assert_eq!(ids, [&json!(id), &json!(id)]);
    let mismatch = json!({"dataSourceId": id, "dataSource": "hr"});
    assert_eq!(root.post(app, &subscriptions, &mismatch).await.0, 400);
    // Deleted from the registry, the data source leaves its subscriptions
    // named by their text.
    assert_eq!(
        governor.delete(app, &format!("/data-sources/{id}")).await.0,
        204
    );
    let (_, list) = root.get(app, &subscriptions).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|s| s["dataSourceId"].is_null() && s["dataSource"] == "sales")
    );
}
