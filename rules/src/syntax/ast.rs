//! The syntax tree, as written: names are still strings, nothing is typed.

use crate::diag::Span;

#[derive(Debug, Clone)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
    pub fn is_comparison(self) -> bool {
        !matches!(self, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div)
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone)]
pub enum ListRef {
    Named(Ident),
    Inline(Vec<Expr>),
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Number(f64),
    Duration(i64),
    Str(String),
    Bool(bool),
    Name(String),
    Call(Ident, Vec<Expr>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    In {
        value: Box<Expr>,
        list: ListRef,
        negated: bool,
    },
    /// `x is missing` (`present == false`) or `x is present`.
    Is {
        value: Box<Expr>,
        present: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum FeatureDef {
    /// `sum(amount) over 24h by user_id where ...`
    Window {
        aggregate: Ident,
        arg: Option<Ident>,
        window: (i64, Span),
        key: Ident,
        filter: Option<Expr>,
    },
    /// `history avg_amount over 365d`, `history first_time(country)`
    History {
        lookup: Ident,
        arg: Option<Ident>,
        days: Option<(i64, Span)>,
    },
    /// `previous(lat) by user_id`
    Previous {
        field: Ident,
        key: Ident,
    },
    Derived(Expr),
}

#[derive(Debug, Clone)]
pub struct FeatureDecl {
    pub name: Ident,
    pub def: FeatureDef,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ListSource {
    File(String, Span),
    Inline(Vec<Expr>),
}

#[derive(Debug, Clone)]
pub struct ListDecl {
    pub name: Ident,
    pub source: ListSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionWord {
    Allow,
    Review,
    Decline,
}

#[derive(Debug, Clone)]
pub struct RuleDecl {
    pub name: Ident,
    pub shadow: bool,
    pub action: ActionWord,
    pub condition: Expr,
    pub priority: Option<(f64, Span)>,
    pub reason: Option<(String, Span)>,
}

#[derive(Debug, Clone)]
pub enum Item {
    Feature(FeatureDecl),
    List(ListDecl),
    Rule(RuleDecl),
}
