//! Expression parsing: precedence climbing from `or` down to literals.
//!
//! Precedence, loosest first: `or`, `and`, `not`, comparisons / `in` / `is`
//! (non-associative), `+ -`, `* /`, unary `-`. Nesting is limited to
//! `MAX_DEPTH` levels so hostile input cannot overflow the stack.

// See parser.rs: errors are boxed nowhere on purpose.
#![allow(clippy::result_large_err)]

use super::ast::*;
use super::lexer::Tok;
use super::parser::{KEYWORDS, MAX_DEPTH, PResult, Parser};
use crate::diag::{Code, Diagnostic};

impl Parser<'_> {
    pub fn expr(&mut self) -> PResult<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err((
                Diagnostic::new(Code::UnexpectedToken, "expression is nested too deeply")
                    .hint("split it into derived features"),
                self.span(),
            ));
        }
        let r = self.or();
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> PResult<Expr> {
        let mut lhs = self.and()?;
        while self.eat_word("or") {
            let rhs = self.and()?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Or(Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    fn and(&mut self) -> PResult<Expr> {
        let mut lhs = self.not()?;
        while self.eat_word("and") {
            let rhs = self.not()?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::And(Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    fn not(&mut self) -> PResult<Expr> {
        if self.is_word("not") {
            let start = self.bump().span;
            self.depth += 1;
            let inner = if self.depth > MAX_DEPTH {
                Err(self.unexpected("a shorter expression"))
            } else {
                self.not()
            };
            self.depth -= 1;
            let inner = inner?;
            let span = start.to(inner.span);
            return Ok(Expr {
                kind: ExprKind::Not(Box::new(inner)),
                span,
            });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> PResult<Expr> {
        let lhs = self.sum()?;
        let op = match self.peek() {
            Tok::Eq => BinOp::Eq,
            Tok::Ne => BinOp::Ne,
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            Tok::Assign => {
                return Err((
                    Diagnostic::new(Code::UnexpectedToken, "`=` is not a comparison")
                        .hint("compare with `==`"),
                    self.span(),
                ));
            }
            Tok::Name(n) if n == "in" || n == "not" => {
                let negated = self.eat_word("not");
                self.expect_word("in")?;
                let list = if *self.peek() == Tok::LBracket {
                    ListRef::Inline(self.bracket_list()?)
                } else {
                    ListRef::Named(self.name("a list name")?)
                };
                let span = lhs.span.to(self.prev_span());
                return Ok(Expr {
                    kind: ExprKind::In {
                        value: Box::new(lhs),
                        list,
                        negated,
                    },
                    span,
                });
            }
            Tok::Name(n) if n == "is" => {
                self.bump();
                let negated = self.eat_word("not");
                let present = if self.eat_word("missing") {
                    negated
                } else if self.eat_word("present") {
                    !negated
                } else {
                    return Err(self.unexpected("`missing` or `present`"));
                };
                let span = lhs.span.to(self.prev_span());
                return Ok(Expr {
                    kind: ExprKind::Is {
                        value: Box::new(lhs),
                        present,
                    },
                    span,
                });
            }
            _ => return Ok(lhs),
        };
        self.bump();
        let rhs = self.sum()?;
        let span = lhs.span.to(rhs.span);
        Ok(Expr {
            kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            span,
        })
    }

    fn sum(&mut self) -> PResult<Expr> {
        let mut lhs = self.product()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.product()?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
    }

    fn product(&mut self) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.unary()?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
    }

    pub(super) fn unary(&mut self) -> PResult<Expr> {
        let start = self.span();
        let kind = match self.peek().clone() {
            Tok::Minus => {
                self.bump();
                self.depth += 1;
                let inner = if self.depth > MAX_DEPTH {
                    Err(self.unexpected("a value"))
                } else {
                    self.unary()
                };
                self.depth -= 1;
                let inner = inner?;
                let span = start.to(inner.span);
                return Ok(Expr {
                    kind: ExprKind::Neg(Box::new(inner)),
                    span,
                });
            }
            Tok::Number(n) => ExprKind::Number(n),
            Tok::Duration(ms) => ExprKind::Duration(ms),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::LParen => {
                self.bump();
                let inner = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                return Ok(Expr {
                    kind: inner.kind,
                    span: start.to(self.prev_span()),
                });
            }
            Tok::Name(n) if n == "true" || n == "false" => ExprKind::Bool(n == "true"),
            Tok::Name(n) if KEYWORDS.contains(&n.as_str()) && n != "score" && n != "previous" => {
                return Err(self.unexpected("a value"));
            }
            Tok::Name(n) => {
                self.bump();
                if *self.peek() != Tok::LParen {
                    return Ok(Expr {
                        kind: ExprKind::Name(n),
                        span: start,
                    });
                }
                self.bump();
                let mut args = Vec::new();
                while *self.peek() != Tok::RParen {
                    args.push(self.expr()?);
                    if *self.peek() != Tok::Comma {
                        break;
                    }
                    self.bump();
                }
                self.expect(Tok::RParen, "`)` or `,`")?;
                let callee = Ident {
                    name: n,
                    span: start,
                };
                return Ok(Expr {
                    kind: ExprKind::Call(callee, args),
                    span: start.to(self.prev_span()),
                });
            }
            _ => return Err(self.unexpected("a value")),
        };
        self.bump();
        Ok(Expr { kind, span: start })
    }
}
