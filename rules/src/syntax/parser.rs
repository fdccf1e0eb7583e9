//! Recursive-descent parser with error recovery.
//!
//! Grammar (informal; `README.md` has the full reference):
//!
//! ```text
//! file    := item*
//! item    := "feature" NAME "=" fdef | "list" NAME "=" lsrc | ["shadow"] "rule" NAME ":" ACTION "when" expr opt*
//! fdef    := "history" NAME ["(" NAME ")"] ["over" DURATION]
//!          | expr "over" DURATION "by" NAME ["where" expr]     (expr is `count`, `sum(f)`, ...)
//!          | "previous" "(" NAME ")" "by" NAME
//!          | expr                                               (derived)
//! opt     := "priority" NUMBER | "reason" STRING
//! expr    := and ("or" and)*          and := not ("and" not)*      not := "not" not | cmp
//! cmp     := sum [CMP sum | ["not"] "in" (NAME | "[" ... "]") | "is" ("missing" | "present")]
//! sum     := prod (("+" | "-") prod)*  prod := unary (("*" | "/") unary)*
//! unary   := "-" unary | NUMBER | DURATION | STRING | "true" | "false" | NAME ["(" args ")"] | "(" expr ")"
//! ```
//!
//! On an error the parser records a diagnostic and skips to the next item
//! keyword, so every item of a file is checked in one run.

// Parse errors travel up a few frames on the cold path only; boxing them
// would add noise to every `Err(...)` for no measurable gain.
#![allow(clippy::result_large_err)]

use super::ast::*;
use super::lexer::{Tok, Token};
use crate::diag::{Code, Diagnostic, Span, closest};

/// Words that cannot name a feature, list or rule.
pub const KEYWORDS: &[&str] = &[
    "feature", "list", "rule", "shadow", "when", "priority", "reason", "over", "by", "where",
    "history", "previous", "and", "or", "not", "in", "is", "missing", "present", "true", "false",
    "allow", "review", "decline", "file", "score",
];

const ITEM_START: &[&str] = &["feature", "list", "rule", "shadow"];
pub(super) const MAX_DEPTH: usize = 64;

pub struct Parser<'t> {
    pub(super) tokens: &'t [Token],
    pub(super) pos: usize,
    pub(super) depth: usize,
    pub errors: Vec<(Diagnostic, Span)>,
}

pub(super) type PResult<T> = Result<T, (Diagnostic, Span)>;

impl<'t> Parser<'t> {
    pub fn new(tokens: &'t [Token]) -> Self {
        Parser {
            tokens,
            pos: 0,
            depth: 0,
            errors: Vec::new(),
        }
    }

    pub fn parse_file(mut self) -> (Vec<Item>, Vec<(Diagnostic, Span)>) {
        let mut items = Vec::new();
        while !matches!(self.peek(), Tok::Eof) {
            let before = self.pos;
            match self.item() {
                Ok(item) => items.push(item),
                Err(e) => {
                    self.errors.push(e);
                    if self.pos == before {
                        self.pos += 1;
                    }
                    self.recover();
                }
            }
        }
        (items, self.errors)
    }

    fn recover(&mut self) {
        while !matches!(self.peek(), Tok::Eof) {
            if let Tok::Name(n) = self.peek()
                && ITEM_START.contains(&n.as_str())
            {
                return;
            }
            self.pos += 1;
        }
    }

