//! The Enterprise User extension, RFC 7643 §4.3, with the characteristics of
//! §8.7.1.

use super::build::{attr, string};
use super::{AttrType, ENTERPRISE_USER_SCHEMA, SchemaDef};

pub static ENTERPRISE_USER: SchemaDef = SchemaDef {
    strict: false,
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[
        string(
            "employeeNumber",
            "Identifier assigned to a person, typically based on order of hire.",
        ),
        string("costCenter", "Identifies the name of a cost center."),
        string("organization", "Identifies the name of an organization."),
        string("division", "Identifies the name of a division."),
        string("department", "Identifies the name of a department."),
        attr("manager", AttrType::Complex, "The User's manager.").subs(&[
            string(
                "value",
                "The id of the SCIM resource representing the User's manager.",
            ),
            attr(
                "$ref",
                AttrType::Reference,
                "The URI of the SCIM resource representing the User's manager.",
            )
            .refs(&["User"]),
            string("displayName", "The displayName of the User's manager.").read_only(),
        ]),
    ],
};
