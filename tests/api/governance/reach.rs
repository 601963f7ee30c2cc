//! Whom a group change reaches (issue 18, item 5): a group's attributes
//! (inherited by every account in it), its name (policies name groups by
//! displayName), its deletion and a group joining or leaving another
//! re-evaluate every account beneath it, through nested groups, before the
//! write is answered; past a few hundred accounts, as the durable job. An
//! IAM's attribute mapping re-evaluates every account as a job. (`governed`
//! makes `dev-only`, which subscribes automatically.)

use serde_json::{Value, json};

use super::automatic::{finished, provision, subscriptions};
use super::{ENT, Governed, governed};
use crate::app::TestApp;
use crate::both;
use crate::bridge::Admin;

/// The latest job, polled until done.
pub async fn latest_job_done(admin: &Admin, app: &TestApp) -> Value {
    let (status, page) = admin.get(app, "/jobs?limit=1").await;
    assert_eq!(status, 200, "{page}");
    finished(admin, app, &page["hits"][0]["id"]).await
}

/// The id of the latest job (none: null).
async fn latest_job(admin: &Admin, app: &TestApp) -> Value {
    let (status, page) = admin.get(app, "/jobs?limit=1").await;
    assert_eq!(status, 200, "{page}");
    page["hits"][0]["id"].clone()
}

/// How many subscribe to the data source `id`.
async fn subscriber_count(admin: &Admin, app: &TestApp, id: &str) -> Value {
    let path = format!("/data-sources/{id}/subscribers?limit=1");
    let (status, page) = admin.get(app, &path).await;
    assert_eq!(status, 200, "{page}");
    page["count"].clone()
}

/// Puts a policy admitting the members of `group` on `Environment.Dev`
/// data, subscribing automatically, in the place of `dev-only` (which is
/// required: it would refuse them); the job it starts done.
async fn admit_members_of(governor: &Admin, app: &TestApp, group: &str) {
    assert_eq!(governor.delete(app, "/policies/dev-only").await.0, 204);
    let (status, answer) = governor.post(app, "/policies", &members_of(group)).await;
    assert_eq!(status, 201, "{answer}");
    finished(governor, app, &answer["jobId"]).await;
}

fn members_of(group: &str) -> Value {
    json!({
        "policyKey": "members",
        "name": format!("Members of {group}"),
        "circumstances": [{"type": "tags", "tag": "Environment.Dev"}],
        "actions": {"type": "entitlements", "entitlements": {"groups": [group]},
                    "automaticSubscription": true},
    })
}

fn patch_op(op: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [op],
    })
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

async fn scim_patch(app: &TestApp, group: &str, op: Value) {
    let r = app.patch(&format!("/Groups/{group}"), &patch_op(op)).await;
    assert!(r.status().is_success(), "{}", r.status());
}

both!(a_group_s_attributes_and_deletion_reach_its_accounts_through_nesting);
async fn a_group_s_attributes_and_deletion_reach_its_accounts_through_nesting(app: &TestApp) {
    // dev-only subscribes automatically; the job its creation started is
    // done before anything else, so that it races none of the writes.
    let Governed { root, governor, .. } = governed(app).await;
    latest_job_done(&governor, app).await;
    // `inner` holds one account, `outer` holds `inner` and another.
    let deep = id_of(&app.create_user("deep@example.com").await);
    let direct = id_of(&app.create_user("direct@example.com").await);
    let inner = id_of(&app.create_group("Inner", &[&deep]).await);
    let outer = id_of(&app.create_group("Outer", &[&direct, &inner]).await);
    let by_policy = vec![("sales".to_owned(), "policy:dev-only".to_owned())];
    for u in [&deep, &direct] {
        assert_eq!(subscriptions(&root, app, u).await, vec![]);
    }

    // Environment=Dev on `outer`: inherited by both, subscribed before
    // the answer.
    let path = format!("/groups/{outer}/attributes");
    let add = json!({"operations": [{"op": "add", "name": "Environment", "values": ["Dev"]}]});
    let (status, body) = root.patch(app, &path, &add).await;
    assert_eq!(status, 200, "{body}");
    for u in [&deep, &direct] {
        assert_eq!(subscriptions(&root, app, u).await, by_policy, "{u}");
    }
    // Taken off: unsubscribed.
    let remove = json!({"operations": [{"op": "remove", "name": "Environment"}]});
    assert_eq!(root.patch(app, &path, &remove).await.0, 200);
    for u in [&deep, &direct] {
        assert_eq!(subscriptions(&root, app, u).await, vec![], "{u}");
    }

    // On again, then `outer` deleted at the identity provider: both lose
    // what they inherited from it before the DELETE is answered.
    assert_eq!(root.patch(app, &path, &add).await.0, 200);
    assert_eq!(subscriptions(&root, app, &deep).await, by_policy);
    let r = app.delete(&format!("/Groups/{outer}")).await;
    assert_eq!(r.status(), 204);
    for u in [&deep, &direct] {
        assert_eq!(subscriptions(&root, app, u).await, vec![], "{u}");
    }
    // Each change recorded, naming the policy.
    let (_, page) = governor
        .get(app, "/audit?action=subscription.removed")
        .await;
    assert_eq!(page["count"], 4, "{page}");
}