    pub(super) fn peek(&self) -> &Tok {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].tok
    }

    pub(super) fn span(&self) -> Span {
        self.tokens[self.pos.min(self.tokens.len() - 1)].span
    }

    pub(super) fn prev_span(&self) -> Span {
        self.tokens[self.pos.saturating_sub(1).min(self.tokens.len() - 1)].span
    }

    pub(super) fn bump(&mut self) -> Token {
        let t = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    pub(super) fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == word)
    }

    pub(super) fn eat_word(&mut self, word: &str) -> bool {
        let yes = self.is_word(word);
        if yes {
            self.bump();
        }
        yes
    }

    pub(super) fn unexpected(&self, expected: &str) -> (Diagnostic, Span) {
        let found = self.peek().describe();
        let mut d = Diagnostic::new(
            Code::UnexpectedToken,
            format!("expected {expected}, found {found}"),
        );
        d = match self.peek() {
            Tok::Assign => d.hint("compare with `==`; `=` only appears in declarations"),
            Tok::Eof => d.hint("the declaration is incomplete"),
            _ => d.hint(format!("write {expected} here")),
        };
        (d, self.span())
    }

    pub(super) fn expect(&mut self, tok: Tok, expected: &str) -> PResult<Span> {
        if *self.peek() == tok {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(expected))
        }
    }

    pub(super) fn expect_word(&mut self, word: &str) -> PResult<Span> {
        if self.is_word(word) {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(&format!("`{word}`")))
        }
    }

    pub(super) fn name(&mut self, what: &str) -> PResult<Ident> {
        match self.peek().clone() {
            Tok::Name(name) => {
                let span = self.bump().span;
                Ok(Ident { name, span })
            }
            other => Err((
                Diagnostic::new(
                    Code::ExpectedName,
                    format!("expected {what}, found {}", other.describe()),
                )
                .hint("names are letters, digits and `_`, starting with a letter"),
                self.span(),
            )),
        }
    }

    fn item(&mut self) -> PResult<Item> {
        if self.eat_word("feature") {
            return self.feature().map(Item::Feature);
        }
        if self.eat_word("list") {
            return self.list().map(Item::List);
        }
        let shadow = self.eat_word("shadow");
        if self.eat_word("rule") {
            return self.rule(shadow).map(Item::Rule);
        }
        let (mut d, span) = self.unexpected("`feature`, `list` or `rule`");
        if let Tok::Name(n) = self.peek()
            && let Some(s) = closest(n, ITEM_START.iter().copied())
        {
            d = d.hint(format!("did you mean `{s}`?"));
        }
        Err((d, span))
    }

    fn feature(&mut self) -> PResult<FeatureDecl> {
        let name = self.name("a feature name")?;
        self.expect(Tok::Assign, "`=`")?;
        let start = self.span();
        let def = if self.eat_word("history") {
            let lookup = self.name("a history lookup")?;
            let arg = if *self.peek() == Tok::LParen {
                self.bump();
                let a = self.name("a field name")?;
                self.expect(Tok::RParen, "`)`")?;
                Some(a)
            } else {
                None
            };
            let days = if self.eat_word("over") {
                Some(self.duration()?)
            } else {
                None
            };
            FeatureDef::History { lookup, arg, days }
        } else {
            let expr = self.expr()?;
            if self.eat_word("over") {
                let window = self.duration()?;
                self.expect_word("by")?;
                let key = self.name("a key field")?;
                let filter = if self.eat_word("where") {
                    Some(self.expr()?)
                } else {
                    None
                };
                let (aggregate, arg) = aggregate_call(expr)?;
                FeatureDef::Window {
                    aggregate,
                    arg,
                    window,
                    key,
                    filter,
                }
            } else if self.is_word("by") {
                self.bump();
                let key = self.name("a key field")?;
                match expr.kind {
                    ExprKind::Call(f, args) if f.name == "previous" && args.len() == 1 => {
                        let field = match &args[0].kind {
                            ExprKind::Name(n) => Ident {
                                name: n.clone(),
                                span: args[0].span,
                            },
                            _ => return Err(not_a_field(args[0].span)),
                        };
                        FeatureDef::Previous { field, key }
                    }
                    _ => {
                        return Err((
                            Diagnostic::new(
                                Code::UnexpectedToken,
                                "`by` needs a window or `previous(field)`",
                            )
                            .hint(
                                "write `count over 10m by card_id` or `previous(lat) by user_id`",
                            ),
                            expr.span,
                        ));
                    }
                }
            } else {
                FeatureDef::Derived(expr)
            }
        };
        Ok(FeatureDecl {
            name,
            def,
            span: start.to(self.prev_span()),
        })
    }

    fn duration(&mut self) -> PResult<(i64, Span)> {
        match *self.peek() {
            Tok::Duration(ms) => Ok((ms, self.bump().span)),
            Tok::Number(_) => Err((
                Diagnostic::new(
                    Code::UnexpectedToken,
                    "expected a duration, found a plain number",
                )
                .hint("add a unit: 30s, 10m, 24h, 30d"),
                self.span(),
            )),
            _ => Err(self.unexpected("a duration like 10m")),
        }
    }

    fn list(&mut self) -> PResult<ListDecl> {
        let name = self.name("a list name")?;
        self.expect(Tok::Assign, "`=`")?;
        if self.eat_word("file") {
            self.expect(Tok::LParen, "`(`")?;
            let Tok::Str(path) = self.peek().clone() else {
                return Err(self.unexpected("a file path in quotes"));
            };
            let span = self.bump().span;
            self.expect(Tok::RParen, "`)`")?;
            return Ok(ListDecl {
                name,
                source: ListSource::File(path, span),
            });
        }
        if *self.peek() == Tok::LBracket {
            let entries = self.bracket_list()?;
            return Ok(ListDecl {
                name,
                source: ListSource::Inline(entries),
            });
        }
        Err(self.unexpected("`file(\"...\")` or `[\"...\", ...]`"))
    }

    pub(super) fn bracket_list(&mut self) -> PResult<Vec<Expr>> {
        self.expect(Tok::LBracket, "`[`")?;
        let mut items = Vec::new();
        while *self.peek() != Tok::RBracket {
            items.push(self.unary()?);
            if *self.peek() != Tok::Comma {
                break;
            }
            self.bump();
        }
        self.expect(Tok::RBracket, "`]` or `,`")?;
        Ok(items)
    }

    fn rule(&mut self, shadow: bool) -> PResult<RuleDecl> {
        let name = self.name("a rule name")?;
        self.expect(Tok::Colon, "`:` after the rule name")?;
        let action = match self.peek() {
            Tok::Name(n) if n == "allow" => ActionWord::Allow,
            Tok::Name(n) if n == "review" => ActionWord::Review,
            Tok::Name(n) if n == "decline" => ActionWord::Decline,
            other => {
                let mut d = Diagnostic::new(
                    Code::ExpectedAction,
                    format!("expected an action, found {}", other.describe()),
                );
                let suggestion = match other {
                    Tok::Name(n) if matches!(n.as_str(), "block" | "deny" | "reject") => {
                        Some("decline")
                    }
                    Tok::Name(n) if matches!(n.as_str(), "accept" | "approve" | "pass") => {
                        Some("allow")
                    }
                    Tok::Name(n) => closest(n, ["allow", "review", "decline"].into_iter()),
                    _ => None,
                };
                d = d.hint(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "the action is one of `allow`, `review`, `decline`".to_string(),
                });
                return Err((d, self.span()));
            }
        };
        self.bump();
        self.expect_word("when")?;
        let condition = self.expr()?;
        let mut priority = None;
        let mut reason = None;
        loop {
            if self.is_word("priority") {
                let kw = self.bump().span;
                let negative = *self.peek() == Tok::Minus;
                if negative {
                    self.bump();
                }
                let Tok::Number(n) = *self.peek() else {
                    return Err(self.unexpected("a number after `priority`"));
                };
                let span = kw.to(self.bump().span);
                if priority.is_some() {
                    return Err((dup_option("priority"), span));
                }
                priority = Some((if negative { -n } else { n }, span));
            } else if self.is_word("reason") {
                let kw = self.bump().span;
                let Tok::Str(text) = self.peek().clone() else {
                    return Err(self.unexpected("a quoted reason after `reason`"));
                };
                let span = self.bump().span;
                if reason.is_some() {
                    return Err((dup_option("reason"), kw.to(span)));
                }
                reason = Some((text, span));
            } else {
                break;
            }
        }
        Ok(RuleDecl {
            name,
            shadow,
            action,
            condition,
            priority,
            reason,
        })
    }
}

