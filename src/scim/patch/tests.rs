use serde_json::{Value, json};

use super::*;
use crate::scim::ScimType;
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE, USER_SCHEMA};

const ENT: &str = ENTERPRISE_USER_SCHEMA;
const ID: &str = "0190a1b2-0000-7000-8000-000000000001";

fn base() -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": "bjensen",
        "name": { "givenName": "Barbara", "familyName": "Jensen" },
        "active": true,
        "emails": [
            { "value": "b@work.example", "type": "work", "primary": true },
            { "value": "b@home.example", "type": "home" },
        ],
    })
}

fn body(ops: Value) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops })
}

fn run(doc: &Value, ops: Value) -> Result<Outcome, ScimError> {
    let req = PatchRequest::parse(&body(ops), &FilterLimits::default())?;
    apply(&USER_RESOURCE, doc, ID, &req)
}

fn patched(ops: Value) -> Value {
    run(&base(), ops).expect("patch applies").doc
}

fn error(ops: Value) -> ScimError {
    run(&base(), ops).expect_err("patch fails")
}

#[test]
fn ops_in_any_case_and_delete_as_remove() {
    for op in ["replace", "Replace", "REPLACE"] {
        let doc = patched(json!([{ "op": op, "path": "active", "value": false }]));
        assert_eq!(doc["active"], false);
    }
    let doc = patched(json!([{ "op": "Delete", "path": "name.givenName" }]));
    assert_eq!(doc["name"], json!({ "familyName": "Jensen" }));
    assert_eq!(OpKind::parse("update"), None);
}

#[test]
fn request_shape() {
    let limits = FilterLimits::default();
    // Keys in any case, schemas may be absent, unknown keys ignored.
    let req = PatchRequest::parse(
        &json!({ "operations": [{ "OP": "add", "PATH": "title", "VALUE": "x", "extra": 1 }] }),
        &limits,
    )
    .unwrap();
    assert_eq!(req.operations[0].op, OpKind::Add);
    assert_eq!(req.operations[0].value, Some(json!("x")));
    for (bad, kind) in [
        (
            json!({ "schemas": ["urn:x"], "Operations": [] }),
            ScimType::InvalidSyntax,
        ),
        (json!({ "Operations": [] }), ScimType::InvalidSyntax),
        (json!({ "Operations": {} }), ScimType::InvalidSyntax),
        (json!([]), ScimType::InvalidSyntax),
        (
            json!({ "Operations": [{ "path": "title" }] }),
            ScimType::InvalidSyntax,
        ),
        (
            json!({ "Operations": [{ "op": "update", "path": "title" }] }),
            ScimType::InvalidSyntax,
        ),
        (
            json!({ "Operations": [{ "op": "remove" }] }),
            ScimType::NoTarget,
        ),
        (
            json!({ "Operations": [{ "op": "add" }] }),
            ScimType::InvalidValue,
        ),
        (
            json!({ "Operations": [{ "op": "add", "path": "emails[type eq", "value": 1 }] }),
            ScimType::InvalidPath,
        ),
        (
            json!({ "Operations": [{ "op": "add", "path": 7, "value": 1 }] }),
            ScimType::InvalidPath,
        ),
    ] {
        let e = PatchRequest::parse(&bad, &limits).expect_err(&bad.to_string());
        assert_eq!(e.scim_type, Some(kind), "{bad}: {e}");
    }
}

