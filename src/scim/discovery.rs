//! The discovery documents: `/Schemas`, `/ResourceTypes` and
//! `/ServiceProviderConfig` (RFC 7643 §5–§7, RFC 9865 §4). Every document is
//! generated from the schema tables; nothing here restates an attribute.

use serde_json::{Map, Value, json};

use super::schema::{
    AttrDef, LIST_RESPONSE_SCHEMA, RESOURCE_TYPE_SCHEMA, ResourceTypeDef, SCHEMA_SCHEMA,
    SPC_SCHEMA, SchemaDef,
};

/// What the service provider configuration advertises; the server's own
/// limits, passed in by the caller.
#[derive(Debug, Clone)]
pub struct SpcOptions {
    pub max_results: u32,
    pub max_bulk_operations: u32,
    pub max_bulk_payload: u64,
    pub bulk_supported: bool,
    pub patch_supported: bool,
    pub etag_supported: bool,
    pub sort_supported: bool,
    pub filter_supported: bool,
    pub change_password_supported: bool,
    pub cursor_supported: bool,
    pub max_page_size_for_cursor: u32,
    /// How long a cursor stays valid, advertised as `cursorTimeout` (seconds).
    pub cursor_timeout_secs: u64,
    /// `documentationUri`, omitted when None.
    pub documentation_uri: Option<String>,
    /// The SET event URIs the server issues (RFC 9967 §4
    /// `securityEvents.eventUris`); `securityEvents` is omitted when none.
    pub security_event_uris: &'static [&'static str],
    /// Whether to advertise `RolesAndEntitlements` (draft-ietf-scim-roles-
    /// entitlements): an attribute RFC 7643's schema does not have, which
    /// strict clients refuse, so only to an IAM that opted in.
    pub roles_and_entitlements: bool,
}

