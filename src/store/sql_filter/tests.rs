//! Shapes of the translation that matter beyond "same answers as the
//! evaluator" (which tests/api/filters.rs checks on both databases): fast
//! paths on indexed columns, and values only ever as parameters.

use super::*;
use crate::scim::filter::{FilterLimits, parse};
use crate::store::Sort;

fn tr(f: &str, kind: ResourceKind, dialect: Dialect) -> Result<Condition, ScimError> {
    translate_at(
        &parse(f, &FilterLimits::default()).unwrap(),
        kind,
        dialect,
        2,
        Some("https://h/scim/v2"),
    )
}

fn both(f: &str, kind: ResourceKind) -> Vec<Condition> {
    [Dialect::Sqlite, Dialect::Postgres]
        .into_iter()
        .map(|d| tr(f, kind, d).unwrap_or_else(|e| panic!("{f}: {e:?}")))
        .collect()
}

#[test]
fn user_name_eq_uses_the_folded_column() {
    for c in both(r#"USERNAME eq "Straße""#, ResourceKind::User) {
        assert_eq!(c.sql, "users.user_name_folded = $2");
        assert_eq!(c.binds, vec![Bind::Text("strasse".into())]);
    }
}

#[test]
fn and_joins_and_numbers_params() {
    let c = tr(
        r#"userName eq "a" and externalId eq "X""#,
        ResourceKind::User,
        Dialect::Sqlite,
    )
    .unwrap();
    assert_eq!(
        c.sql,
        "(users.user_name_folded = $2 AND (users.external_id IS NOT NULL AND users.external_id = $3))"
    );
    assert_eq!(
        c.binds,
        vec![Bind::Text("a".into()), Bind::Text("X".into())]
    );
}

