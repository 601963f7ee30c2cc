//! POST and PUT bodies in, canonical documents out: client-writable attributes
//! only, canonical names and URN keys, values checked against the schema.
//! Walks the schema, never the input, so nesting depth is the schema's.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use unicode_normalization::UnicodeNormalization;

use super::error::ScimError;
use super::schema::{AttrDef, AttrType, GROUP, ResourceTypeDef, SchemaDef, common_attr};

/// A validated body. `password` is pulled out of `doc` so that it can only be
/// hashed, never stored or echoed by accident.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub doc: Value,
    pub password: Option<String>,
}

/// Unicode-aware case folding for uniqueness and case-insensitive
/// comparison: "STRASSE" and "Straße" fold equal, and so do the
/// compatibility forms "ｂｏｂ" (fullwidth) and "bob". NFKC on both sides
/// because folding can itself produce non-normalized sequences.
///
/// Stored folded values (userName, displayName, the search document) made
/// before NFKC was added differ only for text holding compatibility
/// characters; such a row folds the new way on its next write.
pub fn fold_case(s: &str) -> String {
    let nfkc: String = s.nfkc().collect();
    caseless::default_case_fold_str(&nfkc).nfkc().collect()
}

/// Validates and normalizes a client body for `rt` (see the module comment).
pub fn normalize(rt: &ResourceTypeDef, input: &Value) -> Result<Normalized, ScimError> {
    let obj = input
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    check_schemas(rt, obj)?;

    let schemas: Vec<&'static SchemaDef> = rt.schemas().collect();
    let raw = gather(rt, &schemas, obj)?;

    let mut doc = Map::new();
    let mut password = None;
    let mut urns = vec![Value::from(rt.schema.id)];
    for (i, (schema, raw)) in schemas.iter().zip(raw).enumerate() {
        let mut out = Map::new();
        for (name, value) in &raw {
            let Some(def) = lookup(schema, i == 0, name) else {
                continue;
            };
            if !def.is_client_writable() {
                continue;
            }
            let Some(v) = attr_value(def, value, def.name)? else {
                continue;
            };
            if i == 0 && def.name == "password" {
                password = v.as_str().map(str::to_owned);
            } else {
                out.insert(def.name.to_owned(), v);
            }
        }
        let required_ext = rt
            .extensions
            .iter()
            .any(|(s, req)| *req && std::ptr::eq(*s, *schema));
        if i == 0 || required_ext || !out.is_empty() {
            check_required(schema, &out)?;
        }
        if i == 0 {
            doc = out;
        } else if !out.is_empty() {
            urns.push(schema.id.into());
            doc.insert(schema.id.to_owned(), Value::Object(out));
        }
    }
    doc.insert("schemas".to_owned(), Value::Array(urns));
    Ok(Normalized {
        doc: Value::Object(doc),
        password,
    })
}

/// `schemas` may be absent; if present it must list the core schema.
fn check_schemas(rt: &ResourceTypeDef, obj: &Map<String, Value>) -> Result<(), ScimError> {
    for (_, value) in obj
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("schemas"))
    {
        let bad = || ScimError::invalid_syntax("schemas must be an array of strings");
        let mut has_core = false;
        for urn in value.as_array().ok_or_else(bad)? {
            has_core |= urn
                .as_str()
                .ok_or_else(bad)?
                .eq_ignore_ascii_case(rt.schema.id);
        }
        if !has_core {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain {}",
                rt.schema.id
            )));
        }
    }
    Ok(())
}

/// Sorts the input's keys by schema (index as in `schemas`), under canonical
/// attribute names. Accepts extension containers keyed by URN, URN-qualified
/// keys ("urn:…:User:employeeNumber") and dotted keys ("name.givenName").
fn gather(
    rt: &ResourceTypeDef,
    schemas: &[&'static SchemaDef],
    obj: &Map<String, Value>,
) -> Result<Vec<Map<String, Value>>, ScimError> {
    let mut raw = vec![Map::new(); schemas.len()];
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(i) = schemas.iter().position(|s| s.id.eq_ignore_ascii_case(key)) {
            match value {
                Value::Null => {}
                Value::Object(inner) => {
                    for (k, v) in inner {
                        put(&mut raw[i], schemas[i], i == 0, k, v)?;
                    }
                }
                _ => return Err(ScimError::invalid_value(format!("{key} must be an object"))),
            }
        } else if let Some((i, rest)) = urn_qualified(schemas, key) {
            put(&mut raw[i], schemas[i], i == 0, rest, value)?;
        } else {
            put(&mut raw[0], rt.schema, true, key, value)?;
        }
    }
    Ok(raw)
}

