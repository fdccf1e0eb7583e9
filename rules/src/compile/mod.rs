//! The compiler: checked, typed IR to what the engine evaluates per event.
//!
//! Two targets, one per kind of expression:
//! - [`cond`] — conditions (rule `when` clauses, window filters) become a
//!   compact enum tree ([`cond::Cond`]) whose common shapes are evaluated
//!   inline by one `match`;
//! - [`num`] — values (derived features, reason values, computed operands of
//!   a comparison) become boxed closures ([`operand::NumFn`]).
//!
//! They are mutually recursive — a yes/no value used as a number compiles its
//! condition, and a comparison of two computed values compiles both sides as
//! numbers — so both live in this folder, and the recursion never leaves it.
//! [`operand`] holds what both read from (the [`operand::Ctx`] of one event,
//! leaves, text operands) and imports neither; [`template`] renders reason
//! values. Built-in functions are not defined here: [`crate::functions`] is
//! their table, [`num`] only wraps each row's evaluation in a closure.
//!
//! Names were resolved by the checker, so compiled code reads a feature index
//! or matches a [`crate::input::Field`] variant; no string is looked at per
//! event except list membership, which hashes the field value once.

pub mod cond;
pub mod num;
pub mod operand;
pub mod template;
