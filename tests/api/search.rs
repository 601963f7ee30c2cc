//! `POST /.search`: the same query as GET, in a body.

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

async fn search_users_groups_and_root(app: &TestApp) {
    let kim = app.create_user("kim@example.com").await;
    app.create_user("lee@example.com").await;
    app.create_group("Ops", &[kim["id"].as_str().unwrap()])
        .await;

    let r = app
        .post(
            "/Users/.search",
            &json!({"schemas": [SEARCH], "filter": "userName eq \"KIM@example.com\"", "attributes": ["userName"], "startIndex": 1, "count": 10}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let l: Value = r.json().await.unwrap();
    assert_eq!(l["totalResults"], 1);
    assert_eq!(l["Resources"][0]["userName"], "kim@example.com");
    assert!(
        l["Resources"][0].get("emails").is_none(),
        "attributes honoured"
    );

    let l: Value = app
        .post(
            "/Groups/.search",
            &json!({"schemas": [SEARCH], "excludedAttributes": ["members"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
    assert!(l["Resources"][0].get("members").is_none());

    // The root searches both resource types; paging spans them.
    let all: Value = app
        .post("/.search", &json!({"schemas": [SEARCH]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["totalResults"], 3);
    let types: Vec<&str> = all["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["User", "User", "Group"]);
    let page: Value = app
        .post(
            "/.search",
            &json!({"schemas": [SEARCH], "startIndex": 2, "count": 2}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["totalResults"], 3);
    let ids: Vec<&Value> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(
        ids,
        vec![&all["Resources"][1]["id"], &all["Resources"][2]["id"]]
    );
    // userName exists only on users: the root search finds just them.
    let l: Value = app
        .post(
            "/.search",
            &json!({"schemas": [SEARCH], "filter": "userName eq \"lee@example.com\""}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);

    for bad in [
        json!([]),
        json!({"schemas": ["urn:wrong"]}),
        json!({"schemas": [SEARCH], "count": "ten"}),
    ] {
        let r = app.post("/Users/.search", &bad).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = app
        .post(
            "/.search",
            &json!({"schemas": [SEARCH], "filter": "nope eq \"x\""}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["scimType"],
        "invalidFilter"
    );
    assert_eq!(app.get("/Users/.search").await.status(), 405);
}
both!(search_users_groups_and_root);