/// "urn:…:User:attr" → (schema index, "attr").
pub fn urn_qualified<'k>(schemas: &[&'static SchemaDef], key: &'k str) -> Option<(usize, &'k str)> {
    schemas.iter().enumerate().find_map(|(i, s)| {
        let n = s.id.len();
        let prefix_matches = key.get(..n).is_some_and(|p| p.eq_ignore_ascii_case(s.id));
        (prefix_matches && key.as_bytes().get(n) == Some(&b':')).then(|| (i, &key[n + 1..]))
    })
}

fn lookup(schema: &SchemaDef, core: bool, name: &str) -> Option<&'static AttrDef> {
    schema
        .attr(name)
        .or_else(|| if core { common_attr(name) } else { None })
}

/// Files `value` under `path` ("attr" or "attr.sub"); unknown paths drop,
/// except in a declared (strict) extension, which has no other names.
fn put(
    raw: &mut Map<String, Value>,
    schema: &SchemaDef,
    core: bool,
    path: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let (name, sub) = match path.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (path, None),
    };
    let undeclared = || {
        ScimError::invalid_value(format!(
            "{}:{path} is not declared: the extension's attributes are {}",
            schema.id,
            schema
                .attributes
                .iter()
                .map(|a| a.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let Some(def) = lookup(schema, core, name) else {
        return if schema.strict && !value.is_null() {
            Err(undeclared())
        } else {
            Ok(())
        };
    };
    // Keys differing only in case: an explicit null does not erase a value.
    if value.is_null() && raw.contains_key(def.name) {
        return Ok(());
    }
    match sub {
        None => match (raw.get_mut(def.name), value) {
            // "name" and "name.givenName" in one body: merge them.
            (Some(Value::Object(have)), Value::Object(more)) => {
                have.extend(more.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => {
                raw.insert(def.name.to_owned(), value.clone());
            }
        },
        Some(sub) if def.ty == AttrType::Complex && !def.multi_valued && def.sub(sub).is_some() => {
            let slot = raw
                .entry(def.name)
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                m.insert(sub.to_owned(), value.clone());
            }
        }
        Some(_) if schema.strict && !value.is_null() => return Err(undeclared()),
        Some(_) => {}
    }
    Ok(())
}

fn check_required(schema: &SchemaDef, out: &Map<String, Value>) -> Result<(), ScimError> {
    for def in schema
        .attributes
        .iter()
        .filter(|a| a.required && a.is_client_writable())
    {
        let present = match out.get(def.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
            None => false,
        };
        if !present {
            return Err(ScimError::invalid_value(format!(
                "{} is required",
                def.name
            )));
        }
    }
    Ok(())
}

/// Group members are references the server resolves: `value` is required,
/// `type` must be one of the canonical values, `display` and `$ref` are
/// recomputed by the server.
pub fn is_group_members(def: &AttrDef) -> bool {
    GROUP.attr("members").is_some_and(|m| std::ptr::eq(m, def))
}

/// One attribute or sub-attribute, validated and in canonical form (what
/// POST, PUT and PATCH values all go through). `None` means absent: null,
/// "", [] and {}. A multi-valued attribute's value is always an array.
pub fn attr_value(def: &AttrDef, v: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    if def.multi_valued {
        let items = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut out: Vec<Value> = Vec::new();
        // Members are told apart by value alone, and may be tens of
        // thousands in one request: a set, not a scan of what came before.
        let mut member_values = std::collections::HashSet::new();
        for item in items {
            let Some(x) = single_value(def, item, label)? else {
                continue;
            };
            let dup = if is_group_members(def) {
                !member_values.insert(x["value"].to_string())
            } else {
                out.contains(&x)
            };
            if !dup {
                out.push(x);
            }
        }
        if out
            .iter()
            .filter(|x| x["primary"] == Value::Bool(true))
            .count()
            > 1
        {
            return Err(ScimError::invalid_value(format!(
                "at most one value of {label} may be primary"
            )));
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    // Lenient: a one-element array for a single value (one level only).
    let v = match v {
        Value::Array(a) if a.is_empty() => return Ok(None),
        Value::Array(a) if a.len() == 1 => &a[0],
        Value::Array(_) => {
            return Err(ScimError::invalid_value(format!(
                "{label} takes a single value"
            )));
        }
        other => other,
    };
    match v {
        // Lenient: `"manager": "id"` for `{"value": "id"}`.
        Value::String(s) if def.ty == AttrType::Complex && def.sub("value").is_some() => {
            let mut m = Map::new();
            m.insert("value".to_owned(), Value::String(s.clone()));
            complex_value(def, &m, label)
        }
        _ => single_value(def, v, label),
    }
}

fn single_value(def: &AttrDef, v: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| ScimError::invalid_value(format!("{label} must be {what}"));
    match (def.ty, v) {
        (_, Value::Null) => Ok(None),
        (AttrType::Complex, Value::Object(m)) => complex_value(def, m, label),
        (AttrType::Complex, _) => Err(wrong("an object")),
        (AttrType::String | AttrType::Reference, Value::String(s)) => Ok(string_value(def, s)),
        (AttrType::String | AttrType::Reference, _) => Err(wrong("a string")),
        (AttrType::Boolean, Value::Bool(_)) => Ok(Some(v.clone())),
        (AttrType::Boolean, Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => {
            Ok(Some(Value::Bool(true)))
        }
        (AttrType::Boolean, Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => {
            Ok(Some(Value::Bool(false)))
        }
        (AttrType::Boolean, _) => Err(wrong("a boolean")),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(v.clone())),
        (AttrType::Integer, Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(Value::from(f as i64))),
            _ => Err(wrong("an integer")),
        },
        (AttrType::Integer, _) => Err(wrong("an integer")),
        (AttrType::Decimal, Value::Number(_)) => Ok(Some(v.clone())),
        (AttrType::Decimal, _) => Err(wrong("a number")),
        (AttrType::DateTime, Value::String(s)) if s.is_empty() => Ok(None),
        (AttrType::DateTime, Value::String(s)) if OffsetDateTime::parse(s, &Rfc3339).is_ok() => {
            Ok(Some(v.clone()))
        }
        (AttrType::DateTime, _) => Err(wrong("an RFC 3339 date-time")),
        (AttrType::Binary, Value::String(s)) if s.is_empty() => Ok(None),
        (AttrType::Binary, Value::String(s)) if is_base64(s) => Ok(Some(v.clone())),
        (AttrType::Binary, _) => Err(wrong("base64")),
    }
}

/// "" is absent; a value matching a canonical value case-insensitively takes
/// its canonical spelling ("WORK" → "work").
fn string_value(def: &AttrDef, s: &str) -> Option<Value> {
    if s.is_empty() {
        return None;
    }
    let canonical = def
        .canonical_values
        .iter()
        .find(|c| c.eq_ignore_ascii_case(s));
    Some(Value::from(canonical.copied().unwrap_or(s)))
}

fn complex_value(
    def: &AttrDef,
    m: &Map<String, Value>,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    let members = is_group_members(def);
    let mut out = Map::new();
    for (k, v) in m {
        let Some(sub) = def.sub(k) else { continue };
        if !sub.is_client_writable() || (members && sub.name == "$ref") {
            continue;
        }
        let sub_label = format!("{label}.{}", sub.name);
        if let Some(x) = attr_value(sub, v, &sub_label)? {
            out.insert(sub.name.to_owned(), x);
        }
    }
    if members && !out.is_empty() {
        if !out.contains_key("value") {
            return Err(ScimError::invalid_value(format!(
                "{label}.value is required"
            )));
        }
        if let Some(t) = out.get("type").and_then(Value::as_str) {
            let allowed = def.sub("type").map_or(&[][..], |s| s.canonical_values);
            if !allowed.contains(&t) {
                let detail = format!("{label}.type must be one of {}", allowed.join(", "));
                return Err(ScimError::invalid_value(detail));
            }
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Standard base64 (RFC 4648 §4), padding optional.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    let body = b.iter().rposition(|&c| c != b'=').map_or(0, |p| p + 1);
    let pad = b.len() - body;
    let alphabet = b[..body]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/');
    let length_ok = if pad > 0 {
        b.len().is_multiple_of(4)
    } else {
        body % 4 != 1
    };
    alphabet && pad <= 2 && length_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimType;
    use crate::scim::schema::{
        ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, GROUP_SCHEMA, USER_RESOURCE, USER_SCHEMA,
    };
    use serde_json::json;

    const ENT: &str = ENTERPRISE_USER_SCHEMA;

    fn user(body: Value) -> Result<Normalized, ScimError> {
        normalize(&USER_RESOURCE, &body)
    }

    fn user_doc(body: Value) -> Value {
        user(body).unwrap().doc
    }

    fn err(r: Result<Normalized, ScimError>) -> ScimError {
        r.expect_err("expected an error")
    }

    #[test]
    fn minimal_user() {
        let doc = user_doc(json!({ "schemas": [USER_SCHEMA], "userName": "bjensen" }));
        assert_eq!(
            doc,
            json!({ "schemas": [USER_SCHEMA], "userName": "bjensen" })
        );
    }

    #[test]
    fn names_and_urns_are_case_insensitive() {
        let doc = user_doc(json!({
            "SCHEMAS": [USER_SCHEMA.to_uppercase(), "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User"],
            "USERNAME": "bjensen",
            "Emails": [{ "VALUE": "b@example.com", "Type": "WORK", "Primary": true }],
            "NAME": { "givenname": "Barbara" },
            "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User": { "Department": "Tour" },
        }));
        assert_eq!(
            doc,
            json!({
                "schemas": [USER_SCHEMA, ENT],
                "userName": "bjensen",
                "emails": [{ "value": "b@example.com", "type": "work", "primary": true }],
                "name": { "givenName": "Barbara" },
                ENT: { "department": "Tour" },
            })
        );
    }

    #[test]
    fn schemas_rules() {
        // Absent is fine; present must name the core schema.
        assert!(user(json!({ "userName": "a" })).is_ok());
        let e = err(user(json!({ "schemas": [GROUP_SCHEMA], "userName": "a" })));
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        let e = err(user(json!({ "schemas": USER_SCHEMA, "userName": "a" })));
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        let e = err(user(
            json!({ "schemas": [USER_SCHEMA, 7], "userName": "a" }),
        ));
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        // Unknown URNs are dropped, known but empty extensions are not listed.
        let doc = user_doc(json!({
            "schemas": [USER_SCHEMA, "urn:example:custom", ENT],
            "userName": "a",
            "urn:example:custom": { "x": 1 },
        }));
        assert_eq!(doc["schemas"], json!([USER_SCHEMA]));
        assert!(doc.get("urn:example:custom").is_none());
    }

    #[test]
    fn body_must_be_an_object() {
        for body in [json!([]), json!("x"), json!(null), json!(1)] {
            assert_eq!(err(user(body)).scim_type, Some(ScimType::InvalidSyntax));
        }
    }

    #[test]
    fn server_owned_and_unknown_attributes_are_dropped() {
        let doc = user_doc(json!({
            "id": "abc",
            "meta": { "resourceType": "User", "created": "2020-01-01T00:00:00Z" },
            "groups": [{ "value": "g1", "display": "G" }],
            "userName": "a",
            "unknownThing": { "deep": [1, 2, 3] },
            "name": { "givenName": "A", "nickname": "unknown sub" },
            ENT: { "manager": { "value": "m1", "displayName": "Boss" } },
        }));
        assert_eq!(
            doc,
            json!({
                "schemas": [USER_SCHEMA, ENT],
                "userName": "a",
                "name": { "givenName": "A" },
                ENT: { "manager": { "value": "m1" } },
            })
        );
    }

    #[test]
    fn case_variants_of_one_key() {
        let doc = user_doc(json!({ "USERNAME": "a", "userName": null, "Title": "T" }));
        assert_eq!(doc["userName"], "a");
        assert_eq!(doc["title"], "T");
    }

    #[test]
    fn external_id_is_kept_as_sent() {
        let doc = user_doc(json!({ "userName": "a", "EXTERNALID": "AbC-1" }));
        assert_eq!(doc["externalId"], "AbC-1");
        let e = err(user(json!({ "userName": "a", "externalId": 5 })));
        assert!(e.detail.contains("externalId"), "{}", e.detail);
    }

    #[test]
    fn nulls_and_empties_mean_absent() {
        let doc = user_doc(json!({
            "userName": "a",
            "displayName": null,
            "nickName": "",
            "emails": [],
            "phoneNumbers": [{ "value": null }, {}],
            "name": {},
            "addresses": null,
            ENT: { "manager": "", "department": null },
        }));
        assert_eq!(doc, json!({ "schemas": [USER_SCHEMA], "userName": "a" }));
    }

    #[test]
    fn booleans_accept_strings() {
        for (input, want) in [
            (json!(true), true),
            (json!("True"), true),
            (json!("FALSE"), false),
            (json!("false"), false),
            (json!(false), false),
        ] {
            assert_eq!(
                user_doc(json!({ "userName": "a", "active": input }))["active"],
                want
            );
        }
        let e = err(user(json!({ "userName": "a", "active": "yes" })));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("active"));
        let e = err(user(json!({ "userName": "a", "active": 1 })));
        assert!(e.detail.contains("active"));
        let doc =
            user_doc(json!({ "userName": "a", "emails": [{ "value": "x", "primary": "True" }] }));
        assert_eq!(doc["emails"][0]["primary"], true);
    }

    #[test]
    fn strings_must_be_strings() {
        let e = err(user(json!({ "userName": "a", "title": 42 })));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("title"));
        let e = err(user(
            json!({ "userName": "a", "emails": [{ "value": ["x", "y"] }] }),
        ));
        assert!(e.detail.contains("emails.value"), "{}", e.detail);
        let e = err(user(json!({ "userName": "a", "name": "Barbara" })));
        assert!(e.detail.contains("name must be an object"), "{}", e.detail);
        let e = err(user(
            json!({ "userName": "a", "emails": ["x@example.com"] }),
        ));
        assert!(e.detail.contains("emails"));
        let e = err(user(json!({ "userName": "a", ENT: "x" })));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn single_value_is_wrapped_for_multi_valued() {
        let doc = user_doc(json!({ "userName": "a", "emails": { "value": "x@example.com" } }));
        assert_eq!(doc["emails"], json!([{ "value": "x@example.com" }]));
        let doc = user_doc(json!({ "userName": "a", "displayName": ["Only"] }));
        assert_eq!(doc["displayName"], "Only");
        assert!(user(json!({ "userName": "a", "displayName": ["A", "B"] })).is_err());
    }

    #[test]
    fn at_most_one_primary_and_empty_elements_dropped() {
        let e = err(user(json!({ "userName": "a", "emails": [
            { "value": "x", "primary": true }, { "value": "y", "primary": "true" },
        ] })));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("emails"));
        let doc = user_doc(json!({ "userName": "a", "emails": [
            { "value": "x", "primary": true }, { "value": "y", "primary": false },
            { "display": null }, { "value": "x", "primary": true },
        ] }));
        assert_eq!(
            doc["emails"],
            json!([{ "value": "x", "primary": true }, { "value": "y", "primary": false }])
        );
    }

    #[test]
    fn required_attributes() {
        for body in [
            json!({}),
            json!({ "userName": "" }),
            json!({ "userName": "  \t" }),
            json!({ "userName": null }),
        ] {
            let e = err(user(body));
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
            assert_eq!(e.detail, "userName is required");
        }
        let e = err(normalize(&GROUP_RESOURCE, &json!({ "members": [] })));
        assert_eq!(e.detail, "displayName is required");
    }

    #[test]
    fn password_is_pulled_out() {
        let n = user(json!({ "userName": "a", "PASSWORD": "t1meMa$heen" })).unwrap();
        assert_eq!(n.password.as_deref(), Some("t1meMa$heen"));
        assert!(n.doc.get("password").is_none());
        assert_eq!(
            user(json!({ "userName": "a", "password": "" }))
                .unwrap()
                .password,
            None
        );
        assert!(user(json!({ "userName": "a", "password": 1234 })).is_err());
    }

    #[test]
    fn manager_shapes() {
        let want = json!({ "value": "m1" });
        for m in [
            json!("m1"),
            json!({ "value": "m1" }),
            json!([{ "value": "m1" }]),
            json!(["m1"]),
        ] {
            let doc = user_doc(json!({ "userName": "a", ENT: { "manager": m } }));
            assert_eq!(doc[ENT]["manager"], want);
        }
        let doc = user_doc(json!({ "userName": "a", ENT: { "manager": "" } }));
        assert!(doc.get(ENT).is_none());
        assert_eq!(doc["schemas"], json!([USER_SCHEMA]));
        assert!(user(json!({ "userName": "a", ENT: { "manager": ["a", "b"] } })).is_err());
    }

    #[test]
    fn urn_qualified_and_dotted_keys() {
        let doc = user_doc(json!({
            "userName": "a",
            "name.givenName": "Barbara",
            "name": { "familyName": "Jensen" },
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m1",
            "urn:ietf:params:scim:schemas:core:2.0:User:title": "Guide",
            "emails.value": "ignored: not a single-valued complex",
        }));
        assert_eq!(
            doc["name"],
            json!({ "givenName": "Barbara", "familyName": "Jensen" })
        );
        assert_eq!(
            doc[ENT],
            json!({ "employeeNumber": "701984", "manager": { "value": "m1" } })
        );
        assert_eq!(doc["title"], "Guide");
        assert!(doc.get("emails").is_none());
    }

    #[test]
    fn typed_values() {
        let doc = user_doc(
            json!({ "userName": "a", "x509Certificates": [{ "value": "TUlJ" }, { "value": "TUk=" }] }),
        );
        assert_eq!(
            doc["x509Certificates"],
            json!([{ "value": "TUlJ" }, { "value": "TUk=" }])
        );
        let e = err(user(
            json!({ "userName": "a", "x509Certificates": [{ "value": "not base64!" }] }),
        ));
        assert!(e.detail.contains("x509Certificates.value"));
        assert!(
            is_base64("TQ")
                && is_base64("TQ==")
                && !is_base64("T")
                && !is_base64("TQ=")
                && !is_base64("T====")
        );
        let created = AttrDef {
            ty: AttrType::DateTime,
            ..*common_attr("meta").unwrap().sub("created").unwrap()
        };
        assert_eq!(
            attr_value(&created, &json!("2011-05-13T04:42:34Z"), "d").unwrap(),
            Some(json!("2011-05-13T04:42:34Z"))
        );
        assert!(attr_value(&created, &json!("2011-05-13 04:42"), "d").is_err());
        let int = AttrDef {
            ty: AttrType::Integer,
            ..*common_attr("id").unwrap()
        };
        assert_eq!(attr_value(&int, &json!(3.0), "n").unwrap(), Some(json!(3)));
        assert!(attr_value(&int, &json!(3.5), "n").is_err());
        let dec = AttrDef {
            ty: AttrType::Decimal,
            ..*common_attr("id").unwrap()
        };
        assert_eq!(
            attr_value(&dec, &json!(3.5), "n").unwrap(),
            Some(json!(3.5))
        );
        assert!(attr_value(&dec, &json!("3.5"), "n").is_err());
    }

    #[test]
    fn group_members() {
        let doc = normalize(&GROUP_RESOURCE, &json!({
            "schemas": [GROUP_SCHEMA, "urn:ietf:params:scim:schemas:extension:microsoft:2.0:Group"],
            "DisplayName": "Admins",
            "members": [
                { "value": "u1", "display": "Babs", "$ref": "https://x/Users/u1", "type": "user" },
                { "value": "g1", "type": "Group" },
                { "value": "u1" },
                { "value": "u2" },
            ],
        })).unwrap().doc;
        assert_eq!(
            doc,
            json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": "Admins",
                "members": [{ "value": "u1", "type": "User" }, { "value": "g1", "type": "Group" }, { "value": "u2" }],
            })
        );
        let e = err(normalize(
            &GROUP_RESOURCE,
            &json!({ "displayName": "G", "members": [{ "type": "User" }] }),
        ));
        assert_eq!(e.detail, "members.value is required");
        let e = err(normalize(
            &GROUP_RESOURCE,
            &json!({ "displayName": "G", "members": [{ "value": 7 }] }),
        ));
        assert!(e.detail.contains("members.value"));
        let e = err(normalize(
            &GROUP_RESOURCE,
            &json!({ "displayName": "G", "members": [{ "value": "d", "type": "Device" }] }),
        ));
        assert!(e.detail.contains("members.type"));
    }

    #[test]
    fn fold_case_is_unicode_aware() {
        assert_eq!(fold_case("STRASSE"), fold_case("Straße"));
        assert_eq!(fold_case("BJensen@Example.COM"), "bjensen@example.com");
        // Composed and decomposed forms fold equal.
        assert_eq!(fold_case("E\u{301}MILE"), fold_case("\u{e9}mile"));
        // Compatibility forms too: fullwidth letters, ligatures.
        assert_eq!(fold_case("ＢＯＢ"), "bob");
        assert_eq!(fold_case("\u{FB01}le"), fold_case("FILE"));
        assert_ne!(fold_case("a"), fold_case("b"));
    }
}
