//! Automatic subscriptions (issue 18, item 5): a policy with
//! `automaticSubscription` subscribes the accounts it admits, before the
//! identity provider's write is answered, and unsubscribes those it no
//! longer admits; a manual subscription stays.

use serde_json::{Value, json};

use super::{ENT, Governed, admitting, governed};
use crate::app::TestApp;
use crate::both;
use crate::bridge::Admin;

/// The policy `dev-only` of `governed`, subscribing automatically (as an
/// `entitlements` policy does unless told otherwise) or not.
fn dev_only(automatic: bool) -> Value {
    let mut p = admitting("dev-only", "Environment.Dev", "Environment", "Dev");
    p["actions"]["automaticSubscription"] = json!(automatic);
    p
}

fn automatic_dev_only() -> Value {
    dev_only(true)
}

/// The account's subscriptions, as `(dataSource, source)`.
pub(super) async fn subscriptions(
    admin: &Admin,
    app: &TestApp,
    user: &str,
) -> Vec<(String, String)> {
    let (status, body) = admin
        .get(app, &format!("/users/{user}/subscriptions"))
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().expect(k).to_owned();
            (text("dataSource"), text("source"))
        })
        .collect()
}

/// Provisions a user of `department` as the identity provider; its id.
pub(super) async fn provision(app: &TestApp, user_name: &str, department: &str) -> String {
    let r = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                "userName": user_name,
                ENT: {"department": department},
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body = r.json::<Value>().await.unwrap();
    body["id"].as_str().expect("id").to_owned()
}

fn department(value: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": format!("{ENT}:department"), "value": value}],
    })
}

both!(the_identity_provider_s_writes_subscribe_and_unsubscribe);
async fn the_identity_provider_s_writes_subscribe_and_unsubscribe(app: &TestApp) {
    let Governed {
        root,
        governor,
        sales,
    } = governed(app).await;
    let (status, body) = governor
        .put(app, "/policies/dev-only", &automatic_dev_only())
        .await;
    assert_eq!(status, 200, "{body}");
    let mapping = json!({"attributeMapping": {format!("{ENT}:department"): "Environment"}});
    assert_eq!(root.put(app, "/iams/idp/settings", &mapping).await.0, 200);
    // The mapping re-evaluates every account as a job: done before the
    // identity provider writes, so that it races none of them.
    super::reach::latest_job_done(&governor, app).await;

    // Provisioned in Dev: subscribed to `sales` by the policy, before the
    // POST is answered.
    let user = provision(app, "dana@example.com", "Dev").await;
    let by_policy = ("sales".to_owned(), "policy:dev-only".to_owned());
    assert_eq!(
        subscriptions(&root, app, &user).await,
        vec![by_policy.clone()]
    );
    // The data source lists it, with its source.
    let (status, subscribers) = governor
        .get(app, &format!("/data-sources/{sales}/subscribers"))
        .await;
    assert_eq!(status, 200, "{subscribers}");
    assert_eq!(subscribers["count"], 1, "{subscribers}");
    assert_eq!(subscribers["hits"][0]["userId"], user.as_str());
    assert_eq!(subscribers["hits"][0]["source"], "policy:dev-only");
    assert_eq!(subscribers["hits"][0]["dataSourceId"], sales.as_str());
    // A subscription added by hand beside it.
    let path = format!("/users/{user}/subscriptions");
    let (status, body) = root.post(app, &path, &json!({"dataSource": "hr"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["source"], "manual");

    // Moved to Prod: the policy's subscription is gone before the PATCH
    // is answered; the manual one stays.
    let r = app
        .patch(&format!("/Users/{user}"), &department("Prod"))
        .await;
    assert_eq!(r.status(), 200);
    let manual = ("hr".to_owned(), "manual".to_owned());
    assert_eq!(subscriptions(&root, app, &user).await, vec![manual.clone()]);

    // Back to Dev: subscribed again; another PATCH changes nothing more.
    for _ in 0..2 {
        let r = app
            .patch(&format!("/Users/{user}"), &department("Dev"))
            .await;
        assert_eq!(r.status(), 200);
    }
    let mut now = subscriptions(&root, app, &user).await;
    now.sort();
    assert_eq!(now, vec![manual, by_policy]);

    // Each change audited, naming the policy.
    for (action, n) in [("subscription.added", 2), ("subscription.removed", 1)] {
        let (_, page) = governor.get(app, &format!("/audit?action={action}")).await;
        assert_eq!(page["count"], n, "{action}: {page}");
        let attributes = &page["hits"][0]["attributes"];
        assert!(
            attributes
                .as_array()
                .is_some_and(|a| a.contains(&json!("policy:dev-only"))),
            "{page}"
        );
    }
}

both!(group_memberships_attributes_and_disabling_take_effect_before_the_answer);
async fn group_memberships_attributes_and_disabling_take_effect_before_the_answer(app: &TestApp) {
    // Two shared policies: either admits.
    let Governed { root, governor, .. } = governed(app).await;
    let engineers = json!({
        "policyKey": "engineers",
        "name": "Engineers",
        "circumstances": [{"type": "tags", "tag": "Environment.Dev"}],
        "actions": {"type": "entitlements", "advanced": "@isInGroups('Engineers')",
                    "automaticSubscription": true, "shareResponsibility": true},
    });
    let mut dev_only = automatic_dev_only();
    dev_only["actions"]["shareResponsibility"] = json!(true);
    assert_eq!(
        governor.put(app, "/policies/dev-only", &dev_only).await.0,
        200
    );
    governor.policy(app, &engineers).await;
    let user = app.create_user("eli@example.com").await;
    let user = user["id"].as_str().unwrap().to_owned();
    assert_eq!(subscriptions(&root, app, &user).await, vec![]);

    // Joining Engineers at the identity provider subscribes; leaving
    // unsubscribes.
    let group = app.create_group("Engineers", &[&user]).await;
    let by_engineers = ("sales".to_owned(), "policy:engineers".to_owned());
    assert_eq!(
        subscriptions(&root, app, &user).await,
        vec![by_engineers.clone()]
    );
    let leave = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{user}\"]")}],
    });
    let group = group["id"].as_str().unwrap().to_owned();
    let r = app.patch(&format!("/Groups/{group}"), &leave).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(subscriptions(&root, app, &user).await, vec![]);

    // A managed attribute Environment=Dev subscribes through dev-only.
    let ops = json!({"operations": [{"op": "add", "name": "Environment", "values": ["Dev"]}]});
    let path = format!("/users/{user}/attributes");
    assert_eq!(root.patch(app, &path, &ops).await.0, 200);
    let by_dev_only = ("sales".to_owned(), "policy:dev-only".to_owned());
    assert_eq!(
        subscriptions(&root, app, &user).await,
        vec![by_dev_only.clone()]
    );

    // Disabled: admitted nowhere; enabled: subscribed again.
    let disable = format!("/users/{user}/disable");
    assert_eq!(root.post(app, &disable, &json!({})).await.0, 200);
    assert_eq!(subscriptions(&root, app, &user).await, vec![]);
    let enable = format!("/users/{user}/enable");
    assert_eq!(root.post(app, &enable, &json!({})).await.0, 200);
    assert_eq!(subscriptions(&root, app, &user).await, vec![by_dev_only]);
}

