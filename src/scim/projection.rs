//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5) applied with the
//! `returned` characteristic (RFC 7643 §7): which parts of a stored document
//! a response carries. `never` attributes (password) never leave here.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::schema::{AttrDef, AttrType, ResourceTypeDef, Returned, common_attr};

/// A resolved, canonical attribute path. `attr: None` is a whole schema
/// (a bare URN); `sub` is a sub-attribute of a complex attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AttrPath {
    schema: &'static str,
    attr: Option<&'static str>,
    sub: Option<&'static str>,
}

/// The parsed query parameters. `Projection::default()` means neither was
/// given: every `default` and `always` attribute is returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// None when `attributes` was absent or blank.
    attributes: Option<Vec<AttrPath>>,
    excluded: Vec<AttrPath>,
}

/// How much of one attribute goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Omit,
    /// The attribute with its returnable sub-attributes.
    Whole,
    /// Only the sub-attributes named in `attributes` (and `always` ones).
    Subs,
}

impl Projection {
    /// Parses comma-separated attribute paths: `attr`, `attr.sub`,
    /// `urn:…:attr`, `urn:…:attr.sub` or a bare schema URN, all
    /// case-insensitive. Unknown paths are ignored (RFC 7644 §3.4.2.5);
    /// only a token that cannot be a path at all is an error.
    pub fn parse(
        rt: &ResourceTypeDef,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        let attributes = match attributes {
            Some(list) if !list.trim().is_empty() => Some(parse_list(rt, list)?),
            _ => None,
        };
        let excluded = match excluded {
            Some(list) => parse_list(rt, list)?,
            None => Vec::new(),
        };
        Ok(Projection {
            attributes,
            excluded,
        })
    }

    /// Projects a stored resource document (canonical or not: keys match
    /// case-insensitively; the output uses canonical names). `schemas` and
    /// `returned: always` attributes are always kept. Keys that no schema
    /// knows are kept only when no `attributes` list was given.
    pub fn apply(&self, rt: &ResourceTypeDef, doc: &Value) -> Value {
        self.apply_owned(rt, doc.clone())
    }

    /// [`Projection::apply`] to a document the caller gives up: what is
    /// kept moves into the output instead of being copied.
    pub fn apply_owned(&self, rt: &ResourceTypeDef, doc: Value) -> Value {
        let Value::Object(obj) = doc else {
            return doc;
        };
        if self.keeps_whole(rt, &obj) {
            return Value::Object(obj);
        }
        let mut out = Map::new();
        for (key, value) in obj {
            if key.eq_ignore_ascii_case("schemas") {
                out.insert("schemas".to_owned(), value);
                continue;
            }
            let extension = rt
                .extensions
                .iter()
                .find(|(s, _)| s.id.eq_ignore_ascii_case(&key));
            if let Some((schema, _)) = extension {
                let Value::Object(inner) = value else {
                    continue;
                };
                let mut o = Map::new();
                for (k, v) in inner {
                    match schema.attr(&k) {
                        Some(def) => self.project_into(&mut o, schema.id, def, v),
                        None if self.attributes.is_none() => {
                            o.insert(k, v);
                        }
                        None => {}
                    }
                }
                if !o.is_empty() {
                    out.insert(schema.id.to_owned(), Value::Object(o));
                }
                continue;
            }
            match rt.schema.attr(&key).or_else(|| common_attr(&key)) {
                Some(def) => self.project_into(&mut out, rt.schema.id, def, value),
                None if self.attributes.is_none() => {
                    out.insert(key, value);
                }
                None => {}
            }
        }
        Value::Object(out)
    }

