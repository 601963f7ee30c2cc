//! The advanced language: what parses to what (`parse.rs`), what is
//! refused and where (`errors.rs`), and generated texts and trees
//! (`generated.rs`, whose strategies evaluation's tests use too).

mod errors;
pub(crate) mod generated;
mod parse;

use super::*;

pub(super) fn p(src: &str) -> Expr {
    parse(src, &Limits::DEFAULT).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

pub(super) fn err(src: &str) -> ParseError {
    match parse(src, &Limits::DEFAULT) {
        Ok(e) => panic!("{src:?} parsed as {e:?}"),
        Err(e) => e,
    }
}

pub(super) fn group(g: &str) -> Expr {
    Expr::IsInGroups(vec![g.to_owned()])
}

pub(super) fn attr(name: &str, value: &str) -> Expr {
    Expr::HasAttribute {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}
