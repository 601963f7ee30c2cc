//! Literal tokens of the filter grammar: JSON strings (all escapes,
//! surrogate pairs) and JSON numbers, plus `true`, `false` and `null`.

use super::Literal;
use super::parser::Parser;
use crate::scim::error::ScimError;

impl Parser<'_> {
    pub(super) fn literal(&mut self) -> Result<Literal, ScimError> {
        const WHAT: &str = "a value (a string in double quotes, a number, true, false or null)";
        match self.peek() {
            Some(b'"') => self.string().map(Literal::String),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.number().map(Literal::Number),
            _ => {
                let w = self.word();
                let lit = if w.eq_ignore_ascii_case("true") {
                    Literal::Bool(true)
                } else if w.eq_ignore_ascii_case("false") {
                    Literal::Bool(false)
                } else if w.eq_ignore_ascii_case("null") {
                    Literal::Null
                } else {
                    return Err(self.expected(WHAT));
                };
                self.pos += w.len();
                Ok(lit)
            }
        }
    }

    /// A JSON string; the common case without escapes is one copy.
    fn string(&mut self) -> Result<String, ScimError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            match self.peek() {
                None => {
                    return Err(self.error_at(open, "unterminated string starting"));
                }
                Some(b'"') => {
                    out.push_str(&self.src[run..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.src[run..self.pos]);
                    self.escape(&mut out)?;
                    run = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// One escape sequence at `pos` (the backslash), appended to `out`.
    fn escape(&mut self, out: &mut String) -> Result<(), ScimError> {
        let at = self.pos;
        let c = match self.b.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = self.hex4(at + 2)?;
                self.pos = at + 6;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    let lo = match (self.b.get(at + 6), self.b.get(at + 7)) {
                        (Some(b'\\'), Some(b'u')) => self.hex4(at + 8)?,
                        _ => 0,
                    };
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.error_at(at, "unpaired surrogate in \\u escape"));
                    }
                    self.pos = at + 12;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                // Lone low surrogates are the only values that fail here.
                let c = char::from_u32(code)
                    .ok_or_else(|| self.error_at(at, "unpaired surrogate in \\u escape"))?;
                out.push(c);
                return Ok(());
            }
            _ => {
                self.pos = at + 1;
                return Err(self.expected("escape character (\" \\ / b f n r t u)"));
            }
        };
        out.push(c);
        self.pos = at + 2;
        Ok(())
    }

    fn hex4(&mut self, at: usize) -> Result<u32, ScimError> {
        let digits = self
            .b
            .get(at..at + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit));
        match digits {
            // Four ASCII hex digits: both conversions succeed.
            Some(d) => {
                Ok(u32::from_str_radix(std::str::from_utf8(d).unwrap_or("0"), 16).unwrap_or(0))
            }
            None => {
                self.pos = at;
                Err(self.expected("four hex digits"))
            }
        }
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    /// Integers stay integers (i64, then u64); everything else is an f64,
    /// parsed with std's correctly rounded parser so printing round-trips.
    fn number(&mut self) -> Result<serde_json::Number, ScimError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.expected("digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.expected("digit"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.expected("digit"));
            }
            self.digits();
        }
        let text = &self.src[start..self.pos];
        if integer {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(i.into());
            }
            if let Ok(u) = text.parse::<u64>() {
                return Ok(u.into());
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .ok_or_else(|| self.error_at(start, "number out of range"))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}
