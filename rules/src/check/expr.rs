//! Type checking of expressions: syntax tree to typed [`Ir`].
//!
//! Each function returns the IR and its [`Type`]; on an error it records a
//! diagnostic and returns [`Type::Error`], which every caller accepts
//! silently so one mistake produces one diagnostic, not a cascade.

use std::collections::HashMap;

use super::ir::{Ir, ListSet, Type};
use crate::diag::{Code, Diagnostic, Span, closest};
use crate::functions::{self, ArgKind};
use crate::input::Field;
use crate::syntax::ast::{BinOp, Expr, ExprKind, ListRef};

/// Where an expression appears decides what it may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// A rule condition or reason: fields, features, lists, `score`.
    Rule,
    /// A derived feature: fields, lists and features declared before index `.0`.
    Derived(u32),
    /// A window filter: transaction fields and constants only.
    Filter,
}

#[derive(Debug, Clone, Copy)]
pub struct FeatureSym {
    /// The feature's index in declaration order.
    pub index: u32,
    /// Known once the feature itself has been checked.
    pub ty: Option<Type>,
}

pub struct Scope<'a> {
    pub kind: ScopeKind,
    pub features: &'a HashMap<String, FeatureSym>,
    pub lists: &'a HashMap<String, ListSet>,
}

type Errors = Vec<(Diagnostic, Span)>;

const AGGREGATES: &[&str] = &["count", "sum", "avg", "distinct"];