    /// Whether this projection gives back `doc` unchanged: no parameter
    /// was given, every known key is already canonical, and nothing in it
    /// is `returned: never` or `request`, or an empty complex value (which
    /// the projection drops). The common case of a stored document read
    /// back: it goes out as it is instead of being rebuilt key by key.
    fn keeps_whole(&self, rt: &ResourceTypeDef, doc: &Map<String, Value>) -> bool {
        if self.attributes.is_some() || !self.excluded.is_empty() {
            return false;
        }
        doc.iter().all(|(key, value)| {
            if key == "schemas" {
                return true;
            }
            if let Some((schema, _)) = rt.extensions.iter().find(|(s, _)| s.id == key) {
                let Value::Object(inner) = value else {
                    return false;
                };
                return !inner.is_empty()
                    && inner.iter().all(|(k, v)| match schema.attr(k) {
                        Some(def) => def.name == k && whole_default(def, v),
                        None => true,
                    });
            }
            if rt
                .extensions
                .iter()
                .any(|(s, _)| s.id.eq_ignore_ascii_case(key))
            {
                return false;
            }
            match rt.schema.attr(key).or_else(|| common_attr(key)) {
                Some(def) => def.name == key && whole_default(def, value),
                None => true,
            }
        })
    }

    /// Whether `attr` (of the schema `urn`, None for the core schema) will be
    /// in the output, so that storage can skip loading it (Group `members`,
    /// User `groups`). Case-insensitive; unknown attributes give false.
    pub fn includes(&self, rt: &ResourceTypeDef, urn: Option<&str>, attr: &str) -> bool {
        match rt.resolve(urn, attr, None) {
            Some((schema, def, _)) => self.pick(schema.id, def) != Pick::Omit,
            None => false,
        }
    }

    fn pick(&self, schema: &str, def: &AttrDef) -> Pick {
        match def.returned {
            Returned::Never => return Pick::Omit,
            Returned::Always => return Pick::Whole,
            Returned::Default | Returned::Request => {}
        }
        let exact =
            |p: &&AttrPath| p.schema == schema && p.attr == Some(def.name) && p.sub.is_none();
        let whole_schema = |p: &&AttrPath| p.schema == schema && p.attr.is_none();
        let a_sub =
            |p: &&AttrPath| p.schema == schema && p.attr == Some(def.name) && p.sub.is_some();
        if self.excluded.iter().any(|p| exact(&p) || whole_schema(&p)) {
            return Pick::Omit;
        }
        let request = def.returned == Returned::Request;
        match &self.attributes {
            None if request => Pick::Omit,
            None => Pick::Whole,
            Some(list) if list.iter().any(|p| exact(&p)) => Pick::Whole,
            Some(list) if !request && list.iter().any(|p| whole_schema(&p)) => Pick::Whole,
            Some(list) if list.iter().any(|p| a_sub(&p)) => Pick::Subs,
            Some(_) => Pick::Omit,
        }
    }

    fn keep_sub(&self, schema: &'static str, def: &AttrDef, sub: &AttrDef, pick: Pick) -> bool {
        match sub.returned {
            Returned::Never => return false,
            Returned::Always => return true,
            Returned::Default | Returned::Request => {}
        }
        let me = AttrPath {
            schema,
            attr: Some(def.name),
            sub: Some(sub.name),
        };
        if self.excluded.contains(&me) {
            return false;
        }
        let named = self.attributes.as_ref().is_some_and(|l| l.contains(&me));
        match pick {
            Pick::Whole => sub.returned != Returned::Request || named,
            Pick::Subs => named,
            Pick::Omit => false,
        }
    }

    fn project_into(
        &self,
        out: &mut Map<String, Value>,
        schema: &'static str,
        def: &AttrDef,
        v: Value,
    ) {
        let pick = self.pick(schema, def);
        if pick == Pick::Omit {
            return;
        }
        let projected = if def.ty != AttrType::Complex {
            Some(v)
        } else if let Value::Array(items) = v {
            let kept: Vec<Value> = items
                .into_iter()
                .filter_map(|item| self.project_complex(schema, def, pick, item))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        } else {
            self.project_complex(schema, def, pick, v)
        };
        if let Some(p) = projected {
            out.insert(def.name.to_owned(), p);
        }
    }