fn dup_option(what: &str) -> Diagnostic {
    Diagnostic::new(
        Code::DuplicateRuleOption,
        format!("`{what}` is given twice for this rule"),
    )
    .hint(format!("keep one `{what}`"))
}

fn not_a_field(span: Span) -> (Diagnostic, Span) {
    (
        Diagnostic::new(Code::NotAField, "expected a transaction field name")
            .hint("aggregates and previous() take a field such as `amount` or `lat`"),
        span,
    )
}

/// Read `count`, `count()`, `sum(amount)`... out of the expression before `over`.
fn aggregate_call(expr: Expr) -> PResult<(Ident, Option<Ident>)> {
    match expr.kind {
        ExprKind::Name(n) => Ok((
            Ident {
                name: n,
                span: expr.span,
            },
            None,
        )),
        ExprKind::Call(f, args) => match args.as_slice() {
            [] => Ok((f, None)),
            [a] => match &a.kind {
                ExprKind::Name(n) => Ok((
                    f,
                    Some(Ident {
                        name: n.clone(),
                        span: a.span,
                    }),
                )),
                _ => Err(not_a_field(a.span)),
            },
            _ => Err((
                Diagnostic::new(Code::ArgCount, "a window aggregate takes one field")
                    .hint("write e.g. `sum(amount) over 24h by user_id`"),
                expr.span,
            )),
        },
        _ => Err((
            Diagnostic::new(
                Code::UnknownAggregate,
                "expected a window aggregate before `over`",
            )
            .hint("one of count, sum(f), min(f), max(f), avg(f), distinct(f)"),
            expr.span,
        )),
    }
}
