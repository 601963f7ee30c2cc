//! Users over SCIM: create, read, replace, delete, list, filter, ETags.

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn create_returns_the_resource_with_meta(app: &TestApp) {
    let r = app
        .post(
            "/Users",
            &json!({
                "schemas": [USER, ENTERPRISE],
                "userName": "alice@example.com",
                "externalId": "ext-1",
                "name": {"givenName": "Alice", "familyName": "Liddell"},
                "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
                "password": "Sup3r-secret!",
                ENTERPRISE: {"department": "Research", "manager": {"value": "m-1"}},
                "active": true,
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/scim+json")
    );
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let doc: Value = r.json().await.unwrap();
    let id = doc["id"].as_str().unwrap();
    assert_eq!(doc["userName"], "alice@example.com");
    assert_eq!(doc["externalId"], "ext-1");
    assert_eq!(doc["name"]["givenName"], "Alice");
    assert_eq!(doc[ENTERPRISE]["department"], "Research");
    assert_eq!(doc["meta"]["resourceType"], "User");
    assert_eq!(doc["meta"]["location"], location);
    assert_eq!(location, format!("{}/Users/{id}", app.scim()));
    assert_eq!(doc["meta"]["version"], etag);
    assert!(etag.starts_with("W/\""));
    assert_eq!(doc["meta"]["created"], doc["meta"]["lastModified"]);
    assert!(
        doc.get("password").is_none(),
        "password must never be returned"
    );
    let schemas = doc["schemas"].as_array().unwrap();
    assert!(schemas.contains(&json!(USER)) && schemas.contains(&json!(ENTERPRISE)));

    let hash = app.stored_password_hash(id).await.expect("hash stored");
    assert!(hash.starts_with("$argon2id$"), "stored as argon2: {hash}");
    assert!(!hash.contains("Sup3r-secret!"));

    let got: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(got, doc, "GET returns what POST returned");
}
both!(create_returns_the_resource_with_meta);

async fn user_name_is_unique_case_insensitively_with_unicode_folding(app: &TestApp) {
    app.create_user("Straße@example.com").await;
    for dup in [
        "STRASSE@EXAMPLE.COM",
        "straße@example.com",
        "strasse@example.com",
    ] {
        let r = app
            .post("/Users", &json!({"schemas": [USER], "userName": dup}))
            .await;
        assert_eq!(r.status(), 409, "{dup}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["scimType"], "uniqueness");
        assert_eq!(e["status"], "409");
    }
    let l: Value = app.get("/Users").await.json().await.unwrap();
    assert_eq!(
        l["totalResults"], 1,
        "nothing was created by the refused requests"
    );
}
both!(user_name_is_unique_case_insensitively_with_unicode_folding);

async fn filter_eq_finds_users_the_way_identity_providers_look_them_up(app: &TestApp) {
    let a = app.create_user("Bob@Example.com").await;
    app.create_user("carol@example.com").await;
    let q = |f: &str| format!("/Users?filter={}", urlencode(f));

    let l: Value = app
        .get(&q(r#"userName eq "bob@example.com""#))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
    assert_eq!(l["Resources"][0]["id"], a["id"]);
    assert_eq!(l["Resources"][0]["userName"], "Bob@Example.com");

    // Entra ID's test connection: a random userName, an empty 200 list.
    let l: Value = app
        .get(&q(r#"userName eq "5b1b6c3f-5f38-4a2a-9d62-0c1d0c2d1e9e""#))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 0);
    assert_eq!(
        l["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert!(l["Resources"].as_array().is_none_or(|r| r.is_empty()));

    let id = a["id"].as_str().unwrap();
    let l: Value = app
        .get(&q(&format!(r#"id eq "{id}""#)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);

    // and; keywords and attribute names in any case
    let l: Value = app
        .get(&q(&format!(
            r#"USERNAME EQ "BOB@example.com" AND id eq "{id}""#
        )))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
    let l: Value = app
        .get(&q(
            r#"userName eq "bob@example.com" and userName eq "carol@example.com""#,
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 0);

    let r = app.get(&q(r#"userName eq"#)).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["scimType"], "invalidFilter");
}
both!(filter_eq_finds_users_the_way_identity_providers_look_them_up);

async fn external_id_and_display_name_filters(app: &TestApp) {
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "dora", "externalId": "AbC-1", "displayName": "Dora Explorer"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    app.create_user("eve").await;
    let q = |f: &str| format!("/Users?filter={}", urlencode(f));
    let l: Value = app
        .get(&q(r#"externalId eq "AbC-1""#))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
    // externalId is caseExact
    let l: Value = app
        .get(&q(r#"externalId eq "abc-1""#))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 0);
    // displayName is not
    let l: Value = app
        .get(&q(r#"displayName eq "dora explorer""#))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
}
both!(external_id_and_display_name_filters);

/// A PATCH that leaves userName, externalId and displayName alone writes
/// none of their indexes (the store skips their columns); one that
/// changes a key moves it: the old value finds nothing, is free for
/// another user, and the new one finds the user, the other keys too.
async fn a_patch_moves_the_keys_it_changes_and_only_those(app: &TestApp) {
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "dora", "externalId": "ext-1", "displayName": "Dora Explorer"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = |f: String| async move {
        let path = format!("/Users?filter={}&attributes=userName", urlencode(&f));
        let l: Value = app.get(&path).await.json().await.unwrap();
        l["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let user = format!("/Users/{id}");

    let r = app
        .patch(
            &user,
            &patch(json!([{"op": "replace", "path": "title", "value": "Captain"}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(found(r#"userName eq "dora""#.into()).await, [id.as_str()]);
    assert_eq!(
        found(r#"externalId eq "ext-1""#.into()).await,
        [id.as_str()]
    );
    assert_eq!(
        found(r#"displayName eq "dora explorer""#.into()).await,
        [id.as_str()]
    );
    assert_eq!(found(r#"title eq "Captain""#.into()).await, [id.as_str()]);

    let r = app
        .patch(
            &user,
            &patch(json!([{"op": "replace", "path": "externalId", "value": "ext-2"}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(found(r#"externalId eq "ext-1""#.into()).await.is_empty());
    assert_eq!(
        found(r#"externalId eq "ext-2""#.into()).await,
        [id.as_str()]
    );
    assert_eq!(found(r#"userName eq "dora""#.into()).await, [id.as_str()]);

    let r = app
        .patch(
            &user,
            &patch(json!([{"op": "replace", "value": {"userName": "dora.m", "displayName": "Dora Marquez"}}])),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(found(r#"userName eq "dora""#.into()).await.is_empty());
    assert_eq!(found(r#"userName eq "dora.m""#.into()).await, [id.as_str()]);
    assert!(
        found(r#"displayName co "explorer""#.into())
            .await
            .is_empty()
    );
    assert_eq!(
        found(r#"displayName co "marquez""#.into()).await,
        [id.as_str()]
    );
    assert_eq!(
        found(r#"externalId eq "ext-2""#.into()).await,
        [id.as_str()]
    );
    // The old userName is free again; the new one is taken.
    assert_eq!(
        app.post("/Users", &json!({"schemas": [USER], "userName": "dora"}))
            .await
            .status(),
        201
    );
    let r = app
        .post("/Users", &json!({"schemas": [USER], "userName": "Dora.M"}))
        .await;
    assert_eq!(r.status(), 409);
}
both!(a_patch_moves_the_keys_it_changes_and_only_those);

async fn list_pages_are_stable_and_counts_are_integers(app: &TestApp) {
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(app.create_user(&format!("user{i}@example.com")).await["id"].clone());
    }
    let mut seen = Vec::new();
    for start in [1, 4, 7] {
        let l: Value = app
            .get(&format!("/Users?startIndex={start}&count=3"))
            .await
            .json()
            .await
            .unwrap();
        assert!(
            l["totalResults"].is_u64() && l["itemsPerPage"].is_u64() && l["startIndex"].is_u64()
        );
        assert_eq!(l["totalResults"], 7);
        assert_eq!(l["startIndex"], start);
        for r in l["Resources"].as_array().unwrap() {
            seen.push(r["id"].clone());
        }
    }
    let mut expected = created.clone();
    expected.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    assert_eq!(
        seen, expected,
        "pages cover every user once, in a stable order"
    );

    let l: Value = app.get("/Users?count=0").await.json().await.unwrap();
    assert_eq!(l["totalResults"], 7);
    assert_eq!(l["itemsPerPage"], 0);
    assert!(l["Resources"].as_array().is_none_or(|r| r.is_empty()));

    // Out-of-range values are clamped as RFC 7644 §3.4.2.4 says.
    let l: Value = app
        .get("/Users?startIndex=0&count=-5")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["startIndex"], 1);
    assert_eq!(l["itemsPerPage"], 0);
    let l: Value = app.get("/Users?startIndex=100").await.json().await.unwrap();
    assert_eq!(l["totalResults"], 7);
    assert_eq!(l["itemsPerPage"], 0);
    let r = app.get("/Users?count=many").await;
    assert_eq!(r.status(), 400);

    // Okta's test connection
    let l: Value = app
        .get("/Users?startIndex=1&count=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["itemsPerPage"], 2);
}
both!(list_pages_are_stable_and_counts_are_integers);

async fn put_replaces_what_the_client_owns(app: &TestApp) {
    let u = app.create_user("frank@example.com").await;
    let id = u["id"].as_str().unwrap();
    let path = format!("/Users/{id}");
    let before_hash = app.stored_password_hash(id).await;
    // Okta echoes id, meta and groups; they must be accepted and ignored.
    let mut body = u.clone();
    body["displayName"] = json!("Frank");
    body["name"] = json!({"givenName": "Franklin"});
    body.as_object_mut().unwrap().remove("emails");
    body["password"] = json!("N3w-pass!");
    let r = app.put(&path, &body).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["displayName"], "Frank");
    assert_eq!(
        doc["name"],
        json!({"givenName": "Franklin"}),
        "omitted sub-attributes cleared"
    );
    assert!(doc.get("emails").is_none(), "omitted attributes cleared");
    assert!(doc.get("password").is_none());
    assert_eq!(doc["meta"]["created"], u["meta"]["created"]);
    assert_ne!(doc["meta"]["version"], u["meta"]["version"]);
    let after_hash = app.stored_password_hash(id).await.expect("hash");
    assert!(after_hash.starts_with("$argon2id$"));
    assert_ne!(Some(after_hash.clone()), before_hash);

    // A PUT without a password keeps the one stored.
    body.as_object_mut().unwrap().remove("password");
    assert_eq!(app.put(&path, &body).await.status(), 200);
    assert_eq!(app.stored_password_hash(id).await, Some(after_hash));

    // An id naming another resource is refused, and changes nothing.
    let mut other = body.clone();
    other["id"] = json!("00000000-0000-7000-8000-000000000000");
    other["displayName"] = json!("Changed");
    let r = app.put(&path, &other).await;
    assert_eq!(r.status(), 400);
    let now: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(now["displayName"], "Frank");

    // Renaming onto a taken userName is a conflict.
    app.create_user("grace@example.com").await;
    let mut clash = body.clone();
    clash["userName"] = json!("GRACE@example.com");
    let r = app.put(&path, &clash).await;
    assert_eq!(r.status(), 409);

    let r = app
        .put(
            "/Users/00000000-0000-7000-8000-000000000000",
            &json!({"userName": "x"}),
        )
        .await;
    assert_eq!(r.status(), 404);
}
both!(put_replaces_what_the_client_owns);

async fn etags_guard_updates_and_reads(app: &TestApp) {
    let u = app.create_user("heidi@example.com").await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let v1 = u["meta"]["version"].as_str().unwrap().to_owned();

    let r = app
        .client
        .get(format!("{}{path}", app.scim()))
        .bearer_auth(&app.token)
        .header("if-none-match", &v1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    let put = |etag: String, name: &'static str| {
        let url = format!("{}{path}", app.scim());
        let token = app.token.clone();
        let client = app.client.clone();
        async move {
            client
                .put(url)
                .bearer_auth(token)
                .header("if-match", etag)
                .header("content-type", "application/scim+json")
                .body(json!({"schemas": [USER], "userName": "heidi@example.com", "displayName": name}).to_string())
                .send()
                .await
                .unwrap()
        }
    };
    let r = put(v1.clone(), "first").await;
    assert_eq!(r.status(), 200);
    let v2 = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(v1, v2);
    let r = put(v1.clone(), "stale").await;
    assert_eq!(r.status(), 412);
    let doc: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(
        doc["displayName"], "first",
        "a failed precondition changes nothing"
    );

    let r = app
        .client
        .delete(format!("{}{path}", app.scim()))
        .bearer_auth(&app.token)
        .header("if-match", &v1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(app.get(&path).await.status(), 200);
}
both!(etags_guard_updates_and_reads);

async fn delete_then_everything_is_404(app: &TestApp) {
    let u = app.create_user("ivan@example.com").await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.status(), 204);
    assert_eq!(app.get(&path).await.status(), 404);
    let r = app.delete(&path).await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["status"], "404");
    assert_eq!(
        app.put(&path, &json!({"userName": "ivan@example.com"}))
            .await
            .status(),
        404
    );
    // The userName is free again.
    app.create_user("ivan@example.com").await;
}
both!(delete_then_everything_is_404);

async fn identity_provider_quirks_are_accepted(app: &TestApp) {
    // Entra sends meta and nulls, PascalCase names, boolean strings and
    // unknown attributes and schemas: all accepted, unknowns not stored.
    let r = app
        .post(
            "/Users/",
            &json!({
                "schemas": [USER, "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "UserName": "Test_User_ab6490ee@example.com",
                "active": "True",
                "displayName": null,
                "meta": {"resourceType": "User"},
                "Emails": [{"Primary": true, "Type": "work", "Value": "t@example.com"}],
                "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {"customAttribute": "x"},
                "favouriteColour": "blue"
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["userName"], "Test_User_ab6490ee@example.com");
    assert_eq!(doc["active"], true);
    assert_eq!(doc["emails"][0]["value"], "t@example.com");
    assert_eq!(doc["emails"][0]["primary"], true);
    assert!(doc.get("displayName").is_none());
    assert!(doc.get("favouriteColour").is_none());
    assert!(
        doc.get("urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User")
            .is_none()
    );
    // lower-case routes and trailing slashes
    let r = app
        .get(&format!("/users/{}/", doc["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), 200);
}
both!(identity_provider_quirks_are_accepted);

async fn attributes_projection_on_reads(app: &TestApp) {
    let u = app.create_user("judy@example.com").await;
    let id = u["id"].as_str().unwrap();
    let doc: Value = app
        .get(&format!("/Users/{id}?attributes=userName"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["id"], id);
    assert_eq!(doc["userName"], "judy@example.com");
    assert!(doc.get("emails").is_none() && doc.get("name").is_none());
    let doc: Value = app
        .get(&format!("/Users/{id}?excludedAttributes=emails,name"))
        .await
        .json()
        .await
        .unwrap();
    assert!(doc.get("emails").is_none() && doc.get("name").is_none());
    assert_eq!(doc["userName"], "judy@example.com");
}
both!(attributes_projection_on_reads);

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Creates arriving together share a transaction on SQLite (group commit):
/// each still gets its own answer, a conflicting one changes nothing, and
/// every acknowledged one is there afterwards with its email index.
async fn concurrent_creates_each_get_their_own_answer(app: &TestApp) {
    let names: Vec<String> = (0..12).map(|i| format!("batch{i}@x.org")).collect();
    // Each name twice: exactly one of the two wins.
    let bodies: Vec<Value> = names
        .iter()
        .chain(names.iter())
        .map(|n| {
            json!({
                "schemas": [USER],
                "userName": n,
                "emails": [{"value": n, "type": "work"}],
            })
        })
        .collect();
    let requests = bodies.iter().map(|b| app.post("/Users", b));
    let answers = futures_util::future::join_all(requests).await;
    let mut created = 0;
    for r in answers {
        match r.status().as_u16() {
            201 => created += 1,
            409 => {
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["scimType"], "uniqueness", "{body}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, names.len());
    let all: Value = app.get("/Users?count=100").await.json().await.unwrap();
    assert_eq!(all["totalResults"], names.len());
    for n in &names {
        let found = app
            .get(&format!(
                "/Users?filter={}",
                urlencode(&format!(r#"emails[type eq "work"].value eq "{n}""#))
            ))
            .await
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(found["totalResults"], 1, "{n}: {found}");
    }
}
both!(concurrent_creates_each_get_their_own_answer);

/// PATCHes and DELETEs arriving together share a transaction on SQLite too
/// (group commit), and each still gets its own answer: PATCHes of one user
/// all land (a write that lost the race to the version reads again), a
/// PATCH that comes after the DELETE of its user finds none, a conditional
/// one over a version that moved on changes nothing, and the audit chain
/// holds exactly the writes that stand.
async fn concurrent_writes_each_get_their_own_answer(app: &TestApp) {
    let mut ids = Vec::new();
    for i in 0..6 {
        let u = app.create_user(&format!("w{i}@x.org")).await;
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    // A PATCH of the user's title, conditional on a version or not.
    let patch = |id: &str, t: &str, if_match: Option<&str>| {
        let mut r = app
            .client
            .patch(format!("{}/Users/{id}", app.scim()))
            .bearer_auth(&app.token)
            .header("content-type", "application/scim+json");
        if let Some(v) = if_match {
            r = r.header("if-match", v);
        }
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "replace", "path": "title", "value": t}]});
        async move { r.body(body.to_string()).send().await.unwrap().status() }
    };
    let (kept, deleted) = ids.split_at(3);
    let titles = ["t0", "t1", "t2", "t3"];
    let patches = kept
        .iter()
        .flat_map(|id| titles.map(|t| patch(id, t, None)));
    let stale = kept.iter().map(|id| patch(id, "stale", Some("W/\"1\"")));
    let late = deleted.iter().map(|id| patch(id, "late", None));
    let deletes = deleted
        .iter()
        .map(|id| async move { app.delete(&format!("/Users/{id}")).await.status() });
    let (patched, stale, late, deletes) = tokio::join!(
        futures_util::future::join_all(patches),
        futures_util::future::join_all(stale),
        futures_util::future::join_all(late),
        futures_util::future::join_all(deletes),
    );
    assert!(patched.iter().all(|s| *s == 200), "{patched:?}");
    assert!(deletes.iter().all(|s| *s == 204), "{deletes:?}");
    let mut stood = patched.len() + deletes.len();
    for (id, status) in kept.iter().zip(stale) {
        let stale_stood = match status.as_u16() {
            200 => 1,
            412 => 0,
            other => panic!("stale PATCH: {other}"),
        };
        stood += stale_stood;
        let now: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
        let version = format!("W/\"{}\"", 1 + titles.len() + stale_stood);
        assert_eq!(now["meta"]["version"], version, "{now}");
    }
    for status in late {
        match status.as_u16() {
            200 => stood += 1,
            404 => {}
            other => panic!("PATCH racing a DELETE: {other}"),
        }
    }
    for id in deleted {
        assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 404);
    }
    let dir = app.directory().await;
    let records = dir
        .verify_audit()
        .await
        .expect("verify")
        .expect("intact chain");
    // The IAM's creation and its token, the six creates, then the writes.
    assert_eq!(records as usize, 2 + ids.len() + stood);
}
both!(concurrent_writes_each_get_their_own_answer);

/// The email index follows the document: a write that leaves `emails` as
/// they were keeps the user findable by email, one that changes them moves
/// the lookup to the new address.
async fn the_email_lookup_follows_every_write(app: &TestApp) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "dana",
        "emails": [{"value": "Dana@Example.com", "type": "work"}],
    });
    let r = app.post("/Users", &body).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = |email: &'static str| {
        let path = format!(
            "/Users?filter={}",
            urlencode(&format!(r#"emails.value eq "{email}""#))
        );
        async move {
            let l: Value = app.get(&path).await.json().await.unwrap();
            l["totalResults"].as_u64().unwrap()
        }
    };
    assert_eq!(found("dana@example.com").await, 1);

    let title = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Engineer"}],
    });
    assert_eq!(
        app.patch(&format!("/Users/{id}"), &title).await.status(),
        200
    );
    assert_eq!(
        found("dana@example.com").await,
        1,
        "a title change keeps it"
    );

    let mut put = body.clone();
    put["emails"] = json!([{"value": "dana@new.example", "type": "work"}]);
    assert_eq!(app.put(&format!("/Users/{id}"), &put).await.status(), 200);
    assert_eq!(
        found("dana@example.com").await,
        0,
        "the old address is gone"
    );
    assert_eq!(found("dana@new.example").await, 1);

    let back = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "emails",
                        "value": [{"value": "dana@example.com", "type": "work"}]}],
    });
    assert_eq!(
        app.patch(&format!("/Users/{id}"), &back).await.status(),
        200
    );
    assert_eq!(found("dana@new.example").await, 0);
    assert_eq!(found("dana@example.com").await, 1);
}
both!(the_email_lookup_follows_every_write);
