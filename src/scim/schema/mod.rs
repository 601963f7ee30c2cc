//! Attribute definitions: the one source of truth for the SCIM schemas.
//! Validation, mutability, `returned`, projection, filter case rules and the
//! `/Schemas` and `/ResourceTypes` documents are all derived from these.

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// scim-bridge's own User extension (internal IAM data, read-only).
pub const BRIDGE_USER_SCHEMA: &str = "urn:scim-bridge:schemas:extension:bridge:2.0:User";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

mod bridge;
mod build;
pub mod catalogue;
pub mod custom;
mod enterprise;
mod group;
mod user;

pub use bridge::BRIDGE_USER;
pub use enterprise::ENTERPRISE_USER;
pub use group::GROUP;
pub use user::{USER, USER_GOVERNED};

use build::{attr, string};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

#[derive(Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub description: &'static str,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttrDef],
}

#[derive(Debug)]
pub struct SchemaDef {
    /// A custom extension an IAM declared (`custom.rs`): its attributes are
    /// all it has, so a value under any other name is refused rather than
    /// ignored (an undeclared extension as a whole is still ignored).
    pub strict: bool,
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

#[derive(Debug)]
pub struct ResourceTypeDef {
    /// "User" / "Group": also `meta.resourceType`.
    pub name: &'static str,
    /// "/Users" / "/Groups".
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static SchemaDef,
    /// Extension schemas and whether each is required.
    pub extensions: &'static [(&'static SchemaDef, bool)],
}

impl AttrType {
    /// The name used in `/Schemas` documents (RFC 7643 §7).
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

impl AttrDef {
    /// Sub-attribute by name, case-insensitively.
    pub fn sub(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Strings compare case-insensitively unless the attribute says otherwise.
    pub fn is_case_insensitive_string(&self) -> bool {
        matches!(self.ty, AttrType::String | AttrType::Reference) && !self.case_exact
    }

    /// Whether a client may set this attribute in a POST or PUT body:
    /// everything except `readOnly` (RFC 7643 §2.2).
    pub fn is_client_writable(&self) -> bool {
        self.mutability != Mutability::ReadOnly
    }
}

impl SchemaDef {
    /// Top-level attribute by name, case-insensitively.
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

impl ResourceTypeDef {
    /// The core schema followed by the extensions.
    pub fn schemas(&self) -> impl Iterator<Item = &'static SchemaDef> + '_ {
        std::iter::once(self.schema).chain(self.extensions.iter().map(|(s, _)| *s))
    }

