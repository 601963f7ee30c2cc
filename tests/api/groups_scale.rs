//! Groups with thousands of members: a GET, a list page and a search stream
//! the members (the body is too big to be collected and is sent in chunks)
//! in exactly the shape a small response has; projections apply to them;
//! ETags and HEAD behave as for any resource.

use std::collections::HashSet;

use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, ETAG, IF_NONE_MATCH};
use scim_bridge::scim::schema::{GROUP_SCHEMA, USER_RESOURCE, USER_SCHEMA};
use scim_bridge::scim::search_doc;
use scim_bridge::store::UserWrite;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::TestApp;
use crate::both;
use crate::users::urlencode;

/// Enough members for a body of several hundred KB: streamed, not collected.
const MANY: usize = 3000;

/// `count` users straight into the store (HTTP would take seconds); their
/// ids and userNames.
pub async fn seed_users(app: &TestApp, count: usize) -> Vec<(String, String)> {
    let dir = app.directory().await;
    let iam = dir.store.iam_by_name("idp").await.unwrap().unwrap().id;
    let users: Vec<(Uuid, UserWrite)> = (0..count)
        .map(|i| {
            let name = format!("member{i:05}@example.com");
            let doc = json!({ "schemas": [USER_SCHEMA], "userName": name });
            let write = UserWrite {
                user_name: scim_bridge::scim::user_name::UserName::parse(&name).unwrap(),
                external_id: None,
                display_name_folded: None,
                active: true,
                search: search_doc::build(&USER_RESOURCE, &doc),
                doc,
                password_hash: Some(None),
                emails_unchanged: false,
                keys_unchanged: false,
            };
            (Uuid::now_v7(), write)
        })
        .collect();
    dir.store
        .insert_users(iam.into(), &users, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    users
        .into_iter()
        .map(|(id, u)| (id.to_string(), u.user_name.as_str().to_owned()))
        .collect()
}

fn add_members(ids: &[&str]) -> Value {
    let members: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "add", "path": "members", "value": members }]
    })
}

/// A response's body, which must be one complete JSON document.
async fn json_body(r: reqwest::Response) -> Value {
    let bytes = r.bytes().await.expect("a complete body");
    serde_json::from_slice(&bytes).expect("the body is valid JSON")
}

fn values(doc: &Value) -> Vec<String> {
    doc["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A group with `MANY` users as members, built by one PATCH whose answer
/// (a whole document, under the response limit) is what a GET must match.
async fn big_group(app: &TestApp) -> (String, Value, Vec<(String, String)>) {
    let users = seed_users(app, MANY).await;
    let g = app.create_group("Big", &[]).await;
    let id = g["id"].as_str().unwrap().to_owned();
    let ids: Vec<&str> = users.iter().map(|(id, _)| id.as_str()).collect();
    let r = app
        .patch(&format!("/Groups/{id}"), &add_members(&ids))
        .await;
    assert_eq!(r.status(), 200);
    let whole = json_body(r).await;
    assert_eq!(values(&whole).len(), MANY);
    (id, whole, users)
}

async fn get_streams_every_member_once(app: &TestApp) {
    let (id, whole, users) = big_group(app).await;
    let r = app.get(&format!("/Groups/{id}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/scim+json",
        "streamed bodies keep the SCIM media type"
    );
    // Too big to be collected: it went out in chunks.
    assert!(r.headers().get(CONTENT_LENGTH).is_none());
    let etag = r.headers()[ETAG].to_str().unwrap().to_owned();
    let doc = json_body(r).await;
    // The same document as a response built whole: same members, same
    // order, same sub-attributes, same everything else.
    assert_eq!(doc, whole);
    let got = values(&doc);
    assert_eq!(got.len(), MANY);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), MANY);
    let want: HashSet<&String> = users.iter().map(|(id, _)| id).collect();
    assert_eq!(got.iter().collect::<HashSet<_>>(), want);
    let (uid, name) = &users[1234];
    let m = doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["value"] == uid.as_str())
        .unwrap();
    assert_eq!(
        m,
        &json!({
            "value": uid,
            "$ref": format!("{}/Users/{uid}", app.scim()),
            "type": "User",
        })
    );
    assert_eq!(doc["meta"]["version"], etag.as_str());
    // `display` is returned on request.
    let r = app
        .get(&format!(
            "/Groups/{id}?attributes=members.value,members.display"
        ))
        .await;
    let doc = json_body(r).await;
    assert_eq!(values(&doc).len(), MANY);
    let m = doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["value"] == uid.as_str())
        .unwrap();
    assert_eq!(m, &json!({"value": uid, "display": name}));

    // A small group is still answered whole, with its length.
    let small = app.create_group("Small", &[uid.as_str()]).await;
    let r = app
        .get(&format!("/Groups/{}", small["id"].as_str().unwrap()))
        .await;
    assert!(r.headers().get(CONTENT_LENGTH).is_some());
    assert_eq!(values(&json_body(r).await), vec![uid.clone()]);
}
both!(get_streams_every_member_once);