impl Scope<'_> {
    /// Resolve a bare name to a value.
    pub fn name(&self, name: &str, span: Span, errs: &mut Errors) -> (Ir, Type) {
        if name == "score" {
            if self.kind != ScopeKind::Rule {
                errs.push((
                    Diagnostic::new(
                        Code::ScoreInFeature,
                        "the model score cannot be used in a feature",
                    )
                    .hint("features are the model's inputs; use `score` in rule conditions"),
                    span,
                ));
                return (Ir::Const(f64::NAN), Type::Error);
            }
            return (Ir::Score, Type::Number);
        }
        if let Some(field) = Field::from_name(name) {
            return (Ir::Field(field), Type::of_field(field));
        }
        if let Some(sym) = self.features.get(name) {
            if self.kind == ScopeKind::Filter {
                errs.push((
                    Diagnostic::new(Code::FilterNotField, format!("window filter uses feature `{name}`"))
                        .hint("a window filter runs in the state layer and may use transaction fields only"),
                    span,
                ));
                return (Ir::Const(f64::NAN), Type::Error);
            }
            if let ScopeKind::Derived(current) = self.kind
                && sym.index >= current
            {
                let what = if sym.index == current {
                    "refers to itself"
                } else {
                    "is declared later"
                };
                errs.push((
                    Diagnostic::new(Code::FeatureOrder, format!("feature `{name}` {what}"))
                        .hint("a derived feature may use only features declared above it"),
                    span,
                ));
                return (Ir::Const(f64::NAN), Type::Error);
            }
            let ty = sym.ty.unwrap_or(Type::Error);
            return (Ir::Feature(sym.index), ty);
        }
        let mut d = Diagnostic::new(Code::UnknownName, format!("unknown name `{name}`"));
        if self.lists.contains_key(name) {
            d = d.hint(format!(
                "`{name}` is a list; test membership with `value in {name}`"
            ));
        } else {
            let fields = Field::ALL.iter().map(|f| f.name());
            let feats = self.features.keys().map(String::as_str);
            let score = std::iter::once("score").filter(|_| self.kind == ScopeKind::Rule);
            d = match closest(name, fields.chain(feats).chain(score)) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint("declare it with `feature NAME = ...` or use a transaction field"),
            };
        }
        errs.push((d, span));
        (Ir::Const(f64::NAN), Type::Error)
    }

    pub fn check(&self, e: &Expr, errs: &mut Errors) -> (Ir, Type) {
        match &e.kind {
            ExprKind::Number(n) => (Ir::Const(*n), Type::Number),
            ExprKind::Duration(ms) => (Ir::Const(*ms as f64), Type::Duration),
            ExprKind::Str(s) => (Ir::Text(s.as_str().into()), Type::Text),
            ExprKind::Bool(b) => (Ir::Bool(*b), Type::Bool),
            ExprKind::Name(n) => self.name(n, e.span, errs),
            ExprKind::Neg(inner) => {
                let (ir, ty) = self.check(inner, errs);
                match ty {
                    Type::Number | Type::Duration | Type::Error => (Ir::Neg(Box::new(ir)), ty),
                    _ => {
                        errs.push((arith_error(ty), inner.span));
                        (ir, Type::Error)
                    }
                }
            }
            ExprKind::Not(inner) => {
                let ir = self.boolean(inner, errs, "`not`");
                (Ir::Not(Box::new(ir)), Type::Bool)
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                let word = if matches!(e.kind, ExprKind::And(..)) {
                    "`and`"
                } else {
                    "`or`"
                };
                let (a, b) = (self.boolean(a, errs, word), self.boolean(b, errs, word));
                let ir = if matches!(e.kind, ExprKind::And(..)) {
                    Ir::And(Box::new(a), Box::new(b))
                } else {
                    Ir::Or(Box::new(a), Box::new(b))
                };
                (ir, Type::Bool)
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e.span, errs),
            ExprKind::In {
                value,
                list,
                negated,
            } => self.membership(value, list, *negated, errs),
            ExprKind::Is { value, present } => {
                let (ir, ty) = self.check(value, errs);
                (
                    Ir::Is {
                        value: Box::new(ir),
                        ty,
                        present: *present,
                    },
                    Type::Bool,
                )
            }
            ExprKind::Call(f, args) => self.call(&f.name, f.span, args, e.span, errs),
        }
    }

    /// Check an expression that must be yes/no.
    pub fn boolean(&self, e: &Expr, errs: &mut Errors, context: &str) -> Ir {
        let (ir, ty) = self.check(e, errs);
        match ty {
            Type::Bool | Type::Error => ir,
            other => {
                errs.push((
                    Diagnostic::new(
                        Code::NotBoolean,
                        format!(
                            "{context} needs a yes/no condition, but this is {}",
                            other.describe()
                        ),
                    )
                    .hint("compare it, e.g. `amount > 100` or `country is present`"),
                    e.span,
                ));
                Ir::Bool(false)
            }
        }
    }

    fn binary(&self, op: BinOp, a: &Expr, b: &Expr, span: Span, errs: &mut Errors) -> (Ir, Type) {
        let (l, lt) = self.check(a, errs);
        let (r, rt) = self.check(b, errs);
        let bad = (
            Ir::Const(f64::NAN),
            if op.is_comparison() {
                Type::Bool
            } else {
                Type::Error
            },
        );
        if lt == Type::Error || rt == Type::Error {
            return bad;
        }
        if op.is_comparison() {
            if lt != rt {
                errs.push((mismatch(op, lt, rt), span));
                return bad;
            }
            let ordering = !matches!(op, BinOp::Eq | BinOp::Ne);
            if ordering && matches!(lt, Type::Text | Type::Bool) {
                errs.push((
                    Diagnostic::new(
                        Code::TextOrdering,
                        format!("`{}` cannot order {} values", op.symbol(), lt.describe()),
                    )
                    .hint(
                        "text and yes/no values compare only with `==` and `!=`; use `in` for sets",
                    ),
                    span,
                ));
                return bad;
            }
            let ir = if lt == Type::Text {
                Ir::CmpText(op, Box::new(l), Box::new(r))
            } else {
                Ir::CmpNum(op, Box::new(l), Box::new(r))
            };
            return (ir, Type::Bool);
        }
        for (t, side) in [(lt, a), (rt, b)] {
            if matches!(t, Type::Text | Type::Bool) {
                errs.push((arith_error(t), side.span));
                return bad;
            }
        }
        use Type::*;
        let ty = match (op, lt, rt) {
            (_, Number, Number) => Some(Number),
            (BinOp::Add | BinOp::Sub, Duration, Duration) => Some(Duration),
            (BinOp::Mul, Duration, Number) | (BinOp::Mul, Number, Duration) => Some(Duration),
            (BinOp::Div, Duration, Number) => Some(Duration),
            (BinOp::Div, Duration, Duration) => Some(Number),
            (BinOp::Sub, Time, Time) => Some(Duration),
            (BinOp::Add | BinOp::Sub, Time, Duration) | (BinOp::Add, Duration, Time) => Some(Time),
            _ => None,
        };
        match ty {
            Some(ty) => (Ir::Arith(op, Box::new(l), Box::new(r)), ty),
            None => {
                errs.push((mismatch(op, lt, rt), span));
                bad
            }
        }
    }

    fn membership(
        &self,
        value: &Expr,
        list: &ListRef,
        negated: bool,
        errs: &mut Errors,
    ) -> (Ir, Type) {
        let (ir, ty) = self.check(value, errs);
        if !matches!(ty, Type::Text | Type::Error) {
            errs.push((
                Diagnostic::new(
                    Code::BadMembership,
                    format!("`in` needs text on the left, found {}", ty.describe()),
                )
                .hint("lists hold text values: ids, countries, BINs, IPs"),
                value.span,
            ));
        }
        let set: ListSet = match list {
            ListRef::Named(name) => {
                if self.kind == ScopeKind::Filter {
                    errs.push((
                        Diagnostic::new(Code::FilterNotField, format!("window filter uses list `{}`", name.name))
                            .hint("lists reload at any time; a window filter must be stable, use fields and constants"),
                        name.span,
                    ));
                    return (Ir::Bool(false), Type::Bool);
                }
                match self.lists.get(&name.name) {
                    Some(set) => set.clone(),
                    None => {
                        let mut d = Diagnostic::new(
                            Code::UnknownList,
                            format!("unknown list `{}`", name.name),
                        );
                        d = match closest(&name.name, self.lists.keys().map(String::as_str)) {
                            Some(s) => d.hint(format!("did you mean `{s}`?")),
                            None => d.hint(format!(
                                "declare it: list {} = file(\"lists/{}.txt\")",
                                name.name, name.name
                            )),
                        };
                        errs.push((d, name.span));
                        return (Ir::Bool(false), Type::Bool);
                    }
                }
            }
            ListRef::Inline(items) => inline_set(items, errs),
        };
        (
            Ir::In {
                value: Box::new(ir),
                set,
                negated,
            },
            Type::Bool,
        )
    }

    fn call(
        &self,
        name: &str,
        name_span: Span,
        args: &[Expr],
        span: Span,
        errs: &mut Errors,
    ) -> (Ir, Type) {
        let Some(func) = functions::lookup(name) else {
            let hint = if AGGREGATES.contains(&name) || name == "previous" {
                format!(
                    "`{name}(...)` declares a feature: `feature NAME = {name}(...) over 1h by card_id`"
                )
            } else {
                match closest(name, functions::names()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("functions: {}", functions::name_list()),
                }
            };
            errs.push((
                Diagnostic::new(Code::UnknownFunction, format!("unknown function `{name}`"))
                    .hint(hint),
                name_span,
            ));
            return (Ir::Const(f64::NAN), Type::Error);
        };
        let checked: Vec<(Ir, Type)> = args.iter().map(|a| self.check(a, errs)).collect();
        let (arity, usage) = (func.arity, func.usage);
        if checked.len() != arity {
            errs.push((
                Diagnostic::new(
                    Code::ArgCount,
                    format!(
                        "`{name}` takes {arity} argument(s), found {}",
                        checked.len()
                    ),
                )
                .hint(format!("`{name}` {usage}")),
                span,
            ));
            return (Ir::Const(f64::NAN), Type::Error);
        }
        if checked.iter().any(|(_, t)| *t == Type::Error) {
            return (Ir::Const(f64::NAN), Type::Error);
        }
        let kinds: Vec<ArgKind> = checked.iter().map(|(_, t)| arg_kind(*t)).collect();
        match func.signature.result(&kinds) {
            Some(kind) => (
                Ir::Call(func, checked.into_iter().map(|(ir, _)| ir).collect()),
                of_arg_kind(kind),
            ),
            None => {
                let found: Vec<&str> = checked.iter().map(|(_, t)| t.describe()).collect();
                errs.push((
                    Diagnostic::new(
                        Code::ArgType,
                        format!("`{name}` called with {}", found.join(", ")),
                    )
                    .hint(format!("`{name}` {usage}")),
                    span,
                ));
                (Ir::Const(f64::NAN), Type::Error)
            }
        }
    }
}

