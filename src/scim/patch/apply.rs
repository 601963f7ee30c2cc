//! Applies parsed operations to a copy of a canonical document, in order,
//! stopping at the first error (the caller then keeps the original: the
//! request is atomic). Values go through the same per-attribute validation
//! as POST and PUT (`resource::attr_value`) before they land.

use serde_json::{Map, Value};

use super::members;
use super::path::{Resolved, Target, invalid_path, resolve_name};
use super::values::{
    add_element, edit_matches, one_element, prune, remove_key, same_value, set_key, single,
};
use super::{OpKind, Operation, Outcome, PatchRequest};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{self, Filter};
use crate::scim::resource::{self, is_group_members};
use crate::scim::schema::{AttrDef, AttrType, Mutability, ResourceTypeDef, SchemaDef};

/// Applies `req` to `doc`, the stored canonical document of the resource
/// `id` of type `rt`. See the module comment of `patch` for the dialects.
pub fn apply(
    rt: &'static ResourceTypeDef,
    doc: &Value,
    id: &str,
    req: &PatchRequest,
) -> Result<Outcome, ScimError> {
    let mut state = State {
        rt,
        id,
        obj: doc.as_object().cloned().unwrap_or_default(),
        out: Outcome {
            doc: Value::Null,
            members: Default::default(),
            clear_password: false,
        },
    };
    for (i, op) in req.operations.iter().enumerate() {
        state.operation(op).map_err(|mut e| {
            e.detail = format!("operation {}: {}", i + 1, e.detail);
            e
        })?;
    }
    state.finish(doc)
}

fn mutability(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::Mutability, detail)
}

fn no_target(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::NoTarget, detail)
}

struct State<'a> {
    rt: &'static ResourceTypeDef,
    id: &'a str,
    obj: Map<String, Value>,
    out: Outcome,
}

