//! PATCH paths (RFC 7644 §3.5.2, `PATH = attrPath / valuePath [subAttr]`):
//! parsed once, bounded, then resolved against a resource type. Names and
//! URNs are case-insensitive; a bare extension URN names the extension.

use std::fmt;

use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{self, Filter, FilterLimits};
use crate::scim::schema::{AttrDef, AttrType, ResourceTypeDef, SchemaDef};

/// A path as the client wrote it, parsed but not yet resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The whole path, trimmed: a bare schema URN resolves from it.
    pub raw: String,
    pub urn: Option<String>,
    pub attr: String,
    /// `emails[type eq "work"]`: the filter inside the brackets.
    pub filter: Option<Filter>,
    /// `name.givenName` or `emails[…].value`.
    pub sub: Option<String>,
}

pub(super) fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidPath, detail)
}

/// Caps what is echoed back of client input.
pub(super) fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

/// `ALPHA *(nameChar)`, and `$ref`.
fn is_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The index of the `]` closing the `[` at `open`, skipping quoted strings.
fn closing_bracket(s: &str, open: usize) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in s[open + 1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ']' if !in_string => return Some(open + 1 + i),
            _ => {}
        }
    }
    None
}

impl PatchPath {
    pub fn parse(input: &str, limits: &FilterLimits) -> Result<PatchPath, ScimError> {
        let raw = input.trim();
        let bad = || invalid_path(format!("'{}' is not a valid PATCH path", shorten(raw)));
        if raw.is_empty() || raw.chars().count() > limits.max_length {
            return Err(bad());
        }
        let (head, filter, tail) = match raw.find('[') {
            None => (raw, None, None),
            Some(open) => {
                let close = closing_bracket(raw, open).ok_or_else(bad)?;
                let inner = &raw[open + 1..close];
                let filter = filter::parse(inner, limits).map_err(|e| {
                    invalid_path(format!(
                        "the filter in PATCH path '{}' is invalid: {}",
                        shorten(raw),
                        e.detail
                    ))
                })?;
                let rest = &raw[close + 1..];
                let tail = match rest {
                    "" => None,
                    _ => Some(rest.strip_prefix('.').ok_or_else(bad)?),
                };
                (&raw[..open], Some(filter), tail)
            }
        };
        // The URN is everything up to the last ':' (a URN's own dots, as in
        // "2.0", come before it; a sub-attribute's dot after it).
        let (urn, name) = match head.rfind(':') {
            Some(i) => (Some(&head[..i]), &head[i + 1..]),
            None => (None, head),
        };
        let (attr, sub) = match name.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (name, None),
        };
        if filter.is_some() && sub.is_some() {
            return Err(bad());
        }
        let sub = sub.or(tail);
        let names_ok = is_attr_name(attr) && sub.is_none_or(is_attr_name);
        let urn_ok = urn.is_none_or(|u| !u.is_empty() && !u.contains(char::is_whitespace));
        if !(names_ok && urn_ok) {
            // A bare extension URN ("urn:…:enterprise:2.0:User") is a path too.
            if filter.is_none() && raw.contains(':') && !raw.contains(char::is_whitespace) {
                return Ok(PatchPath {
                    raw: raw.to_owned(),
                    urn: None,
                    attr: String::new(),
                    filter: None,
                    sub: None,
                });
            }
            return Err(bad());
        }
        Ok(PatchPath {
            raw: raw.to_owned(),
            urn: urn.map(str::to_owned),
            attr: attr.to_owned(),
            filter,
            sub: sub.map(str::to_owned),
        })
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shorten(&self.raw))
    }
}

/// What a path designates in a resource of a given type.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// A whole extension schema: its object under the URN key.
    Extension(&'static SchemaDef),
    Attr(Resolved),
}

#[derive(Debug, Clone)]
pub(super) struct Resolved {
    pub schema: &'static SchemaDef,
    /// Extension attributes live under their schema's URN key.
    pub ext: bool,
    pub attr: &'static AttrDef,
    pub filter: Option<Filter>,
    pub sub: Option<&'static AttrDef>,
}

/// Resolves `attr[.sub]` of schema `urn` (None: the core schema and the
/// common attributes, then the one extension that has it).
pub(super) fn resolve_name(
    rt: &ResourceTypeDef,
    urn: Option<&str>,
    attr: &str,
    sub: Option<&str>,
) -> Option<(
    &'static SchemaDef,
    &'static AttrDef,
    Option<&'static AttrDef>,
)> {
    if let Some(found) = rt.resolve(urn, attr, sub) {
        return Some(found);
    }
    if urn.is_some() {
        return None;
    }
    let mut hits = rt.extensions.iter().filter_map(|&(schema, _)| {
        let a = schema.attr(attr)?;
        let s = match sub {
            Some(name) => Some(a.sub(name)?),
            None => None,
        };
        Some((schema, a, s))
    });
    let first = hits.next()?;
    hits.next().is_none().then_some(first)
}

impl PatchPath {
    pub(super) fn resolve(&self, rt: &ResourceTypeDef) -> Result<Target, ScimError> {
        if let Some(schema) = rt
            .extensions
            .iter()
            .map(|(s, _)| *s)
            .find(|s| s.id.eq_ignore_ascii_case(&self.raw))
        {
            return Ok(Target::Extension(schema));
        }
        let unknown = || {
            invalid_path(format!(
                "'{self}' names no attribute of the {} resource",
                rt.name
            ))
        };
        if self.attr.is_empty() {
            return Err(unknown());
        }
        let (schema, attr, sub) =
            resolve_name(rt, self.urn.as_deref(), &self.attr, self.sub.as_deref())
                .ok_or_else(unknown)?;
        if let Some(f) = &self.filter {
            if attr.ty != AttrType::Complex || !attr.multi_valued {
                return Err(invalid_path(format!(
                    "'{self}': a value filter needs a multi-valued complex attribute"
                )));
            }
            filter::check_element(f, attr).map_err(|e| {
                invalid_path(format!("the filter in '{self}' is invalid: {}", e.detail))
            })?;
        }
        Ok(Target::Attr(Resolved {
            schema,
            ext: !std::ptr::eq(schema, rt.schema),
            attr,
            filter: self.filter.clone(),
            sub,
        }))
    }
}
