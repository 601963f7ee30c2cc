//! One test per filter and sort feature, over HTTP, and the query plans of
//! the lookups identity providers make most.

use serde_json::{Value, json};

use crate::app::{Backend, TestApp};
use crate::both;

async fn user(app: &TestApp, body: Value) -> String {
    let r = app.post("/Users", &body).await;
    assert_eq!(r.status(), 201, "{body}");
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn query(app: &TestApp, endpoint: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}{endpoint}", app.scim()))
        .query(params)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The userNames a filter selects, in the order returned.
async fn names(app: &TestApp, filter: &str) -> Vec<String> {
    let (status, body) = query(app, "/Users", &[("filter", filter)]).await;
    assert_eq!(status, 200, "{filter}: {body}");
    field(&body, "userName")
}

fn field(list: &Value, name: &str) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[name].as_str().unwrap_or("-").to_owned())
        .collect()
}

async fn substring_operators_take_wildcards_literally(app: &TestApp) {
    for n in [
        "100%_sure",
        "100x_sure",
        "100%xsure",
        "back\\slash",
        "Straße",
    ] {
        user(app, json!({"userName": n, "title": n})).await;
    }
    assert_eq!(names(app, r#"userName co "%_""#).await, ["100%_sure"]);
    assert_eq!(names(app, r#"title sw "100%""#).await.len(), 2);
    assert_eq!(names(app, r#"title ew "_SURE""#).await.len(), 2);
    assert_eq!(names(app, r#"userName co "\\""#).await, ["back\\slash"]);
    // Full Unicode folding, which neither database's lower() does.
    assert_eq!(names(app, r#"title co "STRASSE""#).await, ["Straße"]);
    assert_eq!(names(app, r#"userName eq "strasse""#).await, ["Straße"]);
}
both!(substring_operators_take_wildcards_literally);

async fn injection_attempts_match_nothing(app: &TestApp) {
    user(app, json!({"userName": "alice"})).await;
    for f in [
        r#"userName eq "x' OR 1=1 --""#,
        r#"userName co "') OR ('1'='1""#,
        r#"title eq "\"; DROP TABLE users; --""#,
        r#"emails[value eq "x' OR '1'='1"]"#,
    ] {
        assert!(names(app, f).await.is_empty(), "{f}");
    }
    assert_eq!(names(app, "userName pr").await, ["alice"]);
}
both!(injection_attempts_match_nothing);

async fn value_paths_and_emails(app: &TestApp) {
    user(
        app,
        json!({"userName": "a", "emails": [
            {"value": "A@Work.example", "type": "work", "primary": true},
            {"value": "a@home.example", "type": "home"}]}),
    )
    .await;
    user(
        app,
        json!({"userName": "b", "emails": [{"value": "a@home.example", "type": "work"}]}),
    )
    .await;
    user(app, json!({"userName": "c"})).await;
    assert_eq!(
        names(app, r#"emails[type eq "work" and primary eq true]"#).await,
        ["a"]
    );
    assert_eq!(
        names(app, r#"emails[type eq "WORK"].value eq "a@home.EXAMPLE""#).await,
        ["b"]
    );
    assert_eq!(
        names(app, r#"emails.value eq "a@work.example""#).await,
        ["a"]
    );
    assert_eq!(
        names(app, r#"emails eq "A@HOME.example""#).await,
        ["a", "b"]
    );
    assert_eq!(names(app, r#"emails[primary eq "True"]"#).await, ["a"]);
    assert_eq!(names(app, r#"not (emails pr)"#).await, ["c"]);
    assert_eq!(
        names(app, r#"emails.value ne "a@home.example""#).await,
        ["c"]
    );
}
both!(value_paths_and_emails);

async fn meta_and_extension_attributes(app: &TestApp) {
    let first = user(app, json!({"userName": "first"})).await;
    let (_, doc) = query(app, &format!("/Users/{first}"), &[]).await;
    let created = doc["meta"]["created"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    user(
        app,
        json!({"userName": "second",
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour"}}),
    )
    .await;
    assert_eq!(
        names(app, &format!(r#"meta.lastModified gt "{created}""#)).await,
        ["second"]
    );
    assert_eq!(
        names(app, &format!(r#"meta.created le "{created}""#)).await,
        ["first"]
    );
    assert_eq!(names(app, r#"meta.version eq "W/\"1\"""#).await.len(), 2);
    assert_eq!(names(app, r#"meta.resourceType eq "User""#).await.len(), 2);
    let location = doc["meta"]["location"].as_str().unwrap();
    assert_eq!(
        names(app, &format!(r#"meta.location eq "{location}""#)).await,
        ["first"]
    );
    assert_eq!(names(app, r#"department eq "TOUR""#).await, ["second"]);
    assert_eq!(
        names(
            app,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw "to""#
        )
        .await,
        ["second"]
    );
    assert_eq!(names(app, &format!(r#"id eq "{first}""#)).await, ["first"]);
    let (status, body) = query(app, "/Users", &[("filter", r#"password eq "x""#)]).await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (400, Some("invalidFilter"))
    );
}
both!(meta_and_extension_attributes);

async fn groups_and_members(app: &TestApp) {
    let a = user(app, json!({"userName": "a"})).await;
    let b = user(app, json!({"userName": "b"})).await;
    user(app, json!({"userName": "c"})).await;
    let inner = app.create_group("Inner", &[&a]).await;
    let inner_id = inner["id"].as_str().unwrap();
    let outer = app.create_group("Outer", &[&b, inner_id]).await;
    let outer_id = outer["id"].as_str().unwrap();
    assert_eq!(
        names(app, &format!(r#"groups.value eq "{outer_id}""#)).await,
        ["a", "b"]
    );
    assert_eq!(
        names(
            app,
            &format!(r#"groups[value eq "{outer_id}" and type eq "direct"]"#)
        )
        .await,
        ["b"]
    );
    assert_eq!(names(app, r#"groups[type eq "indirect"]"#).await, ["a"]);
    assert_eq!(names(app, r#"groups.display eq "INNER""#).await, ["a"]);
    assert_eq!(names(app, "not (groups pr)").await, ["c"]);

    let groups = |f: String| async move {
        let (status, body) = query(app, "/Groups", &[("filter", &f)]).await;
        assert_eq!(status, 200, "{f}: {body}");
        field(&body, "displayName")
    };
    assert_eq!(
        groups(format!(r#"members.value eq "{a}""#)).await,
        ["Inner"]
    );
    assert_eq!(
        groups(r#"members[type eq "group"]"#.into()).await,
        ["Outer"]
    );
    assert_eq!(groups(r#"members.display eq "B""#.into()).await, ["Outer"]);
    assert_eq!(groups("members pr".into()).await.len(), 2);
}
both!(groups_and_members);

async fn sorting(app: &TestApp) {
    for (n, title, email) in [
        ("u1", Some("beta"), Some("z@x")),
        ("u2", Some("Alpha"), None),
        ("u3", None, Some("a@x")),
        ("u4", Some("ALPHA"), Some("m@x")),
    ] {
        let mut body = json!({"userName": n, "title": title});
        if let Some(e) = email {
            body["emails"] = json!([{"value": "0@first", "type": "home"}, {"value": e, "type": "work", "primary": true}]);
        }
        user(app, body).await;
    }
    let sorted = |by: &'static str, order: &'static str| async move {
        let (status, body) = query(app, "/Users", &[("sortBy", by), ("sortOrder", order)]).await;
        assert_eq!(status, 200, "{body}");
        field(&body, "userName")
    };
    // Case-insensitive, ties by id, no value last ascending, first descending.
    assert_eq!(sorted("title", "ascending").await, ["u2", "u4", "u1", "u3"]);
    assert_eq!(
        sorted("TITLE", "DESCENDING").await,
        ["u3", "u1", "u2", "u4"]
    );
    // A multi-valued attribute sorts by its primary value.
    assert_eq!(sorted("emails", "").await, ["u3", "u4", "u1", "u2"]);
    assert_eq!(
        sorted("emails.value", "descending").await,
        ["u2", "u1", "u4", "u3"]
    );
    assert_eq!(
        sorted("userName", "descending").await,
        ["u4", "u3", "u2", "u1"]
    );
    assert_eq!(
        sorted("meta.created", "ascending").await,
        ["u1", "u2", "u3", "u4"]
    );
    // Paging over a sort is stable.
    let (_, page) = query(
        app,
        "/Users",
        &[("sortBy", "title"), ("startIndex", "2"), ("count", "2")],
    )
    .await;
    assert_eq!(field(&page, "userName"), ["u4", "u1"]);
    // The same through POST /.search.
    let body: Value = app
        .post(
            "/Users/.search",
            &json!({"sortBy": "title", "sortOrder": "descending", "attributes": ["userName"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(field(&body, "userName"), ["u3", "u1", "u2", "u4"]);
    for (by, order) in [
        ("name", ""),
        ("password", ""),
        ("nope", ""),
        ("groups", ""),
        ("title", "up"),
    ] {
        let (status, body) = query(app, "/Users", &[("sortBy", by), ("sortOrder", order)]).await;
        assert_eq!(
            (status, body["scimType"].as_str()),
            (400, Some("invalidValue")),
            "{by}"
        );
    }
    let (_, spc) = query(app, "/ServiceProviderConfig", &[]).await;
    assert_eq!(spc["sort"]["supported"], true);
}
both!(sorting);

/// The identity providers' lookups are index lookups on both databases.
async fn lookups_use_indexes(app: &TestApp) {
    let id = user(
        app,
        json!({"userName": "kim", "externalId": "k-1", "emails": [{"value": "kim@x", "type": "work"}]}),
    )
    .await;
    if app.backend == Backend::Postgres {
        // The planner needs a table worth an index to choose one.
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        for bulk in [
            "INSERT INTO users (id, iam_id, user_name, user_name_folded, external_id, active, doc, search, created, last_modified, version)
             SELECT gen_random_uuid(), iam.id, 'bulk' || i, 'bulk' || i, 'x' || i, true, '{}', '{}', now(), now(), 1
             FROM iams iam, generate_series(1, 5000) AS i WHERE iam.name = 'idp'",
            "INSERT INTO user_emails (value, user_id) SELECT user_name || '@x', id FROM users WHERE user_name LIKE 'bulk%'",
            "ANALYZE",
        ] {
            sqlx::query(bulk).execute(&pool).await.unwrap();
        }
    }
    // Any of these index names in the plan is an index lookup.
    let cases = [
        (
            r#"userName eq "kim""#.to_owned(),
            &["users_iam_user_name"][..],
        ),
        (
            r#"externalId eq "k-1""#.to_owned(),
            &["users_iam_external_id"][..],
        ),
        (
            format!(r#"id eq "{id}""#),
            &["users_pkey", "users_iam_id", "sqlite_autoindex_users_1"][..],
        ),
        (
            r#"emails.value eq "KIM@x""#.to_owned(),
            &["user_emails_pkey", "user_emails USING PRIMARY KEY"][..],
        ),
        (
            r#"emails[type eq "work"].value eq "kim@x""#.to_owned(),
            &["user_emails_pkey", "user_emails USING PRIMARY KEY"][..],
        ),
    ];
    for (f, indexes) in cases {
        let plan = plan(app, &f).await;
        assert!(
            indexes.iter().any(|i| plan.contains(i)),
            "{f} should use one of {indexes:?}:\n{plan}"
        );
        assert!(
            !plan.contains("SCAN users") && !plan.contains("Seq Scan on users"),
            "{f}:\n{plan}"
        );
        eprintln!("{:?} plan of {f}:\n{plan}", app.backend);
    }
    assert_eq!(
        names(app, r#"emails[type eq "work"].value eq "kim@x""#).await,
        ["kim"]
    );
}
both!(lookups_use_indexes);

/// The plan of the list query a filter makes, as the store writes it.
async fn plan(app: &TestApp, filter: &str) -> String {
    use scim_bridge::scim::filter::{FilterLimits, parse};
    use scim_bridge::store::ResourceKind;
    use scim_bridge::store::sql_filter::{Bind, Dialect, order_by, translate};
    let f = parse(filter, &FilterLimits::default()).unwrap();
    let dialect = match app.backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
    };
    let c = translate(&f, ResourceKind::User, dialect, 2).unwrap();
    let order = order_by(None, ResourceKind::User, dialect).unwrap();
    let select = format!(
        "SELECT id, doc FROM users WHERE iam_id = $1 AND {} ORDER BY {order} LIMIT 100",
        c.sql
    );
    let iam: String = match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query_scalar("SELECT id FROM iams WHERE name = 'idp'")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::query_scalar("SELECT id::text FROM iams WHERE name = 'idp'")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            let mut q =
                sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {select}"))).bind(iam);
            for b in c.binds {
                q = match b {
                    Bind::Text(s) => q.bind(s),
                    Bind::Uuid(u) => q.bind(u.hyphenated().to_string()),
                    other => panic!("{other:?}"),
                };
            }
            let rows = q.fetch_all(&pool).await.unwrap();
            use sqlx::Row;
            rows.iter()
                .map(|r| r.get::<String, _>(3))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            let mut conn = pool.acquire().await.unwrap();
            // Whatever the statistics say, never a sequential scan.
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            let mut q =
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("EXPLAIN {select}")))
                    .bind(uuid::Uuid::parse_str(&iam).unwrap());
            for b in c.binds {
                q = match b {
                    Bind::Text(s) => q.bind(s),
                    Bind::Uuid(u) => q.bind(u),
                    other => panic!("{other:?}"),
                };
            }
            q.fetch_all(&mut *conn).await.unwrap().join("\n")
        }
    }
}
