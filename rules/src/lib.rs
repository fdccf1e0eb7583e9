//! Verdict's rule language: features, lists and rules written by risk analysts
//! in `*.rules` files, checked like code, compiled to closures, hot-reloaded.
//!
//! Pipeline: [`syntax`] (lexer, parser) → `check` (names resolved, types
//! checked, lists loaded) → `compile` (value expressions to closures over
//! feature slots) and `cond` (conditions to a compact three-valued tree) →
//! [`RuleSet`]. The crate has no dependency on the engine: events come in
//! through [`Transaction`], feature values as a `&[f64]` in the slot order of
//! [`RuleSet::features`], whose [`FeatureSpec`]s tell the engine's state layer
//! what to maintain. [`reference`](mod@reference) computes those features by brute force, as
//! the oracle for the engine's fast state layer and for [`golden`] tests.
//! [`reload`] watches a directory and swaps compiled sets atomically.
//!
//! The language reference is `rules/README.md`.

mod check;
mod compile;
mod cond;
pub mod diag;
mod eval;
pub mod golden;
pub mod input;
pub mod reference;
pub mod reload;
mod ruleset;
pub mod spec;
pub mod syntax;

pub use compile::haversine_km;
pub use diag::{Code, Diagnostic, Diagnostics};
pub use eval::{Action, Evaluation, RuleHit, RuleInfo};
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
