//! Lists: totals with and without filters (kept through deletes and bulk
//! inserts), offset windows, and keyset walks both ways that neither skip
//! nor repeat a row, over sort keys with ties and missing values.

use scim_bridge::directory::search::SortRequest;
use scim_bridge::scim::filter::{self, Filter, FilterLimits};
use scim_bridge::scim::resource::fold_case;
use scim_bridge::scim::schema::USER_RESOURCE;
use scim_bridge::store::{Direction, ListPage, ListQuery, Seek, Sort, Window};
use serde_json::json;
use uuid::Uuid;

use super::{Db, at, contract, scim, user, user_from};

contract!(totals_and_offset_windows, keyset_walks_both_ways);

/// A user of the test population: id, userName, title.
struct Row {
    id: Uuid,
    name: String,
    title: Option<String>,
    active: bool,
}

/// 23 users: some userNames capitalised, titles with ties (some not
/// ASCII), a quarter without one. Two more users in another IAM, never listed here.
async fn population(db: &Db) -> Vec<Row> {
    let mut rows = Vec::new();
    for i in 0..23 {
        let name = match i % 3 {
            0 => format!("User{i:02}@Example.com"),
            _ => format!("user{i:02}@example.com"),
        };
        let title = (i % 4 != 0).then(|| format!("{}Title{}", ["A", "a", "Éa"][i % 3], i % 2));
        let active = i % 5 != 0;
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "active": active,
        });
        if let Some(t) = &title {
            body["title"] = json!(t);
        }
        let (id, w) = (Uuid::new_v4(), user_from(&body));
        let records = super::user_created(db.iam, id, &w);
        db.create_user(db.iam, id.into(), &w, &[], &records, at(1))
            .await
            .expect("insert");
        rows.push(Row {
            id,
            name,
            title,
            active,
        });
    }
    let other = db.new_iam("other").await;
    db.user_in(other, "user00@example.com").await;
    db.user_in(other, "stranger").await;
    rows
}

fn parse(f: &str) -> Filter {
    let f = filter::parse(f, &FilterLimits::default()).expect("filter");
    filter::resolve(&f, &USER_RESOURCE).expect("resolves");
    f
}

fn sort(by: &str, descending: bool) -> Option<Sort> {
    let order = if descending {
        "descending"
    } else {
        "ascending"
    };
    SortRequest {
        sort_by: Some(by.into()),
        sort_order: Some(order.into()),
    }
    .resolve(&USER_RESOURCE)
    .expect("sortable")
}

/// The ids of `rows` in list order: by the folded key in code point order,
/// rows without one last ascending and first descending, ties by id.
fn ordered(rows: &[&Row], key: impl Fn(&Row) -> Option<String>, descending: bool) -> Vec<Uuid> {
    let mut v: Vec<(Option<String>, Uuid)> = rows
        .iter()
        .map(|r| (key(r).map(|k| fold_case(&k)), r.id))
        .collect();
    v.sort_by(|a, b| {
        let by_key = match (&a.0, &b.0) {
            (Some(x), Some(y)) if descending => y.cmp(x),
            (Some(x), Some(y)) => x.cmp(y),
            (x, y) => (x.is_none() != descending).cmp(&(y.is_none() != descending)),
        };
        by_key.then(a.1.cmp(&b.1))
    });
    v.into_iter().map(|(_, id)| id).collect()
}

fn ids(page: &ListPage) -> Vec<Uuid> {
    page.items.iter().map(|s| s.id).collect()
}

