//! RFC 9865 cursor pagination: walks forward with `nextCursor` and back
//! with `previousCursor` under every kind of sort key, with writes between
//! pages, and the cursor's errors. The oracle for the order is index
//! pagination of the same query.

mod errors;
mod plans;

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Percent-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn get_ok(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

pub fn ids(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `base` ends in `?` or `&...`: query parameters follow.
fn with(base: &str, more: &str) -> String {
    if base.contains('?') {
        format!("{base}&{more}")
    } else {
        format!("{base}?{more}")
    }
}

/// Every page of a query, first to last, by `nextCursor`.
pub async fn walk_forward(app: &TestApp, base: &str, count: u64) -> Vec<Value> {
    let mut pages: Vec<Value> = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = get_ok(app, &with(base, &format!("count={count}&cursor={cursor}"))).await;
        assert!(p.get("startIndex").is_none(), "no startIndex with cursors");
        assert_eq!(
            p.get("previousCursor").is_some(),
            !pages.is_empty(),
            "previousCursor on every page but the first: {p}"
        );
        let next = p.get("nextCursor").map(|c| c.as_str().unwrap().to_owned());
        pages.push(p);
        match next {
            Some(c) => cursor = c,
            None => break,
        }
        assert!(pages.len() < 1000, "runaway walk");
    }
    pages
}

/// The pages before `last`, last to first, by `previousCursor`.
pub async fn walk_back(app: &TestApp, base: &str, count: u64, last: &Value) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut at = last.clone();
    while let Some(c) = at.get("previousCursor").and_then(Value::as_str) {
        at = get_ok(app, &with(base, &format!("count={count}&cursor={c}"))).await;
        assert!(
            at.get("nextCursor").is_some(),
            "a previous page is never the last"
        );
        pages.push(at.clone());
        assert!(pages.len() < 1000, "runaway walk");
    }
    pages
}

/// Walks `base` both ways and checks the pages against index pagination.
async fn check_walk(app: &TestApp, base: &str, count: u64) {
    let expected = ids(&get_ok(app, &with(base, "startIndex=1&count=1000")).await);
    let forward = walk_forward(app, base, count).await;
    let total = expected.len();
    for p in &forward {
        assert_eq!(
            p["totalResults"], total,
            "{base}: totalResults on every page"
        );
    }
    let seen: Vec<String> = forward.iter().flat_map(ids).collect();
    assert_eq!(seen, expected, "{base}: forward walk is the index order");
    let sizes: Vec<usize> = forward.iter().map(|p| ids(p).len()).collect();
    let n = sizes.len();
    assert!(
        sizes[..n - 1].iter().all(|&s| s as u64 == count),
        "{base}: full pages but the last: {sizes:?}"
    );
    assert_eq!(
        n,
        total.div_ceil(count as usize).max(1),
        "{base}: no empty last page"
    );
    let back = walk_back(app, base, count, forward.last().unwrap()).await;
    let back_ids: Vec<Vec<String>> = back.iter().map(ids).collect();
    let mut expected_back: Vec<Vec<String>> = forward[..n - 1].iter().map(ids).collect();
    expected_back.reverse();
    assert_eq!(
        back_ids, expected_back,
        "{base}: the walk back retraces the pages"
    );
}

