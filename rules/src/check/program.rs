//! The checker's output: a typed, name-resolved program that the compiler
//! (`ruleset`) turns into a [`crate::RuleSet`]. Plain data, built once by
//! [`super::check`]; every expression in it is checked [`Ir`] with its
//! [`Type`], every list already loaded.

use super::ir::{Ir, ListSet, Type};
use crate::input::Field;
use crate::spec::{Aggregate, HistoryFeature};
use crate::syntax::ast::{ActionWord, Item};

/// One source file after parsing.
pub struct ParsedFile {
    pub path: String,
    pub text: String,
    pub items: Vec<Item>,
}

pub enum CheckedKind {
    Window {
        aggregate: Aggregate,
        key: Field,
        window_ms: i64,
        filter: Option<(String, Ir)>,
    },
    History(HistoryFeature),
    Previous {
        key: Field,
        field: Field,
    },
    Derived(Ir),
}

pub struct CheckedFeature {
    pub name: String,
    pub ty: Type,
    pub kind: CheckedKind,
}

pub enum Segment {
    Lit(String),
    Value(Ir, Type),
}

pub struct CheckedRule {
    pub name: String,
    pub shadow: bool,
    pub action: ActionWord,
    pub priority: i32,
    pub condition: Ir,
    pub reason: Vec<Segment>,
    pub file: String,
    pub line: u32,
}

pub struct CheckedList {
    pub name: String,
    pub set: ListSet,
    /// The list file, as resolved (None for an inline list).
    pub path: Option<String>,
    /// The file's contents, hashed into the rule-set version.
    pub contents: Option<String>,
}

pub struct Program {
    pub features: Vec<CheckedFeature>,
    pub rules: Vec<CheckedRule>,
    pub lists: Vec<CheckedList>,
}
