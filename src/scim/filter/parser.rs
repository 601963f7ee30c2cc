//! Recursive descent over the filter's bytes. Every syntax character is
//! ASCII, so byte offsets always fall on character boundaries; errors report
//! character offsets. Depth and term counts are checked on the way down, so
//! no input recurses deeper than `max_depth`.

use super::{AttrPath, AttrTest, CompareOp, Filter, FilterLimits};
use crate::scim::error::ScimError;

/// Parses a filter written by a client. Keywords, operators and literals
/// `true`/`false`/`null` are case-insensitive; whitespace between tokens is
/// one or more of space, tab, CR, LF (missing whitespace is tolerated where
/// the tokens stay unambiguous, e.g. `not(…)`).
pub fn parse(input: &str, limits: &FilterLimits) -> Result<Filter, ScimError> {
    // A char is at most 4 bytes: the byte length bounds the work of counting.
    let too_long = input.len() > limits.max_length
        && (input.len() / 4 > limits.max_length || input.chars().count() > limits.max_length);
    if too_long {
        return Err(ScimError::invalid_filter(format!(
            "filter is longer than {} characters",
            limits.max_length
        )));
    }
    let mut p = Parser {
        src: input,
        b: input.as_bytes(),
        pos: 0,
        depth: 0,
        terms: 0,
        limits,
    };
    p.skip_ws();
    let filter = p.or_expr(false)?;
    p.skip_ws();
    if p.pos < p.b.len() {
        return Err(p.expected("'and', 'or' or end of filter"));
    }
    Ok(filter)
}

pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
    depth: usize,
    terms: usize,
    limits: &'a FilterLimits,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// Characters of an attribute path token: names, `.`, the URN's `:` and
/// `$ref`.
fn is_path_char(c: u8) -> bool {
    is_name_char(c) || matches!(c, b'.' | b':' | b'$')
}