/// Polls a job until it is done (bounded by time, not by polls: a job
/// over hundreds of accounts on a loaded machine outlasts any fixed
/// number of quick requests); its last state.
pub(super) async fn finished(admin: &Admin, app: &TestApp, job: &Value) -> Value {
    let path = format!("/jobs/{}", job.as_str().expect("a job id"));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while tokio::time::Instant::now() < deadline {
        let (status, body) = admin.get(app, &path).await;
        assert_eq!(status, 200, "{body}");
        if body["state"] == "done" {
            return body;
        }
    }
    panic!("the job {path} did not finish in 120 s");
}

both!(a_policy_change_over_existing_accounts_runs_as_a_job);
async fn a_policy_change_over_existing_accounts_runs_as_a_job(app: &TestApp) {
    let Governed { root, governor, .. } = governed(app).await;
    // dev-only stops subscribing automatically: a job (over no account).
    let (status, answer) = governor
        .put(app, "/policies/dev-only", &dev_only(false))
        .await;
    assert_eq!(status, 200, "{answer}");
    let job = finished(&governor, app, &answer["jobId"]).await;
    assert_eq!(job["done"], 2, "the two administrators: {job}");
    let mapping = json!({"attributeMapping": {format!("{ENT}:department"): "Environment"}});
    assert_eq!(root.put(app, "/iams/idp/settings", &mapping).await.0, 200);
    let mut users = Vec::new();
    for (name, dept) in [("a@example.com", "Dev"), ("b@example.com", "Prod")] {
        users.push(provision(app, name, dept).await);
    }
    let path = format!("/users/{}/subscriptions", users[0]);
    let (status, _) = root.post(app, &path, &json!({"dataSource": "sales"})).await;
    assert_eq!(status, 201);
    let manual = ("sales".to_owned(), "manual".to_owned());
    assert_eq!(
        subscriptions(&root, app, &users[0]).await,
        vec![manual.clone()]
    );

    // dev-only becomes automatic: a job subscribes the Dev account.
    let (status, answer) = governor
        .put(app, "/policies/dev-only", &automatic_dev_only())
        .await;
    assert_eq!(status, 200, "{answer}");
    let job = finished(&governor, app, &answer["jobId"]).await;
    assert_eq!(job["kind"], "resubscribe");
    assert_eq!(job["done"], 4, "two administrators, two users: {job}");
    assert_eq!(job["done"], job["total"], "{job}");
    let mut now = subscriptions(&root, app, &users[0]).await;
    now.sort();
    let by_policy = ("sales".to_owned(), "policy:dev-only".to_owned());
    assert_eq!(now, vec![manual.clone(), by_policy]);
    assert_eq!(subscriptions(&root, app, &users[1]).await, vec![]);

    // No longer automatic: a job takes the policy's subscription away;
    // the manual one stays.
    let (status, answer) = governor
        .put(app, "/policies/dev-only", &dev_only(false))
        .await;
    assert_eq!(status, 200, "{answer}");
    finished(&governor, app, &answer["jobId"]).await;
    assert_eq!(subscriptions(&root, app, &users[0]).await, vec![manual]);
}