/// A type as the function table's type rules see it.
fn arg_kind(ty: Type) -> ArgKind {
    match ty {
        Type::Number => ArgKind::Number,
        Type::Duration => ArgKind::Duration,
        Type::Time => ArgKind::Time,
        Type::Text | Type::Bool | Type::Error => ArgKind::Other,
    }
}

/// A function's result kind as a type (a type rule never returns `Other`).
fn of_arg_kind(kind: ArgKind) -> Type {
    match kind {
        ArgKind::Number => Type::Number,
        ArgKind::Duration => Type::Duration,
        ArgKind::Time => Type::Time,
        ArgKind::Other => Type::Error,
    }
}

/// Build a set from `["a", "b"]`, reporting non-text entries.
pub fn inline_set(items: &[Expr], errs: &mut Errors) -> ListSet {
    let mut set = Vec::new();
    for item in items {
        match &item.kind {
            ExprKind::Str(s) => set.push(Box::from(s.as_str())),
            _ => errs.push((
                Diagnostic::new(Code::BadListLiteral, "list entries must be quoted text").hint(
                    "write [\"US\", \"CA\"]; numbers such as BINs are text too: [\"411111\"]",
                ),
                item.span,
            )),
        }
    }
    std::sync::Arc::new(set.into_iter().collect())
}

fn arith_error(ty: Type) -> Diagnostic {
    Diagnostic::new(
        Code::BadArithmetic,
        format!("arithmetic on {}", ty.describe()),
    )
    .hint("only numbers, durations and times take part in + - * /")
}

fn mismatch(op: BinOp, lt: Type, rt: Type) -> Diagnostic {
    let d = Diagnostic::new(
        Code::TypeMismatch,
        format!(
            "`{}` between {} and {}",
            op.symbol(),
            lt.describe(),
            rt.describe()
        ),
    );
    match (lt, rt) {
        (Type::Duration, Type::Number) | (Type::Number, Type::Duration) => d.hint(
            "durations compare with durations (`10m`); convert with minutes(...) or hours(...)",
        ),
        (Type::Time, _) | (_, Type::Time) => {
            d.hint("a time compares with a time; subtract two times to get a duration")
        }
        (Type::Text, _) | (_, Type::Text) => {
            d.hint("text compares with text: quote the value, e.g. \"US\"")
        }
        _ => d.hint("both sides must have the same type"),
    }
}
