//! A declaration as the admin API takes it, checked (every problem a
//! clear 400 naming where it is) and spelled out in canonical form.

use serde_json::{Map, Value, json};

use super::{
    Attr, Extension, MAX_ATTRIBUTES, MAX_EXTENSIONS, MAX_NAME, MAX_TEXT, MAX_URN, ResourceTypes,
};
use crate::scim::error::ScimError;
use crate::scim::schema::{AttrType, Mutability, Returned, catalogue};

/// Checks a `PUT /api/v1/iams/{name}/schema-extensions` body
/// (`{"extensions": [...]}`) and returns the declaration in canonical form:
/// every characteristic spelled out, as `GET` shows it and storage keeps it.
pub fn parse(body: &Value) -> Result<Value, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| bad("the body must be an object {\"extensions\": [...]}"))?;
    if let Some(k) = obj.keys().find(|k| *k != "extensions") {
        return Err(bad(format!(
            "unknown key '{k}': the body is {{\"extensions\": [...]}}"
        )));
    }
    let list = obj
        .get("extensions")
        .ok_or_else(|| bad("extensions is required (an empty list declares none)"))?;
    let exts = parse_list(list)?;
    Ok(Value::Array(exts.iter().map(to_json).collect()))
}

pub(super) fn parse_list(list: &Value) -> Result<Vec<Extension>, ScimError> {
    let items = list
        .as_array()
        .ok_or_else(|| bad("extensions must be an array"))?;
    if items.len() > MAX_EXTENSIONS {
        return Err(bad(format!(
            "at most {MAX_EXTENSIONS} extensions may be declared"
        )));
    }
    let mut out: Vec<Extension> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ext = parse_extension(item, &format!("extensions[{i}]"))?;
        if let Some(other) = out.iter().find(|o| clash(&o.id, &ext.id)) {
            return Err(bad(format!(
                "extension '{}' is declared twice (or clashes with '{}')",
                ext.id, other.id
            )));
        }
        out.push(ext);
    }
    Ok(out)
}

/// Two URNs clash when equal or when one is the other followed by `:`
/// (`urn:x:User` and `urn:x:User:y`), since `urn:x:User:y` also reads as
/// attribute `y` of `urn:x:User`.
pub(super) fn clash(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.get(..short.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(short))
        && (long.len() == short.len() || long.as_bytes()[short.len()] == b':')
}

fn parse_extension(v: &Value, at: &str) -> Result<Extension, ScimError> {
    let obj = object(v, at)?;
    keys(
        obj,
        at,
        &["id", "resourceType", "name", "description", "attributes"],
    )?;
    let id = text(obj, "id", at)?.ok_or_else(|| bad(format!("{at}.id is required")))?;
    check_urn(&id, at)?;
    let rt_name = text(obj, "resourceType", at)?
        .ok_or_else(|| bad(format!("{at}.resourceType is required: User or Group")))?;
    let resource_type = ResourceTypes::default().named(&rt_name).ok_or_else(|| {
        bad(format!(
            "{at}.resourceType '{rt_name}' is not User or Group"
        ))
    })?;
    let builtin = [resource_type.schema.id]
        .into_iter()
        .chain(resource_type.extensions.iter().map(|(s, _)| s.id))
        .chain([
            crate::scim::schema::USER_SCHEMA,
            crate::scim::schema::GROUP_SCHEMA,
            crate::scim::schema::ENTERPRISE_USER_SCHEMA,
            crate::scim::schema::BRIDGE_USER_SCHEMA,
            catalogue::ENTITLEMENT_SCHEMA,
            catalogue::ROLE_SCHEMA,
            catalogue::OKTA_ENTITLEMENT_SCHEMA,
            catalogue::OKTA_ROLE_SCHEMA,
        ]);
    for b in builtin {
        if clash(b, &id) {
            return Err(bad(format!(
                "{at}.id '{id}' is (or extends) the built-in schema {b}"
            )));
        }
    }
    let name = text(obj, "name", at)?.unwrap_or_else(|| {
        // The URN's last name segment before the resource type.
        let mut parts = id.rsplit(':');
        let last = parts.next().unwrap_or_default();
        let name = if last.eq_ignore_ascii_case(resource_type.name) {
            parts.nth(1).unwrap_or(last)
        } else {
            last
        };
        name.to_owned()
    });
    let description = text(obj, "description", at)?.unwrap_or_default();
    let attributes = attr_list(obj.get("attributes"), &format!("{at}.attributes"), false)?;
    if attributes.is_empty() {
        return Err(bad(format!(
            "{at}.attributes must list at least one attribute"
        )));
    }
    Ok(Extension {
        id,
        resource_type,
        name,
        description,
        attributes,
    })
}