async fn create(app: &TestApp, body: Value) -> String {
    let r = app.post("/Users", &body).await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Users whose sort keys have NULLs, ties (also ties only after case
/// folding) and multi-valued attributes with and without a primary value.
async fn seed(app: &TestApp) {
    let people = [
        ("bo@x", Some("Same"), Some("e2"), Some("Ann"), true),
        ("AL@x", None, None, None, false),
        ("cy@x", Some("same"), Some("e1"), Some("Ann"), true),
        ("Di@x", Some("Zed"), None, Some("Bea"), false),
        ("ed@x", None, Some("e3"), None, true),
        ("fi@x", Some("alpha"), Some("e0"), Some("ann"), true),
        ("GUS@x", Some("Same"), None, Some("Cy"), false),
        ("hal@x", None, Some("e9"), None, true),
        ("io@x", Some("Mid"), Some("e5"), Some("Bea"), true),
    ];
    for (i, (user, display, external, given, active)) in people.into_iter().enumerate() {
        let mut body = json!({"schemas": [USER], "userName": user, "active": active});
        if let Some(d) = display {
            body["displayName"] = json!(d);
        }
        if let Some(e) = external {
            body["externalId"] = json!(e);
        }
        if let Some(g) = given {
            body["name"] = json!({"givenName": g});
        }
        // Odd users: two emails, the second primary; even: one, or none.
        body["emails"] = match i % 3 {
            0 => {
                json!([{"value": format!("z{i}@mail")}, {"value": format!("{}@mail", 9 - i), "primary": true}])
            }
            1 => json!([{"value": format!("m{i}@mail")}]),
            _ => json!([]),
        };
        create(app, body).await;
    }
}

async fn walks_under_every_sort(app: &TestApp) {
    seed(app).await;
    for sort in [
        "",
        "sortBy=id",
        "sortBy=userName",
        "sortBy=userName&sortOrder=descending",
        "sortBy=displayName",
        "sortBy=displayName&sortOrder=descending",
        "sortBy=externalId&sortOrder=descending",
        "sortBy=name.givenName",
        "sortBy=name.givenName&sortOrder=descending",
        "sortBy=active",
        "sortBy=active&sortOrder=descending",
        "sortBy=emails",
        "sortBy=emails.value&sortOrder=descending",
        "sortBy=meta.created&sortOrder=descending",
        "sortBy=meta.lastModified",
        "sortBy=meta.version",
    ] {
        for count in [1, 2, 4] {
            check_walk(app, &format!("/Users?{sort}"), count).await;
        }
    }
    // A count larger than the result: one page, no cursors at all.
    let p = get_ok(app, "/Users?cursor=&count=50").await;
    assert_eq!(ids(&p).len(), 9);
    assert!(p.get("nextCursor").is_none() && p.get("previousCursor").is_none());
}
both!(walks_under_every_sort);

async fn walks_filtered_and_groups(app: &TestApp) {
    seed(app).await;
    for filter in [
        r#"active eq true"#,
        r#"displayName pr or externalId sw "e""#,
        r#"userName eq "nobody@x""#,
    ] {
        for sort in ["", "&sortBy=displayName&sortOrder=descending"] {
            check_walk(app, &format!("/Users?filter={}{sort}", enc(filter)), 2).await;
        }
    }
    let nobody = get_ok(
        app,
        &format!("/Users?cursor&filter={}", enc(r#"userName eq "nobody@x""#)),
    )
    .await;
    assert_eq!(nobody["totalResults"], 0);
    assert!(nobody.get("nextCursor").is_none());

    for name in ["Ops", "dev", "Alpha", "beta", "Gamma"] {
        app.create_group(name, &[]).await;
    }
    for sort in [
        "",
        "sortBy=displayName",
        "sortBy=displayName&sortOrder=descending",
    ] {
        check_walk(app, &format!("/Groups?{sort}"), 2).await;
    }
}
both!(walks_filtered_and_groups);

/// Between pages, rows are deleted (the page boundary among them) and
/// inserted on both sides of the position: every row that existed
/// throughout is seen exactly once, and nothing is seen twice.
async fn writes_between_pages(app: &TestApp) {
    for sort in [
        "sortBy=userName",
        "sortBy=userName&sortOrder=descending",
        "",
    ] {
        let mut all = Vec::new();
        for i in 0..10 {
            all.push(app.create_user(&format!("m{i:02}-{}@x", sort.len())).await);
        }
        let base = format!(
            "/Users?filter={}&{sort}",
            enc(&format!("userName ew \"-{}@x\"", sort.len()))
        );
        let first = get_ok(app, &with(&base, "count=3&cursor=")).await;
        let page1 = ids(&first);
        assert_eq!(page1.len(), 3);
        // Delete the boundary row and one row further on.
        let later = ids(&get_ok(app, &with(&base, "startIndex=7&count=1")).await);
        let deleted = [page1[2].clone(), later[0].clone()];
        for id in &deleted {
            assert_eq!(app.delete(&format!("/Users/{id}")).await.status(), 204);
        }
        // Insert before and after the position in either order.
        for name in ["a00", "z99"] {
            app.create_user(&format!("{name}-{}@x", sort.len())).await;
        }
        let mut seen = page1.clone();
        let mut cursor = first["nextCursor"].as_str().unwrap().to_owned();
        let mut second = None;
        loop {
            let p = get_ok(app, &with(&base, &format!("count=3&cursor={cursor}"))).await;
            second.get_or_insert_with(|| p.clone());
            seen.extend(ids(&p));
            match p.get("nextCursor").and_then(Value::as_str) {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{sort}: nothing twice: {seen:?}");
        for u in &all {
            let id = u["id"].as_str().unwrap().to_owned();
            if !deleted.contains(&id) {
                assert!(seen.contains(&id), "{sort}: {} skipped", u["userName"]);
            }
        }
        // Back from the second page, across the deleted boundary: the
        // first page's surviving rows.
        let second = second.unwrap();
        let back = get_ok(
            app,
            &with(
                &base,
                &format!(
                    "count=3&cursor={}",
                    second["previousCursor"].as_str().unwrap()
                ),
            ),
        )
        .await;
        let back = ids(&back);
        let insert_before = back.len() == 3;
        let survivors: Vec<&String> = page1[..2].iter().collect();
        assert!(
            survivors.iter().all(|s| back.contains(s)),
            "{sort}: {back:?} holds {survivors:?} (an insert before: {insert_before})"
        );
    }
}
both!(writes_between_pages);

async fn counts_and_search_bodies(app: &TestApp) {
    seed(app).await;
    // count=0: the total alone, no page, no cursors.
    let p = get_ok(app, "/Users?cursor=&count=0").await;
    assert_eq!(p["totalResults"], 9);
    assert_eq!(p["itemsPerPage"], 0);
    assert!(p.get("nextCursor").is_none() && p.get("previousCursor").is_none());
    // The page size may change between pages.
    let p1 = get_ok(app, "/Users?cursor=&count=2").await;
    let c = p1["nextCursor"].as_str().unwrap();
    let p2 = get_ok(app, &format!("/Users?cursor={c}&count=5")).await;
    assert_eq!(ids(&p2).len(), 5);
    let all = ids(&get_ok(app, "/Users").await);
    assert_eq!([ids(&p1), ids(&p2)].concat(), all[..7]);

    // POST /.search takes the cursor in the body, and gives the same pages.
    const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
    let get_pages = walk_forward(app, "/Users?sortBy=displayName", 4).await;
    let mut body = json!({"schemas": [SEARCH], "sortBy": "displayName", "count": 4, "cursor": ""});
    let mut post_pages = Vec::new();
    loop {
        let r = app.post("/Users/.search", &body).await;
        assert_eq!(r.status(), 200);
        let p: Value = r.json().await.unwrap();
        post_pages.push(ids(&p));
        match p.get("nextCursor") {
            Some(c) => body["cursor"] = c.clone(),
            None => break,
        }
    }
    let get_ids: Vec<Vec<String>> = get_pages.iter().map(ids).collect();
    assert_eq!(post_pages, get_ids);
    let groups: Value = app
        .post(
            "/Groups/.search",
            &json!({"schemas": [SEARCH], "cursor": ""}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(groups["totalResults"], 0);
    // The root searches two orders at once: index pagination only.
    let r = app
        .post("/.search", &json!({"schemas": [SEARCH], "cursor": ""}))
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["scimType"], "invalidValue");
    assert!(e["detail"].as_str().unwrap().contains("/Users"), "{e}");
}
both!(counts_and_search_bodies);

async fn count_is_capped(app: &TestApp) {
    for i in 0..7 {
        app.create_user(&format!("u{i}@x")).await;
    }
    let spc = get_ok(app, "/ServiceProviderConfig").await;
    assert_eq!(
        spc["pagination"],
        json!({
            "cursor": true, "index": true, "defaultPaginationMethod": "index",
            "defaultPageSize": 3, "maxPageSize": 3, "cursorTimeout": 3600,
        })
    );
    let p = get_ok(app, "/Users?cursor=&count=100").await;
    assert_eq!(ids(&p).len(), 3, "count is capped at maxPageSize");
    let p = get_ok(app, "/Users?cursor").await;
    assert_eq!(ids(&p).len(), 3, "no count: defaultPageSize");
    assert_eq!(walk_forward(app, "/Users", 100).await.len(), 3);
}

mod count_is_capped {
    use crate::app::{Backend, TestApp};

    async fn run(backend: Backend) {
        if let Some(app) = TestApp::spawn_with(backend, |c| c.max_results = 3).await {
            super::count_is_capped(&app).await;
            app.finish().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}
