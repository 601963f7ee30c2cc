//! Group PATCH: members as deltas in every client's shape, Entra's and
//! Okta's sequences, 204 above the member limit, a large group.

use scim_bridge::scim::schema::{GROUP_RESOURCE, GROUP_SCHEMA};
use scim_bridge::store::{GroupWrite, MemberKind};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{get, member_ids, ops, patch_err, patch_ok, snapshot};
use crate::app::TestApp;
use crate::both;

async fn users(app: &TestApp, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for n in names {
        ids.push(app.create_user(n).await["id"].as_str().unwrap().to_owned());
    }
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn member_shapes(app: &TestApp) {
    let ids = users(app, &["m1@example.com", "m2@example.com", "m3@example.com"]).await;
    let g = app.create_group("Shapes", &[]).await;
    let p = format!("/Groups/{}", g["id"].as_str().unwrap());
    // Add without type; adding an existing member is a no-op.
    let doc = patch_ok(app, &p, json!([{ "op": "add", "path": "members", "value": [{ "value": ids[0] }, { "value": ids[1] }] }])).await;
    assert_eq!(member_ids(&doc), sorted(ids[..2].to_vec()));
    assert_eq!(doc["members"][0]["type"], "User");
    let (before, etag) = snapshot(app, &p).await;
    patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": "members", "value": [{ "value": ids[0] }] }]),
    )
    .await;
    assert_eq!(
        snapshot(app, &p).await,
        (before.clone(), etag.clone()),
        "no change, no new version"
    );
    // Removing a non-member is a no-op.
    patch_ok(
        app,
        &p,
        json!([{ "op": "remove", "path": format!("members[value eq \"{}\"]", ids[2]) }]),
    )
    .await;
    assert_eq!(snapshot(app, &p).await, (before, etag));
    // Okta: remove by filter.
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "remove", "path": format!("members[value eq \"{}\"]", ids[0]) }]),
    )
    .await;
    assert_eq!(member_ids(&doc), vec![ids[1].clone()]);
    // Entra: remove with path members and a value array.
    patch_ok(
        app,
        &p,
        json!([{ "op": "Add", "path": "members", "value": [{ "value": ids[2] }] }]),
    )
    .await;
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "Remove", "path": "members", "value": [{ "value": ids[1] }] }]),
    )
    .await;
    assert_eq!(member_ids(&doc), vec![ids[2].clone()]);
    // Unknown ids (and ids that are no UUID) are skipped, the rest applies.
    let doc = patch_ok(app, &p, json!([{ "op": "add", "path": "members", "value": [
        { "value": "00000000-0000-7000-8000-00000000dead" }, { "value": "not-an-id" }, { "value": ids[0] }] }])).await;
    assert_eq!(
        member_ids(&doc),
        sorted(vec![ids[0].clone(), ids[2].clone()])
    );
    // Okta: replace members [] empties the group; remove without value too.
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "path": "members", "value": [] }]),
    )
    .await;
    assert!(doc.get("members").is_none(), "{doc}");
    patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "path": "members", "value": [{ "value": ids[1] }] }]),
    )
    .await;
    assert_eq!(member_ids(&get(app, &p).await), vec![ids[1].clone()]);
    let doc = patch_ok(app, &p, json!([{ "op": "remove", "path": "members" }])).await;
    assert!(doc.get("members").is_none());
    // A group cannot contain itself; a group can contain another group.
    let other = app.create_group("Other", &[]).await;
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": "members", "value": [{ "value": other["id"] }] }]),
    )
    .await;
    assert_eq!(doc["members"][0]["type"], "Group");
    patch_err(
        app,
        &p,
        json!([{ "op": "add", "path": "members", "value": [{ "value": g["id"] }] }]),
        400,
        Some("invalidValue"),
    )
    .await;
    // Member sub-attributes are not PATCHable; only value filters remove.
    patch_err(
        app,
        &p,
        json!([{ "op": "replace", "path": "members[value eq \"x\"].display", "value": "d" }]),
        400,
        Some("mutability"),
    )
    .await;
    patch_err(
        app,
        &p,
        json!([{ "op": "remove", "path": "members[display eq \"x\"]" }]),
        400,
        Some("invalidPath"),
    )
    .await;
}
both!(member_shapes);

/// Entra: create the group empty, add members by PATCH, look it up with
/// excludedAttributes=members, rename, remove members with a value array.
async fn entra_group_sequence(app: &TestApp) {
    let ids = users(app, &["e1@example.com", "e2@example.com"]).await;
    let g = app.create_group("Entra Group", &[]).await;
    let p = format!("/Groups/{}", g["id"].as_str().unwrap());
    let r = app
        .patch(&format!("{p}?excludedAttributes=members"), &ops(json!([
            { "op": "Add", "path": "members", "value": [{ "value": ids[0] }, { "value": ids[1] }] }])))
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc.get("members").is_none(),
        "excluded members are not listed"
    );
    patch_ok(
        app,
        &p,
        json!([{ "op": "Replace", "path": "displayName", "value": "Entra Renamed" }]),
    )
    .await;
    patch_ok(
        app,
        &p,
        json!([{ "op": "Remove", "path": "members", "value": [{ "value": ids[0] }] }]),
    )
    .await;
    let doc = get(app, &p).await;
    assert_eq!(doc["displayName"], "Entra Renamed");
    assert_eq!(member_ids(&doc), vec![ids[1].clone()]);
}
both!(entra_group_sequence);

