//! The built-in functions of the language, in one table.
//!
//! Each [`Function`] row says everything about one built-in: its name, its
//! arity, its type rule ([`Signature`]), the usage line a diagnostic shows,
//! its evaluation ([`Eval`], a plain `f64` function), and a one-line doc. The
//! checker (`check::expr`) looks names up here, reports arity and type errors
//! from the row, and builds its "did you mean" / "functions: ..." hints from
//! [`names`] and [`name_list`]; the compiler (`compile::num`) wraps the row's
//! [`Eval`] in a closure over the compiled arguments. Adding a function is
//! one row here (and a line in `rules/README.md`).
//!
//! Invariants:
//! - names are unique and never collide with keywords or fields (a name here
//!   is reserved, E025);
//! - `arity` equals the number of parameters of `eval`, so the compiler can
//!   rely on it once the checker has accepted a call;
//! - every evaluation is total and pure: a missing argument (NaN) yields NaN
//!   unless the function says otherwise (`coalesce`), never a panic.
//!
//! This file is a leaf: it names no other module of the crate. The type rule
//! is written over [`ArgKind`], the few distinctions a signature needs; the
//! checker maps its own types onto it.

use std::f64::consts::PI;

/// What a type rule distinguishes about an argument's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Number,
    Duration,
    Time,
    /// Text or yes/no: accepted by no function.
    Other,
}

/// The type rule of a function: which argument kinds it accepts and what it
/// returns. `None` from [`Signature::result`] is an argument-type error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// Every argument a number; returns a number.
    Numbers,
    /// Two arguments of one kind among number, duration, time; returns that kind.
    SameOrdered,
    /// One duration; returns a number (the duration in some unit).
    DurationToNumber,
}

impl Signature {
    /// The result kind for these argument kinds (the arity is already checked).
    pub fn result(self, args: &[ArgKind]) -> Option<ArgKind> {
        match self {
            Signature::Numbers => args
                .iter()
                .all(|a| *a == ArgKind::Number)
                .then_some(ArgKind::Number),
            Signature::SameOrdered => (args[0] == args[1]
                && matches!(args[0], ArgKind::Number | ArgKind::Duration | ArgKind::Time))
            .then_some(args[0]),
            Signature::DurationToNumber => {
                (args[0] == ArgKind::Duration).then_some(ArgKind::Number)
            }
        }
    }
}

/// How a function computes its value from its arguments (all stored as `f64`:
/// durations and times in milliseconds, missing as NaN).
#[derive(Clone, Copy)]
pub enum Eval {
    Unary(fn(f64) -> f64),
    Binary(fn(f64, f64) -> f64),
    Quaternary(fn(f64, f64, f64, f64) -> f64),
}

impl Eval {
    /// The number of arguments the evaluation takes.
    pub const fn arity(self) -> usize {
        match self {
            Eval::Unary(_) => 1,
            Eval::Binary(_) => 2,
            Eval::Quaternary(_) => 4,
        }
    }
}

impl std::fmt::Debug for Eval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Eval/{}", self.arity())
    }
}

/// One built-in function.
#[derive(Debug)]
pub struct Function {
    pub name: &'static str,
    pub arity: usize,
    pub signature: Signature,
    /// Completes "`name` ..." in arity and type diagnostics.
    pub usage: &'static str,
    pub eval: Eval,
    /// What the function computes: the language reference (`rules/README.md`)
    /// shows it, and a test keeps the two equal.
    #[cfg_attr(not(test), allow(dead_code))]
    pub doc: &'static str,
}

const fn row(
    name: &'static str,
    signature: Signature,
    usage: &'static str,
    eval: Eval,
    doc: &'static str,
) -> Function {
    Function {
        name,
        arity: eval.arity(),
        signature,
        usage,
        eval,
        doc,
    }
}

const ONE_NUMBER: &str = "takes one number";
const TWO_SAME: &str = "takes two values of the same type";
const ONE_DURATION: &str = "takes one duration";