/// ATTRNAME = ALPHA *(nameChar), plus `$ref`-style names.
fn is_attr_name(s: &[u8]) -> bool {
    let s = s.strip_prefix(b"$").unwrap_or(s);
    match s.split_first() {
        Some((first, rest)) => first.is_ascii_alphabetic() && rest.iter().all(|&c| is_name_char(c)),
        None => false,
    }
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Skips whitespace; says whether there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// The run of name characters at `pos` (a keyword candidate).
    pub(super) fn word(&self) -> &str {
        let end = self.b[self.pos..]
            .iter()
            .position(|&c| !is_name_char(c))
            .map_or(self.b.len(), |n| self.pos + n);
        &self.src[self.pos..end]
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        let w = self.word();
        if w.eq_ignore_ascii_case(kw) {
            self.pos += w.len();
            true
        } else {
            false
        }
    }

    fn char_offset(&self, byte: usize) -> usize {
        self.b[..byte.min(self.b.len())]
            .iter()
            .filter(|&&c| c & 0xC0 != 0x80)
            .count()
    }

    pub(super) fn error_at(&self, byte: usize, what: &str) -> ScimError {
        ScimError::invalid_filter(format!("{what} at position {}", self.char_offset(byte)))
    }

    /// "expected X at position N, found Y", Y being the token at `pos`.
    pub(super) fn expected(&self, what: &str) -> ScimError {
        // `pos` is always on a char boundary; `get` keeps a slip from panicking.
        let rest = self.src.get(self.pos..).unwrap_or("");
        let found = match rest.chars().next() {
            None => "end of filter".to_owned(),
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, '$' | '-' | '_') => {
                let token: String = rest
                    .chars()
                    .take_while(|&c| c.is_ascii() && is_path_char(c as u8))
                    .take(40)
                    .collect();
                format!("'{token}'")
            }
            Some(c) => format!("'{c}'"),
        };
        ScimError::invalid_filter(format!(
            "expected {what} at position {}, found {found}",
            self.char_offset(self.pos)
        ))
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.error_at(
                self.pos,
                &format!("filter nests deeper than {} levels", self.limits.max_depth),
            ));
        }
        Ok(())
    }

    fn count_term(&mut self) -> Result<(), ScimError> {
        self.terms += 1;
        if self.terms > self.limits.max_terms {
            return Err(self.error_at(
                self.pos,
                &format!("filter has more than {} comparisons", self.limits.max_terms),
            ));
        }
        Ok(())
    }

    /// FILTER: and-expressions joined by `or`, left-associative.
    fn or_expr(&mut self, in_brackets: bool) -> Result<Filter, ScimError> {
        let mut left = self.and_expr(in_brackets)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if !self.eat_keyword("or") {
                self.pos = save;
                return Ok(left);
            }
            self.skip_ws();
            let right = self.and_expr(in_brackets)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    fn and_expr(&mut self, in_brackets: bool) -> Result<Filter, ScimError> {
        let mut left = self.unary(in_brackets)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if !self.eat_keyword("and") {
                self.pos = save;
                return Ok(left);
            }
            self.skip_ws();
            let right = self.unary(in_brackets)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    /// `( FILTER )`, `not ( FILTER )` or an attribute expression. `not` not
    /// followed by `(` is an attribute named "not".
    fn unary(&mut self, in_brackets: bool) -> Result<Filter, ScimError> {
        if self.peek() == Some(b'(') {
            return self.group(in_brackets);
        }
        let w = self.word();
        if w.eq_ignore_ascii_case("not") {
            let save = self.pos;
            self.pos += w.len();
            self.skip_ws();
            if self.peek() == Some(b'(') {
                return Ok(Filter::Not(Box::new(self.group(in_brackets)?)));
            }
            self.pos = save;
        }
        self.attr_expr(in_brackets)
    }

    fn group(&mut self, in_brackets: bool) -> Result<Filter, ScimError> {
        self.enter()?;
        self.pos += 1;
        self.skip_ws();
        let inner = self.or_expr(in_brackets)?;
        self.skip_ws();
        if self.peek() != Some(b')') {
            return Err(self.expected("'and', 'or' or ')'"));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(inner)
    }

    fn attr_expr(&mut self, in_brackets: bool) -> Result<Filter, ScimError> {
        let path = self.attr_path(in_brackets)?;
        let save = self.pos;
        self.skip_ws();
        if self.peek() != Some(b'[') {
            self.pos = save;
            self.skip_ws();
            return Ok(match self.attr_test()? {
                AttrTest::Present => Filter::Present(path),
                AttrTest::Compare(op, value) => Filter::Compare { path, op, value },
            });
        }
        if in_brackets {
            return Err(self.error_at(self.pos, "value filters cannot be nested"));
        }
        if path.sub.is_some() {
            return Err(self.error_at(
                self.pos,
                "a value filter '[' must follow an attribute name without a sub-attribute",
            ));
        }
        self.enter()?;
        self.pos += 1;
        self.skip_ws();
        let filter = Box::new(self.or_expr(true)?);
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(self.expected("'and', 'or' or ']'"));
        }
        self.pos += 1;
        self.depth -= 1;
        if self.peek() != Some(b'.') {
            return Ok(Filter::ValuePath { attr: path, filter });
        }
        self.pos += 1;
        let start = self.pos;
        while self.peek().is_some_and(|c| is_name_char(c) || c == b'$') {
            self.pos += 1;
        }
        if !is_attr_name(&self.b[start..self.pos]) {
            self.pos = start;
            return Err(self.expected("sub-attribute name"));
        }
        let sub = self.src[start..self.pos].to_owned();
        self.skip_ws();
        let test = self.attr_test()?;
        Ok(Filter::ValuePathSub {
            attr: path,
            filter,
            sub,
            test,
        })
    }

    /// `pr` or an operator and a value; counts as one term.
    fn attr_test(&mut self) -> Result<AttrTest, ScimError> {
        let w = self.word();
        let op = if w.eq_ignore_ascii_case("pr") {
            None
        } else {
            match CompareOp::from_keyword(w) {
                Some(op) => Some(op),
                None => return Err(self.expected("comparison operator")),
            }
        };
        self.pos += w.len();
        self.count_term()?;
        let Some(op) = op else {
            return Ok(AttrTest::Present);
        };
        self.skip_ws();
        Ok(AttrTest::Compare(op, self.literal()?))
    }

    /// attrPath = [URI ":"] ATTRNAME ["." ATTRNAME]; the URI is everything
    /// up to the last ':' of the token. Inside brackets only a bare name.
    fn attr_path(&mut self, in_brackets: bool) -> Result<AttrPath, ScimError> {
        let start = self.pos;
        let end = self.b[start..]
            .iter()
            .position(|&c| !is_path_char(c))
            .map_or(self.b.len(), |n| start + n);
        if in_brackets {
            if !is_attr_name(&self.b[start..end]) {
                return Err(self.expected("sub-attribute name"));
            }
            self.pos = end;
            return Ok(AttrPath::name(&self.src[start..end]));
        }
        let (urn, name_start) = match self.b[start..end].iter().rposition(|&c| c == b':') {
            Some(0) => return Err(self.expected("attribute name")),
            Some(i) => (Some(&self.src[start..start + i]), start + i + 1),
            None => (None, start),
        };
        let (attr_end, sub_start) = match self.b[name_start..end].iter().position(|&c| c == b'.') {
            Some(i) => (name_start + i, Some(name_start + i + 1)),
            None => (end, None),
        };
        if !is_attr_name(&self.b[name_start..attr_end]) {
            self.pos = name_start;
            return Err(self.expected("attribute name"));
        }
        if let Some(s) = sub_start.filter(|&s| !is_attr_name(&self.b[s..end])) {
            self.pos = s;
            return Err(self.expected("sub-attribute name"));
        }
        self.pos = end;
        Ok(AttrPath {
            urn: urn.map(str::to_owned),
            attr: self.src[name_start..attr_end].to_owned(),
            sub: sub_start.map(|s| self.src[s..end].to_owned()),
        })
    }
}