    /// One complex value; `None` when nothing of it is left.
    fn project_complex(
        &self,
        schema: &'static str,
        def: &AttrDef,
        pick: Pick,
        v: Value,
    ) -> Option<Value> {
        let Value::Object(m) = v else {
            return Some(v);
        };
        let mut out = Map::new();
        for (k, x) in m {
            match def.sub(&k) {
                Some(sub) if self.keep_sub(schema, def, sub, pick) => {
                    out.insert(sub.name.to_owned(), x);
                }
                Some(_) => {}
                None if pick == Pick::Whole && self.attributes.is_none() => {
                    out.insert(k, x);
                }
                None => {}
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }
}

/// Whether the default projection keeps `v`, the value of `def`, exactly
/// as it is (see [`Projection::keeps_whole`]).
fn whole_default(def: &AttrDef, v: &Value) -> bool {
    let shown = |d: &AttrDef| matches!(d.returned, Returned::Default | Returned::Always);
    if !shown(def) {
        return false;
    }
    if def.ty != AttrType::Complex {
        return true;
    }
    let complex = |item: &Value| match item {
        Value::Object(m) => {
            !m.is_empty()
                && m.iter().all(|(k, _)| match def.sub(k) {
                    Some(sub) => sub.name == k && shown(sub),
                    None => true,
                })
        }
        _ => true,
    };
    match v {
        Value::Array(items) => !items.is_empty() && items.iter().all(complex),
        other => complex(other),
    }
}

fn parse_list(rt: &ResourceTypeDef, list: &str) -> Result<Vec<AttrPath>, ScimError> {
    let mut out = Vec::new();
    for token in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "[]()\"'{}".contains(c))
        {
            let detail = format!("'{token}' is not an attribute path");
            return Err(ScimError::bad(ScimType::InvalidPath, detail));
        }
        if let Some(p) = resolve_path(rt, token)
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    Ok(out)
}

fn resolve_path(rt: &ResourceTypeDef, token: &str) -> Option<AttrPath> {
    if let Some(s) = rt.schema_by_urn(token) {
        return Some(AttrPath {
            schema: s.id,
            attr: None,
            sub: None,
        });
    }
    let qualified = rt.schemas().find_map(|s| {
        let n = s.id.len();
        let prefix_matches = token.get(..n).is_some_and(|p| p.eq_ignore_ascii_case(s.id));
        (prefix_matches && token.as_bytes().get(n) == Some(&b':')).then(|| (s, &token[n + 1..]))
    });
    let (schema, rest) = qualified.unwrap_or((rt.schema, token));
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let (schema, def, sub) = rt.resolve(Some(schema.id), attr, sub)?;
    Some(AttrPath {
        schema: schema.id,
        attr: Some(def.name),
        sub: sub.map(|s| s.name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE, USER_SCHEMA};
    use serde_json::json;

    const ENT: &str = ENTERPRISE_USER_SCHEMA;

    fn stored_user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENT],
            "id": "u1",
            "externalId": "ext-1",
            "userName": "bjensen",
            "password": "{argon2}…",
            "name": { "givenName": "Barbara", "familyName": "Jensen" },
            "active": true,
            "emails": [
                { "value": "b@example.com", "type": "work", "primary": true },
                { "value": "babs@example.org", "type": "home" },
            ],
            "groups": [{ "value": "g1", "display": "Admins", "type": "direct" }],
            ENT: { "department": "Tours", "manager": { "value": "m1", "displayName": "Boss" } },
            "meta": { "resourceType": "User", "version": "W/\"1\"" },
        })
    }

    fn project(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        Projection::parse(&USER_RESOURCE, attributes, excluded)
            .unwrap()
            .apply(&USER_RESOURCE, &stored_user())
    }

    #[test]
    fn default_returns_all_but_never() {
        let mut want = stored_user();
        want.as_object_mut().unwrap().remove("password");
        assert_eq!(project(None, None), want);
        assert_eq!(project(Some("  "), Some("")), want);
        assert_eq!(
            Projection::default(),
            Projection::parse(&USER_RESOURCE, None, None).unwrap()
        );
    }

    /// The default projection of a document it keeps whole is that
    /// document; of one it must change (a `never` attribute, a key not in
    /// canonical case, an empty complex value), what the key-by-key rebuild
    /// gives.
    #[test]
    fn default_keeps_a_canonical_document_whole_and_rebuilds_the_rest() {
        let p = Projection::default();
        let mut clean = stored_user();
        clean.as_object_mut().unwrap().remove("password");
        let obj = clean.as_object().unwrap();
        assert!(p.keeps_whole(&USER_RESOURCE, obj));
        assert_eq!(p.apply(&USER_RESOURCE, &clean), clean);
        let changed = [
            json!({"id": "u1", "password": "x"}),
            json!({"id": "u1", "UserName": "x"}),
            json!({"id": "u1", "emails": []}),
            json!({"id": "u1", "name": {}}),
            json!({"id": "u1", "emails": [{"VALUE": "a@b"}]}),
            json!({"id": "u1", ENT: {}}),
            json!({"id": "u1", "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User": {"department": "x"}}),
        ];
        for doc in changed {
            assert!(
                !p.keeps_whole(&USER_RESOURCE, doc.as_object().unwrap()),
                "{doc}"
            );
        }
        assert_eq!(
            p.apply(
                &USER_RESOURCE,
                &json!({"id": "u1", "UserName": "x", "emails": []})
            ),
            json!({"id": "u1", "userName": "x"})
        );
        // A parameter given: never the shortcut.
        let named = Projection::parse(&USER_RESOURCE, Some("userName"), None).unwrap();
        assert!(!named.keeps_whole(&USER_RESOURCE, obj));
    }

    #[test]
    fn attributes_keep_only_named_plus_always() {
        let out = project(Some("userName,name.givenName"), None);
        assert_eq!(
            out,
            json!({
                "schemas": [USER_SCHEMA, ENT],
                "id": "u1",
                "userName": "bjensen",
                "name": { "givenName": "Barbara" },
            })
        );
    }

    #[test]
    fn names_are_case_insensitive_and_output_canonical() {
        let out = project(
            Some(
                "USERNAME,Emails.VALUE,urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user:Manager",
            ),
            None,
        );
        assert_eq!(out["userName"], "bjensen");
        assert_eq!(
            out["emails"],
            json!([{ "value": "b@example.com" }, { "value": "babs@example.org" }])
        );
        assert_eq!(
            out[ENT],
            json!({ "manager": { "value": "m1", "displayName": "Boss" } })
        );
        assert!(out.get("name").is_none());
        // The stored document's keys need not be canonical either.
        let p = Projection::parse(&USER_RESOURCE, Some("name"), None).unwrap();
        let out = p.apply(
            &USER_RESOURCE,
            &json!({ "ID": "u1", "Name": { "GIVENNAME": "B" }, "USERNAME": "x" }),
        );
        assert_eq!(out, json!({ "id": "u1", "name": { "givenName": "B" } }));
    }

    #[test]
    fn bare_extension_urn_selects_or_excludes_the_whole_extension() {
        let out = project(Some(&ENT.to_uppercase()), None);
        assert_eq!(out[ENT], stored_user()[ENT]);
        assert!(out.get("userName").is_none());
        let out = project(None, Some(ENT));
        assert!(out.get(ENT).is_none());
        assert_eq!(out["userName"], "bjensen");
        let out = project(None, Some(&format!("{ENT}:department")));
        assert_eq!(
            out[ENT],
            json!({ "manager": { "value": "m1", "displayName": "Boss" } })
        );
    }

    #[test]
    fn excluded_attributes() {
        let out = project(None, Some("emails,name.familyName,meta,groups"));
        assert!(out.get("emails").is_none());
        assert!(out.get("meta").is_none());
        assert!(out.get("groups").is_none());
        assert_eq!(out["name"], json!({ "givenName": "Barbara" }));
        assert_eq!(out["userName"], "bjensen");
        // Excluding every sub-attribute leaves nothing, so the attribute goes.
        let out = project(
            None,
            Some("name.givenName,name.familyName,emails.value,emails.type,emails.primary"),
        );
        assert!(out.get("name").is_none());
        assert!(out.get("emails").is_none());
    }

    #[test]
    fn always_and_never_cannot_be_overridden() {
        let out = project(None, Some("id,schemas"));
        assert_eq!(out["id"], "u1");
        assert!(out.get("schemas").is_some());
        let out = project(Some("password,displayName"), None);
        assert_eq!(out, json!({ "schemas": [USER_SCHEMA, ENT], "id": "u1" }));
        assert!(project(None, None).get("password").is_none());
    }

    #[test]
    fn unknown_paths_are_ignored() {
        let p = Projection::parse(
            &USER_RESOURCE,
            Some("nosuch,name.nosuch,urn:x:y:z"),
            Some("members,bogus.path"),
        )
        .unwrap();
        // An attributes list of unknown names still replaces the default set.
        assert_eq!(
            p.apply(&USER_RESOURCE, &stored_user()),
            json!({ "schemas": [USER_SCHEMA, ENT], "id": "u1" })
        );
        let p = Projection::parse(&USER_RESOURCE, None, Some("members,bogus.path")).unwrap();
        assert_eq!(p, Projection::default());
    }

    #[test]
    fn malformed_paths_are_errors() {
        for bad in ["emails[type eq \"work\"]", "user name", "name.(x)"] {
            let e = Projection::parse(&USER_RESOURCE, Some(bad), None).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
            assert!(Projection::parse(&USER_RESOURCE, None, Some(bad)).is_err());
        }
    }

    #[test]
    fn meta_sub_attributes_and_common_attributes() {
        let out = project(Some("meta.version,externalId"), None);
        assert_eq!(
            out,
            json!({
                "schemas": [USER_SCHEMA, ENT], "id": "u1", "externalId": "ext-1",
                "meta": { "version": "W/\"1\"" },
            })
        );
        let out = project(Some(&format!("{USER_SCHEMA}:meta.resourceType")), None);
        assert_eq!(out["meta"], json!({ "resourceType": "User" }));
    }

    #[test]
    fn includes_tells_storage_what_to_load() {
        let rt = &GROUP_RESOURCE;
        assert!(Projection::default().includes(rt, None, "members"));
        let p = Projection::parse(rt, None, Some("members")).unwrap();
        assert!(!p.includes(rt, None, "MEMBERS"));
        assert!(p.includes(rt, None, "displayName"));
        assert!(p.includes(rt, None, "id"));
        let p = Projection::parse(rt, Some("displayName"), None).unwrap();
        assert!(!p.includes(rt, None, "members"));
        assert!(p.includes(rt, None, "id"));
        let p = Projection::parse(rt, Some("members.value"), None).unwrap();
        assert!(p.includes(rt, None, "members"));
        let p = Projection::parse(rt, None, Some("members.display")).unwrap();
        assert!(p.includes(rt, None, "members"));

        let u = &USER_RESOURCE;
        assert!(!Projection::default().includes(u, None, "password"));
        assert!(Projection::default().includes(u, None, "groups"));
        assert!(Projection::default().includes(u, Some(ENT), "manager"));
        let p = Projection::parse(u, None, Some(ENT)).unwrap();
        assert!(!p.includes(u, Some(ENT), "manager"));
        assert!(!p.includes(u, None, "nosuch"));
    }

    #[test]
    fn group_members_projection() {
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g1",
            "displayName": "Admins",
            "members": [{ "value": "u1", "display": "Babs", "type": "User", "$ref": "http://h/Users/u1" }],
        });
        let p = Projection::parse(&GROUP_RESOURCE, None, Some("members")).unwrap();
        let out = p.apply(&GROUP_RESOURCE, &group);
        assert!(out.get("members").is_none());
        assert_eq!(out["displayName"], "Admins");
        let p = Projection::parse(&GROUP_RESOURCE, Some("members.value"), None).unwrap();
        assert_eq!(
            p.apply(&GROUP_RESOURCE, &group)["members"],
            json!([{ "value": "u1" }])
        );
        // displayName is returned by default, not always.
        let p = Projection::parse(&GROUP_RESOURCE, Some("members"), None).unwrap();
        assert!(
            p.apply(&GROUP_RESOURCE, &group)
                .get("displayName")
                .is_none()
        );
    }
}
