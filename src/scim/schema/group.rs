//! The core Group schema, RFC 7643 §4.2, with the characteristics of §8.7.1.

use super::build::{attr, display, string};
use super::{AttrType, GROUP_SCHEMA, Mutability, Returned, SchemaDef};

pub static GROUP: SchemaDef = SchemaDef {
    strict: false,
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: &[
        // §8.7.1 says required false while §4.2 says REQUIRED; we require it,
        // since it is the group's unique handle for every client we serve.
        string(
            "displayName",
            "A human-readable name for the Group. REQUIRED.",
        )
        .required(),
        attr(
            "members",
            AttrType::Complex,
            "A list of members of the Group.",
        )
        .multi()
        .subs(&[
            string("value", "Identifier of the member of this Group.")
                .mutability(Mutability::Immutable),
            attr(
                "$ref",
                AttrType::Reference,
                "The URI of the SCIM resource that is a member of this Group.",
            )
            .refs(&["User", "Group"])
            .mutability(Mutability::Immutable),
            // Not in §8.7.1; the server fills it in from the member (its
            // userName or displayName) and a client cannot set it, so it is
            // returned only when asked for (`attributes=members.display`):
            // by default a client reads back the members as it wrote them
            // (value, $ref, type), as a PATCH or PUT response included
            // (RFC 7643 §2.2 "returned", §7; RFC 7644 §3.5.2, §3.9).
            display().read_only().returned(Returned::Request),
            string(
                "type",
                "The type of the member resource, 'User' or 'Group'.",
            )
            .canonical(&["User", "Group"])
            .mutability(Mutability::Immutable),
        ]),
    ],
};