/// Every schema of every resource type, each once, in resource type order.
fn all_schemas(types: &[&'static ResourceTypeDef]) -> Vec<&'static SchemaDef> {
    let mut out: Vec<&'static SchemaDef> = Vec::new();
    for rt in types {
        for s in rt.schemas() {
            if !out.iter().any(|o| std::ptr::eq(*o, s)) {
                out.push(s);
            }
        }
    }
    out
}

fn list_response(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

fn trim_base(base: &str) -> &str {
    base.trim_end_matches('/')
}

/// `GET /Schemas`: a ListResponse of every Schema document (the
/// catalogue's in the IAM's dialect).
pub fn schemas_list(base: &str, types: &[&'static ResourceTypeDef]) -> Value {
    list_response(
        all_schemas(types)
            .into_iter()
            .map(|s| schema_json(s, base))
            .collect(),
    )
}

/// `GET /Schemas/{id}`: the URN matches case-insensitively.
pub fn schema_doc(id: &str, base: &str, types: &[&'static ResourceTypeDef]) -> Option<Value> {
    all_schemas(types)
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| schema_json(s, base))
}

/// `GET /ResourceTypes`.
pub fn resource_types_list(base: &str, types: &[&'static ResourceTypeDef]) -> Value {
    list_response(
        types
            .iter()
            .map(|rt| resource_type_json(rt, base))
            .collect(),
    )
}

/// `GET /ResourceTypes/{name}`: the name matches case-insensitively.
pub fn resource_type_doc(
    name: &str,
    base: &str,
    types: &[&'static ResourceTypeDef],
) -> Option<Value> {
    types
        .iter()
        .find(|rt| rt.name.eq_ignore_ascii_case(name))
        .map(|rt| resource_type_json(rt, base))
}

/// `GET /ServiceProviderConfig`.
pub fn service_provider_config(base: &str, cfg: &SpcOptions) -> Value {
    let mut doc = json!({
        "schemas": [SPC_SCHEMA],
        "patch": { "supported": cfg.patch_supported },
        "bulk": {
            "supported": cfg.bulk_supported,
            "maxOperations": cfg.max_bulk_operations,
            "maxPayloadSize": cfg.max_bulk_payload,
        },
        "filter": { "supported": cfg.filter_supported, "maxResults": cfg.max_results },
        "changePassword": { "supported": cfg.change_password_supported },
        "sort": { "supported": cfg.sort_supported },
        "etag": { "supported": cfg.etag_supported },
        "pagination": {
            "cursor": cfg.cursor_supported,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": cfg.max_results,
            "maxPageSize": cfg.max_results,
            "cursorTimeout": cfg.cursor_timeout_secs,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token in the Authorization header.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", trim_base(base)),
        },
    });
    if let Some(uri) = &cfg.documentation_uri {
        doc["documentationUri"] = Value::String(uri.clone());
    }
    if !cfg.security_event_uris.is_empty() {
        // RFC 9967 §4: no asynchronous SCIM requests (`Prefer:
        // respond-async`), and the events a stream may carry.
        doc["securityEvents"] = json!({
            "asyncRequest": "none",
            "eventUris": cfg.security_event_uris,
        });
    }
    if cfg.roles_and_entitlements {
        // The catalogue is listed at /Roles and /Entitlements and
        // assigned through a user's `roles` and `entitlements`.
        doc["RolesAndEntitlements"] = json!({
            "roles": { "supported": true, "multipleRolesSupported": true, "primarySupported": false },
            "entitlements": { "supported": true, "multipleEntitlementsSupported": true },
        });
    }
    doc
}

/// For an IAM whose identity provider may not assign roles
/// (`permissionsSource: bridge`): the core User schema's `roles`, and each
/// of its sub-attributes, described as `readOnly` in a `/Schemas` answer
/// (one Schema document or a ListResponse of them), so that clients
/// reading the schema do not send what would be refused.
pub fn roles_read_only(doc: &mut Value) {
    let schemas: Vec<&mut Value> = if doc.get("Resources").is_some_and(Value::is_array) {
        doc["Resources"]
            .as_array_mut()
            .map(|l| l.iter_mut().collect())
            .unwrap_or_default()
    } else {
        vec![doc]
    };
    for schema in schemas {
        if schema["id"] != super::schema::USER_SCHEMA {
            continue;
        }
        let Some(Value::Array(attrs)) = schema.get_mut("attributes") else {
            continue;
        };
        for a in attrs.iter_mut().filter(|a| a["name"] == "roles") {
            a["mutability"] = "readOnly".into();
            if let Some(Value::Array(subs)) = a.get_mut("subAttributes") {
                for s in subs {
                    s["mutability"] = "readOnly".into();
                }
            }
        }
    }
}

/// A `/Schemas` or `/ResourceTypes` answer (a ListResponse or one
/// document) that does not describe the schema `urn`: its Schema document
/// left out of a list, and its entry left out of each resource type's
/// `schemaExtensions`. For a schema extension a caller may not read.
pub fn without_schema(doc: &mut Value, urn: &str) {
    let is = |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn));
    let strip = |d: &mut Value| {
        if let Some(Value::Array(exts)) = d.get_mut("schemaExtensions") {
            exts.retain(|e| !is(&e["schema"]));
        }
    };
    if let Some(Value::Array(list)) = doc.get_mut("Resources") {
        list.retain(|r| !is(&r["id"]));
        list.iter_mut().for_each(strip);
        let n = list.len();
        doc["totalResults"] = n.into();
        doc["itemsPerPage"] = n.into();
    } else {
        strip(doc);
    }
}

fn schema_json(s: &SchemaDef, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{}/Schemas/{}", trim_base(base), s.id),
        },
    })
}

fn attr_json(a: &AttrDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), a.name.into());
    m.insert("type".into(), a.ty.as_str().into());
    m.insert("multiValued".into(), a.multi_valued.into());
    m.insert("description".into(), a.description.into());
    m.insert("required".into(), a.required.into());
    m.insert("caseExact".into(), a.case_exact.into());
    m.insert("mutability".into(), a.mutability.as_str().into());
    m.insert("returned".into(), a.returned.as_str().into());
    m.insert("uniqueness".into(), a.uniqueness.as_str().into());
    if !a.canonical_values.is_empty() {
        m.insert("canonicalValues".into(), a.canonical_values.into());
    }
    if !a.reference_types.is_empty() {
        m.insert("referenceTypes".into(), a.reference_types.into());
    }
    if !a.sub_attributes.is_empty() {
        let subs = a.sub_attributes.iter().map(attr_json).collect::<Vec<_>>();
        m.insert("subAttributes".into(), subs.into());
    }
    Value::Object(m)
}