/// A URN as RFC 8141 spells one, limited to what every part of the server
/// can carry as a JSON key and a SQL JSON path: `urn:` then letters,
/// digits, `.`, `-`, `_` and `:`, not ending with `:`.
fn check_urn(id: &str, at: &str) -> Result<(), ScimError> {
    let ok = id.len() <= MAX_URN
        && id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        && id.len() > 4
        && !id.ends_with(':')
        && !id.contains("::")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{at}.id '{id}' is not a schema URN: urn: then letters, digits, '.', '-', '_' and \
             ':' (at most {MAX_URN} characters), e.g. \
             urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
        )))
    }
}

fn attr_list(v: Option<&Value>, at: &str, sub: bool) -> Result<Vec<Attr>, ScimError> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let items = v
        .as_array()
        .ok_or_else(|| bad(format!("{at} must be an array")))?;
    if items.len() > MAX_ATTRIBUTES {
        return Err(bad(format!("{at}: at most {MAX_ATTRIBUTES} attributes")));
    }
    let mut out: Vec<Attr> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let a = parse_attr(item, &format!("{at}[{i}]"), sub)?;
        if out.iter().any(|o| o.name.eq_ignore_ascii_case(&a.name)) {
            return Err(bad(format!(
                "{at}: attribute '{}' is declared twice (names are case-insensitive)",
                a.name
            )));
        }
        out.push(a);
    }
    Ok(out)
}

fn parse_attr(v: &Value, at: &str, sub: bool) -> Result<Attr, ScimError> {
    let obj = object(v, at)?;
    keys(
        obj,
        at,
        &[
            "name",
            "type",
            "multiValued",
            "description",
            "required",
            "caseExact",
            "mutability",
            "returned",
            "uniqueness",
            "canonicalValues",
            "referenceTypes",
            "subAttributes",
        ],
    )?;
    let name = text(obj, "name", at)?.ok_or_else(|| bad(format!("{at}.name is required")))?;
    // RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" /
    // DIGIT / ALPHA.
    let name_ok = name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(bad(format!(
            "{at}.name '{name}' is not an attribute name: a letter, then letters, digits, '-' \
             or '_' (RFC 7643 §2.1), at most {MAX_NAME} characters"
        )));
    }
    let at = &format!("{at} ({name})");
    let ty_name = text(obj, "type", at)?.ok_or_else(|| bad(format!("{at}.type is required")))?;
    let ty = choose(
        &ty_name,
        &[
            ("string", AttrType::String),
            ("boolean", AttrType::Boolean),
            ("decimal", AttrType::Decimal),
            ("integer", AttrType::Integer),
            ("dateTime", AttrType::DateTime),
            ("binary", AttrType::Binary),
            ("reference", AttrType::Reference),
            ("complex", AttrType::Complex),
        ],
        &format!("{at}.type"),
    )?;
    let mutability = match text(obj, "mutability", at)? {
        None => Mutability::ReadWrite,
        Some(m) => choose(
            &m,
            &[
                ("readWrite", Mutability::ReadWrite),
                ("readOnly", Mutability::ReadOnly),
                ("immutable", Mutability::Immutable),
                ("writeOnly", Mutability::WriteOnly),
            ],
            &format!("{at}.mutability"),
        )?,
    };
    let returned = match text(obj, "returned", at)? {
        None => Returned::Default,
        Some(r) => choose(
            &r,
            &[
                ("default", Returned::Default),
                ("always", Returned::Always),
                ("never", Returned::Never),
                ("request", Returned::Request),
            ],
            &format!("{at}.returned"),
        )?,
    };
    if let Some(u) = text(obj, "uniqueness", at)?
        && !u.eq_ignore_ascii_case("none")
    {
        return Err(bad(format!(
            "{at}.uniqueness '{u}': declared attributes are not checked for uniqueness, so only \
             \"none\" may be declared"
        )));
    }
    let subs = attr_list(
        obj.get("subAttributes"),
        &format!("{at}.subAttributes"),
        true,
    )?;
    match (ty, sub, subs.is_empty()) {
        (AttrType::Complex, true, _) => {
            return Err(bad(format!(
                "{at}: a sub-attribute cannot be complex (RFC 7643 §2.3.8)"
            )));
        }
        (AttrType::Complex, false, true) => {
            return Err(bad(format!(
                "{at}: a complex attribute needs subAttributes"
            )));
        }
        (AttrType::Complex, false, false) | (_, _, true) => {}
        (_, _, false) => {
            return Err(bad(format!(
                "{at}: only a complex attribute has subAttributes"
            )));
        }
    }
    let reference_types = strings(obj, "referenceTypes", at)?;
    if !reference_types.is_empty() && ty != AttrType::Reference {
        return Err(bad(format!(
            "{at}: only a reference attribute has referenceTypes"
        )));
    }
    Ok(Attr {
        name,
        ty,
        multi_valued: flag(obj, "multiValued", at)?,
        description: text(obj, "description", at)?.unwrap_or_default(),
        required: flag(obj, "required", at)?,
        case_exact: flag(obj, "caseExact", at)?,
        mutability,
        returned,
        canonical_values: strings(obj, "canonicalValues", at)?,
        reference_types,
        sub_attributes: subs,
    })
}

