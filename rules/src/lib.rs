//! Verdict's rule language: features, lists and rules written by risk analysts
//! in `*.rules` files, checked like code, compiled to closures, hot-reloaded.
//!
//! Pipeline: [`syntax`] (lexer, parser) → `check` (names resolved, types
//! checked, lists loaded) → `compile` (conditions to a compact three-valued
//! tree, values to closures over the feature values) → [`RuleSet`]. The
//! crate has no dependency on the engine: events come in through
//! [`Transaction`], feature values as a `&[f64]` in the order of
//! [`RuleSet::features`], whose [`FeatureSpec`]s tell the engine's state layer
//! what to maintain. [`reference`](mod@reference) computes those features by
//! brute force, as the oracle for the engine's fast state layer and for
//! [`golden`] tests. [`reload`] watches a directory and swaps compiled sets
//! atomically.
//!
//! Module map (which file owns what):
//!
//! | file | owns |
//! |---|---|
//! | `syntax/{lexer,parser,expr_parser,ast}.rs` | tokens, the recursive-descent parser with error recovery, the syntax tree |
//! | `check/mod.rs` | the three checking sweeps (lists, features, rules) |
//! | `check/{expr,feature}.rs` | type checking of expressions and of feature definitions |
//! | `check/ir.rs`, `check/program.rs` | the typed IR (and list sets); the checker's output |
//! | `functions.rs` | the built-in functions: one table of name, arity, type rule, evaluation, doc (leaf) |
//! | `compile/{operand,num,cond,template}.rs` | what compiled code reads; values to closures; conditions to a tree; reason rendering |
//! | `ruleset.rs` | [`RuleSet`]: compile a directory, evaluate an event |
//! | `eval.rs`, `input.rs` | decisions and three-valued truth; the [`Transaction`] trait and fields (leaves) |
//! | `spec.rs` | [`FeatureSpec`]: what the state layer maintains |
//! | `diag.rs` | diagnostic codes, positions, plain-text rendering (leaf) |
//! | `reference.rs`, `golden.rs`, `reload.rs` | brute-force features, golden tests, hot reload |
//!
//! Imports point one way (syntax → check → compile → ruleset); the only
//! cycle is the compiler's own mutual recursion, `compile/num.rs` ↔
//! `compile/cond.rs`, inside `compile/`.
//!
//! The language reference is `rules/README.md`.

mod check;
mod compile;
pub mod diag;
mod eval;
mod functions;
pub mod golden;
pub mod input;
pub mod reference;
pub mod reload;
mod ruleset;
pub mod spec;
pub mod syntax;

pub use diag::{Code, Diagnostic, Diagnostics};
pub use eval::{Action, Evaluation, RuleHit, RuleInfo};
pub use functions::haversine_km;
pub use golden::{GoldenReport, run_golden_dir};
pub use input::{Field, FieldType, Transaction};
pub use reload::{ReloadEvent, ReloadStats, RuleSetReloader, RuleSetWatcher};
pub use ruleset::{CheckSummary, ListInfo, RuleSet, SourceFile, check_dir};
pub use spec::{Aggregate, FeatureKind, FeatureSpec, HistoryFeature, Predicate, WindowFeature};

/// Compile-time proof that a rule set can be shared across worker threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
};