async fn etag_and_head_on_a_big_group(app: &TestApp) {
    let (id, _, _) = big_group(app).await;
    let p = format!("/Groups/{id}");
    let r = app.get(&p).await;
    let etag = r.headers()[ETAG].clone();
    json_body(r).await;

    let r = app
        .client
        .get(format!("{}{p}", app.scim()))
        .bearer_auth(&app.token)
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()[ETAG], etag);
    assert!(r.bytes().await.unwrap().is_empty());

    let r = app.request(Method::HEAD, &p, Some(&app.token), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[ETAG], etag);
    assert!(r.bytes().await.unwrap().is_empty());

    // A member added moves the version: the old ETag no longer matches.
    let newcomer = app.create_user("newcomer@example.com").await;
    let r = app
        .patch(
            &format!("{p}?excludedAttributes=members"),
            &add_members(&[newcomer["id"].as_str().unwrap()]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(format!("{}{p}", app.scim()))
        .bearer_auth(&app.token)
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()[ETAG], etag);
    assert_eq!(values(&json_body(r).await).len(), MANY + 1);
}
both!(etag_and_head_on_a_big_group);

async fn projection_of_streamed_members(app: &TestApp) {
    let (id, whole, _) = big_group(app).await;
    let p = format!("/Groups/{id}");

    let doc = json_body(app.get(&format!("{p}?attributes=members.value")).await).await;
    let members = doc["members"].as_array().unwrap();
    assert_eq!(members.len(), MANY);
    assert!(members.iter().all(|m| m.as_object().unwrap().len() == 1));
    assert_eq!(values(&doc), values(&whole));
    assert!(doc.get("displayName").is_none());
    assert_eq!(doc["id"], id.as_str());

    let doc = json_body(app.get(&format!("{p}?attributes=members")).await).await;
    assert_eq!(doc["members"], whole["members"]);
    assert!(doc.get("displayName").is_none());

    let doc = json_body(app.get(&format!("{p}?excludedAttributes=members")).await).await;
    assert!(doc.get("members").is_none());
    assert_eq!(doc["displayName"], "Big");

    let doc = json_body(app.get(&format!("{p}?attributes=displayName")).await).await;
    assert!(doc.get("members").is_none());
    assert_eq!(doc["displayName"], "Big");
}
both!(projection_of_streamed_members);

async fn lists_and_searches_stream_members(app: &TestApp) {
    let (id, whole, users) = big_group(app).await;
    let empty = app.create_group("Empty", &[]).await;
    let one = app.create_group("One", &[users[0].0.as_str()]).await;

    let l = json_body(app.get("/Groups?sortBy=displayName").await).await;
    assert_eq!(l["totalResults"], 3);
    let r = l["Resources"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0], whole);
    assert_eq!(r[1]["id"], empty["id"]);
    assert!(r[1].get("members").is_none());
    assert_eq!(r[2], one);

    let f = urlencode(r#"displayName eq "big""#);
    let l = json_body(
        app.get(&format!("/Groups?filter={f}&attributes=members.value"))
            .await,
    )
    .await;
    assert_eq!(l["totalResults"], 1);
    assert_eq!(values(&l["Resources"][0]), values(&whole));

    let l = json_body(app.get("/Groups?excludedAttributes=members").await).await;
    assert!(
        l["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("members").is_none())
    );

    let l = json_body(
        app.post(
            "/Groups/.search",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": format!("id eq \"{id}\""),
            }),
        )
        .await,
    )
    .await;
    assert_eq!(l["Resources"][0], whole);

    // The root search: users first, then groups, members streamed in.
    let l = json_body(
        app.post(
            "/.search",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": format!("id eq \"{id}\" or id eq \"{}\"", users[7].0),
            }),
        )
        .await,
    )
    .await;
    assert_eq!(l["totalResults"], 2);
    let r = l["Resources"].as_array().unwrap();
    assert_eq!(r[0]["userName"], "member00007@example.com");
    assert!(r[0].get("members").is_none());
    assert_eq!(r[1], whole);
    assert_eq!(r[1]["schemas"], json!([GROUP_SCHEMA]));
}
both!(lists_and_searches_stream_members);

async fn member_changes_leave_the_others(app: &TestApp) {
    let (id, whole, users) = big_group(app).await;
    let p = format!("/Groups/{id}");
    let newcomer = app.create_user("newcomer@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = users[42].0.clone();
    let r = app
        .patch(
            &p,
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    { "op": "add", "path": "members", "value": [{ "value": newcomer }] },
                    { "op": "remove", "path": format!("members[value eq \"{gone}\"]") }
                ]
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let doc = json_body(app.get(&p).await).await;
    let mut want: Vec<String> = values(&whole)
        .into_iter()
        .filter(|v| *v != gone)
        .chain([newcomer])
        .collect();
    want.sort();
    let mut got = values(&doc);
    got.sort();
    assert_eq!(got, want);
}
both!(member_changes_leave_the_others);
