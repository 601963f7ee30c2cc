use serde_json::{Value, json};

use crate::scim::filter::*;
use crate::scim::schema::{GROUP_RESOURCE, ResourceTypeDef, USER_RESOURCE};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Ext-1",
        "userName": "Bjensen@Example.com",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "ÉMILE Zola",
        "title": "",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [],
        "roles": [{"value": "admin", "primary": "True"}],
        "x509Certificates": [{"value": "MIIDQzCC"}],
        "meta": {
            "resourceType": "User",
            "created": "2024-01-01T10:00:00Z",
            "lastModified": "2024-03-01T12:00:00+02:00",
            "version": "W/\"1\""
        },
        ENTERPRISE: {
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        }
    })
}

pub(super) fn m_on(rt: &ResourceTypeDef, doc: &Value, filter: &str) -> bool {
    let f = parse(filter, &FilterLimits::default()).unwrap_or_else(|e| panic!("{filter}: {e}"));
    matches(&f, rt, doc).unwrap_or_else(|e| panic!("{filter}: {e}"))
}

fn m(filter: &str) -> bool {
    m_on(&USER_RESOURCE, &user(), filter)
}

pub(super) fn bad_on(rt: &ResourceTypeDef, filter: &str) -> String {
    let f = parse(filter, &FilterLimits::default()).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let e = resolve(&f, rt).expect_err(filter);
    assert_eq!(e.scim_type, Some(crate::scim::ScimType::InvalidFilter));
    assert_eq!(matches(&f, rt, &user()), Err(e.clone()), "{filter}");
    e.detail
}

fn bad(filter: &str) -> String {
    bad_on(&USER_RESOURCE, filter)
}

