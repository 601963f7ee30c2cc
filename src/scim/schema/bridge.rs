//! scim-bridge's own User extension: what the internal IAM owns about an
//! account, shown read-only to identity providers (and only when asked for
//! with `attributes=`): the effective permissions with their sources, the
//! effective attributes with their layer, and whether an administrator
//! disabled the account.

use super::build::{attr, string};
use super::{AttrType, BRIDGE_USER_SCHEMA, Returned, SchemaDef};

pub static BRIDGE_USER: SchemaDef = SchemaDef {
    strict: false,
    id: BRIDGE_USER_SCHEMA,
    name: "BridgeUser",
    description: "What the internal IAM owns about the account (read-only over SCIM)",
    attributes: &[
        attr(
            "permissions",
            AttrType::Complex,
            "The account's effective permissions, each with where it comes from.",
        )
        .multi()
        .read_only()
        .returned(Returned::Request)
        .subs(&[
            string("value", "The permission's name.").read_only(),
            string(
                "source",
                "direct, iam-default, or group:<id> for a group's mapping.",
            )
            .read_only(),
        ]),
        attr(
            "attributes",
            AttrType::Complex,
            "The account's effective attributes: one entry per key and value.",
        )
        .multi()
        .read_only()
        .returned(Returned::Request)
        .subs(&[
            string("name", "The attribute's key.").read_only(),
            string("value", "One of its values.").read_only(),
        ]),
        attr(
            "disabled",
            AttrType::Boolean,
            "Disabled by an administrator, whatever the identity provider's active says.",
        )
        .read_only()
        .returned(Returned::Request),
    ],
};
