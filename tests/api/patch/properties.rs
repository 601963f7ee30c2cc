//! Properties over HTTP, bounded to 64 generated cases per backend:
//! replaying a PATCH of `replace`, set-like `add` and `remove` operations
//! gives exactly what applying it once gave (the stored document, byte for
//! byte, version included); a PATCH with a failing operation anywhere
//! leaves the stored resource byte-for-byte unchanged.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use super::{ENT, ops, snapshot};
use crate::app::TestApp;
use crate::both;

const CASES: usize = 64;

fn user_op() -> impl Strategy<Value = Value> {
    let word = prop::sample::select(vec!["A", "B", "Ü", ""]);
    let kind = prop::sample::select(vec!["work", "home", "other"]);
    let flag = prop::sample::select(vec!["True", "false", "TRUE"]);
    prop_oneof![
        word.clone().prop_map(|t| json!({ "op": "replace", "path": "title", "value": t })),
        flag.prop_map(|f| json!({ "op": "Replace", "path": "active", "value": f })),
        word.clone().prop_map(|w| json!({ "op": "replace", "value": { "name.givenName": w, ENT: { "department": w } } })),
        (kind.clone(), 0..3u8).prop_map(|(k, n)| json!({ "op": "add", "path": "emails",
            "value": [{ "value": format!("{n}@{k}.example"), "type": k }] })),
        (kind.clone(), word).prop_map(|(k, w)| json!({ "op": "add",
            "path": format!("phoneNumbers[type eq \"{k}\"].value"), "value": format!("+1{w}") })),
        kind.prop_map(|k| json!({ "op": "replace", "path": format!("emails[type eq \"{k}\"].primary"), "value": true })),
        Just(json!({ "op": "remove", "path": "name.familyName" })),
        Just(json!({ "op": "remove", "path": "phoneNumbers" })),
        Just(json!({ "op": "remove", "path": format!("{ENT}:manager") })),
        Just(json!({ "op": "add", "path": format!("{ENT}:manager"), "value": "m-1" })),
    ]
}

/// An operation that always fails (each with a different scimType).
fn failing_op() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({ "op": "replace", "path": "id", "value": "x" }),
        json!({ "op": "replace", "path": "nosuch", "value": "x" }),
        json!({ "op": "replace", "path": "active", "value": "maybe" }),
        json!({ "op": "remove", "path": "emails[type eq \"pager\"]" }),
        json!({ "op": "remove", "path": "userName" }),
        json!({ "op": "frobnicate", "path": "title" }),
    ])
}

fn cases<S: Strategy>(strategy: S) -> Vec<S::Value> {
    let mut runner = TestRunner::new(Config::default());
    (0..CASES)
        .map(|_| strategy.new_tree(&mut runner).expect("a case").current())
        .collect()
}

async fn replaying_a_patch_changes_nothing_more(app: &TestApp) {
    for (i, list) in cases(prop::collection::vec(user_op(), 1..6))
        .into_iter()
        .enumerate()
    {
        let u = app.create_user(&format!("replay{i}@example.com")).await;
        let p = format!("/Users/{}", u["id"].as_str().unwrap());
        let body = ops(Value::Array(list));
        let r = app.patch(&p, &body).await;
        assert_eq!(r.status(), 200, "{body}: {}", r.text().await.unwrap());
        let once = snapshot(app, &p).await;
        let r = app.patch(&p, &body).await;
        assert_eq!(r.status(), 200, "replay of {body}");
        assert_eq!(snapshot(app, &p).await, once, "replaying {body}");
    }
}
both!(replaying_a_patch_changes_nothing_more);

async fn replaying_member_changes_changes_nothing_more(app: &TestApp) {
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            app.create_user(&format!("member{i}@example.com")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let member_op = (0..4usize, 0..4u8).prop_map(move |(i, kind)| match kind {
        0 => json!({ "op": "add", "path": "members", "value": [{ "value": format!("#{i}") }] }),
        1 => json!({ "op": "remove", "path": format!("members[value eq \"#{i}\"]") }),
        2 => json!({ "op": "Remove", "path": "members", "value": [{ "value": format!("#{i}") }] }),
        _ => json!({ "op": "replace", "value": { "displayName": format!("#G{i}") } }),
    });
    for (n, list) in cases(prop::collection::vec(member_op, 1..6))
        .into_iter()
        .enumerate()
    {
        let g = app
            .create_group(&format!("Replay {n}"), &[&ids[0], &ids[1]])
            .await;
        let p = format!("/Groups/{}", g["id"].as_str().unwrap());
        // Group names are unique: each case renames within its own names.
        let mut text = Value::Array(list)
            .to_string()
            .replace("#G", &format!("Replay {n} v"));
        for (i, id) in ids.iter().enumerate() {
            text = text.replace(&format!("#{i}"), id);
        }
        let body = ops(serde_json::from_str(&text).unwrap());
        assert_eq!(app.patch(&p, &body).await.status(), 200, "{body}");
        let once = snapshot(app, &p).await;
        assert_eq!(app.patch(&p, &body).await.status(), 200, "replay of {body}");
        assert_eq!(snapshot(app, &p).await, once, "replaying {body}");
    }
}
both!(replaying_member_changes_changes_nothing_more);

async fn a_failed_patch_leaves_the_resource_unchanged(app: &TestApp) {
    let u = app.create_user("unchanged@example.com").await;
    let p = format!("/Users/{}", u["id"].as_str().unwrap());
    let strategy = (
        prop::collection::vec(user_op(), 0..5),
        failing_op(),
        any::<prop::sample::Index>(),
    );
    for (mut list, bad, at) in cases(strategy) {
        list.insert(at.index(list.len() + 1), bad);
        let before = snapshot(app, &p).await;
        let body = ops(Value::Array(list));
        let r = app.patch(&p, &body).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(snapshot(app, &p).await, before, "{body}");
    }
}
both!(a_failed_patch_leaves_the_resource_unchanged);
