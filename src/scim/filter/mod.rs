//! SCIM filters (RFC 7644 §3.4.2.2): the syntax tree, a bounded parser, a
//! canonical printer and an in-memory evaluator over canonical documents.
//! Never touches storage: the SQL translator walks the same tree and must
//! mirror the semantics documented on [`matches`].

mod eval;
mod literal;
mod parser;
mod resolve;
#[cfg(test)]
mod tests;

use std::fmt;

pub use eval::{check_element, matches, matches_element};
pub use parser::parse;
pub use resolve::{ResolvedPath, parse_time, resolve, resolve_path};

/// An attribute reference as the client wrote it (`name.familyName`,
/// `urn:…:enterprise:2.0:User:manager.value`): not yet resolved against a
/// schema, so its spelling and case are the client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, everything before the last `:` ahead of the name.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// A path made of a bare attribute name, such as a sub-attribute inside
    /// a value filter.
    pub fn name(attr: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            attr: attr.into(),
            sub: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator named by `word`, case-insensitively.
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

/// A comparison value: JSON's scalars. dateTime values are strings; whether
/// a string is a dateTime depends on the attribute it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
    Null,
}

/// What a value path followed by a sub-attribute tests on that
/// sub-attribute: `emails[type eq "work"].value pr` or `… .value eq "x"`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrTest {
    Present,
    Compare(CompareOp, Literal),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Literal,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work" and primary eq true]`: some value of `attr`
    /// satisfies `filter`, whose paths are bare sub-attribute names of
    /// `attr` (never URN-qualified, never dotted, never value paths).
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
    /// `emails[type eq "work"].value eq "x"`: some value of `attr` satisfies
    /// `filter` and, the same value, `test` on its sub-attribute `sub`. It
    /// means exactly `emails[type eq "work" and value eq "x"]`; the printer
    /// keeps the client's form.
    ValuePathSub {
        attr: AttrPath,
        filter: Box<Filter>,
        sub: String,
        test: AttrTest,
    },
}

/// Bounds on untrusted filters, enforced while parsing so that no input can
/// exhaust the stack or the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// Characters (Unicode scalar values) in the whole filter.
    pub max_length: usize,
    /// Nesting of `(…)`, `not (…)` and `[…]`.
    pub max_depth: usize,
    /// Comparisons and `pr` tests, value filters' included.
    pub max_terms: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        FilterLimits {
            max_length: 4096,
            max_depth: 32,
            max_terms: 200,
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write_json_string(f, s),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for AttrTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrTest::Present => f.write_str("pr"),
            AttrTest::Compare(op, value) => write!(f, "{op} {value}"),
        }
    }
}

/// The canonical form: lower-case keywords, single spaces, JSON string
/// escapes and only the parentheses the tree needs (`and` binds tighter
/// than `or`; both associate to the left), so it parses back to an equal
/// tree.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::Or(l, r) => {
                write_operand(f, l, true)?;
                f.write_str(" or ")?;
                write_operand(f, r, !matches!(**r, Filter::Or(..)))
            }
            Filter::And(l, r) => {
                write_operand(f, l, !matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, r, false)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
            Filter::ValuePathSub {
                attr,
                filter,
                sub,
                test,
            } => write!(f, "{attr}[{filter}].{sub} {test}"),
        }
    }
}

/// Writes `operand`, in parentheses when it is a logical expression that
/// would otherwise regroup; `bare_ok` says when its own kind may stand bare.
fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter, bare_ok: bool) -> fmt::Result {
    let logical = matches!(operand, Filter::And(..) | Filter::Or(..));
    if logical && !bare_ok {
        write!(f, "({operand})")
    } else {
        write!(f, "{operand}")
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write;
    f.write_char('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if c < ' ' => "",
            _ => continue,
        };
        f.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(f, "\\u{:04x}", c as u32)?;
        } else {
            f.write_str(escape)?;
        }
        start = i + c.len_utf8();
    }
    f.write_str(&s[start..])?;
    f.write_char('"')
}