both!(nesting_renaming_and_deleting_groups_reach_the_accounts_beneath);
async fn nesting_renaming_and_deleting_groups_reach_the_accounts_beneath(app: &TestApp) {
    let Governed { root, governor, .. } = governed(app).await;
    admit_members_of(&governor, app, "Engineers").await;
    let user = id_of(&app.create_user("bo@example.com").await);
    // `backend` holds the account; `engineers` (named by the policy) holds
    // nothing yet.
    let backend = id_of(&app.create_group("Backend", &[&user]).await);
    let engineers = id_of(&app.create_group("Engineers", &[]).await);
    let by_policy = vec![("sales".to_owned(), "policy:members".to_owned())];
    assert_eq!(subscriptions(&root, app, &user).await, vec![]);

    // `backend` joins `engineers`: its account is in Engineers now.
    let join = json!({"op": "add", "path": "members", "value": [{"value": backend}]});
    scim_patch(app, &engineers, join.clone()).await;
    assert_eq!(subscriptions(&root, app, &user).await, by_policy);
    // And leaves.
    let leave = json!({"op": "remove", "path": format!("members[value eq \"{backend}\"]")});
    scim_patch(app, &engineers, leave).await;
    assert_eq!(subscriptions(&root, app, &user).await, vec![]);

    // Renamed away from the name the policy says, by PATCH; back by PUT.
    scim_patch(app, &engineers, join).await;
    assert_eq!(subscriptions(&root, app, &user).await, by_policy);
    let rename = json!({"op": "replace", "path": "displayName", "value": "Platform"});
    scim_patch(app, &engineers, rename).await;
    assert_eq!(subscriptions(&root, app, &user).await, vec![]);
    let put = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Engineers",
        "members": [{"value": backend}],
    });
    let r = app.put(&format!("/Groups/{engineers}"), &put).await;
    assert_eq!(r.status(), 200);
    assert_eq!(subscriptions(&root, app, &user).await, by_policy);

    // `engineers` deleted: its nested account is in no Engineers group.
    let r = app.delete(&format!("/Groups/{engineers}")).await;
    assert_eq!(r.status(), 204);
    assert_eq!(subscriptions(&root, app, &user).await, vec![]);
}

both!(a_group_change_reaching_many_accounts_runs_as_a_job);
async fn a_group_change_reaching_many_accounts_runs_as_a_job(app: &TestApp) {
    let Governed {
        governor, sales, ..
    } = governed(app).await;
    admit_members_of(&governor, app, "Engineers").await;
    let many = scim_bridge::directory::governance::INLINE_MAX + 1;
    let users = crate::groups_scale::seed_users(app, many).await;
    let members: Vec<&str> = users.iter().map(|(id, _)| id.as_str()).collect();
    // A group of them, inside `engineers`; the policy names Engineers.
    // (Each create reaches them all: a job each, which admits nobody.)
    let staff = id_of(&app.create_group("Staff", &members).await);
    let engineers = id_of(&app.create_group("Platform", &[&staff]).await);
    latest_job_done(&governor, app).await;
    let count = || subscriber_count(&governor, app, &sales);
    assert_eq!(count().await, 0);

    // Renamed to Engineers: more accounts than are re-evaluated before
    // the answer, so a job does it.
    let before = latest_job(&governor, app).await;
    let rename = json!({"op": "replace", "path": "displayName", "value": "Engineers"});
    scim_patch(app, &engineers, rename).await;
    let job = latest_job(&governor, app).await;
    assert_ne!(job, before, "a new job");
    let done = finished(&governor, app, &job).await;
    assert_eq!(done["kind"], "resubscribe");
    assert_eq!(done["done"], done["total"], "{done}");
    assert_eq!(count().await, many);
    // Recorded in the name of the identity provider whose write started it.
    let (_, page) = governor
        .get(app, "/audit?action=subscription.added&limit=1")
        .await;
    let actor = page["hits"][0]["actor"].as_str().unwrap_or_default();
    assert!(actor.starts_with("iam:"), "{page}");

    // Deleted: the same, taking the subscriptions away.
    let r = app.delete(&format!("/Groups/{engineers}")).await;
    assert_eq!(r.status(), 204);
    let job = latest_job(&governor, app).await;
    finished(&governor, app, &job).await;
    assert_eq!(count().await, 0);

    // Jobs are listed by state, newest first.
    let (status, page) = governor.get(app, "/jobs?state=done").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["hits"][0]["id"], job, "{page}");
    assert_eq!(governor.get(app, "/jobs?state=paused").await.0, 400);
}

both!(an_iam_s_attribute_mapping_re_evaluates_its_accounts_as_a_job);
async fn an_iam_s_attribute_mapping_re_evaluates_its_accounts_as_a_job(app: &TestApp) {
    let Governed { root, governor, .. } = governed(app).await;
    latest_job_done(&governor, app).await;
    // Provisioned in Dev before anything maps `department`: nothing.
    let user = provision(app, "early@example.com", "Dev").await;
    assert_eq!(subscriptions(&root, app, &user).await, vec![]);
    let mapping = json!({"attributeMapping": {format!("{ENT}:department"): "Environment"}});
    assert_eq!(root.put(app, "/iams/idp/settings", &mapping).await.0, 200);
    latest_job_done(&governor, app).await;
    let by_policy = vec![("sales".to_owned(), "policy:dev-only".to_owned())];
    assert_eq!(subscriptions(&root, app, &user).await, by_policy);
}