fn resource_type_json(rt: &ResourceTypeDef, base: &str) -> Value {
    let mut doc = json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": rt.name,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{}/ResourceTypes/{}", trim_base(base), rt.name),
        },
    });
    if !rt.extensions.is_empty() {
        let exts: Vec<Value> = rt
            .extensions
            .iter()
            .map(|(s, required)| json!({ "schema": s.id, "required": required }))
            .collect();
        doc["schemaExtensions"] = exts.into();
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::catalogue::RolesDialect;
    use crate::scim::schema::catalogue::{
        ENTITLEMENT_SCHEMA, OKTA_ENTITLEMENT_SCHEMA, OKTA_ROLE_SCHEMA, ROLE_SCHEMA,
    };
    use crate::scim::schema::{
        BRIDGE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA,
    };

    const BASE: &str = "http://host:8080/scim/v2";

    fn opts() -> SpcOptions {
        SpcOptions {
            max_results: 200,
            max_bulk_operations: 100,
            max_bulk_payload: 1_048_576,
            bulk_supported: false,
            patch_supported: true,
            etag_supported: true,
            sort_supported: true,
            filter_supported: true,
            change_password_supported: false,
            cursor_supported: true,
            max_page_size_for_cursor: 500,
            cursor_timeout_secs: 3600,
            documentation_uri: None,
            security_event_uris: &["urn:ietf:params:scim:event:prov:delete"],
            roles_and_entitlements: false,
        }
    }

    fn find<'a>(attrs: &'a Value, name: &str) -> &'a Value {
        attrs
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no attribute {name}"))
    }

    #[test]
    fn schemas_list_holds_each_schema_once() {
        let doc = schemas_list(BASE, &RolesDialect::Ietf.resource_types());
        assert_eq!(doc["schemas"], json!([LIST_RESPONSE_SCHEMA]));
        assert_eq!(doc["totalResults"], 6);
        assert_eq!(doc["itemsPerPage"], 6);
        assert_eq!(doc["startIndex"], 1);
        let ids: Vec<_> = doc["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                USER_SCHEMA,
                ENTERPRISE_USER_SCHEMA,
                BRIDGE_USER_SCHEMA,
                GROUP_SCHEMA,
                ENTITLEMENT_SCHEMA,
                ROLE_SCHEMA
            ]
        );
    }

    #[test]
    fn schema_doc_is_case_insensitive_and_complete() {
        let doc = schema_doc(
            &USER_SCHEMA.to_uppercase(),
            BASE,
            &RolesDialect::Ietf.resource_types(),
        )
        .unwrap();
        assert_eq!(doc["id"], USER_SCHEMA);
        assert_eq!(doc["schemas"], json!([SCHEMA_SCHEMA]));
        assert_eq!(
            doc["meta"]["location"],
            format!("{BASE}/Schemas/{USER_SCHEMA}")
        );
        assert_eq!(doc["meta"]["resourceType"], "Schema");
        let attrs = &doc["attributes"];
        let user_name = find(attrs, "userName");
        assert_eq!(
            *user_name,
            json!({
                "name": "userName", "type": "string", "multiValued": false,
                "description": user_name["description"], "required": true,
                "caseExact": false, "mutability": "readWrite", "returned": "default",
                "uniqueness": "server",
            })
        );
        let password = find(attrs, "password");
        assert_eq!(password["mutability"], "writeOnly");
        assert_eq!(password["returned"], "never");
        let emails = find(attrs, "emails");
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["type"], "complex");
        let email_type = find(&emails["subAttributes"], "type");
        assert_eq!(
            email_type["canonicalValues"],
            json!(["work", "home", "other"])
        );
        assert!(email_type.get("referenceTypes").is_none());
        assert!(email_type.get("subAttributes").is_none());
        let groups = find(attrs, "groups");
        assert_eq!(
            find(&groups["subAttributes"], "$ref")["referenceTypes"],
            json!(["User", "Group"])
        );
        assert_eq!(
            find(attrs, "x509Certificates")["subAttributes"][0]["type"],
            "binary"
        );
        assert_eq!(find(attrs, "active")["type"], "boolean");
    }

    #[test]
    fn schema_docs_leave_out_the_common_attributes() {
        for s in schemas_list(BASE, &RolesDialect::Ietf.resource_types())["Resources"]
            .as_array()
            .unwrap()
        {
            for a in s["attributes"].as_array().unwrap() {
                assert!(!["id", "externalId", "meta"].contains(&a["name"].as_str().unwrap()));
            }
        }
    }

    #[test]
    fn unknown_schema_and_resource_type() {
        assert!(schema_doc("urn:nope", BASE, &RolesDialect::Ietf.resource_types()).is_none());
        assert!(resource_type_doc("Device", BASE, &RolesDialect::Ietf.resource_types()).is_none());
    }

    #[test]
    fn enterprise_and_group_schemas() {
        let ent = schema_doc(
            ENTERPRISE_USER_SCHEMA,
            BASE,
            &RolesDialect::Ietf.resource_types(),
        )
        .unwrap();
        assert_eq!(ent["name"], "EnterpriseUser");
        let manager = find(&ent["attributes"], "manager");
        assert_eq!(
            find(&manager["subAttributes"], "displayName")["mutability"],
            "readOnly"
        );
        let group = schema_doc(GROUP_SCHEMA, BASE, &RolesDialect::Ietf.resource_types()).unwrap();
        let members = find(&group["attributes"], "members");
        assert_eq!(
            find(&members["subAttributes"], "value")["mutability"],
            "immutable"
        );
        assert_eq!(
            find(&members["subAttributes"], "type")["canonicalValues"],
            json!(["User", "Group"])
        );
    }

    #[test]
    fn resource_types() {
        let list = resource_types_list(BASE, &RolesDialect::Ietf.resource_types());
        assert_eq!(list["totalResults"], 4);
        let okta = resource_types_list(BASE, &RolesDialect::Okta.resource_types());
        let schemas: Vec<&Value> = okta["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["schema"])
            .collect();
        assert_eq!(
            schemas[2..],
            [&json!(OKTA_ENTITLEMENT_SCHEMA), &json!(OKTA_ROLE_SCHEMA)]
        );
        let user = resource_type_doc(
            "user",
            &format!("{BASE}/"),
            &RolesDialect::Ietf.resource_types(),
        )
        .unwrap();
        assert_eq!(
            user,
            json!({
                "schemas": [RESOURCE_TYPE_SCHEMA],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "description": "User Account",
                "schema": USER_SCHEMA,
                "schemaExtensions": [
                    { "schema": ENTERPRISE_USER_SCHEMA, "required": false },
                    { "schema": BRIDGE_USER_SCHEMA, "required": false },
                ],
                "meta": { "resourceType": "ResourceType", "location": format!("{BASE}/ResourceTypes/User") },
            })
        );
        let group = resource_type_doc("Group", BASE, &RolesDialect::Ietf.resource_types()).unwrap();
        assert_eq!(group["endpoint"], "/Groups");
        assert!(group.get("schemaExtensions").is_none());
    }

    #[test]
    fn service_provider_config_reflects_options() {
        let doc = service_provider_config(BASE, &opts());
        assert_eq!(doc["schemas"], json!([SPC_SCHEMA]));
        assert_eq!(doc["patch"]["supported"], true);
        assert_eq!(
            doc["bulk"],
            json!({ "supported": false, "maxOperations": 100, "maxPayloadSize": 1_048_576 })
        );
        assert_eq!(
            doc["filter"],
            json!({ "supported": true, "maxResults": 200 })
        );
        assert_eq!(doc["changePassword"]["supported"], false);
        assert_eq!(doc["sort"]["supported"], true);
        assert_eq!(doc["etag"]["supported"], true);
        assert_eq!(
            doc["pagination"],
            json!({
                "cursor": true, "index": true, "defaultPaginationMethod": "index",
                "defaultPageSize": 200, "maxPageSize": 200, "cursorTimeout": 3600,
            })
        );
        assert_eq!(doc["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(
            doc["securityEvents"],
            json!({"asyncRequest": "none", "eventUris": ["urn:ietf:params:scim:event:prov:delete"]})
        );
        assert_eq!(
            doc["meta"]["location"],
            format!("{BASE}/ServiceProviderConfig")
        );
        assert!(doc.get("documentationUri").is_none());

        let with_doc = SpcOptions {
            documentation_uri: Some("https://docs.example/scim".into()),
            ..opts()
        };
        let doc = service_provider_config(BASE, &with_doc);
        assert_eq!(doc["documentationUri"], "https://docs.example/scim");
    }
}