#[test]
fn id_eq_is_the_primary_key_or_nothing() {
    let id = "0190a8b4-7c1e-7aaa-8bbb-0123456789ab";
    for c in both(&format!(r#"id eq "{id}""#), ResourceKind::Group) {
        assert_eq!(c.sql, "groups.id = $2");
        assert_eq!(c.binds, vec![Bind::Uuid(Uuid::parse_str(id).unwrap())]);
    }
    // GET never spells an id in upper case: nothing matches it.
    for c in both(
        &format!(r#"id eq "{}""#, id.to_uppercase()),
        ResourceKind::Group,
    ) {
        assert_eq!(c.sql, "1 = 0");
        assert!(c.binds.is_empty());
    }
}

#[test]
fn email_lookups_use_the_email_index() {
    for c in both(r#"emails.value eq "A@X.org""#, ResourceKind::User) {
        assert_eq!(
            c.sql,
            "users.id IN (SELECT user_id FROM user_emails WHERE value = $2)"
        );
        assert_eq!(c.binds, vec![Bind::Text("a@x.org".into())]);
    }
    for c in both(
        r#"emails[type eq "work"].value eq "a@x.org""#,
        ResourceKind::User,
    ) {
        assert!(
            c.sql
                .starts_with("(users.id IN (SELECT user_id FROM user_emails WHERE value = $"),
            "{}",
            c.sql
        );
    }
}

#[test]
fn values_never_enter_sql_text() {
    let nasty = r#"x' OR 1=1 --\"%_"#;
    for f in [
        format!(r#"displayName eq "{nasty}""#),
        format!(r#"title co "{nasty}""#),
        format!(r#"emails[type sw "{nasty}"].display ew "{nasty}""#),
        format!(r#"meta.location gt "{nasty}""#),
        format!(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department le "{nasty}""#
        ),
    ] {
        for c in both(&f, ResourceKind::User) {
            assert!(!c.sql.contains("OR 1=1"), "{}", c.sql);
            assert!(!c.binds.is_empty());
        }
    }
}

#[test]
fn like_patterns_escape_wildcards() {
    let c = tr(
        r#"title co "50%_a\\b""#,
        ResourceKind::User,
        Dialect::Postgres,
    )
    .unwrap();
    assert_eq!(c.binds, vec![Bind::Text(r"%50\%\_a\\b%".into())]);
    assert!(c.sql.contains("LIKE $2 ESCAPE '\\'"), "{}", c.sql);
}

#[test]
fn times_compare_on_whole_microseconds() {
    let c = tr(
        r#"meta.lastModified ge "2026-01-01T00:00:00.0000005Z""#,
        ResourceKind::User,
        Dialect::Sqlite,
    )
    .unwrap();
    assert_eq!(c.sql, "users.last_modified > $2");
    let c = tr(
        r#"meta.created eq "2026-01-01T00:00:00.0000005Z""#,
        ResourceKind::User,
        Dialect::Sqlite,
    )
    .unwrap();
    assert_eq!(c.sql, "1 = 0");
}

#[test]
fn errors_are_invalid_filter() {
    for f in [r#"userName eq "a""#, r#"members[value eq "x"].nope pr"#] {
        let e = tr(f, ResourceKind::Group, Dialect::Sqlite).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::scim::ScimType::InvalidFilter));
    }
    let e = translate(
        &parse(r#"meta.location eq "x""#, &FilterLimits::default()).unwrap(),
        ResourceKind::User,
        Dialect::Sqlite,
        2,
    )
    .unwrap_err();
    assert_eq!(e.status, 400);
}

#[test]
fn every_operator_on_every_kind_translates() {
    let paths = [
        "userName",
        "displayName",
        "title",
        "name.familyName",
        "emails",
        "emails.type",
        "addresses.country",
        "x509Certificates.value",
        "id",
        "meta.version",
        "meta.location",
        "meta.resourceType",
        "groups.display",
        "groups.type",
        "groups.$ref",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "employeeNumber",
    ];
    for p in paths {
        for op in ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"] {
            if p.starts_with("x509") && !matches!(op, "eq" | "ne") {
                continue;
            }
            both(&format!(r#"{p} {op} "QUJD""#), ResourceKind::User);
        }
        both(&format!("{p} pr"), ResourceKind::User);
        both(&format!("not ({p} eq null)"), ResourceKind::User);
    }
    for f in [
        "active eq true",
        r#"active ne "False""#,
        r#"emails[type eq "work" and primary eq true]"#,
        r#"emails[not (primary eq true)].value pr"#,
        r#"name[givenName sw "a" or familyName ew "b"]"#,
        r#"meta[lastModified gt "2026-01-01T00:00:00Z" and version ne "W/\"1\""]"#,
        r#"groups[type eq "direct" and value eq "x"]"#,
        r#"meta.created le "2026-01-01T00:00:00+02:00""#,
        "groups pr",
        "meta pr",
    ] {
        both(f, ResourceKind::User);
    }
    for f in [
        r#"members[type eq "User" and display co "a"]"#,
        r#"members.value eq "0190a8b4-7c1e-7aaa-8bbb-0123456789ab""#,
        r#"members.$ref sw "https://h/""#,
        "members pr",
        r#"displayName gt "m""#,
    ] {
        both(f, ResourceKind::Group);
    }
}

#[test]
fn order_by_keys() {
    use crate::scim::filter::{AttrPath, resolve_path};
    let sort = |attr: &str, sub: Option<&str>, descending| Sort {
        path: resolve_path(
            &AttrPath {
                urn: None,
                attr: attr.into(),
                sub: sub.map(Into::into),
            },
            &USER_RESOURCE,
        )
        .unwrap(),
        descending,
    };
    let o = |s: Option<&Sort>, d| order_by(s, ResourceKind::User, d).unwrap();
    assert_eq!(o(None, Dialect::Sqlite), "users.id");
    assert_eq!(
        o(Some(&sort("userName", None, false)), Dialect::Sqlite),
        "users.user_name_folded ASC NULLS LAST, users.id"
    );
    assert_eq!(
        o(
            Some(&sort("meta", Some("created"), true)),
            Dialect::Postgres
        ),
        "users.created DESC NULLS FIRST, users.id"
    );
    assert_eq!(
        o(Some(&sort("id", None, true)), Dialect::Sqlite),
        "users.id"
    );
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        assert!(o(Some(&sort("emails", Some("value"), false)), d).contains("LIMIT 1"));
        assert!(order_by(Some(&sort("name", None, false)), ResourceKind::User, d).is_err());
    }
}