#[test]
fn paths_parse() {
    let limits = FilterLimits::default();
    let p = PatchPath::parse(r#"emails[type eq "work"].value"#, &limits).unwrap();
    assert_eq!(
        (p.attr.as_str(), p.sub.as_deref()),
        ("emails", Some("value"))
    );
    assert!(p.filter.is_some());
    let p = PatchPath::parse(&format!("{ENT}:manager.value"), &limits).unwrap();
    assert_eq!(p.urn.as_deref(), Some(ENT));
    assert_eq!(
        (p.attr.as_str(), p.sub.as_deref()),
        ("manager", Some("value"))
    );
    let p = PatchPath::parse(r#"members[value eq "a]b"]"#, &limits).unwrap();
    assert!(p.filter.is_some());
    for bad in [
        "",
        "1abc",
        "name..x",
        "emails[type eq \"w\"]x",
        "name.givenName[type eq \"x\"]",
        "a b",
    ] {
        assert!(PatchPath::parse(bad, &limits).is_err(), "{bad}");
    }
}

#[test]
fn unknown_and_read_only_paths() {
    let e = error(json!([{ "op": "replace", "path": "nosuch", "value": "x" }]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = error(json!([{ "op": "replace", "path": "name.nosuch", "value": "x" }]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = error(json!([{ "op": "replace", "path": "title[value eq \"x\"]", "value": "x" }]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = error(json!([{ "op": "replace", "path": "emails[nosuch eq \"x\"]", "value": {} }]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    for path in [
        "id",
        "meta.created",
        "groups",
        &format!("{ENT}:manager.displayName"),
    ] {
        let e = error(json!([{ "op": "replace", "path": path, "value": "x" }]));
        assert_eq!(e.scim_type, Some(ScimType::Mutability), "{path}");
    }
    // Path-less: a matching id and meta are echoes, ignored; another id is not.
    let doc = patched(json!([{ "op": "replace", "value": {
        "id": ID, "meta": { "version": "W/\"9\"" }, "schemas": [USER_SCHEMA], "title": "T" } }]));
    assert_eq!(doc["title"], "T");
    assert!(doc.get("id").is_none() && doc.get("meta").is_none());
    let e = error(json!([{ "op": "replace", "value": { "id": "other" } }]));
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn simple_and_complex_attributes() {
    let doc = patched(json!([
        { "op": "add", "path": "title", "value": "Tour Guide" },
        { "op": "replace", "path": "name", "value": { "givenName": "Babs" } },
        { "op": "add", "path": "name.middleName", "value": "J" },
        { "op": "remove", "path": "nickName" },
    ]));
    assert_eq!(doc["title"], "Tour Guide");
    // Sub-attributes the value does not name stay (RFC 7644 §3.5.2.3).
    assert_eq!(
        doc["name"],
        json!({ "givenName": "Babs", "familyName": "Jensen", "middleName": "J" })
    );
    let doc = patched(json!([{ "op": "remove", "path": "name" }]));
    assert!(doc.get("name").is_none());
    let doc = patched(
        json!([{ "op": "remove", "path": "name.givenName" }, { "op": "remove", "path": "name.familyName" }]),
    );
    assert!(doc.get("name").is_none(), "an emptied complex value goes");
}

#[test]
fn booleans_as_strings() {
    for (v, want) in [
        ("True", true),
        ("False", false),
        ("true", true),
        ("false", false),
    ] {
        let doc = patched(json!([{ "op": "Replace", "path": "active", "value": v }]));
        assert_eq!(doc["active"], want, "{v}");
    }
    let e = error(json!([{ "op": "replace", "path": "active", "value": "yes" }]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    // And inside value filters.
    let doc = patched(
        json!([{ "op": "replace", "path": "emails[primary eq \"True\"].value", "value": "new@work.example" }]),
    );
    assert_eq!(doc["emails"][0]["value"], "new@work.example");
}

#[test]
fn pathless_dotted_and_urn_keys() {
    let doc = patched(json!([{ "op": "replace", "value": {
        "name.givenName": "Babs",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984",
        "urn:ietf:params:scim:schemas:core:2.0:User:title": "Guide",
        ENT: { "department": "Tour" },
        "unknownThing": 1,
        "active": false,
    } }]));
    assert_eq!(doc["name"]["givenName"], "Babs");
    assert_eq!(doc["name"]["familyName"], "Jensen");
    assert_eq!(
        doc[ENT],
        json!({ "employeeNumber": "701984", "department": "Tour" })
    );
    assert_eq!(doc["title"], "Guide");
    assert_eq!(doc["active"], false);
    assert!(doc.get("unknownThing").is_none());
}

#[test]
fn manager_shapes() {
    let path = format!("{ENT}:manager");
    for v in [
        json!("m1"),
        json!({ "value": "m1" }),
        json!([{ "value": "m1" }]),
        json!(["m1"]),
    ] {
        let doc = patched(json!([{ "op": "replace", "path": path, "value": v }]));
        assert_eq!(doc[ENT]["manager"], json!({ "value": "m1" }), "{v}");
    }
    let with = patched(json!([{ "op": "add", "path": "manager", "value": "m1" }]));
    assert_eq!(
        with[ENT]["manager"],
        json!({ "value": "m1" }),
        "unqualified extension name"
    );
    for v in [json!(""), Value::Null] {
        let doc = run(
            &with,
            json!([{ "op": "replace", "path": path, "value": v }]),
        )
        .unwrap()
        .doc;
        assert!(doc.get(ENT).is_none(), "{v}: an emptied extension goes");
    }
    let doc = run(
        &with,
        json!([{ "op": "replace", "value": { format!("{path}"): "" } }]),
    )
    .unwrap()
    .doc;
    assert!(doc.get(ENT).is_none());
    let doc = run(&with, json!([{ "op": "remove", "path": ENT }]))
        .unwrap()
        .doc;
    assert!(doc.get(ENT).is_none());
}

#[test]
fn value_filters() {
    let doc = patched(
        json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "n@work.example" }]),
    );
    assert_eq!(
        doc["emails"][0],
        json!({ "value": "n@work.example", "type": "work", "primary": true })
    );
    let doc = patched(json!([{ "op": "remove", "path": "emails[type eq \"home\"]" }]));
    assert_eq!(doc["emails"].as_array().unwrap().len(), 1);
    let doc = patched(json!([{ "op": "remove", "path": "emails[type eq \"home\"].type" }]));
    assert_eq!(doc["emails"][1], json!({ "value": "b@home.example" }));
    // A filter matching nothing: remove and replace-without-creatable are noTarget.
    let e = error(json!([{ "op": "remove", "path": "emails[type eq \"other\"]" }]));
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let e = error(
        json!([{ "op": "replace", "path": "emails[value co \"zzz\"].type", "value": "work" }]),
    );
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn add_to_a_filter_matching_nothing_creates_the_value() {
    let doc = patched(
        json!([{ "op": "add", "path": "phoneNumbers[type eq \"work\"].value", "value": "555" }]),
    );
    assert_eq!(
        doc["phoneNumbers"],
        json!([{ "type": "work", "value": "555" }])
    );
    // Entra sends replace for the same thing.
    let doc = patched(
        json!([{ "op": "Replace", "path": "emails[type eq \"other\"].value", "value": "o@x" }]),
    );
    assert_eq!(doc["emails"][2], json!({ "type": "other", "value": "o@x" }));
    let doc = patched(
        json!([{ "op": "add", "path": "roles[primary eq \"True\"].value", "value": "admin" }]),
    );
    assert_eq!(doc["roles"], json!([{ "primary": true, "value": "admin" }]));
}

#[test]
fn multi_valued_keep_one_primary_and_one_value_per_type() {
    let doc = patched(
        json!([{ "op": "add", "path": "emails", "value": [{ "value": "c@x", "type": "other", "primary": true }] }]),
    );
    let emails = doc["emails"].as_array().unwrap();
    assert_eq!(emails.iter().filter(|e| e["primary"] == true).count(), 1);
    assert_eq!(emails[2]["value"], "c@x");
    let doc = patched(
        json!([{ "op": "add", "path": "emails", "value": { "value": "w2@x", "type": "work" } }]),
    );
    let emails = doc["emails"].as_array().unwrap();
    assert_eq!(
        emails.len(),
        2,
        "the newest work email replaces the old one"
    );
    assert_eq!(
        emails[0],
        json!({ "value": "w2@x", "type": "work" }),
        "in place"
    );
    // An equal value is not added twice.
    let doc =
        patched(json!([{ "op": "add", "path": "emails", "value": base()["emails"].clone() }]));
    assert_eq!(doc["emails"], base()["emails"]);
    // Setting primary through a filter clears the others.
    let doc = patched(
        json!([{ "op": "replace", "path": "emails[type eq \"home\"].primary", "value": true }]),
    );
    assert_eq!(doc["emails"][0].get("primary"), None);
    assert_eq!(doc["emails"][1]["primary"], true);
    let doc = patched(
        json!([{ "op": "remove", "path": "emails", "value": [{ "value": "b@home.example" }] }]),
    );
    assert_eq!(doc["emails"].as_array().unwrap().len(), 1);
}

#[test]
fn invalid_values() {
    for (path, v) in [
        ("title", json!(5)),
        ("name", json!("x")),
        ("emails", json!(["x"])),
        ("x509Certificates", json!([{ "value": "!" }])),
    ] {
        let e = error(json!([{ "op": "add", "path": path, "value": v }]));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{path}");
    }
    let e = error(json!([{ "op": "add", "value": "not an object" }]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn operations_apply_in_order_and_errors_name_the_operation() {
    let doc = patched(json!([
        { "op": "add", "path": "title", "value": "A" },
        { "op": "replace", "path": "title", "value": "B" },
    ]));
    assert_eq!(doc["title"], "B");
    let e = error(json!([
        { "op": "add", "path": "title", "value": "A" },
        { "op": "add", "path": "nosuch", "value": "B" },
    ]));
    assert!(e.detail.starts_with("operation 2:"), "{}", e.detail);
}

#[test]
fn password_is_set_or_cleared() {
    let out = run(
        &base(),
        json!([{ "op": "replace", "path": "password", "value": "s3cret" }]),
    )
    .unwrap();
    assert_eq!(out.doc["password"], "s3cret");
    assert!(!out.clear_password);
    let out = run(&base(), json!([{ "op": "remove", "path": "password" }])).unwrap();
    assert!(out.clear_password);
}

fn group(ops: Value) -> Result<Outcome, ScimError> {
    let req = PatchRequest::parse(&body(ops), &FilterLimits::default())?;
    apply(
        &GROUP_RESOURCE,
        &json!({ "schemas": [crate::scim::schema::GROUP_SCHEMA], "displayName": "G" }),
        ID,
        &req,
    )
}

fn ids(list: &[&str]) -> std::collections::BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn members_become_deltas() {
    let out = group(json!([
        { "op": "add", "path": "members", "value": [{ "value": "a" }, { "value": "b", "type": "User" }] },
        { "op": "remove", "path": "members[value eq \"b\"]" },
        { "op": "Remove", "path": "members", "value": [{ "value": "c" }] },
        { "op": "replace", "path": "displayName", "value": "H" },
    ]))
    .unwrap();
    assert_eq!(out.doc["displayName"], "H");
    assert!(
        out.doc.get("members").is_none(),
        "members never enter the document"
    );
    assert_eq!(
        out.members,
        MemberDelta {
            remove_all: false,
            add: ids(&["a"]),
            remove: ids(&["b", "c"])
        }
    );

    let out = group(json!([{ "op": "replace", "path": "members", "value": [] }])).unwrap();
    assert_eq!(
        out.members,
        MemberDelta {
            remove_all: true,
            ..Default::default()
        }
    );
    let out = group(json!([{ "op": "remove", "path": "members" }, { "op": "add", "path": "members", "value": { "value": "x" } }])).unwrap();
    assert_eq!(
        out.members,
        MemberDelta {
            remove_all: true,
            add: ids(&["x"]),
            ..Default::default()
        }
    );
    let out = group(json!([{ "op": "replace", "value": { "displayName": "Z", "members": [{ "value": "y" }] } }])).unwrap();
    assert_eq!(
        out.members,
        MemberDelta {
            remove_all: true,
            add: ids(&["y"]),
            ..Default::default()
        }
    );
    let out =
        group(json!([{ "op": "remove", "path": "members[value eq \"p\" or value eq \"q\"]" }]))
            .unwrap();
    assert_eq!(out.members.remove, ids(&["p", "q"]));

    let e = group(json!([{ "op": "remove", "path": "members[display eq \"x\"]" }])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = group(
        json!([{ "op": "replace", "path": "members[value eq \"x\"].display", "value": "d" }]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    let e = group(json!([{ "op": "add", "path": "members", "value": [{ "type": "User" }] }]))
        .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

/// Found by the HTTP property test: a typed add replaced out of place, so
/// a replay reordered the values.
#[test]
fn replay_keeps_the_order_of_typed_values() {
    let ops = json!([
        { "op": "replace", "path": "emails[type eq \"other\"].primary", "value": true },
        { "op": "add", "path": "emails", "value": [{ "type": "other", "value": "2@o" }] },
        { "op": "add", "path": "emails", "value": [{ "type": "work", "value": "2@w" }] },
    ]);
    let once = run(&base(), ops.clone()).unwrap().doc;
    let twice = run(&once, ops).unwrap().doc;
    assert_eq!(once, twice);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn op() -> impl Strategy<Value = Value> {
        let title = prop::sample::select(vec!["A", "B", ""]);
        let kind = prop::sample::select(vec!["work", "home", "other"]);
        let flag = prop::sample::select(vec!["True", "false"]);
        prop_oneof![
            title.prop_map(|t| json!({ "op": "replace", "path": "title", "value": t })),
            flag.prop_map(|f| json!({ "op": "Replace", "path": "active", "value": f })),
            (kind.clone(), 0..3u8).prop_map(|(k, n)| json!({ "op": "add", "path": "emails",
                "value": [{ "value": format!("{n}@x"), "type": k }] })),
            (kind, 0..3u8).prop_map(|(k, n)| json!({ "op": "add",
                "path": format!("phoneNumbers[type eq \"{k}\"].value"), "value": format!("{n}") })),
            Just(json!({ "op": "remove", "path": "name.givenName" })),
            Just(
                json!({ "op": "replace", "value": { "name.familyName": "F", ENT: { "department": "D" } } })
            ),
            Just(json!({ "op": "remove", "path": "nickName" })),
            Just(
                json!({ "op": "replace", "path": "emails[type eq \"other\"].primary", "value": true })
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// replace, set-like add and plain remove: once = twice.
        #[test]
        fn replaying_is_idempotent(ops in prop::collection::vec(op(), 1..6)) {
            let once = run(&base(), Value::Array(ops.clone())).unwrap().doc;
            let twice = run(&once, Value::Array(ops)).unwrap().doc;
            prop_assert_eq!(once, twice);
        }
    }
}
