//! Declarations: their canonical form, the tables built from them, and
//! the refusals.

use serde_json::{Value, json};

use super::parse::clash;
use super::*;
use crate::scim::schema::GROUP_RESOURCE;

const URN: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";

fn declare(attrs: Value) -> Result<Value, ScimError> {
    parse(&json!({"extensions": [{"id": URN, "resourceType": "User", "attributes": attrs}]}))
}

#[test]
fn a_declaration_is_spelled_out_and_builds_the_user_type() {
    let d = declare(json!([
        {"name": "costCenter", "type": "string"},
        {"name": "badge", "type": "complex", "multiValued": true,
         "subAttributes": [{"name": "value", "type": "integer", "returned": "ALWAYS"}]},
    ]))
    .unwrap();
    assert_eq!(d[0]["name"], "CustomExtensionName");
    assert_eq!(d[0]["attributes"][0]["mutability"], "readWrite");
    assert_eq!(
        d[0]["attributes"][1]["subAttributes"][0]["returned"],
        "always"
    );
    // What GET shows is accepted back unchanged (export / import).
    assert_eq!(parse(&json!({"extensions": d.clone()})).unwrap(), d);
    let types = ResourceTypes::of(&d).unwrap();
    assert!(std::ptr::eq(types.group, &GROUP_RESOURCE));
    let (s, a, _) = types.user.resolve(Some(URN), "COSTCENTER", None).unwrap();
    assert!(s.strict);
    assert_eq!(a.name, "costCenter");
    // Interned: the same declaration gives the same tables.
    assert!(std::ptr::eq(
        types.user,
        ResourceTypes::of(&d).unwrap().user
    ));
    assert_eq!(types.custom().count(), 1);
}

#[test]
fn a_governed_user_type_has_writable_entitlements_and_keeps_its_extensions() {
    use crate::scim::schema::{Mutability, USER_RESOURCE, USER_RESOURCE_GOVERNED};
    let plain = ResourceTypes::default().governed();
    assert!(std::ptr::eq(plain.user, &USER_RESOURCE_GOVERNED));
    let entitlements = plain.user.schema.attr("entitlements").unwrap();
    assert_eq!(entitlements.mutability, Mutability::ReadWrite);
    assert_eq!(
        entitlements.sub("value").unwrap().mutability,
        Mutability::ReadWrite
    );
    let base = USER_RESOURCE.schema.attr("entitlements").unwrap();
    assert_eq!(base.mutability, Mutability::ReadOnly);
    // Every other attribute is the same.
    for (a, b) in USER_RESOURCE
        .schema
        .attributes
        .iter()
        .zip(plain.user.schema.attributes)
        .filter(|(a, _)| a.name != "entitlements")
    {
        assert_eq!((a.name, a.mutability), (b.name, b.mutability));
    }
    let d = declare(json!([{"name": "costCenter", "type": "string"}])).unwrap();
    let declared = ResourceTypes::of(&d).unwrap();
    let governed = declared.governed();
    assert!(
        governed
            .user
            .resolve(Some(URN), "costCenter", None)
            .is_some()
    );
    assert!(std::ptr::eq(governed.group, declared.group));
    assert!(std::ptr::eq(governed.user, declared.governed().user));
    assert!(std::ptr::eq(governed.user, governed.governed().user));
}

#[test]
fn bad_declarations_say_what_is_wrong() {
    let cases = [
        (json!([{"name": "a", "type": "text"}]), "not one of"),
        (
            json!([{"name": "a", "type": "string"}, {"name": "A", "type": "string"}]),
            "declared twice",
        ),
        (
            json!([{"name": "9a", "type": "string"}]),
            "not an attribute name",
        ),
        (
            json!([{"name": "a", "type": "complex"}]),
            "needs subAttributes",
        ),
        (
            json!([{"name": "a", "type": "string", "subAttributes": [{"name": "b", "type": "string"}]}]),
            "only a complex",
        ),
        (
            json!([{"name": "a", "type": "string", "uniqueness": "server"}]),
            "uniqueness",
        ),
        (
            json!([{"name": "a", "type": "string", "multi": true}]),
            "unknown key",
        ),
        (
            json!([{"name": "a", "type": "string", "required": "yes"}]),
            "true or false",
        ),
        (json!([]), "at least one"),
    ];
    for (attrs, says) in cases {
        let e = declare(attrs.clone()).unwrap_err();
        assert!(e.detail.contains(says), "{attrs}: {}", e.detail);
    }
    for (id, says) in [
        ("not-a-urn", "not a schema URN"),
        ("urn:a b", "not a schema URN"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "built-in",
        ),
        ("urn:ietf:params:scim:schemas:core:2.0:User:x", "built-in"),
    ] {
        let e = parse(&json!({"extensions": [
            {"id": id, "resourceType": "User", "attributes": [{"name": "a", "type": "string"}]}
        ]}))
        .unwrap_err();
        assert!(e.detail.contains(says), "{id}: {}", e.detail);
    }
    let twice =
        json!({"id": URN, "resourceType": "User", "attributes": [{"name": "a", "type": "string"}]});
    let e = parse(&json!({"extensions": [twice.clone(), twice]})).unwrap_err();
    assert!(e.detail.contains("declared twice"), "{}", e.detail);
    let e = parse(&json!({"extensions": [
        {"id": URN, "resourceType": "Device", "attributes": [{"name": "a", "type": "string"}]}
    ]}))
    .unwrap_err();
    assert!(e.detail.contains("User or Group"), "{}", e.detail);
}

#[test]
fn clashes() {
    assert!(clash("urn:a:User", "URN:A:user"));
    assert!(clash("urn:a:User", "urn:a:User:x"));
    assert!(!clash("urn:a:User", "urn:a:Users"));
}
