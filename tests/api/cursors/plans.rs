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
            .explain_list(ResourceKind::User, iam, &q)
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
