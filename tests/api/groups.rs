//! Groups over SCIM: members in their own table, nested groups, the users'
//! read-only `groups` attribute.

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;
use crate::users::urlencode;

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn ids(list: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

async fn group_with_members_and_nesting(app: &TestApp) {
    let alice = app.create_user("alice@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    let a = alice["id"].as_str().unwrap();
    let b = bob["id"].as_str().unwrap();
    let inner = app.create_group("Engineering", &[a]).await;
    let inner_id = inner["id"].as_str().unwrap();
    assert_eq!(inner["members"][0]["value"], a);
    assert_eq!(inner["members"][0]["type"], "User");
    // Filled in by the server, so returned only when asked for.
    assert!(inner["members"][0].get("display").is_none(), "{inner}");
    let shown: Value = app
        .get(&format!(
            "/Groups/{inner_id}?attributes=members,members.display"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["members"][0]["display"], "alice@example.com");
    assert_eq!(shown["members"][0]["value"], a);
    assert_eq!(
        inner["members"][0]["$ref"],
        format!("{}/Users/{a}", app.scim())
    );

    // An unknown member id is skipped, not fatal.
    let outer = app
        .create_group(
            "Everyone",
            &[inner_id, b, "00000000-0000-7000-8000-00000000dead"],
        )
        .await;
    let outer_id = outer["id"].as_str().unwrap();
    let mut want = vec![inner_id.to_owned(), b.to_owned()];
    want.sort();
    assert_eq!(ids(&outer, "members"), want);
    let nested = outer["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["value"] == inner_id)
        .unwrap();
    assert_eq!(nested["type"], "Group");

    // Alice: direct in Engineering, indirect in Everyone.
    let doc: Value = app.get(&format!("/Users/{a}")).await.json().await.unwrap();
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let by = |id: &str| groups.iter().find(|g| g["value"] == id).unwrap().clone();
    assert_eq!(by(inner_id)["type"], "direct");
    assert_eq!(by(inner_id)["display"], "Engineering");
    assert_eq!(by(outer_id)["type"], "indirect");

    // excludedAttributes=members: Entra's lookup
    let l: Value = app
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            urlencode(r#"displayName eq "everyone""#)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
    assert!(l["Resources"][0].get("members").is_none());
    assert_eq!(l["Resources"][0]["displayName"], "Everyone");

    // Deleting a user removes it from its groups.
    assert_eq!(app.delete(&format!("/Users/{a}")).await.status(), 204);
    let g: Value = app
        .get(&format!("/Groups/{inner_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        g.get("members")
            .is_none_or(|m| m.as_array().unwrap().is_empty())
    );
}
both!(group_with_members_and_nesting);

async fn put_replaces_members_and_display_name_is_unique(app: &TestApp) {
    let u1 = app.create_user("u1").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let u2 = app.create_user("u2").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g = app.create_group("Sales", &[&u1]).await;
    let path = format!("/Groups/{}", g["id"].as_str().unwrap());
    let r = app
        .put(
            &path,
            &json!({"schemas": [GROUP], "displayName": "Sales EMEA", "members": [{"value": u2}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["displayName"], "Sales EMEA");
    assert_eq!(ids(&doc, "members"), vec![u2.clone()]);
    assert_ne!(doc["meta"]["version"], g["meta"]["version"]);

    let r = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "SALES emea"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["scimType"], "uniqueness");

    let r = app
        .post("/Groups", &json!({"schemas": [GROUP], "members": []}))
        .await;
    assert_eq!(r.status(), 400);

    // A group may not contain itself.
    let r = app
        .put(&path, &json!({"schemas": [GROUP], "displayName": "Sales EMEA", "members": [{"value": g["id"]}]}))
        .await;
    assert_eq!(r.status(), 400);

    assert_eq!(app.delete(&path).await.status(), 204);
    assert_eq!(app.get(&path).await.status(), 404);
    // The user is no longer in any group.
    let doc: Value = app.get(&format!("/Users/{u2}")).await.json().await.unwrap();
    assert!(doc.get("groups").is_none());
    let l: Value = app.get("/Groups").await.json().await.unwrap();
    assert_eq!(l["totalResults"], 0);
}
both!(put_replaces_members_and_display_name_is_unique);
