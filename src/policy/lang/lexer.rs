//! Tokens of the advanced language, read one at a time so that errors
//! come in the order of the text.

use super::error::{ErrorKind, ParseError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok<'a> {
    /// `@name`: the name, without the `@`.
    Function(&'a str),
    /// A run of letters, digits and `_`: a keyword, or a mistake.
    Word(&'a str),
    /// A string literal, unescaped.
    Str(String),
    Open,
    Close,
    Comma,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub tok: Tok<'a>,
    /// Byte offset of its first character.
    pub at: usize,
}

impl Tok<'_> {
    /// How an error message names what it found.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Function(name) => format!("'@{}'", clip(name)),
            Tok::Word(w) => format!("'{}'", clip(w)),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Open => "'('".to_owned(),
            Tok::Close => "')'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::End => "end of input".to_owned(),
        }
    }
}

/// At most 40 characters of a name, for a message.
fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

pub(super) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    pub(super) fn error(&self, at: usize, message: String) -> ParseError {
        ParseError::at(self.src, at, ErrorKind::Syntax, message)
    }

    /// The next token, after any whitespace.
    pub(super) fn next_token(&mut self) -> Result<Token<'a>, ParseError> {
        let b = self.src.as_bytes();
        while b
            .get(self.pos)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        {
            self.pos += 1;
        }
        let at = self.pos;
        let Some(&c) = b.get(at) else {
            return Ok(Token { tok: Tok::End, at });
        };
        let tok = match c {
            b'(' | b')' | b',' => {
                self.pos += 1;
                match c {
                    b'(' => Tok::Open,
                    b')' => Tok::Close,
                    _ => Tok::Comma,
                }
            }
            b'\'' => Tok::Str(self.string()?),
            b'@' => {
                self.pos += 1;
                let name = self.word();
                if name.is_empty() {
                    return Err(self.error(at, "expected a function name after '@'".to_owned()));
                }
                Tok::Function(name)
            }
            c if is_word_char(c) => Tok::Word(self.word()),
            _ => {
                let ch = self.src[at..].chars().next().unwrap_or_default();
                return Err(self.error(at, format!("unexpected character {ch:?}")));
            }
        };
        Ok(Token { tok, at })
    }

    fn word(&mut self) -> &'a str {
        let start = self.pos;
        let b = self.src.as_bytes();
        while b.get(self.pos).is_some_and(|&c| is_word_char(c)) {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    /// A single-quoted string at `pos`: `\'` and `\\` are its only escapes.
    fn string(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        let mut out = String::new();
        let mut chars = self.src[open + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            let at = open + 1 + i;
            match c {
                '\'' => {
                    self.pos = at + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '\\'))) => out.push(e),
                    Some((_, e)) => {
                        return Err(self.error(
                            at,
                            format!(
                                "unknown escape '\\{e}' in a string: only \\' (a quote) and \\\\ (a backslash) are escapes"
                            ),
                        ));
                    }
                    None => break,
                },
                c if c.is_control() => {
                    return Err(self.error(
                        at,
                        format!(
                            "control character U+{:04X} in a string (strings are one line)",
                            c as u32
                        ),
                    ));
                }
                c => out.push(c),
            }
        }
        Err(self.error(
            open,
            "unterminated string: expected a closing quote (')".to_owned(),
        ))
    }
}
