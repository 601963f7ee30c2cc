//! A cursor page is an index range seek from the position, never a scan
//! that skips rows: the millionth user costs what the first does.

use scim_bridge::store::sql_filter::{Dialect, list_sql};
use scim_bridge::store::{Direction, Keyset, ListQuery, ResourceKind, Seek, Window};

use super::{get_ok, ids};
use crate::app::{Backend, TestApp, with_search_path};
use crate::both;

fn page(direction: Direction, id: uuid::Uuid) -> ListQuery {
    ListQuery {
        window: Window::Keyset(Some(Seek {
            direction,
            inclusive: false,
            from: Keyset { key: None, id },
        })),
        limit: 100,
        ..Default::default()
    }
}

async fn cursor_pages_seek_the_id_index(app: &TestApp) {
    for i in 0..20 {
        app.create_user(&format!("u{i:02}@x")).await;
    }
    let all = ids(&get_ok(app, "/Users").await);
    let mid: uuid::Uuid = all[10].parse().unwrap();
    let mut config = app.config.clone();
    let dialect = match app.backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => {
            // Whatever a tiny table's statistics say: a plan with a
            // sequential scan must be the only one for it to show up.
            let schema = config
                .database_url
                .rsplit("search_path%3D")
                .next()
                .unwrap()
                .to_owned();
            let base = crate::app::postgres_url().unwrap();
            config.database_url = format!(
                "{}%20-c%20enable_seqscan%3Doff",
                with_search_path(&base, &schema)
            );
            Dialect::Postgres
        }
    };
    let dir = scim_bridge::open_directory(&config).await.unwrap();
    let iam = dir.iam("idp").await.unwrap().id;
    for (direction, op) in [(Direction::After, ">"), (Direction::Before, "<")] {
        let q = page(direction, mid);
        let sql = list_sql(ResourceKind::User, dialect, iam, &q).unwrap();
        let text = sql.page.unwrap().sql;
        assert!(!text.contains("OFFSET"), "{text}");
        let plan = dir
            .store
            .explain_list(ResourceKind::User, iam.into(), &q)
            .await
            .unwrap();
        match app.backend {
            Backend::Sqlite => {
                assert!(
                    plan.contains(&format!(
                        "SEARCH users USING INDEX users_iam_id (iam_id=? AND id{op}?)"
                    )),
                    "{plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "no sort step: {plan}");
            }
            Backend::Postgres => {
                assert!(plan.contains("Index"), "{plan}");
                assert!(
                    plan.contains(&format!("(id {op} ")),
                    "the position bounds the index scan: {plan}"
                );
                assert!(
                    !plan.contains("Seq Scan") && !plan.contains("Sort"),
                    "{plan}"
                );
            }
        }
    }
}
both!(cursor_pages_seek_the_id_index);

/// A page of a list sorted by userName or displayName, from a row's
/// position, either way: an index range seek, no sort step.
async fn sorted_cursor_pages_seek_an_index(app: &TestApp) {
    use scim_bridge::scim::filter::{Filter, FilterLimits, parse, resolve_path};
    use scim_bridge::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
    use scim_bridge::store::{KeyValue, Sort};
    for i in 0..20 {
        app.create_user(&format!("u{i:02}@x")).await;
        app.create_group(&format!("g{i:02}"), &[]).await;
    }
    let users = ids(&get_ok(app, "/Users").await);
    let groups = ids(&get_ok(app, "/Groups").await);
    let mut config = app.config.clone();
    if app.backend == Backend::Postgres {
        let schema = config
            .database_url
            .rsplit("search_path%3D")
            .next()
            .unwrap()
            .to_owned();
        let base = crate::app::postgres_url().unwrap();
        config.database_url = format!(
            // A sort step, like a sequential scan, shows up only when no
            // index can give the order.
            "{}%20-c%20enable_seqscan%3Doff%20-c%20enable_sort%3Doff",
            with_search_path(&base, &schema)
        );
    }
    let dir = scim_bridge::open_directory(&config).await.unwrap();
    let iam = dir.iam("idp").await.unwrap().id;
    let cases = [
        (
            ResourceKind::User,
            &USER_RESOURCE,
            "userName",
            "u10@x",
            &users,
        ),
        (
            ResourceKind::User,
            &USER_RESOURCE,
            "displayName",
            "u10@x",
            &users,
        ),
        (
            ResourceKind::Group,
            &GROUP_RESOURCE,
            "displayName",
            "g10",
            &groups,
        ),
    ];
    for (kind, rt, by, at, all) in cases {
        let Ok(Filter::Present(path)) = parse(&format!("{by} pr"), &FilterLimits::default()) else {
            panic!("{by}")
        };
        for descending in [false, true] {
            for direction in [Direction::After, Direction::Before] {
                let q = ListQuery {
                    window: Window::Keyset(Some(Seek {
                        direction,
                        inclusive: false,
                        from: Keyset {
                            key: Some(KeyValue::Text(at.to_owned())),
                            id: all[10].parse().unwrap(),
                        },
                    })),
                    limit: 100,
                    sort: Some(Sort {
                        path: resolve_path(&path, rt).unwrap(),
                        descending,
                    }),
                    ..Default::default()
                };
                let plan = dir.store.explain_list(kind, iam.into(), &q).await.unwrap();
                let what = format!("{kind:?} by {by} desc={descending} {direction:?}: {plan}");
                match app.backend {
                    Backend::Sqlite => {
                        assert!(plan.contains("USING INDEX"), "{what}");
                        // Descending keys with ascending id tie-breaks: only
                        // rows of equal key are put in id order.
                        assert!(
                            !plan.contains("TEMP B-TREE FOR ORDER BY"),
                            "no sort step: {what}"
                        );
                    }
                    Backend::Postgres => {
                        assert!(plan.contains("Index"), "{what}");
                        assert!(!plan.contains("Seq Scan"), "{what}");
                        // At most an incremental sort of rows of equal key
                        // (descending keys, ascending id tie-breaks).
                        let full_sort = plan.lines().any(|l| {
                            l.trim_start()
                                .trim_start_matches("->")
                                .trim_start()
                                .starts_with("Sort  (")
                        });
                        assert!(!full_sort, "{what}");
                    }
                }
            }
        }
    }
}
both!(sorted_cursor_pages_seek_an_index);
