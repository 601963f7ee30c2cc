//! Custom schema extensions an IAM declares (Entra's
//! `urn:ietf:params:scim:schemas:extension:<Name>:2.0:User`): the admin
//! API's declaration checked and put in canonical form, then turned into the
//! same definitions the built-in schemas are, so that validation,
//! projection, filters, sorting, PATCH and discovery treat both alike.
//!
//! The tables are `'static` like the built-in ones. Each distinct
//! declaration is built once per process and interned by its canonical
//! text, so the process keeps at most one copy of every declaration it has
//! ever seen (they change by an administrator's hand, rarely).

mod parse;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::{
    AttrDef, AttrType, GROUP_RESOURCE, Mutability, ResourceTypeDef, Returned, SchemaDef,
    USER_GOVERNED, USER_RESOURCE, USER_RESOURCE_GOVERNED, Uniqueness,
};
use crate::scim::error::ScimError;
pub use parse::parse;
use parse::parse_list;

/// At most this many extensions per IAM, attributes per extension and
/// sub-attributes per attribute: a declaration is a schema, not a store.
pub const MAX_EXTENSIONS: usize = 20;
pub const MAX_ATTRIBUTES: usize = 100;
const MAX_NAME: usize = 64;
const MAX_URN: usize = 200;
const MAX_TEXT: usize = 1024;

/// The User and Group resource types of one IAM: the built-in ones, with
/// its declared extensions after the built-in extensions.
#[derive(Debug, Clone, Copy)]
pub struct ResourceTypes {
    pub user: &'static ResourceTypeDef,
    pub group: &'static ResourceTypeDef,
}

impl Default for ResourceTypes {
    fn default() -> Self {
        ResourceTypes {
            user: &USER_RESOURCE,
            group: &GROUP_RESOURCE,
        }
    }
}

impl ResourceTypes {
    /// The resource types of a declaration already in canonical form (what
    /// [`parse`] returned, as stored). Built once per distinct declaration.
    pub fn of(declared: &Value) -> Result<ResourceTypes, ScimError> {
        let list = declared.as_array().map_or(&[][..], Vec::as_slice);
        if list.is_empty() {
            return Ok(ResourceTypes::default());
        }
        static INTERNED: OnceLock<Mutex<HashMap<String, ResourceTypes>>> = OnceLock::new();
        let key = declared.to_string();
        let interned = INTERNED.get_or_init(Default::default);
        if let Some(found) = interned.lock().ok().and_then(|m| m.get(&key).copied()) {
            return Ok(found);
        }
        // Parsed again: what is stored was checked by an older version.
        let exts = parse_list(declared)?;
        let built = ResourceTypes {
            user: extended(&USER_RESOURCE, &exts),
            group: extended(&GROUP_RESOURCE, &exts),
        };
        if let Ok(mut m) = interned.lock() {
            return Ok(*m.entry(key).or_insert(built));
        }
        Ok(built)
    }

    /// The same resource types as an IAM whose identity provider governs
    /// permissions sees them: the User type's core schema is
    /// [`USER_GOVERNED`] (`entitlements` writable), its extensions
    /// unchanged. Built once per distinct User type.
    pub fn governed(self) -> ResourceTypes {
        if std::ptr::eq(self.user, &USER_RESOURCE) {
            return ResourceTypes {
                user: &USER_RESOURCE_GOVERNED,
                ..self
            };
        }
        if std::ptr::eq(self.user.schema, &USER_GOVERNED) {
            return self;
        }
        static INTERNED: OnceLock<Mutex<HashMap<usize, &'static ResourceTypeDef>>> =
            OnceLock::new();
        let key = std::ptr::from_ref(self.user) as usize;
        let build = || -> &'static ResourceTypeDef {
            Box::leak(Box::new(ResourceTypeDef {
                name: self.user.name,
                endpoint: self.user.endpoint,
                description: self.user.description,
                schema: &USER_GOVERNED,
                extensions: self.user.extensions,
            }))
        };
        let user = match INTERNED.get_or_init(Default::default).lock() {
            Ok(mut m) => *m.entry(key).or_insert_with(build),
            Err(_) => build(),
        };
        ResourceTypes { user, ..self }
    }

    /// The resource type named `User` or `Group`.
    pub fn named(&self, name: &str) -> Option<&'static ResourceTypeDef> {
        [self.user, self.group]
            .into_iter()
            .find(|rt| rt.name.eq_ignore_ascii_case(name))
    }

    /// The declared (custom) extensions of both resource types, with the
    /// resource type each extends.
    pub fn custom(&self) -> impl Iterator<Item = (&'static ResourceTypeDef, &'static SchemaDef)> {
        [self.user, self.group].into_iter().flat_map(|rt| {
            rt.extensions
                .iter()
                .filter(|(s, _)| s.strict)
                .map(move |(s, _)| (rt, *s))
        })
    }
}

/// One checked extension declaration.
#[derive(Debug, Clone)]
struct Extension {
    id: String,
    resource_type: &'static ResourceTypeDef,
    name: String,
    description: String,
    attributes: Vec<Attr>,
}

#[derive(Debug, Clone)]
struct Attr {
    name: String,
    ty: AttrType,
    multi_valued: bool,
    description: String,
    required: bool,
    case_exact: bool,
    mutability: Mutability,
    returned: Returned,
    canonical_values: Vec<String>,
    reference_types: Vec<String>,
    sub_attributes: Vec<Attr>,
}

// Building the `'static` tables (see the module comment on interning).

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn leak_strs(v: &[String]) -> &'static [&'static str] {
    Box::leak(
        v.iter()
            .map(|s| leak_str(s))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

fn leak_attrs(attrs: &[Attr]) -> &'static [AttrDef] {
    let defs: Vec<AttrDef> = attrs
        .iter()
        .map(|a| AttrDef {
            name: leak_str(&a.name),
            ty: a.ty,
            multi_valued: a.multi_valued,
            description: leak_str(&a.description),
            required: a.required,
            case_exact: a.case_exact,
            mutability: a.mutability,
            returned: a.returned,
            uniqueness: Uniqueness::None,
            canonical_values: leak_strs(&a.canonical_values),
            reference_types: leak_strs(&a.reference_types),
            sub_attributes: leak_attrs(&a.sub_attributes),
        })
        .collect();
    Box::leak(defs.into_boxed_slice())
}

fn extended(base: &'static ResourceTypeDef, exts: &[Extension]) -> &'static ResourceTypeDef {
    let mine: Vec<&Extension> = exts
        .iter()
        .filter(|e| std::ptr::eq(e.resource_type, base))
        .collect();
    if mine.is_empty() {
        return base;
    }
    let mut list: Vec<(&'static SchemaDef, bool)> = base.extensions.to_vec();
    for e in mine {
        let schema: &'static SchemaDef = Box::leak(Box::new(SchemaDef {
            strict: true,
            id: leak_str(&e.id),
            name: leak_str(&e.name),
            description: leak_str(&e.description),
            attributes: leak_attrs(&e.attributes),
        }));
        list.push((schema, false));
    }
    Box::leak(Box::new(ResourceTypeDef {
        name: base.name,
        endpoint: base.endpoint,
        description: base.description,
        schema: base.schema,
        extensions: Box::leak(list.into_boxed_slice()),
    }))
}
