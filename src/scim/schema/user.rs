//! The core User schema, RFC 7643 §4.1, with the characteristics of §8.7.1.

use super::build::{attr, display, kind, primary, string};
use super::{AttrType, Mutability, Returned, SchemaDef, USER_SCHEMA, Uniqueness};

/// The attributes of the core User schema; `entitlements` with the
/// mutability (and description) given, the only difference between
/// [`USER`] and [`USER_GOVERNED`]. A macro rather than a const fn: the
/// nested tables are promoted to `'static` only in a static's initializer.
macro_rules! user_attributes {
    ($entitlements:expr, $entitlements_description:expr) => {
        &[
            string(
                "userName",
                "Unique identifier for the User, typically used by the user to directly \
             authenticate to the service provider. REQUIRED.",
            )
            .required()
            .unique(Uniqueness::Server),
            attr(
                "name",
                AttrType::Complex,
                "The components of the user's real name.",
            )
            .subs(&[
                string("formatted", "The full name, formatted for display."),
                string("familyName", "The family name of the User, or last name."),
                string("givenName", "The given name of the User, or first name."),
                string("middleName", "The middle name(s) of the User."),
                string(
                    "honorificPrefix",
                    "The honorific prefix(es) of the User, or title.",
                ),
                string(
                    "honorificSuffix",
                    "The honorific suffix(es) of the User, or suffix.",
                ),
            ]),
            string(
                "displayName",
                "The name of the User, suitable for display to end-users.",
            ),
            string(
                "nickName",
                "The casual way to address the user in real life.",
            ),
            attr(
                "profileUrl",
                AttrType::Reference,
                "A fully qualified URL pointing to a page representing the User's online profile.",
            )
            .refs(&["external"]),
            string("title", "The user's title, such as \"Vice President\"."),
            string(
                "userType",
                "Used to identify the relationship between the organization and the user.",
            ),
            string(
                "preferredLanguage",
                "The User's preferred written or spoken language, e.g. 'en_US'.",
            ),
            string(
                "locale",
                "The User's default location for localizing items such as currency.",
            ),
            string(
                "timezone",
                "The User's time zone in IANA format, e.g. 'America/Los_Angeles'.",
            ),
            attr(
                "active",
                AttrType::Boolean,
                "The User's administrative status.",
            ),
            string(
                "password",
                "The User's cleartext password, to set or reset it.",
            )
            .mutability(Mutability::WriteOnly)
            .returned(Returned::Never),
            attr("emails", AttrType::Complex, "Email addresses for the User.")
                .multi()
                .subs(&[
                    string("value", "An email address for the User."),
                    display(),
                    kind(&["work", "home", "other"]),
                    primary(),
                ]),
            attr(
                "phoneNumbers",
                AttrType::Complex,
                "Phone numbers for the User.",
            )
            .multi()
            .subs(&[
                string("value", "A phone number of the User."),
                display(),
                kind(&["work", "home", "mobile", "fax", "pager", "other"]),
                primary(),
            ]),
            attr(
                "ims",
                AttrType::Complex,
                "Instant messaging addresses for the User.",
            )
            .multi()
            .subs(&[
                string("value", "An instant messaging address for the User."),
                display(),
                kind(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
                primary(),
            ]),
            attr("photos", AttrType::Complex, "URLs of photos of the User.")
                .multi()
                .subs(&[
                    attr(
                        "value",
                        AttrType::Reference,
                        "The URL of a photo of the User.",
                    )
                    .refs(&["external"]),
                    display(),
                    kind(&["photo", "thumbnail"]),
                    primary(),
                ]),
            attr(
                "addresses",
                AttrType::Complex,
                "Physical mailing addresses for this User.",
            )
            .multi()
            .subs(&[
                string(
                    "formatted",
                    "The full mailing address, formatted for display.",
                ),
                string("streetAddress", "The full street address component."),
                string("locality", "The city or locality component."),
                string("region", "The state or region component."),
                string("postalCode", "The zip code or postal code component."),
                string("country", "The country name component."),
                kind(&["work", "home", "other"]),
                primary(),
            ]),
            attr(
                "groups",
                AttrType::Complex,
                "The groups to which the user belongs, directly or through nested groups.",
            )
            .multi()
            .read_only()
            .subs(&[
                string("value", "The identifier of the User's group.").read_only(),
                attr(
                    "$ref",
                    AttrType::Reference,
                    "The URI of the Group resource.",
                )
                .refs(&["User", "Group"])
                .read_only(),
                display().read_only(),
                kind(&["direct", "indirect"]).read_only(),
            ]),
            attr("entitlements", AttrType::Complex, $entitlements_description)
                .multi()
                .mutability($entitlements)
                .returned(Returned::Request)
                .subs(&[
                    string("value", "The permission's name.").mutability($entitlements),
                    display().mutability($entitlements),
                    kind(&[]).mutability($entitlements),
                    primary().mutability($entitlements),
                ]),
            attr(
                "roles",
                AttrType::Complex,
                "Roles: who the User is, e.g. 'Student'.",
            )
            .multi()
            .subs(&[
                string("value", "The value of a role."),
                display(),
                kind(&[]),
                primary(),
            ]),
            attr(
                "x509Certificates",
                AttrType::Complex,
                "Certificates issued to the User.",
            )
            .multi()
            .subs(&[
                // §8.7.1 says caseExact false; binary is case-exact (§2.3.6,
                // erratum 6000).
                attr(
                    "value",
                    AttrType::Binary,
                    "The value of an X.509 certificate.",
                )
                .case_exact(),
                display(),
                kind(&[]),
                primary(),
            ]),
        ]
    };
}

pub static USER: SchemaDef = SchemaDef {
    strict: false,
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: user_attributes!(
        Mutability::ReadOnly,
        "The User's effective permissions in the internal IAM. Read-only: \
         only administrators change permissions; returned when requested."
    ),
};

/// The core User schema of an IAM whose identity provider governs
/// permissions (`permissionsSource: idp`): the same, but `entitlements` is
/// writable, so that every write form (POST, PUT, each PATCH form, Bulk)
/// reaches the assignment rules instead of being refused or ignored as
/// read-only (RFC 7643 §2.2).
pub static USER_GOVERNED: SchemaDef = SchemaDef {
    strict: false,
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: user_attributes!(
        Mutability::ReadWrite,
        "The User's permissions. The identity provider's entitlements (by a permission's \
         value or id, see /Entitlements) are granted with source idp:<iam>; read back, the \
         effective permissions. Returned when requested."
    ),
};
