//! The Users screen's list: every page shape it asks for reads its order
//! from an index (no sort of every matching row), Next and Previous walk
//! from a row's position, and the totals (kept counts for unfiltered
//! lists, a capped count for searches) match the rows.

use scim_bridge::directory::accounts::Ctx;
use scim_bridge::directory::ids::UserId;
use scim_bridge::store::accounts::{AccountQuery, AccountSort, Position};
use uuid::Uuid;

use crate::app::{Backend, TestApp, with_search_path};
use crate::both;

const SORTS: [AccountSort; 3] = [
    AccountSort::UserName,
    AccountSort::Created,
    AccountSort::LastModified,
];

/// Seven users of `idp`, one disabled and one detached (deleted by the
/// identity provider and kept), plus the bootstrap admin of `bim`.
async fn seed(app: &TestApp) -> (Vec<Uuid>, Uuid) {
    let dir = app.directory().await;
    dir.bootstrap_admin("root@example.com", Some("Root"), time::Duration::hours(1))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let u = app.create_user(&format!("u{i:02}@x")).await;
        ids.push(u["id"].as_str().unwrap().parse().unwrap());
    }
    dir.set_disabled(&Ctx::cli(), UserId::new(ids[3]), true)
        .await
        .unwrap();
    let r = app.delete(&format!("/Users/{}", ids[5])).await;
    assert_eq!(r.status(), 204);
    let idp = dir.iam("idp").await.unwrap().id;
    (ids, idp)
}

fn query(sort: AccountSort, descending: bool, iam: Option<Uuid>, all: bool) -> AccountQuery {
    AccountQuery {
        include_disabled: all,
        iam,
        limit: 51,
        sort,
        descending,
        ..Default::default()
    }
}

both!(every_users_page_shape_reads_an_index_in_order);
async fn every_users_page_shape_reads_an_index_in_order(app: &TestApp) {
    let (ids, idp) = seed(app).await;
    let mut config = app.config.clone();
    if app.backend == Backend::Postgres {
        let schema = config
            .database_url
            .rsplit("search_path%3D")
            .next()
            .unwrap()
            .to_owned();
        let base = crate::app::postgres_url().unwrap();
        // A sequential scan or a sort step shows up only when no index can
        // serve the query, whatever a tiny table's statistics say.
        config.database_url = format!(
            "{}%20-c%20enable_seqscan%3Doff%20-c%20enable_sort%3Doff",
            with_search_path(&base, &schema)
        );
    }
    let dir = scim_bridge::open_directory(&config).await.unwrap();
    let mut shapes = Vec::new();
    for sort in SORTS {
        for descending in [false, true] {
            for iam in [None, Some(idp)] {
                for all in [false, true] {
                    for from in [None, Some(false), Some(true)] {
                        let mut q = query(sort, descending, iam, all);
                        q.from = from.map(|before| Position { id: ids[2], before });
                        shapes.push(q);
                    }
                }
            }
        }
        // A search: the page still reads in index order; its count is capped.
        let mut q = query(sort, true, None, false);
        q.search = Some("u0".into());
        q.count_cap = Some(10_000);
        shapes.push(q);
    }
    for q in shapes {
        let plan = dir.store.explain_accounts(&q).await.unwrap();
        let (page, total) = plan.split_once("\n--\n").unwrap();
        let what = format!("{q:?}\npage: {page}\ntotal: {total}");
        match app.backend {
            Backend::Sqlite => {
                assert!(page.contains("USING INDEX"), "{what}");
                assert!(!page.contains("TEMP B-TREE"), "no sort step: {what}");
                if q.search.is_none() {
                    assert!(
                        total.contains("resource_counts")
                            && !total.lines().any(|l| l.trim_end() == "SCAN users"),
                        "kept counts, no scan: {what}"
                    );
                }
            }
            Backend::Postgres => {
                assert!(page.contains("Index"), "{what}");
                assert!(!page.contains("Seq Scan on users"), "{what}");
                let full_sort = page.lines().any(|l| {
                    l.trim_start()
                        .trim_start_matches("->")
                        .trim_start()
                        .starts_with("Sort  (")
                });
                assert!(!full_sort, "{what}");
                if q.search.is_none() {
                    assert!(
                        total.contains("resource_counts") && !total.contains("Seq Scan on users"),
                        "kept counts, no scan: {what}"
                    );
                }
            }
        }
    }
}

