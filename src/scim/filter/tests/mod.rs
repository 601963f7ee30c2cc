//! Unit and property tests of the filter module: syntax, limits and
//! printing of the parser; semantics of the evaluator over documents.

mod eval;
mod limits;
mod parse;
mod print;
mod types;

use super::*;

pub(super) fn p(s: &str) -> Filter {
    match parse(s, &FilterLimits::default()) {
        Ok(f) => f,
        Err(e) => panic!("{s:?}: {e}"),
    }
}

pub(super) fn err(s: &str) -> String {
    let e = parse(s, &FilterLimits::default()).expect_err(s);
    assert_eq!(
        e.scim_type,
        Some(crate::scim::ScimType::InvalidFilter),
        "{s}"
    );
    assert_eq!(e.status, 400);
    e.detail
}

pub(super) fn path(s: &str) -> AttrPath {
    let (urn, rest) = match s.rfind(':') {
        Some(i) => (Some(s[..i].to_owned()), &s[i + 1..]),
        None => (None, s),
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, b)) => (a.to_owned(), Some(b.to_owned())),
        None => (rest.to_owned(), None),
    };
    AttrPath { urn, attr, sub }
}

pub(super) fn pr(s: &str) -> Filter {
    Filter::Present(path(s))
}

pub(super) fn cmp(s: &str, op: CompareOp, value: Literal) -> Filter {
    Filter::Compare {
        path: path(s),
        op,
        value,
    }
}

pub(super) fn str_lit(s: &str) -> Literal {
    Literal::String(s.to_owned())
}

pub(super) fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

pub(super) fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

pub(super) fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

pub(super) fn limits(max_length: usize, max_depth: usize, max_terms: usize) -> FilterLimits {
    FilterLimits {
        max_length,
        max_depth,
        max_terms,
    }
}