    /// The schema (core or extension) with this URN, case-insensitively.
    pub fn schema_by_urn(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.schemas().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Resolves an attribute reference: `urn` (None means the core schema),
    /// the attribute name and an optional sub-attribute name. Returns the
    /// schema it belongs to, the attribute and the sub-attribute. The common
    /// attributes (`id`, `externalId`, `meta`) resolve against the core
    /// schema, which is returned as their schema.
    pub fn resolve(
        &self,
        urn: Option<&str>,
        attr: &str,
        sub: Option<&str>,
    ) -> Option<(
        &'static SchemaDef,
        &'static AttrDef,
        Option<&'static AttrDef>,
    )> {
        let schema = match urn {
            Some(u) => self.schema_by_urn(u)?,
            None => self.schema,
        };
        let a = match schema.attr(attr) {
            Some(a) => a,
            None if std::ptr::eq(schema, self.schema) => common_attr(attr)?,
            None => return None,
        };
        let s = match sub {
            Some(name) => Some(a.sub(name)?),
            None => None,
        };
        Some((schema, a, s))
    }
}

/// `id`, `externalId` and `meta`: part of every resource but of no schema
/// (RFC 7643 §3.1), so they never appear in `/Schemas` documents.
pub static COMMON_ATTRIBUTES: &[AttrDef] = &[
    string(
        "id",
        "A unique identifier for the resource, assigned by the service provider.",
    )
    .case_exact()
    .read_only()
    .returned(Returned::Always)
    .unique(Uniqueness::Server),
    string(
        "externalId",
        "An identifier for the resource as defined by the provisioning client.",
    )
    .case_exact(),
    attr(
        "meta",
        AttrType::Complex,
        "Resource metadata maintained by the service provider.",
    )
    .read_only()
    .subs(&[
        string(
            "resourceType",
            "The name of the resource type of the resource.",
        )
        .case_exact()
        .read_only(),
        attr(
            "created",
            AttrType::DateTime,
            "When the resource was added to the service provider.",
        )
        .read_only(),
        attr(
            "lastModified",
            AttrType::DateTime,
            "When the resource was last updated.",
        )
        .read_only(),
        attr("location", AttrType::Reference, "The URI of the resource.")
            .case_exact()
            .read_only(),
        string("version", "The version (weak ETag) of the resource.")
            .case_exact()
            .read_only(),
    ]),
];

/// A common attribute by name, case-insensitively.
pub fn common_attr(name: &str) -> Option<&'static AttrDef> {
    COMMON_ATTRIBUTES
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

pub static USER_RESOURCE: ResourceTypeDef = ResourceTypeDef {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER,
    extensions: &[(&ENTERPRISE_USER, false), (&BRIDGE_USER, false)],
};

/// The User resource type of an IAM whose identity provider governs
/// permissions: its core schema is [`USER_GOVERNED`].
pub static USER_RESOURCE_GOVERNED: ResourceTypeDef = ResourceTypeDef {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER_GOVERNED,
    extensions: USER_RESOURCE.extensions,
};

pub static GROUP_RESOURCE: ResourceTypeDef = ResourceTypeDef {
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP,
    extensions: &[],
};

pub static RESOURCE_TYPES: &[&ResourceTypeDef] = &[&USER_RESOURCE, &GROUP_RESOURCE];

/// A resource type by name ("User", "group"), case-insensitively.
pub fn resource_type(name: &str) -> Option<&'static ResourceTypeDef> {
    RESOURCE_TYPES
        .iter()
        .copied()
        .find(|rt| rt.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_schemas() -> Vec<&'static SchemaDef> {
        vec![&USER, &GROUP, &ENTERPRISE_USER, &BRIDGE_USER]
    }

    fn assert_unique_names(attrs: &[AttrDef], context: &str) {
        for (i, a) in attrs.iter().enumerate() {
            for b in &attrs[i + 1..] {
                assert!(
                    !a.name.eq_ignore_ascii_case(b.name),
                    "{context}: duplicate {}",
                    a.name
                );
            }
            assert_unique_names(a.sub_attributes, a.name);
            // SCIM allows one level of nesting only (RFC 7643 §2.3.8).
            for s in a.sub_attributes {
                assert!(s.sub_attributes.is_empty(), "{}.{} nests", a.name, s.name);
            }
        }
    }

    #[test]
    fn names_are_unique_and_nesting_is_one_level() {
        for s in all_schemas() {
            assert_unique_names(s.attributes, s.id);
        }
        assert_unique_names(COMMON_ATTRIBUTES, "common");
    }

    #[test]
    fn user_has_every_rfc_attribute() {
        let names: Vec<_> = USER.attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "userName",
                "name",
                "displayName",
                "nickName",
                "profileUrl",
                "title",
                "userType",
                "preferredLanguage",
                "locale",
                "timezone",
                "active",
                "password",
                "emails",
                "phoneNumbers",
                "ims",
                "photos",
                "addresses",
                "groups",
                "entitlements",
                "roles",
                "x509Certificates",
            ]
        );
        let user_name = USER.attr("USERNAME").unwrap();
        assert!(user_name.required && !user_name.case_exact);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);
        let password = USER.attr("password").unwrap();
        assert_eq!(password.mutability, Mutability::WriteOnly);
        assert_eq!(password.returned, Returned::Never);
        assert_eq!(
            USER.attr("profileUrl").unwrap().reference_types,
            ["external"]
        );
        let x509 = USER.attr("x509certificates").unwrap().sub("VALUE").unwrap();
        assert_eq!(x509.ty, AttrType::Binary);
    }

