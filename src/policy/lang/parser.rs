//! Recursive descent over the tokens. Depth and term counts are checked on
//! the way down, so no input recurses deeper than `max_depth`.

use super::error::{ErrorKind, ParseError};
use super::lexer::{Lexer, Tok, Token};
use super::{Expr, Limits, Scope};
use crate::policy::check_text;

/// What a token must be where a term starts.
const TERM: &str =
    "a function (@hasAttribute, @isInGroups, @hasTagAsAttribute, @hasTagAsGroup), NOT or '('";

/// Parses an expression of the advanced language (see the module
/// documentation for the grammar).
pub fn parse(src: &str, limits: &Limits) -> Result<Expr, ParseError> {
    if src.len() > limits.max_length {
        return Err(ParseError::at(
            src,
            limits.max_length,
            ErrorKind::TooLong,
            format!(
                "the expression is longer than {} bytes ({} bytes)",
                limits.max_length,
                src.len()
            ),
        ));
    }
    let mut lexer = Lexer::new(src);
    let current = lexer.next_token()?;
    let mut p = Parser {
        src,
        lexer,
        current,
        depth: 0,
        terms: 0,
        limits,
    };
    let expr = p.or_expr()?;
    if p.current.tok != Tok::End {
        return Err(p.expected("AND, OR or end of input"));
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    current: Token<'a>,
    depth: usize,
    terms: usize,
    limits: &'a Limits,
}

/// One argument of a call: its text and where it starts.
struct Arg {
    text: String,
    at: usize,
}

impl<'a> Parser<'a> {
    fn advance(&mut self) -> Result<Token<'a>, ParseError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.current, next))
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.current.tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn error(&self, at: usize, kind: ErrorKind, message: String) -> ParseError {
        ParseError::at(self.src, at, kind, message)
    }

    /// "expected X, found Y" at the current token.
    fn expected(&self, what: &str) -> ParseError {
        self.error(
            self.current.at,
            ErrorKind::Syntax,
            format!("expected {what}, found {}", self.current.tok.describe()),
        )
    }

    fn expect(&mut self, tok: Tok<'static>, what: &str) -> Result<(), ParseError> {
        if self.current.tok != tok {
            return Err(self.expected(what));
        }
        self.advance()?;
        Ok(())
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.error(
                self.current.at,
                ErrorKind::TooDeep,
                format!(
                    "the expression nests parentheses and NOT deeper than {} levels",
                    self.limits.max_depth
                ),
            ));
        }
        Ok(())
    }

    /// Operands joined by `keyword`, each parsed by `operand`; one operand
    /// alone is itself, several make one node.
    fn joined(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Expr, ParseError>,
        node: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, ParseError> {
        let mut items = vec![operand(self)?];
        while self.at_keyword(keyword) {
            self.advance()?;
            items.push(operand(self)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            node(items)
        })
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        self.joined("OR", Self::and_expr, Expr::Or)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        self.joined("AND", Self::unary, Expr::And)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.at_keyword("NOT") {
            self.enter()?;
            self.advance()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        match self.current.tok {
            Tok::Open => {
                self.enter()?;
                self.advance()?;
                let inner = self.or_expr()?;
                self.expect(Tok::Close, "AND, OR or ')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Function(name) => self.call(name),
            _ => Err(self.expected(TERM)),
        }
    }

    /// `@name(args)`: counted against `max_terms`, then checked against
    /// the function's signature.
    fn call(&mut self, name: &'a str) -> Result<Expr, ParseError> {
        let at = self.current.at;
        self.terms += 1;
        if self.terms > self.limits.max_terms {
            return Err(self.error(
                at,
                ErrorKind::TooManyTerms,
                format!(
                    "the expression has more than {} function calls",
                    self.limits.max_terms
                ),
            ));
        }
        self.advance()?;
        self.expect(Tok::Open, &format!("'(' after @{name}"))?;
        let mut args = Vec::new();
        if self.current.tok != Tok::Close {
            loop {
                args.push(self.string_arg()?);
                if self.current.tok != Tok::Comma {
                    break;
                }
                self.advance()?;
            }
        }
        self.expect(Tok::Close, "',' or ')'")?;
        self.build(name, at, args)
    }

    fn string_arg(&mut self) -> Result<Arg, ParseError> {
        let at = self.current.at;
        match self.advance()?.tok {
            Tok::Str(text) => Ok(Arg { text, at }),
            other => {
                let found = other.describe();
                Err(self.error(
                    at,
                    ErrorKind::Syntax,
                    format!("expected a string in single quotes, found {found}"),
                ))
            }
        }
    }

    /// The node a call makes, or why its arguments do not fit.
    fn build(&self, name: &str, at: usize, args: Vec<Arg>) -> Result<Expr, ParseError> {
        let n = args.len();
        let arity = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(self.error(
                    at,
                    ErrorKind::Syntax,
                    format!("@{name} takes {what}, found {n}"),
                ))
            }
        };
        let mut args = args.into_iter();
        match name.to_ascii_lowercase().as_str() {
            "hasattribute" => {
                arity(n == 2, "2 arguments: an attribute name and a value")?;
                Ok(Expr::HasAttribute {
                    name: self.text(args.next(), "an attribute name")?,
                    value: self.text(args.next(), "an attribute value")?,
                })
            }
            "isingroups" => {
                arity(n > 0, "one or more group names")?;
                let groups = args
                    .map(|a| self.text(Some(a), "a group name"))
                    .collect::<Result<_, _>>()?;
                Ok(Expr::IsInGroups(groups))
            }
            "hastagasattribute" => {
                arity(
                    n == 2,
                    "2 arguments: an attribute name and 'dataSource' or 'column'",
                )?;
                Ok(Expr::HasTagAsAttribute {
                    name: self.text(args.next(), "an attribute name")?,
                    scope: self.scope(args.next())?,
                })
            }
            "hastagasgroup" => {
                arity(n == 1, "1 argument: 'dataSource' or 'column'")?;
                Ok(Expr::HasTagAsGroup(self.scope(args.next())?))
            }
            _ => Err(self.error(
                at,
                ErrorKind::Syntax,
                format!("unknown function @{name}: expected {TERM}"),
            )),
        }
    }

    /// An argument that names something: the common text rule.
    fn text(&self, arg: Option<Arg>, what: &str) -> Result<String, ParseError> {
        let Arg { text, at } = arg.expect("arity checked before the arguments are read");
        check_text(what, &text).map_err(|m| self.error(at, ErrorKind::Syntax, m))?;
        Ok(text)
    }

    fn scope(&self, arg: Option<Arg>) -> Result<Scope, ParseError> {
        let Arg { text, at } = arg.expect("arity checked before the arguments are read");
        [Scope::DataSource, Scope::Column]
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                self.error(
                    at,
                    ErrorKind::Syntax,
                    format!("expected 'dataSource' or 'column', found '{text}'"),
                )
            })
    }
}