fn bad(detail: impl Into<String>) -> ScimError {
    ScimError::invalid_value(detail)
}

fn object<'v>(v: &'v Value, at: &str) -> Result<&'v Map<String, Value>, ScimError> {
    v.as_object()
        .ok_or_else(|| bad(format!("{at} must be an object")))
}

fn keys(obj: &Map<String, Value>, at: &str, known: &[&str]) -> Result<(), ScimError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(bad(format!(
            "{at}: unknown key '{k}' (known: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn text(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, ScimError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_TEXT && !s.chars().any(char::is_control) => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(bad(format!(
            "{at}.{key} must be a string of at most {MAX_TEXT} printable characters"
        ))),
    }
}

fn flag(obj: &Map<String, Value>, key: &str, at: &str) -> Result<bool, ScimError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(format!("{at}.{key} must be true or false"))),
    }
}

fn strings(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Vec<String>, ScimError> {
    let Some(v) = obj.get(key).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let wrong = || bad(format!("{at}.{key} must be an array of strings"));
    let items = v.as_array().ok_or_else(wrong)?;
    if items.len() > MAX_ATTRIBUTES {
        return Err(bad(format!("{at}.{key}: at most {MAX_ATTRIBUTES} values")));
    }
    items
        .iter()
        .map(|x| {
            x.as_str()
                .filter(|s| !s.is_empty() && s.len() <= MAX_TEXT)
                .map(str::to_owned)
                .ok_or_else(wrong)
        })
        .collect()
}

/// One of the RFC's spellings, matched case-insensitively.
fn choose<T: Copy>(given: &str, names: &[(&str, T)], at: &str) -> Result<T, ScimError> {
    names
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(given))
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let list: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            bad(format!("{at} '{given}' is not one of {}", list.join(", ")))
        })
}

fn to_json(e: &Extension) -> Value {
    json!({
        "id": e.id,
        "resourceType": e.resource_type.name,
        "name": e.name,
        "description": e.description,
        "attributes": e.attributes.iter().map(attr_json).collect::<Vec<_>>(),
    })
}

fn attr_json(a: &Attr) -> Value {
    let mut m = json!({
        "name": a.name,
        "type": a.ty.as_str(),
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": a.mutability.as_str(),
        "returned": a.returned.as_str(),
        "uniqueness": "none",
    });
    if !a.canonical_values.is_empty() {
        m["canonicalValues"] = json!(a.canonical_values);
    }
    if !a.reference_types.is_empty() {
        m["referenceTypes"] = json!(a.reference_types);
    }
    if !a.sub_attributes.is_empty() {
        m["subAttributes"] = a.sub_attributes.iter().map(attr_json).collect();
    }
    m
}