#[test]
fn strings_fold_case_unless_case_exact() {
    assert!(m(r#"userName eq "bjensen@example.com""#));
    assert!(m(r#"USERNAME Eq "BJENSEN@EXAMPLE.COM""#));
    assert!(!m(r#"userName eq "bjensen""#));
    assert!(m(r#"displayName eq "émile zola""#));
    assert!(m("displayName eq \"E\u{301}MILE ZOLA\""));
    assert!(m(r#"displayName co "ÉMILE z""#));
    assert!(m(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
    assert!(!m(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
    assert!(m(r#"externalId eq "Ext-1""#));
    assert!(!m(r#"externalId eq "ext-1""#));
    assert!(!m(r#"externalId sw "ext""#));
    assert!(m(r#"externalId sw "Ext""#));
}

#[test]
fn unicode_case_folding_beyond_ascii() {
    let doc = json!({"userName": "Straße", "displayName": "ﬀ"});
    assert!(m_on(&USER_RESOURCE, &doc, r#"userName eq "STRASSE""#));
    assert!(m_on(&USER_RESOURCE, &doc, r#"userName ew "SSE""#));
    assert!(m_on(&USER_RESOURCE, &doc, r#"displayName eq "FF""#));
    assert!(m_on(&USER_RESOURCE, &doc, r#"displayName eq "ff""#));
}

#[test]
fn string_operators() {
    assert!(m(r#"userName co "EXAMPLE""#));
    assert!(!m(r#"userName co "xample.org""#));
    assert!(m(r#"userName sw "bjen""#));
    assert!(!m(r#"userName sw "jensen""#));
    assert!(m(r#"userName ew ".COM""#));
    assert!(m(r#"userName co """#));
    assert!(m(r#"userName gt "Bj""#));
    assert!(m(r#"userName gt "A""#));
    assert!(!m(r#"userName gt "c""#));
    assert!(m(r#"userName ge "bjensen@example.com""#));
    assert!(m(r#"userName le "BJENSEN@EXAMPLE.COM""#));
    assert!(m(r#"userName lt "C""#));
    assert!(!m(r#"userName lt "b""#));
    // Code point order, not a locale's: "é" sorts after "z".
    assert!(m(r#"displayName gt "z""#));
    assert!(m(r#"displayName lt "ÉN""#));
    assert!(m(r#"userName ne "someone""#));
    assert!(!m(r#"userName ne "BJensen@example.com""#));
}

#[test]
fn multi_valued_attributes_match_any_value() {
    assert!(m(r#"emails.value eq "babs@jensen.org""#));
    assert!(m(r#"emails eq "BABS@jensen.org""#));
    assert!(m(r#"emails.type eq "home""#));
    assert!(m(r#"emails co "jensen""#));
    assert!(!m(r#"emails.value eq "nobody@example.com""#));
    // ne is "no value is equal".
    assert!(!m(r#"emails.value ne "babs@jensen.org""#));
    assert!(m(r#"emails.value ne "nobody@example.com""#));
    assert!(m(r#"not (emails.value eq "nobody@example.com")"#));
}

#[test]
fn value_filters_test_one_value_at_a_time() {
    assert!(m(r#"emails[type eq "work" and primary eq true]"#));
    assert!(m(r#"EMAILS[TYPE eq "WORK"]"#));
    // "home" and primary=true hold, but not for the same value.
    assert!(!m(r#"emails[type eq "home" and primary eq true]"#));
    assert!(m(r#"emails[type eq "home" or primary eq true]"#));
    assert!(m(r#"emails[not (type eq "work")]"#));
    assert!(m(r#"emails[type eq "home" and primary ne true]"#));
    assert!(m(r#"emails[type eq "work"].value ew "example.com""#));
    assert!(!m(r#"emails[type eq "home"].value ew "example.com""#));
    assert!(m(r#"emails[type eq "work"].primary eq true"#));
    assert!(!m(r#"emails[type eq "home"].primary pr"#));
    assert!(m(r#"emails[type eq "home"].primary eq null"#));
    assert!(m(r#"emails[value pr].display eq null"#));
    assert!(!m(r#"phoneNumbers[value pr]"#));
    assert!(!m(r#"ims[value pr]"#));
    // Entra ID writes booleans as strings.
    assert!(m(r#"roles[primary eq "True"]"#));
    assert!(m(r#"roles[primary eq true]"#));
    // A single-valued complex attribute is its only value.
    assert!(m(r#"name[givenName sw "bar" and familyName eq "jensen"]"#));
    assert!(m(&format!(
        "{ENTERPRISE}:manager[displayName eq \"john smith\"]"
    )));
}

#[test]
fn complex_attributes_compare_their_value() {
    assert!(m(r#"name.familyName eq "JENSEN""#));
    assert!(m(&format!(
        "{ENTERPRISE}:manager eq \"26118915-6090-4610-87e4-49d8ca9f808d\""
    )));
    assert!(bad(r#"name eq "Jensen""#).contains("'name' is a complex attribute"));
    assert!(bad(r#"userName[value pr]"#).contains("needs a complex attribute"));
}

#[test]
fn extension_attributes_live_under_their_urn() {
    assert!(m(&format!(
        "{ENTERPRISE}:department eq \"tour operations\""
    )));
    assert!(m(&format!(
        "{}:DEPARTMENT sw \"Tour\"",
        ENTERPRISE.to_uppercase()
    )));
    assert!(m(&format!("{ENTERPRISE}:manager.value pr")));
    assert!(m(&format!(
        "{ENTERPRISE}:manager.displayName eq \"JOHN SMITH\""
    )));
    // Without URN, an attribute no core schema has is found in the extension.
    assert!(m(r#"department eq "Tour Operations""#));
    assert!(m(r#"manager.value pr"#));
    assert!(m(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#
    ));
    assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:id pr"#));
    // A top-level "department" is not the extension's.
    let doc = json!({"department": "Tour Operations"});
    assert!(!m_on(
        &USER_RESOURCE,
        &doc,
        &format!("{ENTERPRISE}:department pr")
    ));
}

#[test]
fn date_times_compare_as_instants() {
    // lastModified is 2024-03-01T10:00:00Z written with a +02:00 offset.
    assert!(m(r#"meta.lastModified eq "2024-03-01T10:00:00Z""#));
    assert!(m(r#"meta.lastModified eq "2024-03-01T05:00:00-05:00""#));
    assert!(m(r#"meta.lastModified eq "2024-03-01T10:00:00.000Z""#));
    assert!(m(r#"meta.lastModified gt "2024-03-01T09:59:59Z""#));
    assert!(!m(r#"meta.lastModified gt "2024-03-01T11:00:00+01:00""#));
    assert!(m(r#"meta.lastModified ge "2024-03-01T11:00:00+01:00""#));
    assert!(m(r#"meta.lastModified lt "2024-03-01T10:00:01Z""#));
    assert!(m(r#"meta.lastModified le "2024-03-01T10:00:00Z""#));
    assert!(m(r#"meta.lastModified ne "2024-03-01T12:00:00Z""#));
    // A string comparison would say "2024-03-01T12…" > "2024-03-01T11…".
    assert!(!m(r#"meta.lastModified gt "2024-03-01T11:00:00Z""#));
    // No offset means UTC.
    assert!(m(r#"meta.created eq "2024-01-01T10:00:00""#));
    assert!(m(r#"meta.created lt "2024-01-01T10:00:00.5""#));
    assert!(bad(r#"meta.created gt "yesterday""#).contains("RFC 3339"));
    assert!(bad(r#"meta.created gt 20240101"#).contains("dateTime"));
    assert!(bad(r#"meta.created co "2024""#).contains("co, sw and ew apply only to strings"));
}

#[test]
fn booleans() {
    assert!(m("active eq true"));
    assert!(m("active eq TRUE"));
    assert!(!m("active eq false"));
    assert!(m(r#"active eq "True""#));
    assert!(m(r#"active ne "FALSE""#));
    assert!(!m(r#"active eq "false""#));
    let inactive = json!({"active": false});
    assert!(m_on(&USER_RESOURCE, &inactive, "active eq false"));
    assert!(m_on(&USER_RESOURCE, &inactive, r#"active eq "False""#));
    // Absent is not false.
    assert!(!m_on(&USER_RESOURCE, &json!({}), "active eq false"));
    assert!(m_on(&USER_RESOURCE, &json!({}), "active ne true"));
    assert!(bad("active gt true").contains("compares only with eq or ne"));
    assert!(bad("active eq 1").contains("true or false"));
    assert!(bad(r#"active eq "yes""#).contains("true or false"));
    assert!(bad(r#"active co "t""#).contains("compares only with eq or ne"));
}

#[test]
fn presence_means_non_empty() {
    assert!(m("userName pr"));
    assert!(m("emails pr"));
    assert!(m("emails.type pr"));
    assert!(m("name pr"));
    assert!(m("meta.lastModified pr"));
    assert!(!m("nickName pr"));
    assert!(!m("title pr"));
    assert!(!m("phoneNumbers pr"));
    assert!(!m("emails.display pr"));
    let empties = json!({
        "nickName": null,
        "name": {},
        "emails": [{"value": ""}, {"value": null}],
        "addresses": [{}],
        ENTERPRISE: {"manager": {"value": ""}}
    });
    for f in [
        "nickName pr",
        "name pr",
        "emails pr",
        "emails.value pr",
        "addresses pr",
        "manager pr",
    ] {
        assert!(!m_on(&USER_RESOURCE, &empties, f), "{f}");
    }
}

#[test]
fn null_means_absent() {
    assert!(m("nickName eq null"));
    assert!(m("title eq null"));
    assert!(!m("userName eq null"));
    assert!(m("userName ne null"));
    assert!(!m("nickName ne null"));
    assert!(m("phoneNumbers eq null"));
    assert!(!m("emails eq null"));
    assert!(m("name ne null"));
    assert!(m(r#"nickName ne "x""#));
    assert!(!m(r#"nickName eq "x""#));
    assert!(bad("userName gt null").contains("only eq and ne can compare with null"));
    assert!(bad("userName co null").contains("only eq and ne"));
}

#[test]
fn logic() {
    assert!(m(r#"userName sw "bj" and active eq true"#));
    assert!(!m(r#"userName sw "x" and active eq true"#));
    assert!(m(r#"userName sw "x" or active eq true"#));
    assert!(m(r#"not (userName sw "x")"#));
    // a or b and c = a or (b and c)
    assert!(m(r#"active eq true or userName eq "x" and title pr"#));
    assert!(!m(r#"(active eq true or userName eq "x") and title pr"#));
    assert!(!m(
        r#"not (active eq true or userName eq "x" and title pr)"#
    ));
}

#[test]
fn binary_compares_exactly() {
    assert!(m(r#"x509Certificates.value eq "MIIDQzCC""#));
    assert!(!m(r#"x509Certificates.value eq "miidqzcc""#));
    assert!(m(r#"x509Certificates eq "MIIDQzCC""#));
    assert!(bad(r#"x509Certificates.value co "MII""#).contains("binary"));
}

#[test]
fn invalid_paths_and_types_are_rejected_before_evaluation() {
    assert_eq!(
        bad(r#"nosuch eq "x""#),
        "unknown attribute 'nosuch' in filter for resource type User"
    );
    assert!(bad(r#"emails.nosuch eq "x""#).contains("unknown attribute 'emails.nosuch'"));
    assert!(bad(r#"emails[nosuch eq "x"]"#).contains("unknown sub-attribute 'emails.nosuch'"));
    assert!(bad(r#"emails[type pr].nosuch pr"#).contains("unknown sub-attribute 'emails.nosuch'"));
    assert!(bad(r#"urn:example:nope:userName pr"#).contains("unknown schema 'urn:example:nope'"));
    assert_eq!(
        bad(r#"password eq "secret""#),
        "attribute 'password' cannot be used in a filter"
    );
    assert!(bad("password pr").contains("cannot be used in a filter"));
    assert!(bad("userName eq 5").contains("quoted string"));
    assert!(bad("userName eq true").contains("quoted string"));
    // Invalid anywhere, even where evaluation would not look.
    assert!(bad(r#"userName pr or nosuch pr"#).contains("nosuch"));
    assert!(bad(r#"not (userName pr) and password pr"#).contains("password"));
    assert!(bad_on(&GROUP_RESOURCE, r#"userName eq "x""#).contains("for resource type Group"));
}

#[test]
fn hand_built_trees_are_checked_too() {
    let nested = Filter::ValuePath {
        attr: AttrPath::name("emails"),
        filter: Box::new(Filter::ValuePath {
            attr: AttrPath::name("type"),
            filter: Box::new(Filter::Present(AttrPath::name("value"))),
        }),
    };
    assert!(resolve(&nested, &USER_RESOURCE).is_err());
    let dotted = Filter::ValuePath {
        attr: AttrPath::name("emails"),
        filter: Box::new(Filter::Present(AttrPath {
            urn: None,
            attr: "emails".into(),
            sub: Some("value".into()),
        })),
    };
    assert!(
        resolve(&dotted, &USER_RESOURCE)
            .unwrap_err()
            .detail
            .contains("plain sub-attribute names")
    );
}

#[test]
fn groups() {
    let g = json!({
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {"value": "2819c223-7f76-453a-919d-413861904646", "type": "User"},
            {"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "Group"}
        ]
    });
    assert!(m_on(&GROUP_RESOURCE, &g, r#"displayName eq "tour guides""#));
    assert!(m_on(
        &GROUP_RESOURCE,
        &g,
        r#"members.value eq "902c246b-6245-4190-8e05-00816be7344a""#
    ));
    assert!(m_on(
        &GROUP_RESOURCE,
        &g,
        r#"members[type eq "Group" and value sw "902c"]"#
    ));
    assert!(!m_on(
        &GROUP_RESOURCE,
        &g,
        r#"members[type eq "User" and value sw "902c"]"#
    ));
}

#[test]
fn odd_documents_do_not_match_and_do_not_fail() {
    for doc in [
        json!(null),
        json!([]),
        json!("x"),
        json!({"emails": "x", "name": 5, "meta": []}),
    ] {
        for f in [
            "userName pr",
            r#"emails[type eq "work"]"#,
            "name.givenName eq \"x\"",
            "meta.created gt \"2020-01-01T00:00:00Z\"",
        ] {
            assert!(!m_on(&USER_RESOURCE, &doc, f), "{f} on {doc}");
        }
    }
    // Non-canonical spelling of keys still matches.
    assert!(m_on(
        &USER_RESOURCE,
        &json!({"USERNAME": "a"}),
        r#"userName eq "a""#
    ));
    assert!(!m_on(
        &USER_RESOURCE,
        &json!({"active": "maybe"}),
        "active eq true"
    ));
}
