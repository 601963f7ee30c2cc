use serde_json::{Value, json};

use super::eval::{bad_on, m_on};
use crate::scim::schema::{
    AttrDef, AttrType, Mutability, ResourceTypeDef, Returned, SchemaDef, Uniqueness,
};

// A resource type with the attribute types the standard schemas lack.

const fn def(name: &'static str, ty: AttrType) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi_valued: false,
        description: "",
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    }
}

static DEVICE_SCHEMA: SchemaDef = SchemaDef {
    strict: false,
    id: "urn:example:Device",
    name: "Device",
    description: "",
    attributes: &[
        def("port", AttrType::Integer),
        def("load", AttrType::Decimal),
        AttrDef {
            multi_valued: true,
            ..def("tags", AttrType::String)
        },
        AttrDef {
            multi_valued: true,
            ..def("ports", AttrType::Integer)
        },
        AttrDef {
            case_exact: true,
            ..def("serial", AttrType::String)
        },
        AttrDef {
            sub_attributes: &[
                def("value", AttrType::String),
                AttrDef {
                    returned: Returned::Never,
                    ..def("secret", AttrType::String)
                },
            ],
            multi_valued: true,
            ..def("keys", AttrType::Complex)
        },
    ],
};

static DEVICE: ResourceTypeDef = ResourceTypeDef {
    name: "Device",
    endpoint: "/Devices",
    description: "",
    schema: &DEVICE_SCHEMA,
    extensions: &[],
};

fn device() -> Value {
    json!({
        "port": 8080,
        "load": 0.25,
        "tags": ["Blue", "Green"],
        "ports": [22, 443, 18446744073709551615u64],
        "serial": "AbC-1",
        "keys": [{"value": "k1", "secret": "s"}]
    })
}

fn dm(filter: &str) -> bool {
    m_on(&DEVICE, &device(), filter)
}

#[test]
fn numbers_compare_numerically() {
    assert!(dm("port eq 8080"));
    assert!(dm("port eq 8080.0"));
    assert!(dm("port eq 8.08e3"));
    assert!(dm("port gt 999"));
    assert!(!dm("port lt 999"));
    assert!(dm("port ge 8080"));
    assert!(dm("port le 8080"));
    assert!(dm("port ne 80"));
    assert!(dm("load lt 0.5"));
    assert!(dm("load eq 0.25"));
    assert!(dm("load gt -1"));
    assert!(dm("ports eq 443"));
    assert!(dm("ports gt 18446744073709551614"));
    assert!(!dm("ports lt -5"));
    assert!(!dm("ports ne 22"));
    assert!(
        bad_on(&DEVICE, r#"port eq "8080""#).contains("compare a number attribute with a number")
    );
    assert!(bad_on(&DEVICE, "port co 80").contains("co, sw and ew apply only to strings"));
}

#[test]
fn multi_valued_simple_attributes() {
    assert!(dm(r#"tags eq "blue""#));
    assert!(dm(r#"tags sw "gr""#));
    assert!(!dm(r#"tags ne "GREEN""#));
    assert!(dm(r#"tags ne "red""#));
    assert!(dm("tags pr"));
    assert!(dm(r#"serial eq "AbC-1""#));
    assert!(!dm(r#"serial eq "abc-1""#));
    assert!(!dm(r#"serial co "bc""#));
    assert!(dm(r#"serial gt "AB""#));
    assert!(dm(r#"keys[value eq "K1"]"#));
    assert!(bad_on(&DEVICE, r#"keys.secret eq "s""#).contains("cannot be used in a filter"));
    assert!(bad_on(&DEVICE, r#"keys[secret eq "s"]"#).contains("cannot be used in a filter"));
    assert!(bad_on(&DEVICE, r#"keys[value pr].secret pr"#).contains("cannot be used in a filter"));
}
