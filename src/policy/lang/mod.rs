//! The advanced language of subscription policies: its syntax tree, a
//! canonical printer, and a hand-written bounded parser ([`parse`]).
//!
//! ```text
//! expr     = and *( "OR" and )
//! and      = unary *( "AND" unary )
//! unary    = "NOT" unary / "(" expr ")" / call
//! call     = "@" name "(" [ string *( "," string ) ] ")"
//! string   = "'" *( char / "\'" / "\\" ) "'"
//! ```
//!
//! - Precedence: `NOT` binds tightest, then `AND`, then `OR`; `AND` and
//!   `OR` group a run of operands (`a AND b AND c` is one node of three).
//! - `AND`, `OR`, `NOT` and the function names are case-insensitive
//!   (`and`, `@hasattribute`); the printer writes them as documented.
//! - Functions: `@hasAttribute('name', 'value')`,
//!   `@isInGroups('g1', 'g2', …)` (a member of all of them),
//!   `@hasTagAsAttribute('name', 'dataSource' | 'column')`,
//!   `@hasTagAsGroup('dataSource' | 'column')`. Scopes are exact.
//! - Strings are single-quoted; inside one, `\'` is a quote and `\\` a
//!   backslash, any other backslash is an error, and control characters
//!   (newlines included) are refused. Every argument is 1 to
//!   [`MAX_TEXT`](super::MAX_TEXT) characters.
//! - Whitespace between tokens is any of space, tab, CR and LF.
//! - Hostile input is bounded by [`Limits`]: the text's length, the number
//!   of function calls, the nesting of parentheses and `NOT`. The parser
//!   recurses only on `(` and `NOT`, so its stack is bounded by the depth
//!   limit; so is the tree's depth (at most an `OR` and an `AND` node per
//!   level), which the printer and the evaluator recurse over.

mod error;
mod lexer;
mod parser;
#[cfg(test)]
pub(crate) mod tests;

use std::fmt;

pub use error::{ErrorKind, ParseError};
pub use parser::parse;

/// Where a tag function looks for tags: the data source's own tags or its
/// columns' tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    DataSource,
    Column,
}

impl Scope {
    /// The argument that names the scope in the language.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DataSource => "dataSource",
            Scope::Column => "column",
        }
    }
}

/// An expression of the advanced language. `And` and `Or` hold two or
/// more operands; the parser never nests an `And` directly in an `And`
/// (nor an `Or` in an `Or`) unless the text had parentheses there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `@hasAttribute('name', 'value')`: the account holds that value.
    HasAttribute {
        name: String,
        value: String,
    },
    /// `@isInGroups('g1', …)`: the account is a member of every group named.
    IsInGroups(Vec<String>),
    /// `@hasTagAsAttribute('name', scope)`: a value of the attribute covers
    /// a tag of the data source (or of a column).
    HasTagAsAttribute {
        name: String,
        scope: Scope,
    },
    /// `@hasTagAsGroup(scope)`: one of the account's groups covers a tag of
    /// the data source (or of a column).
    HasTagAsGroup(Scope),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Bounds on one expression's text; hostile input hits one of these
/// before it costs anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest text, in bytes.
    pub max_length: usize,
    /// Most function calls.
    pub max_terms: usize,
    /// Deepest nesting of parentheses and `NOT`.
    pub max_depth: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_length: 8192,
        max_terms: 256,
        max_depth: 32,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A string literal as the parser reads it back.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'")?;
        for c in self.0.chars() {
            if matches!(c, '\'' | '\\') {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("'")
    }
}

impl Expr {
    /// Written as an operand of `parent`, this expression needs parentheses
    /// to parse back to the same tree: an `Or` always (in an `Or` too, or it
    /// would merge into it), an `And` except inside an `Or`.
    fn needs_parens_in(&self, parent: &Expr) -> bool {
        match self {
            Expr::Or(_) => true,
            Expr::And(_) => !matches!(parent, Expr::Or(_)),
            _ => false,
        }
    }

    fn fmt_operands(&self, f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str) -> fmt::Result {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            self.fmt_operand(f, item)?;
        }
        Ok(())
    }

    fn fmt_operand(&self, f: &mut fmt::Formatter<'_>, item: &Expr) -> fmt::Result {
        if item.needs_parens_in(self) {
            write!(f, "({item})")
        } else {
            write!(f, "{item}")
        }
    }
}

/// The canonical text: parses back to an equal tree.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::HasAttribute { name, value } => {
                write!(f, "@hasAttribute({}, {})", Quoted(name), Quoted(value))
            }
            Expr::IsInGroups(groups) => {
                f.write_str("@isInGroups(")?;
                for (i, g) in groups.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Quoted(g))?;
                }
                f.write_str(")")
            }
            Expr::HasTagAsAttribute { name, scope } => write!(
                f,
                "@hasTagAsAttribute({}, {})",
                Quoted(name),
                Quoted(scope.as_str())
            ),
            Expr::HasTagAsGroup(scope) => {
                write!(f, "@hasTagAsGroup({})", Quoted(scope.as_str()))
            }
            Expr::Not(inner) => {
                f.write_str("NOT ")?;
                self.fmt_operand(f, inner)
            }
            Expr::And(items) => self.fmt_operands(f, items, " AND "),
            Expr::Or(items) => self.fmt_operands(f, items, " OR "),
        }
    }
}
