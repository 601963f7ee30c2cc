//! A parse error of the advanced language: where it is (byte offset, line
//! and column) and what was expected there, worded for a 400 response.

use std::fmt;

/// Which rule the text broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not the language: an unexpected token or character, a bad string,
    /// an unknown function, a wrong argument.
    Syntax,
    /// Longer than [`Limits::max_length`](super::Limits::max_length).
    TooLong,
    /// More function calls than [`Limits::max_terms`](super::Limits::max_terms).
    TooManyTerms,
    /// Nested deeper than [`Limits::max_depth`](super::Limits::max_depth).
    TooDeep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ErrorKind,
    /// Byte offset into the text where the problem starts.
    pub offset: usize,
    /// 1-based line of `offset`.
    pub line: usize,
    /// 1-based column of `offset` on its line, in characters.
    pub column: usize,
    /// What is wrong there, without the position ("expected ')', found end
    /// of input").
    pub message: String,
}

impl ParseError {
    /// An error at byte `offset` of `src` (clamped to the text, and to a
    /// character boundary at or before it).
    pub(super) fn at(src: &str, offset: usize, kind: ErrorKind, message: String) -> ParseError {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        ParseError {
            kind,
            offset,
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            message,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 1 {
            write!(f, "at line {}, column {}: ", self.line, self.column)?;
        } else {
            write!(f, "at column {}: ", self.column)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}
