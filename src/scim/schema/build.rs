//! Const builders for the schema tables. An attribute starts from the
//! defaults of RFC 7643 §2.2 (single-valued, optional, case-insensitive,
//! readWrite, returned by default, not unique); each call states only how it
//! differs, so the tables read like the RFC's attribute lists.

use super::{AttrDef, AttrType, Mutability, Returned, Uniqueness};

pub(super) const fn attr(name: &'static str, ty: AttrType, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi_valued: false,
        description,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    }
}

pub(super) const fn string(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::String, description)
}

/// The `display` sub-attribute shared by the multi-valued attributes.
pub(super) const fn display() -> AttrDef {
    string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    )
}

/// The `type` sub-attribute, with its canonical values.
pub(super) const fn kind(canonical: &'static [&'static str]) -> AttrDef {
    string("type", "A label indicating the attribute's function.").canonical(canonical)
}

/// The `primary` sub-attribute: `true` at most once per attribute.
pub(super) const fn primary() -> AttrDef {
    attr(
        "primary",
        AttrType::Boolean,
        "Whether this is the primary or preferred value of the attribute; true at most once.",
    )
}

impl AttrDef {
    pub(super) const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    pub(super) const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub(super) const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    pub(super) const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }

    pub(super) const fn read_only(self) -> Self {
        self.mutability(Mutability::ReadOnly)
    }

    pub(super) const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }

    pub(super) const fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }

    pub(super) const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    pub(super) const fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    pub(super) const fn subs(mut self, subs: &'static [AttrDef]) -> Self {
        self.sub_attributes = subs;
        self
    }
}