impl State<'_> {
    fn operation(&mut self, op: &Operation) -> Result<(), ScimError> {
        let value = op.value.as_ref();
        let Some(path) = &op.path else {
            return match value {
                Some(Value::Object(m)) => self.pathless(op.op, m, None),
                _ => Err(ScimError::invalid_value(
                    "without a path, the value must be an object of attributes",
                )),
            };
        };
        match path.resolve(self.rt)? {
            Target::Extension(schema) => self.extension(op.op, schema, value),
            Target::Attr(r) => self.attr(op.op, &r, value),
        }
    }

    /// A path-less add or replace: each key is an attribute, `name.sub`,
    /// URN-qualified, or an extension URN holding an object. `schemas`,
    /// `meta` and an `id` equal to the resource's are ignored (clients echo
    /// them), and so are keys naming no attribute, as in POST bodies.
    fn pathless(
        &mut self,
        op: OpKind,
        m: &Map<String, Value>,
        within: Option<&'static SchemaDef>,
    ) -> Result<(), ScimError> {
        let schemas: Vec<&'static SchemaDef> = self.rt.schemas().collect();
        for (key, v) in m {
            let (urn, name) = match within {
                Some(s) => (Some(s.id), key.as_str()),
                None => {
                    if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
                        continue;
                    }
                    if key.eq_ignore_ascii_case("id") {
                        match v {
                            Value::Null => continue,
                            Value::String(s) if s.eq_ignore_ascii_case(self.id) => continue,
                            _ => return Err(mutability("id is assigned by the server")),
                        }
                    }
                    if let Some(s) = schemas[1..].iter().find(|s| s.id.eq_ignore_ascii_case(key)) {
                        self.extension(op, s, Some(v))?;
                        continue;
                    }
                    match resource::urn_qualified(&schemas, key) {
                        Some((i, rest)) => (Some(schemas[i].id), rest),
                        None => (None, key.as_str()),
                    }
                }
            };
            let (attr, sub) = match name.split_once('.') {
                Some((a, s)) => (a, Some(s)),
                None => (name, None),
            };
            let Some((schema, attr, sub)) = resolve_name(self.rt, urn, attr, sub) else {
                // A declared extension has no other names (as in POST).
                let strict = urn
                    .and_then(|u| self.rt.schema_by_urn(u))
                    .filter(|s| s.strict);
                if let Some(s) = strict
                    && !v.is_null()
                {
                    return Err(ScimError::invalid_value(format!(
                        "{}:{name} is not declared",
                        s.id
                    )));
                }
                continue;
            };
            let r = Resolved {
                schema,
                ext: !std::ptr::eq(schema, self.rt.schema),
                attr,
                filter: None,
                sub,
            };
            self.attr(op, &r, Some(v))?;
        }
        Ok(())
    }

    fn extension(
        &mut self,
        op: OpKind,
        schema: &'static SchemaDef,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        match (op, value) {
            (OpKind::Remove, _) | (OpKind::Replace, None | Some(Value::Null)) => {
                self.obj.retain(|k, _| !k.eq_ignore_ascii_case(schema.id));
                Ok(())
            }
            (OpKind::Add, None | Some(Value::Null)) => Ok(()),
            (_, Some(Value::Object(m))) => self.pathless(op, m, Some(schema)),
            (_, Some(_)) => Err(ScimError::invalid_value(format!(
                "{} must be an object",
                schema.id
            ))),
        }
    }

    /// The object an attribute lives in: the document, or its extension's.
    fn container(&mut self, r: &Resolved) -> &mut Map<String, Value> {
        if !r.ext {
            return &mut self.obj;
        }
        let key = self
            .obj
            .keys()
            .find(|k| k.eq_ignore_ascii_case(r.schema.id))
            .cloned()
            .unwrap_or_else(|| r.schema.id.to_owned());
        let slot = self
            .obj
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        slot.as_object_mut().expect("just made an object")
    }

    fn attr(&mut self, op: OpKind, r: &Resolved, value: Option<&Value>) -> Result<(), ScimError> {
        let value = value.filter(|v| !v.is_null());
        if is_group_members(r.attr) {
            for change in members::change(op, r, value)? {
                self.out.members.push(change);
            }
            return Ok(());
        }
        let label = match r.sub {
            Some(s) => format!("{}.{}", r.attr.name, s.name),
            None => r.attr.name.to_owned(),
        };
        let leaf = r.sub.unwrap_or(r.attr);
        if r.attr.mutability == Mutability::ReadOnly || leaf.mutability == Mutability::ReadOnly {
            return Err(mutability(format!("{label} is readOnly")));
        }
        if r.attr.mutability == Mutability::WriteOnly {
            // Never stored in the document: set it for the caller to hash,
            // or record that it goes.
            self.out.clear_password = op == OpKind::Remove || value.is_none();
        }
        match (&r.filter, r.sub) {
            (Some(f), _) => self.filtered(op, r, f, value, &label),
            (None, Some(sub)) => self.sub_attr(op, r, sub, value, &label),
            (None, None) => self.whole(op, r, value, &label),
        }
    }

    /// `title`, `emails`, `name`, `manager`, …
    fn whole(
        &mut self,
        op: OpKind,
        r: &Resolved,
        value: Option<&Value>,
        label: &str,
    ) -> Result<(), ScimError> {
        let def = r.attr;
        let name = def.name;
        let v = match value {
            Some(v) if op != OpKind::Remove => resource::attr_value(def, v, label)?,
            _ => None,
        };
        let c = self.container(r);
        match (op, v) {
            (OpKind::Remove, _) if def.multi_valued && value.is_some() => {
                // Remove the listed values (Entra's shape for members,
                // accepted for every multi-valued attribute).
                let gone = resource::attr_value(def, value.unwrap_or(&Value::Null), label)?;
                let gone = gone
                    .as_ref()
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let Some(Value::Array(list)) = c.get_mut(name) {
                    list.retain(|e| !gone.iter().any(|g| same_value(g, e)));
                }
            }
            (OpKind::Remove, _) | (OpKind::Replace, None) => {
                c.remove(name);
            }
            (OpKind::Add, None) => {}
            (_, Some(Value::Array(new))) if def.multi_valued => {
                let mut list = match (op, c.remove(name)) {
                    (OpKind::Add, Some(Value::Array(old))) => old,
                    _ => Vec::new(),
                };
                for elem in new {
                    add_element(def, &mut list, elem);
                }
                c.insert(name.to_owned(), Value::Array(list));
            }
            (_, Some(Value::Object(new))) if def.ty == AttrType::Complex => {
                // RFC 7644 §3.5.2.1 and §3.5.2.3: sub-attributes not named
                // in the value are left unchanged.
                match c.get_mut(name) {
                    Some(Value::Object(old)) => old.extend(new),
                    _ => {
                        c.insert(name.to_owned(), Value::Object(new));
                    }
                }
            }
            (_, Some(v)) => {
                c.insert(name.to_owned(), v);
            }
        }
        Ok(())
    }

    /// `name.givenName`, `manager.value`, or `emails.value` (every value).
    fn sub_attr(
        &mut self,
        op: OpKind,
        r: &Resolved,
        sub: &'static AttrDef,
        value: Option<&Value>,
        label: &str,
    ) -> Result<(), ScimError> {
        let v = match value {
            Some(v) if op != OpKind::Remove => resource::attr_value(sub, v, label)?,
            _ => None,
        };
        let name = r.attr.name;
        let c = self.container(r);
        if !r.attr.multi_valued {
            match (op, v) {
                (OpKind::Add, None) => {}
                (_, None) => {
                    if let Some(Value::Object(parent)) = c.get_mut(name) {
                        parent.remove(sub.name);
                    }
                }
                (_, Some(v)) => {
                    let slot = c.entry(name).or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    if let Value::Object(parent) = slot {
                        parent.insert(sub.name.to_owned(), v);
                    }
                }
            }
            return Ok(());
        }
        let mut list = match c.remove(name) {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        };
        match v {
            None if op == OpKind::Add => {}
            None => list.iter_mut().for_each(|e| remove_key(e, sub.name)),
            Some(v) if list.is_empty() => list.push(single(sub.name, v)),
            Some(v) => list
                .iter_mut()
                .for_each(|e| set_key(e, sub.name, v.clone())),
        }
        c.insert(name.to_owned(), Value::Array(list));
        Ok(())
    }

    /// `emails[type eq "work"]` and `emails[type eq "work"].value`.
    fn filtered(
        &mut self,
        op: OpKind,
        r: &Resolved,
        f: &Filter,
        value: Option<&Value>,
        label: &str,
    ) -> Result<(), ScimError> {
        let def = r.attr;
        let v = match (value, r.sub) {
            _ if op == OpKind::Remove => None,
            (Some(v), Some(sub)) => resource::attr_value(sub, v, label)?,
            (Some(v), None) => one_element(def, v, label)?,
            (None, _) => None,
        };
        let c = self.container(r);
        let mut list = match c.remove(def.name) {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        };
        let mut hits = Vec::new();
        for (i, e) in list.iter().enumerate() {
            if filter::matches_element(f, def, e).map_err(|e| invalid_path(e.detail))? {
                hits.push(i);
            }
        }
        let result = edit_matches(op, def, r.sub, f, &mut list, &hits, v);
        if !list.is_empty() {
            c.insert(def.name.to_owned(), Value::Array(list));
        }
        result.map_err(|e| no_target(format!("{label}: {}", e.detail)))
    }

    /// Drops what became empty, checks immutable attributes kept their
    /// value, and hands back the document.
    fn finish(mut self, original: &Value) -> Result<Outcome, ScimError> {
        prune(&mut self.obj);
        for schema in self.rt.schemas() {
            for def in schema.attributes {
                if def.mutability != Mutability::Immutable {
                    continue;
                }
                let at = |doc: &Map<String, Value>| -> Option<Value> {
                    let c = if std::ptr::eq(schema, self.rt.schema) {
                        doc
                    } else {
                        doc.get(schema.id)?.as_object()?
                    };
                    c.get(def.name).cloned()
                };
                let before = original.as_object().and_then(at);
                if before.is_some() && before != at(&self.obj) {
                    return Err(mutability(format!("{} is immutable", def.name)));
                }
            }
        }
        self.out.doc = Value::Object(self.obj);
        Ok(self.out)
    }
}
