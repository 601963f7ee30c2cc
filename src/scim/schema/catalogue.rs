//! The catalogue over SCIM: `/Entitlements` (permissions) and `/Roles`,
//! read-only (draft-ietf-scim-roles-entitlements). Two spellings of the
//! same schemas, chosen per IAM: the IETF URNs, or Okta Identity
//! Governance's (it reads every resource type whose schema is one of its
//! own).

use serde::{Deserialize, Serialize};

use super::build::{attr, display, string};
use super::{AttrDef, AttrType, ResourceTypeDef, Returned, SchemaDef};

pub const ENTITLEMENT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Entitlement";
pub const ROLE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Role";
pub const OKTA_ENTITLEMENT_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Entitlement";
pub const OKTA_ROLE_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Role";

/// Which URNs an IAM's catalogue resources carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolesDialect {
    #[default]
    Ietf,
    Okta,
}

impl RolesDialect {
    pub fn entitlement(self) -> &'static ResourceTypeDef {
        match self {
            RolesDialect::Ietf => &ENTITLEMENT_RESOURCE,
            RolesDialect::Okta => &OKTA_ENTITLEMENT_RESOURCE,
        }
    }

    pub fn role(self) -> &'static ResourceTypeDef {
        match self {
            RolesDialect::Ietf => &ROLE_RESOURCE,
            RolesDialect::Okta => &OKTA_ROLE_RESOURCE,
        }
    }

    /// Every resource type an IAM of this dialect is shown: users,
    /// groups, then the catalogue's.
    pub fn resource_types(self) -> [&'static ResourceTypeDef; 4] {
        self.resource_types_with(super::custom::ResourceTypes::default())
    }

    /// [`RolesDialect::resource_types`] with an IAM's own User and Group
    /// (their declared schema extensions).
    pub fn resource_types_with(
        self,
        types: super::custom::ResourceTypes,
    ) -> [&'static ResourceTypeDef; 4] {
        [types.user, types.group, self.entitlement(), self.role()]
    }
}

/// The attributes every catalogue resource has (read-only, all of them).
macro_rules! catalogue_attributes {
    ($($extra:expr),* $(,)?) => {
        [
            string("value", "The name an account's roles or entitlements use for it.")
                .case_exact()
                .read_only()
                .returned(Returned::Always),
            display().read_only(),
            string("displayName", "A human-readable name.").read_only(),
            string("type", "What it is: permission or role.").read_only(),
            string("description", "What it grants.").read_only(),
            attr(
                "supported",
                AttrType::Boolean,
                "Whether it may be assigned through SCIM.",
            )
            .read_only(),
            $($extra),*
        ]
    };
}

/// A reference to another catalogue resource (`contains`, `containedBy`).
const fn reference(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::Complex, description)
        .multi()
        .read_only()
        .subs(&REFERENCE_SUBS)
}

static REFERENCE_SUBS: [AttrDef; 4] = [
    string("value", "The id of the resource.")
        .case_exact()
        .read_only(),
    display().read_only(),
    string("type", "Role or Entitlement.").read_only(),
    attr("$ref", AttrType::Reference, "Its URI.")
        .refs(&["Role", "Entitlement"])
        .read_only(),
];

static ENTITLEMENT_ATTRIBUTES: [AttrDef; 6] = catalogue_attributes!();
static ROLE_ATTRIBUTES: [AttrDef; 8] = catalogue_attributes!(
    reference("contains", "The roles and entitlements this role grants."),
    reference("containedBy", "The roles that contain this role."),
);

const ENTITLEMENT_DEF: SchemaDef = SchemaDef {
    strict: false,
    id: ENTITLEMENT_SCHEMA,
    name: "Entitlement",
    description: "A permission of the internal IAM's catalogue",
    attributes: &ENTITLEMENT_ATTRIBUTES,
};
const ROLE_DEF: SchemaDef = SchemaDef {
    strict: false,
    id: ROLE_SCHEMA,
    name: "Role",
    description: "A named bundle of permissions and of other roles",
    attributes: &ROLE_ATTRIBUTES,
};
pub static ENTITLEMENT: SchemaDef = ENTITLEMENT_DEF;
pub static ROLE: SchemaDef = ROLE_DEF;
pub static OKTA_ENTITLEMENT: SchemaDef = SchemaDef {
    id: OKTA_ENTITLEMENT_SCHEMA,
    ..ENTITLEMENT_DEF
};
pub static OKTA_ROLE: SchemaDef = SchemaDef {
    id: OKTA_ROLE_SCHEMA,
    ..ROLE_DEF
};

const ENTITLEMENT_TYPE: ResourceTypeDef = ResourceTypeDef {
    name: "Entitlement",
    endpoint: "/Entitlements",
    description: "The permission catalogue (read-only)",
    schema: &ENTITLEMENT,
    extensions: &[],
};
const ROLE_TYPE: ResourceTypeDef = ResourceTypeDef {
    name: "Role",
    endpoint: "/Roles",
    description: "Roles (read-only)",
    schema: &ROLE,
    extensions: &[],
};
pub static ENTITLEMENT_RESOURCE: ResourceTypeDef = ENTITLEMENT_TYPE;
pub static ROLE_RESOURCE: ResourceTypeDef = ROLE_TYPE;
pub static OKTA_ENTITLEMENT_RESOURCE: ResourceTypeDef = ResourceTypeDef {
    schema: &OKTA_ENTITLEMENT,
    ..ENTITLEMENT_TYPE
};
pub static OKTA_ROLE_RESOURCE: ResourceTypeDef = ResourceTypeDef {
    schema: &OKTA_ROLE,
    ..ROLE_TYPE
};