/// Okta Group Push: every membership change comes with a path-less rename.
async fn okta_group_push(app: &TestApp) {
    let ids = users(app, &["o1@example.com", "o2@example.com"]).await;
    let g = app.create_group("Okta Group", &[&ids[0]]).await;
    let gid = g["id"].as_str().unwrap();
    let p = format!("/Groups/{gid}");
    let doc = patch_ok(app, &p, json!([
        { "op": "replace", "value": { "id": gid, "displayName": "Okta Pushed" } },
        { "op": "add", "path": "members", "value": [{ "value": ids[1], "display": "o2@example.com" }] },
        { "op": "remove", "path": format!("members[value eq \"{}\"]", ids[0]) },
    ])).await;
    assert_eq!(doc["displayName"], "Okta Pushed");
    assert_eq!(member_ids(&doc), vec![ids[1].clone()]);
    let doc = patch_ok(
        app,
        &p,
        json!([
            { "op": "replace", "value": { "id": gid, "displayName": "Okta Pushed" } },
            { "op": "replace", "path": "members", "value": [] },
        ]),
    )
    .await;
    assert!(doc.get("members").is_none());
    // A rename onto another group's name is 409, and changes nothing.
    app.create_group("Taken", &[]).await;
    let (before, etag) = snapshot(app, &p).await;
    patch_err(
        app,
        &p,
        json!([
            { "op": "add", "path": "members", "value": [{ "value": ids[0] }] },
            { "op": "replace", "path": "displayName", "value": "TAKEN" },
        ]),
        409,
        Some("uniqueness"),
    )
    .await;
    assert_eq!(snapshot(app, &p).await, (before, etag));
}
both!(okta_group_push);

/// Above `patch_members_response_limit` members a PATCH answers 204 (with
/// the ETag) instead of listing them; without members in the response, 200.
async fn no_content_above_the_member_limit(app: &TestApp) {
    let app = TestApp::spawn_with(app.backend, |c| c.patch_members_response_limit = 2)
        .await
        .expect("app");
    let ids = users(
        &app,
        &["l1@example.com", "l2@example.com", "l3@example.com"],
    )
    .await;
    let g = app.create_group("Limited", &[&ids[0], &ids[1]]).await;
    let p = format!("/Groups/{}", g["id"].as_str().unwrap());
    let body = ops(json!([{ "op": "add", "path": "members", "value": [{ "value": ids[2] }] }]));
    let r = app.patch(&p, &body).await;
    assert_eq!(r.status(), 204);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(snapshot(&app, &p).await.1, etag);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = app
        .patch(
            &format!("{p}?excludedAttributes=members"),
            &ops(json!([{ "op": "replace", "path": "displayName", "value": "L" }])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["displayName"], "L");
    assert!(doc.get("members").is_none());
    let doc = patch_ok(
        &app,
        &p,
        json!([{ "op": "remove", "path": format!("members[value eq \"{}\"]", ids[2]) }]),
    )
    .await;
    assert_eq!(
        member_ids(&doc).len(),
        2,
        "at the limit the group is listed"
    );
    app.finish().await;
}
both!(no_content_above_the_member_limit);

/// A group of 5,000 members (stored directly): adding and removing one
/// member by PATCH touches one row and leaves the other 5,000 in place.
async fn large_group(app: &TestApp) {
    let dir = app.directory().await;
    let iam = dir.store.iam_by_name("idp").await.unwrap().unwrap().id;
    let doc = json!({ "schemas": [GROUP_SCHEMA], "displayName": "Big" });
    let write = GroupWrite {
        display_name: "Big".into(),
        display_name_folded: "big".into(),
        external_id: None,
        search: scim_bridge::scim::search_doc::build(&GROUP_RESOURCE, &doc),
        doc,
    };
    let members: Vec<(Uuid, MemberKind)> = (0..5000)
        .map(|_| (Uuid::now_v7(), MemberKind::User))
        .collect();
    let gid = Uuid::now_v7();
    let cli = scim_bridge::audit::Entry::new(scim_bridge::audit::Actor::Cli, "");
    let records = scim_bridge::directory::changes::group_created(&cli, gid, &write, &members);
    dir.store
        .insert_group(
            iam.into(),
            gid.into(),
            &write,
            &members,
            &records,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let p = format!("/Groups/{gid}");
    let newcomer = app.create_user("newcomer@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(
            &format!("{p}?excludedAttributes=members"),
            &ops(json!([{ "op": "add", "path": "members", "value": [{ "value": newcomer }] }])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let doc = get(app, &p).await;
    let ids = member_ids(&doc);
    assert_eq!(ids.len(), 5001);
    assert!(ids.contains(&newcomer));
    let gone = members[17].0.to_string();
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "remove", "path": format!("members[value eq \"{gone}\"]") }]),
    )
    .await;
    let ids = member_ids(&doc);
    assert_eq!(ids.len(), 5000);
    assert!(!ids.contains(&gone) && ids.contains(&newcomer));
    assert_eq!(doc["meta"]["version"], "W/\"3\"");
}
both!(large_group);