    #[test]
    fn multi_valued_complex_attributes_have_the_rfc_sub_attributes() {
        for a in USER.attributes.iter().filter(|a| a.multi_valued) {
            assert_eq!(a.ty, AttrType::Complex, "{}", a.name);
            assert!(a.sub("type").is_some(), "{}.type", a.name);
            if a.name != "addresses" {
                assert!(a.sub("display").is_some(), "{}.display", a.name);
            }
            if a.name != "groups" {
                assert!(a.sub("primary").is_some(), "{}.primary", a.name);
            }
        }
        let addresses = USER.attr("addresses").unwrap();
        for sub in [
            "formatted",
            "streetAddress",
            "locality",
            "region",
            "postalCode",
            "country",
        ] {
            assert!(addresses.sub(sub).is_some(), "addresses.{sub}");
        }
    }

    #[test]
    fn read_only_parts_are_read_only() {
        let groups = USER.attr("groups").unwrap();
        assert_eq!(groups.mutability, Mutability::ReadOnly);
        assert!(
            groups
                .sub_attributes
                .iter()
                .all(|s| !s.is_client_writable())
        );
        assert_eq!(
            groups.sub("type").unwrap().canonical_values,
            ["direct", "indirect"]
        );
        assert_eq!(
            groups.sub("$REF").unwrap().reference_types,
            ["User", "Group"]
        );
        let manager = ENTERPRISE_USER.attr("manager").unwrap();
        assert!(!manager.sub("displayName").unwrap().is_client_writable());
        assert!(manager.sub("value").unwrap().is_client_writable());
    }

    #[test]
    fn group_members() {
        assert!(GROUP.attr("displayname").unwrap().required);
        let members = GROUP.attr("members").unwrap();
        assert!(members.multi_valued);
        assert_eq!(
            members.sub("value").unwrap().mutability,
            Mutability::Immutable
        );
        assert_eq!(
            members.sub("type").unwrap().canonical_values,
            ["User", "Group"]
        );
    }

    #[test]
    fn resolve_finds_common_attributes_in_the_core_schema_only() {
        let (s, a, sub) = USER_RESOURCE.resolve(None, "ID", None).unwrap();
        assert_eq!((s.id, a.name, sub.is_none()), (USER_SCHEMA, "id", true));
        assert_eq!(a.returned, Returned::Always);
        assert!(a.case_exact);
        let (_, _, sub) = GROUP_RESOURCE
            .resolve(
                Some("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP"),
                "meta",
                Some("created"),
            )
            .unwrap();
        assert_eq!(sub.unwrap().ty, AttrType::DateTime);
        assert!(
            USER_RESOURCE
                .resolve(None, "externalId", None)
                .unwrap()
                .1
                .case_exact
        );
        assert!(
            USER_RESOURCE
                .resolve(Some(ENTERPRISE_USER_SCHEMA), "id", None)
                .is_none()
        );
        assert!(USER_RESOURCE.resolve(None, "nosuch", None).is_none());
        assert!(
            USER_RESOURCE
                .resolve(None, "name", Some("nosuch"))
                .is_none()
        );
    }

    #[test]
    fn resolve_finds_extension_attributes() {
        let urn = "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user";
        let (s, a, sub) = USER_RESOURCE
            .resolve(Some(urn), "Manager", Some("Value"))
            .unwrap();
        assert_eq!(
            (s.id, a.name, sub.unwrap().name),
            (ENTERPRISE_USER_SCHEMA, "manager", "value")
        );
        assert!(GROUP_RESOURCE.resolve(Some(urn), "manager", None).is_none());
    }

    #[test]
    fn resource_types() {
        assert_eq!(RESOURCE_TYPES.len(), 2);
        assert_eq!(resource_type("user").unwrap().endpoint, "/Users");
        assert_eq!(resource_type("GROUP").unwrap().endpoint, "/Groups");
        assert_eq!(USER_RESOURCE.extensions.len(), 2);
        assert!(
            USER_RESOURCE
                .extensions
                .iter()
                .all(|(_, required)| !required)
        );
        assert!(GROUP_RESOURCE.extensions.is_empty());
        assert!(resource_type("Device").is_none());
    }
}
