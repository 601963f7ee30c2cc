//! Finding 6 (medium), group nesting amplification: cycles were accepted
//! (A → B → A), a clique of groups made one `groups eq` filter take
//! seconds, and nesting past 32 levels was silently cut. Every write that
//! puts a group in a group (SCIM POST/PUT/PATCH, Bulk, import) now refuses
//! a cycle and a chain deeper than the documented limit, even when two
//! writes race; reads visit each group once, so diamonds stay cheap and
//! cycles stored before the fix still read correctly.

use serde_json::{Value, json};

use crate::app::{Backend, TestApp};
use crate::both;
use crate::bridge::admin;
use crate::patch::PATCH_OP;
use crate::transfer::cli;

const LIMIT: usize = 32;

fn id(doc: &Value) -> String {
    doc["id"].as_str().expect("id").to_owned()
}

fn add_members(ids: &[&str]) -> Value {
    let members: Vec<Value> = ids.iter().map(|m| json!({ "value": m })).collect();
    json!({ "schemas": [PATCH_OP],
            "Operations": [{ "op": "add", "path": "members", "value": members }] })
}

/// The member ids of a group, as GET shows them.
async fn members(app: &TestApp, group: &str) -> Vec<String> {
    let doc: Value = app
        .get(&format!("/Groups/{group}"))
        .await
        .json()
        .await
        .unwrap();
    let mut ids: Vec<String> = doc["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// A 400 `invalidValue` whose detail contains every one of `parts`.
async fn refused(r: reqwest::Response, parts: &[&str]) {
    assert_eq!(r.status(), 400);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["scimType"], "invalidValue", "{doc}");
    let detail = doc["detail"].as_str().unwrap();
    for p in parts {
        assert!(detail.contains(p), "{p:?} not in {detail:?}");
    }
}

/// A user's groups as GET shows them: (id, type).
async fn groups_of(app: &TestApp, user: &str) -> Vec<(String, String)> {
    let doc: Value = app
        .get(&format!("/Users/{user}"))
        .await
        .json()
        .await
        .unwrap();
    let mut out: Vec<(String, String)> = doc["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .map(|g| {
                    let id = g["value"].as_str().unwrap().to_owned();
                    (id, g["type"].as_str().unwrap().to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The ids `GET /Users?filter=…` finds.
async fn users_where(app: &TestApp, filter: &str) -> Vec<String> {
    let r = app
        .get(&format!("/Users?filter={}", urlencoding(filter)))
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    let mut ids: Vec<String> = doc["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    ids.sort();
    ids
}

fn urlencoding(s: &str) -> String {
    s.replace(' ', "%20").replace('"', "%22")
}

/// The permission names the admin API shows on an account.
async fn permissions(app: &TestApp, user: &str) -> Vec<String> {
    let root = admin(app, "root@example.com").await;
    let (status, view) = root.get(app, &format!("/users/{user}")).await;
    assert_eq!(status, 200, "{view}");
    view["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

async fn map_group_permission(app: &TestApp, group: &str, permission: &str) {
    let root = admin(app, "root@example.com").await;
    let (status, body) = root
        .put(
            app,
            "/iams/idp/settings",
            &json!({ "groupPermissions": { group: [permission] } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

both!(cycles_are_refused_on_every_scim_write);
async fn cycles_are_refused_on_every_scim_write(app: &TestApp) {
    let c = id(&app.create_group("C", &[]).await);
    let b = id(&app.create_group("B", &[&c]).await);
    let a = id(&app.create_group("A", &[&b]).await);
    // A ⊃ B ⊃ C: C getting A would close A → B → C → A.
    let cycle = [
        "adding group \"A\" to \"C\"",
        "\"C\" → \"A\" → \"B\" → \"C\"",
    ];
    refused(
        app.patch(&format!("/Groups/{c}"), &add_members(&[&a]))
            .await,
        &cycle,
    )
    .await;
    let put = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                      "displayName": "C", "members": [{ "value": a }] });
    refused(app.put(&format!("/Groups/{c}"), &put).await, &cycle).await;
    refused(
        app.patch(&format!("/Groups/{b}"), &add_members(&[&a]))
            .await,
        &["\"B\" → \"A\" → \"B\""],
    )
    .await;
    assert!(members(app, &c).await.is_empty(), "nothing changed");
    assert_eq!(members(app, &b).await, vec![c.clone()]);

    // Bulk: the same PATCH inside a bulk request fails alone.
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            { "method": "PATCH", "path": format!("/Groups/{c}"), "data": add_members(&[&a]) },
            { "method": "POST", "path": "/Groups", "bulkId": "d",
              "data": { "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": "D", "members": [{ "value": a }] } },
        ],
    });
    let r = app.post("/Bulk", &bulk).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    let ops = doc["Operations"].as_array().unwrap();
    assert_eq!(ops[0]["status"], "400", "{doc}");
    assert_eq!(ops[0]["response"]["scimType"], "invalidValue", "{doc}");
    assert_eq!(ops[1]["status"], "201", "a DAG is fine: {doc}");
    assert!(members(app, &c).await.is_empty());
}

both!(racing_patches_cannot_close_a_cycle_together);
async fn racing_patches_cannot_close_a_cycle_together(app: &TestApp) {
    for round in 0..8 {
        let a = id(&app.create_group(&format!("A{round}"), &[]).await);
        let b = id(&app.create_group(&format!("B{round}"), &[]).await);
        let (path_a, path_b) = (format!("/Groups/{a}"), format!("/Groups/{b}"));
        let (a_gets_b, b_gets_a) = (add_members(&[&b]), add_members(&[&a]));
        let (ab, ba) = tokio::join!(app.patch(&path_a, &a_gets_b), app.patch(&path_b, &b_gets_a));
        let ok = |s: reqwest::StatusCode| s.is_success();
        assert!(
            ok(ab.status()) != ok(ba.status()),
            "round {round}: exactly one may win, got {} and {}",
            ab.status(),
            ba.status()
        );
        let loser = if ok(ab.status()) { ba } else { ab };
        refused(loser, &["would make a cycle"]).await;
        let (in_a, in_b) = (members(app, &a).await, members(app, &b).await);
        assert_eq!(in_a.len() + in_b.len(), 1, "round {round}: no cycle stored");
    }
}

both!(nesting_is_bounded_on_write_and_never_cut_on_read);
async fn nesting_is_bounded_on_write_and_never_cut_on_read(app: &TestApp) {
    let user = id(&app.create_user("deep@example.com").await);
    // A chain of exactly the limit: G1 ⊂ G2 ⊂ … ⊂ G32, the user in G1.
    let mut chain = vec![id(&app.create_group("G1", &[&user]).await)];
    for level in 2..=LIMIT {
        let below = chain.last().unwrap().clone();
        chain.push(id(&app.create_group(&format!("G{level}"), &[&below]).await));
    }
    let top = chain.last().unwrap().clone();
    map_group_permission(app, &format!("G{LIMIT}"), "GOVERNANCE").await;
    assert!(
        permissions(app, &user)
            .await
            .contains(&"GOVERNANCE".to_owned()),
        "a permission {LIMIT} levels up reaches the user"
    );
    let groups = groups_of(app, &user).await;
    assert_eq!(groups.len(), LIMIT);
    assert!(groups.contains(&(chain[0].clone(), "direct".into())));
    assert!(groups.contains(&(top.clone(), "indirect".into())));
    let found = users_where(app, &format!("groups.value eq \"{top}\"")).await;
    assert_eq!(found, vec![user.clone()]);

    // One more level, above or below, is refused with the limit named.
    let limit = format!("at most {LIMIT} levels");
    let over = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                       "displayName": "G33", "members": [{ "value": top }] });
    refused(app.post("/Groups", &over).await, &[&limit, "\"G32\""]).await;
    let under = id(&app.create_group("G0", &[]).await);
    refused(
        app.patch(&format!("/Groups/{}", chain[0]), &add_members(&[&under]))
            .await,
        &[&limit, "adding group \"G0\" to \"G1\""],
    )
    .await;
    let r = app.get("/Groups?filter=displayName%20eq%20%22G33%22").await;
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["totalResults"], 0, "the refused group was not created");
    assert_eq!(members(app, &chain[0]).await, vec![user.clone()]);
}

both!(layered_diamonds_read_each_group_once);
async fn layered_diamonds_read_each_group_once(app: &TestApp) {
    // 12 layers of 4 groups, each group in all 4 of the next layer: 4^11
    // paths from a bottom group to each top one. A user in each bottom one.
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(id(&app
            .create_user(&format!("diamond{i}@example.com"))
            .await));
    }
    let mut layer: Vec<String> = Vec::new();
    for (i, u) in users.iter().enumerate() {
        layer.push(id(&app.create_group(&format!("L1-{i}"), &[u]).await));
    }
    let mut all = layer.clone();
    for depth in 2..=12 {
        let below: Vec<&str> = layer.iter().map(String::as_str).collect();
        let mut next = Vec::new();
        for i in 0..4 {
            next.push(id(&app
                .create_group(&format!("L{depth}-{i}"), &below)
                .await));
        }
        all.extend(next.iter().cloned());
        layer = next;
    }
    map_group_permission(app, "L12-3", "AUDIT").await;
    let groups = groups_of(app, &users[0]).await;
    // Its own bottom group and every group of the 11 layers above, once.
    assert_eq!(groups.len(), 1 + 11 * 4);
    let direct: Vec<&String> = groups
        .iter()
        .filter(|(_, t)| t == "direct")
        .map(|(g, _)| g)
        .collect();
    assert_eq!(direct, vec![&all[0]]);
    assert!(
        permissions(app, &users[0])
            .await
            .contains(&"AUDIT".to_owned())
    );
    let mut expected = users.clone();
    expected.sort();
    let found = users_where(app, &format!("groups.value eq \"{}\"", layer[3])).await;
    assert_eq!(found, expected);
    let found = users_where(
        app,
        "groups.display eq \"L7-2\" and groups.type eq \"indirect\"",
    )
    .await;
    assert_eq!(found, expected);
}

/// Adds a membership of group `member` in `group` straight into the
/// database, as data from before writes refused cycles would be.
async fn store_membership(app: &TestApp, group: &str, member: &str) {
    let sql = "INSERT INTO group_members (group_id, member_id, member_kind, added) VALUES ";
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("{sql} ($1, $2, 'Group', 0)")))
                .bind(group)
                .bind(member)
                .execute(&pool)
                .await
                .unwrap();
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            let values = "($1::uuid, $2::uuid, 'Group', now())";
            sqlx::query(sqlx::AssertSqlSafe(format!("{sql} {values}")))
                .bind(group)
                .bind(member)
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

both!(cycles_stored_before_the_fix_still_read_correctly);
async fn cycles_stored_before_the_fix_still_read_correctly(app: &TestApp) {
    let user = id(&app.create_user("loop@example.com").await);
    let b = id(&app.create_group("Loop B", &[]).await);
    let a = id(&app.create_group("Loop A", &[&user, &b]).await);
    store_membership(app, &b, &a).await;
    map_group_permission(app, "Loop B", "GOVERNANCE").await;
    assert_eq!(groups_of(app, &user).await, {
        let mut g = vec![(a.clone(), "direct".into()), (b.clone(), "indirect".into())];
        g.sort();
        g
    });
    assert!(
        permissions(app, &user)
            .await
            .contains(&"GOVERNANCE".to_owned())
    );
    assert_eq!(
        users_where(app, &format!("groups.value eq \"{b}\"")).await,
        vec![user.clone()]
    );
    // Adding users to a group on a stored cycle still works; adding a
    // group to it is refused, naming the stored cycle to break.
    let other = id(&app.create_user("loop2@example.com").await);
    let r = app
        .patch(&format!("/Groups/{b}"), &add_members(&[&other]))
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let c = id(&app.create_group("Loop C", &[]).await);
    refused(
        app.patch(&format!("/Groups/{c}"), &add_members(&[&a]))
            .await,
        &[
            "already nest in a cycle",
            "\"Loop A\" → \"Loop B\" → \"Loop A\"",
        ],
    )
    .await;
}

both!(import_refuses_cycles);
async fn import_refuses_cycles(app: &TestApp) {
    let b = id(&app.create_group("Imported B", &[]).await);
    let a = id(&app.create_group("Imported A", &[&b]).await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    let line = json!({ "type": "Members",
                       "resource": { "id": b, "members": [{ "value": a, "type": "Group" }] } });
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let (ok, _, err) = cli(
        &app.database_url,
        &["import", "--input", file.to_str().unwrap()],
    );
    assert!(!ok, "the import fails");
    assert!(
        err.contains("\"Imported B\" → \"Imported A\" → \"Imported B\""),
        "{err}"
    );
    assert!(members(app, &b).await.is_empty(), "nothing imported");
}
