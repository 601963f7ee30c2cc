//! Account search (`/api/v1/users?search=`, the console's `q=`): a
//! substring of the userName or the displayName, case-insensitive, with
//! the wildcard characters of SQL taken literally; found through the
//! trigram index when the substring is long enough, by walking the list
//! otherwise, and kept current through renames and deletes.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::admin;
use crate::app::{Backend, TestApp, with_search_path};
use crate::both;
use scim_bridge::scim::resource::fold_case;
use scim_bridge::store::accounts::AccountQuery;

struct Known {
    id: String,
    user_name: String,
    display: Option<String>,
    listed: bool,
}

fn expected(known: &[Known], s: &str, all: bool) -> BTreeSet<String> {
    let s = fold_case(s);
    known
        .iter()
        .filter(|k| all || k.listed)
        .filter(|k| {
            fold_case(&k.user_name).contains(&s)
                || k.display
                    .as_deref()
                    .is_some_and(|d| fold_case(d).contains(&s))
        })
        .map(|k| k.id.clone())
        .collect()
}

fn hits(list: &Value) -> BTreeSet<String> {
    list["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

const SEARCHES: [&str; 22] = [
    "lovelace",
    "LOVE",
    "ada",
    "a_l",
    "e_h",
    "ce_ho",
    "%",
    "0% s",
    "100%",
    "\\",
    "k\\sl",
    "\"",
    "e\"d@",
    "ÜNÏ",
    "zoë",
    "ærø",
    "example.com",
    "x.org",
    "@",
    "nomatch",
    "zz",
    "ab",
];

both!(account_search_finds_substrings_and_follows_renames_and_deletes);
async fn account_search_finds_substrings_and_follows_renames_and_deletes(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut known = vec![Known {
        id: root.id.clone(),
        user_name: "root@example.com".into(),
        display: Some("Admin".into()),
        listed: true,
    }];
    for (user_name, display) in [
        ("ada.lovelace@example.com", Some("Ada Lovelace")),
        ("grace_hopper@navy.mil", Some("Grace Hopper")),
        ("percent@x.org", Some("100% Sure")),
        ("back\\slash@x.org", None),
        ("quote\"d@x.org", Some("Quoted")),
        ("Ünïcödé@x.org", Some("Zoë Ærøskøbing")),
        ("bob@example.com", None),
    ] {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
        });
        if let Some(d) = display {
            body["displayName"] = json!(d);
        }
        let r = app.post("/Users", &body).await;
        assert_eq!(r.status(), 201, "{user_name}");
        let v: Value = r.json().await.unwrap();
        known.push(Known {
            id: v["id"].as_str().unwrap().to_owned(),
            user_name: user_name.into(),
            display: display.map(str::to_owned),
            listed: true,
        });
    }
    let check = |known: &[Known], stage: &str| {
        let mut out = Vec::new();
        for s in SEARCHES {
            for all in [false, true] {
                out.push((s, all, expected(known, s, all), stage.to_owned()));
            }
        }
        out
    };
    let run = async |cases: Vec<(&'static str, bool, BTreeSet<String>, String)>| {
        for (s, all, want, stage) in cases {
            let q = format!(
                "/users?limit=1000&includeDisabled={all}&search={}",
                urlencode(s)
            );
            let (status, list) = root.get(app, &q).await;
            assert_eq!(status, 200, "{stage} {s:?}: {list}");
            assert_eq!(hits(&list), want, "{stage}: search {s:?} (all: {all})");
            assert_eq!(list["count"], want.len(), "{stage}: count of {s:?}");
        }
    };
    run(check(&known, "created")).await;

    // Renames move an account between searches.
    let ada = known[1].id.clone();
    let r = app
        .patch(
            &format!("/Users/{ada}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "path": "userName", "value": "ada.byron@example.com"},
                    {"op": "replace", "path": "displayName", "value": "Countess Byron"},
                ],
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    known[1].user_name = "ada.byron@example.com".into();
    known[1].display = Some("Countess Byron".into());
    let mut cases = check(&known, "renamed");
    cases.push(("byron", false, [ada.clone()].into(), "renamed".into()));
    cases.push(("lovelace", true, BTreeSet::new(), "renamed".into()));
    run(cases).await;

    // Deleted by the identity provider: kept, listed only with the
    // disabled; deleted permanently: gone from every search.
    let grace = known[2].id.clone();
    assert_eq!(app.delete(&format!("/Users/{grace}")).await.status(), 204);
    known[2].listed = false;
    let mut cases = check(&known, "deprovisioned");
    cases.push((
        "hopper",
        true,
        [grace.clone()].into(),
        "deprovisioned".into(),
    ));
    run(cases).await;
    let (status, body) = root
        .delete(app, &format!("/users/{grace}?confirm=Delete"))
        .await;
    assert_eq!(status, 204, "{body}");
    known.remove(2);
    let mut cases = check(&known, "deleted");
    cases.push(("hopper", true, BTreeSet::new(), "deleted".into()));
    run(cases).await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

both!(a_long_rare_substring_is_looked_up_in_the_trigram_index);
async fn a_long_rare_substring_is_looked_up_in_the_trigram_index(app: &TestApp) {
    app.create_user("ada.lovelace@example.com").await;
    app.create_user("grace.hopper@example.com").await;
    let mut config = app.config.clone();
    if app.backend == Backend::Postgres {
        let schema = config
            .database_url
            .rsplit("search_path%3D")
            .next()
            .unwrap()
            .to_owned();
        let base = crate::app::postgres_url().unwrap();
        // Neither a table scan nor the ordered list index: what remains
        // for a `LIKE '%...%'` is the trigram index, if it serves it.
        config.database_url = format!(
            "{}%20-c%20enable_seqscan%3Doff%20-c%20enable_indexscan%3Doff",
            with_search_path(&base, &schema)
        );
    }
    let dir = scim_bridge::open_directory(&config).await.unwrap();
    for (search, indexed) in [("lovelace", true), ("hop", true), ("lo", false)] {
        let q = AccountQuery {
            search: Some(search.into()),
            limit: 50,
            count_cap: Some(10_000),
            ..Default::default()
        };
        let plan = dir.store.explain_accounts(&q).await.unwrap();
        let (page, total) = plan.split_once("\n--\n").unwrap();
        let uses = |p: &str| match app.backend {
            Backend::Sqlite => p.contains("VIRTUAL TABLE INDEX") && p.contains("users_search"),
            Backend::Postgres => {
                p.contains("Bitmap Index Scan on users_search_user_name")
                    && p.contains("Bitmap Index Scan on users_search_display_name")
            }
        };
        if indexed {
            assert!(uses(page), "{search}: page\n{page}");
            assert!(uses(total), "{search}: total\n{total}");
        } else if app.backend == Backend::Sqlite {
            // Too short for a trigram: the list index is walked.
            assert!(!uses(page), "{search}: page\n{page}");
        }
        let (rows, n) = dir.store.list_accounts(&q).await.unwrap();
        let want = ["ada.lovelace@example.com", "grace.hopper@example.com"]
            .iter()
            .filter(|u| u.contains(search))
            .count();
        assert_eq!((rows.len(), n), (want, want as u64), "{search}");
    }
}

both!(writes_that_share_a_commit_are_searchable_together);
/// Concurrent writes share one transaction (group commit) and the search
/// index is brought up to date once, at its end: every create, rename and
/// delete of a batch is found, or not, as it should be, including a row
/// created and renamed, or created and deleted, in the same batch.
async fn writes_that_share_a_commit_are_searchable_together(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let names: Vec<String> = (0..48)
        .map(|i| format!("batch{i:02}.zebra@example.com"))
        .collect();
    let created = futures_util::future::join_all(names.iter().map(|n| app.create_user(n))).await;
    let ids: Vec<String> = created
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    // Renames of the first 16 and permanent deletes of the next 16, all at
    // once; the last 16 stay as they were.
    let renames = ids[..16].iter().enumerate().map(|(i, id)| async move {
        let r = app
            .patch(
                &format!("/Users/{id}"),
                &json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "userName",
                                    "value": format!("moved{i:02}.okapi@example.com")}],
                }),
            )
            .await;
        assert_eq!(r.status(), 200);
    });
    let root = &root;
    let deletes = ids[16..32].iter().map(|id| async move {
        assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
        let (status, body) = root
            .delete(app, &format!("/users/{id}?confirm=Delete"))
            .await;
        assert_eq!(status, 204, "{body}");
    });
    tokio::join!(
        futures_util::future::join_all(renames),
        futures_util::future::join_all(deletes)
    );
    let found = async |s: &str| {
        let (status, list) = root
            .get(
                app,
                &format!("/users?limit=1000&includeDisabled=true&search={s}"),
            )
            .await;
        assert_eq!(status, 200, "{list}");
        hits(&list)
    };
    let want = |r: std::ops::Range<usize>| ids[r].iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(found("okapi").await, want(0..16), "renamed");
    assert_eq!(
        found("zebra").await,
        want(32..48),
        "kept, and not the renamed or deleted"
    );
    for (i, id) in ids.iter().enumerate() {
        let by_name = found(&format!("moved{i:02}")).await;
        let old = found(&format!("batch{i:02}")).await;
        match i {
            0..16 => assert_eq!((by_name, old), ([id.clone()].into(), BTreeSet::new())),
            16..32 => assert_eq!((by_name, old), (BTreeSet::new(), BTreeSet::new())),
            _ => assert_eq!((by_name, old), (BTreeSet::new(), [id.clone()].into())),
        }
    }
}