both!(users_pages_walk_both_ways_and_totals_match_the_rows);
async fn users_pages_walk_both_ways_and_totals_match_the_rows(app: &TestApp) {
    let (_, idp) = seed(app).await;
    let dir = app.directory().await;
    let store = &dir.store;
    for sort in SORTS {
        for descending in [false, true] {
            for iam in [None, Some(idp)] {
                for all in [false, true] {
                    let q = query(sort, descending, iam, all);
                    let what = format!("{q:?}");
                    let (every, total) = store.list_accounts(&q).await.unwrap();
                    let every: Vec<Uuid> = every.iter().map(|a| a.id).collect();
                    assert_eq!(total, every.len() as u64, "the total: {what}");
                    let expected = match (iam, all) {
                        (None, true) => 8,
                        (None, false) => 6,
                        (Some(_), true) => 7,
                        (Some(_), false) => 5,
                    };
                    assert_eq!(every.len(), expected, "{what}");
                    // Forward, three at a time, each page from the last row.
                    let mut walked = Vec::new();
                    let mut from = None;
                    loop {
                        let mut p = q.clone();
                        p.limit = 3;
                        p.from = from;
                        let (rows, _) = store.list_accounts(&p).await.unwrap();
                        walked.extend(rows.iter().map(|a| a.id));
                        match rows.last() {
                            Some(last) if rows.len() == 3 => {
                                from = Some(Position {
                                    id: last.id,
                                    before: false,
                                })
                            }
                            _ => break,
                        }
                    }
                    assert_eq!(walked, every, "forward: {what}");
                    // Back from the last row: the rows before it, in order.
                    let mut p = q.clone();
                    p.limit = 3;
                    p.from = Some(Position {
                        id: *every.last().unwrap(),
                        before: true,
                    });
                    let (rows, _) = store.list_accounts(&p).await.unwrap();
                    let back: Vec<Uuid> = rows.iter().map(|a| a.id).collect();
                    assert_eq!(
                        back,
                        every[every.len() - 4..every.len() - 1],
                        "back: {what}"
                    );
                }
            }
        }
    }

    // A search counts up to its cap, then says "more than".
    let mut q = query(AccountSort::UserName, false, None, true);
    q.search = Some("u0".into());
    q.count_cap = Some(3);
    // As the admin API answers it.
    let list = serde_json::to_value(
        dir.list_accounts(&Ctx::cli(), None, q.clone())
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(list["count"], 3);
    assert_eq!(list["countIsLowerBound"], true);
    q.count_cap = Some(100);
    let list =
        serde_json::to_value(dir.list_accounts(&Ctx::cli(), None, q).await.unwrap()).unwrap();
    assert_eq!(list["count"], 7);
    assert_eq!(list["countIsLowerBound"], false);
}

both!(the_users_screen_pages_with_next_and_previous_links);
async fn the_users_screen_pages_with_next_and_previous_links(app: &TestApp) {
    let root = crate::bridge::admin(app, "root@example.com").await;
    let dir = app.directory().await;
    let bim = dir.iam("bim").await.unwrap().id;
    let now = time::OffsetDateTime::now_utc();
    let batch: Vec<_> = (0..120)
        .map(|k| {
            let name = format!("p{k:03}@example.com");
            let doc = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": name});
            let write = scim_bridge::store::UserWrite {
                user_name: scim_bridge::scim::user_name::UserName::parse(&name).unwrap(),
                external_id: None,
                display_name_folded: None,
                active: true,
                search: scim_bridge::scim::search_doc::build(
                    &scim_bridge::scim::schema::USER_RESOURCE,
                    &doc,
                ),
                doc,
                password_hash: Some(None),
                emails_unchanged: false,
                keys_unchanged: false,
            };
            (Uuid::now_v7(), write)
        })
        .collect();
    dir.store
        .insert_users(bim.into(), &batch, now)
        .await
        .unwrap();

    let mut b = super::Browser::new(app);
    b.sign_in(&root.token).await;
    let first = b.page("/admin/users?q=p0").await;
    assert!(first.contains("Users 1–50 of 100"), "a search's count");
    let first = b.page("/admin/users").await;
    assert!(first.contains("Users 1–50 of 121"), "the kept count");
    assert!(first.contains("p049@example.com") && !first.contains("p050@example.com"));
    let link = |page: &str, rel: &str| {
        let at = page
            .find(&format!("rel=\"{rel}\""))
            .unwrap_or_else(|| panic!("no {rel} link"));
        let href = page[..at].rfind("href=\"").unwrap() + 6;
        page[href..href + page[href..].find('"').unwrap()]
            .replace("&amp;", "&")
            .replace("&#38;", "&")
    };
    let next = link(&first, "next");
    assert!(next.contains("page=2&after="), "{next}");
    let second = b.page(&next).await;
    assert!(second.contains("Users 51–100 of 121"));
    assert!(second.contains("p050@example.com") && second.contains("p099@example.com"));
    let third = b.page(&link(&second, "next")).await;
    assert!(third.contains("Users 101–121 of 121") && !third.contains("rel=\"next\""));
    let back = link(&third, "prev");
    assert!(back.contains("page=2&before="), "{back}");
    let again = b.page(&back).await;
    assert!(again.contains("Users 51–100 of 121"));
    assert!(again.contains("p050@example.com") && again.contains("p099@example.com"));
    assert_eq!(
        link(&again, "prev"),
        "/admin/users",
        "page 1 needs no position"
    );
    // An old address with only a page number still works.
    assert!(
        b.page("/admin/users?page=3")
            .await
            .contains("Users 101–121 of 121")
    );
}