async fn totals_and_offset_windows(db: &Db) {
    let rows = population(db).await;
    let list = |q: ListQuery| async move { db.list_users(db.iam, &q).await.expect("list") };
    let query = |f: Option<&str>, window, limit| ListQuery {
        filter: f.map(parse),
        window,
        limit,
        ..Default::default()
    };

    let only_total = list(query(None, Window::Offset(0), 0)).await;
    assert_eq!((only_total.total, only_total.items.len()), (23, 0));
    let count = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count();
    let title_is = |r: &Row, t: &str| r.title.as_deref().map(fold_case).as_deref() == Some(t);
    let counts = [
        ("title pr", count(&|r| r.title.is_some())),
        ("userName sw \"USER1\"", 10),
        ("active eq false", count(&|r| !r.active)),
        ("title eq \"ATITLE1\"", count(&|r| title_is(r, "atitle1"))),
        (
            "title eq \"atitle1\" and active eq true",
            count(&|r| title_is(r, "atitle1") && r.active),
        ),
    ];
    for (f, n) in counts {
        assert!(n > 0 && n < rows.len(), "{f} selects some rows");
        let page = list(query(Some(f), Window::Offset(0), 100)).await;
        assert_eq!((page.total, page.items.len()), (n as u64, n), "{f}");
    }

    // Offset windows sorted by userName tile the whole list.
    let all: Vec<&Row> = rows.iter().collect();
    let expected = ordered(&all, |r| Some(r.name.clone()), false);
    let mut walked = Vec::new();
    for offset in [0, 10, 20, 30] {
        let mut q = query(None, Window::Offset(offset), 10);
        q.sort = sort("userName", false);
        let page = list(q).await;
        assert_eq!(page.total, 23);
        walked.extend(ids(&page));
    }
    assert_eq!(walked, expected);

    // A filtered window, descending with ties.
    let titled: Vec<&Row> = rows.iter().filter(|r| r.title.is_some()).collect();
    let expected = ordered(&titled, |r| r.title.clone(), true);
    let mut q = query(Some("title pr"), Window::Offset(5), 6);
    q.sort = sort("title", true);
    let page = list(q).await;
    assert_eq!(ids(&page), expected[5..11]);
    assert_eq!(page.total, titled.len() as u64);

    // A total the caller already knows is returned as it is.
    let mut q = query(Some("title pr"), Window::Keyset(None), 3);
    q.known_total = Some(999);
    assert_eq!(list(q).await.total, 999);

    // Totals follow deletes and bulk inserts.
    let audit = scim(db.iam);
    db.delete_account(
        rows[0].id.into(),
        Some((db.iam, None)),
        super::unguarded(),
        &audit,
        at(2),
    )
    .await
    .expect("delete");
    let more: Vec<(Uuid, _)> = (0..3)
        .map(|i| (Uuid::new_v4(), user(&format!("bulk{i}"))))
        .collect();
    db.insert_users(db.iam, &more, at(3)).await.expect("bulk");
    assert_eq!(list(query(None, Window::Offset(0), 0)).await.total, 25);
    let bulk = list(query(Some("userName sw \"bulk\""), Window::Offset(0), 10)).await;
    assert_eq!(bulk.total, 3);
    // All or nothing: one taken name refuses the whole load.
    let clash = vec![
        (Uuid::new_v4(), user("fresh")),
        (Uuid::new_v4(), user("BULK1")),
    ];
    assert!(db.insert_users(db.iam, &clash, at(4)).await.is_err());
    assert_eq!(list(query(None, Window::Offset(0), 0)).await.total, 25);
}

/// Walks a list by keyset, forward to the end and back to the start,
/// checking each page's bounds, and returns the forward order.
async fn walk(db: &Db, filter: Option<&str>, sort: Option<Sort>, total: u64) -> Vec<Uuid> {
    let read = |window| {
        let q = ListQuery {
            filter: filter.map(parse),
            window,
            limit: 4,
            sort,
            ..Default::default()
        };
        async move { db.list_users(db.iam, &q).await.expect("page") }
    };
    let check = |p: &ListPage| {
        assert_eq!(p.total, total);
        let (first, last) = p.bounds.clone().expect("bounds of a page with rows");
        assert_eq!(
            (first.id, last.id),
            (p.items[0].id, p.items.last().unwrap().id)
        );
        (first, last)
    };
    let seek = |direction, inclusive, from| {
        Window::Keyset(Some(Seek {
            direction,
            inclusive,
            from,
        }))
    };

    let mut forward = Vec::new();
    let mut pages = Vec::new();
    let mut page = read(Window::Keyset(None)).await;
    loop {
        let (first, last) = check(&page);
        forward.extend(ids(&page));
        pages.push(ids(&page));
        if !page.more {
            // The last page: nothing after it.
            let beyond = read(seek(Direction::After, false, last)).await;
            assert!(beyond.items.is_empty() && !beyond.more);
            // Read again from its own first row, inclusively: the same page.
            let again = read(seek(Direction::After, true, first.clone())).await;
            assert_eq!(ids(&again), ids(&page));
            break;
        }
        assert_eq!(page.items.len(), 4, "a page before the last is full");
        page = read(seek(Direction::After, false, last)).await;
    }

    // Back from the last page, page by page, to the first.
    let mut back = vec![pages.pop().unwrap()];
    let mut from = check(&page).0;
    loop {
        let prev = read(seek(Direction::Before, false, from)).await;
        back.insert(0, ids(&prev));
        from = check(&prev).0;
        if !prev.more {
            break;
        }
    }
    assert_eq!(back.concat(), forward, "back and forth read the same rows");
    forward
}

async fn keyset_walks_both_ways(db: &Db) {
    let rows = population(db).await;
    let all: Vec<&Row> = rows.iter().collect();
    let titled: Vec<&Row> = rows.iter().filter(|r| r.title.is_some()).collect();
    let name = |r: &Row| Some(r.name.clone());
    let title = |r: &Row| r.title.clone();
    let none = |_: &Row| None;

    let cases: Vec<(Option<&str>, Option<Sort>, Vec<Uuid>)> = vec![
        (None, None, ordered(&all, none, false)),
        (None, sort("userName", false), ordered(&all, name, false)),
        (None, sort("userName", true), ordered(&all, name, true)),
        (None, sort("title", false), ordered(&all, title, false)),
        (None, sort("title", true), ordered(&all, title, true)),
        (
            Some("title pr"),
            sort("title", true),
            ordered(&titled, title, true),
        ),
        (Some("title pr"), None, ordered(&titled, none, false)),
    ];
    for (f, s, expected) in cases {
        let total = expected.len() as u64;
        assert_eq!(walk(db, f, s, total).await, expected, "filter {f:?}");
    }
}