/// Every built-in, in the order the "functions: ..." hint lists them.
pub static FUNCTIONS: [Function; 13] = [
    row(
        "haversine",
        Signature::Numbers,
        "takes (lat1, lon1, lat2, lon2) in degrees and returns km",
        Eval::Quaternary(haversine_km),
        "Great-circle distance in km between (lat1, lon1) and (lat2, lon2), in degrees.",
    ),
    row(
        "abs",
        Signature::Numbers,
        ONE_NUMBER,
        Eval::Unary(f64::abs),
        "Absolute value.",
    ),
    row(
        "sqrt",
        Signature::Numbers,
        ONE_NUMBER,
        Eval::Unary(f64::sqrt),
        "Square root.",
    ),
    row(
        "ln",
        Signature::Numbers,
        ONE_NUMBER,
        Eval::Unary(f64::ln),
        "Natural logarithm.",
    ),
    row(
        "round",
        Signature::Numbers,
        ONE_NUMBER,
        Eval::Unary(f64::round),
        "Nearest integer, halves away from zero.",
    ),
    row(
        "floor",
        Signature::Numbers,
        ONE_NUMBER,
        Eval::Unary(f64::floor),
        "Largest integer not above.",
    ),
    row(
        "min",
        Signature::SameOrdered,
        TWO_SAME,
        Eval::Binary(min),
        "The smaller of two numbers, durations or times; missing when either is.",
    ),
    row(
        "max",
        Signature::SameOrdered,
        TWO_SAME,
        Eval::Binary(max),
        "The larger of two numbers, durations or times; missing when either is.",
    ),
    row(
        "coalesce",
        Signature::SameOrdered,
        TWO_SAME,
        Eval::Binary(coalesce),
        "The first value, or the second when the first is missing.",
    ),
    row(
        "seconds",
        Signature::DurationToNumber,
        ONE_DURATION,
        Eval::Unary(seconds),
        "A duration as a number of seconds.",
    ),
    row(
        "minutes",
        Signature::DurationToNumber,
        ONE_DURATION,
        Eval::Unary(minutes),
        "A duration as a number of minutes.",
    ),
    row(
        "hours",
        Signature::DurationToNumber,
        ONE_DURATION,
        Eval::Unary(hours),
        "A duration as a number of hours.",
    ),
    row(
        "days",
        Signature::DurationToNumber,
        ONE_DURATION,
        Eval::Unary(days),
        "A duration as a number of days.",
    ),
];

/// The function called `name`, if it is a built-in.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Every built-in's name, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.name)
}

/// The names joined for a hint: `haversine, abs, ..., days`.
pub fn name_list() -> String {
    names().collect::<Vec<_>>().join(", ")
}

/// Great-circle distance in kilometres; NaN when any coordinate is missing.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0088;
    let (p1, p2) = (lat1 * PI / 180.0, lat2 * PI / 180.0);
    let dp = p2 - p1;
    let dl = (lon2 - lon1) * PI / 180.0;
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    // `f64::min` would turn NaN into 1.0; a missing coordinate must stay missing.
    let s = h.sqrt();
    2.0 * EARTH_RADIUS_KM * (if s > 1.0 { 1.0 } else { s }).asin()
}

// `f64::min` / `f64::max` ignore a NaN operand; here missing stays missing.
fn min(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.min(y)
    }
}

fn max(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.max(y)
    }
}

fn coalesce(x: f64, default: f64) -> f64 {
    if x.is_nan() { default } else { x }
}

fn seconds(ms: f64) -> f64 {
    ms / 1_000.0
}

fn minutes(ms: f64) -> f64 {
    ms / 60_000.0
}

fn hours(ms: f64) -> f64 {
    ms / 3_600_000.0
}

fn days(ms: f64) -> f64 {
    ms / 86_400_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_paris_new_york() {
        let km = haversine_km(48.8566, 2.3522, 40.7128, -74.0060);
        assert!((km - 5837.0).abs() < 5.0, "{km}");
        assert!(haversine_km(f64::NAN, 0.0, 0.0, 0.0).is_nan());
    }

    #[test]
    fn names_are_unique_and_the_hint_list_is_the_table() {
        let mut seen = std::collections::HashSet::new();
        assert!(names().all(|n| seen.insert(n)));
        assert_eq!(
            name_list(),
            "haversine, abs, sqrt, ln, round, floor, min, max, coalesce, \
             seconds, minutes, hours, days"
        );
        assert!(FUNCTIONS.iter().all(|f| f.arity == f.eval.arity()));
    }

    #[test]
    fn the_language_reference_lists_every_function_with_its_doc() {
        let readme = include_str!("../README.md");
        for f in &FUNCTIONS {
            let row = format!("| `{}` | {} |", f.name, f.doc);
            assert!(
                readme.contains(&row),
                "rules/README.md lacks the row\n{row}"
            );
        }
    }

    #[test]
    fn missing_stays_missing_except_in_coalesce() {
        let f = |n| lookup(n).unwrap().eval;
        let Eval::Binary(max) = f("max") else {
            panic!()
        };
        assert!(max(f64::NAN, 1.0).is_nan());
        let Eval::Binary(coalesce) = f("coalesce") else {
            panic!()
        };
        assert_eq!(coalesce(f64::NAN, 3.0), 3.0);
        let Eval::Unary(hours) = f("hours") else {
            panic!()
        };
        assert_eq!(hours(5_400_000.0), 1.5);
    }
}
