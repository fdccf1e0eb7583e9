//! What compiled expressions read from, shared by [`super::num`] and
//! [`super::cond`]: the per-event context, the closure types, and the leaf
//! operands (a constant, a feature, a number field, the score) that both
//! targets read inline instead of through a closure.
//!
//! This file imports neither compiler target, so the `num` ↔ `cond`
//! recursion is the only cycle in the compiler and stays between those two.

use crate::check::ir::Ir;
use crate::eval::Tri;
use crate::input::{Field, Transaction};

/// What a compiled expression reads from.
pub struct Ctx<'a> {
    pub txn: &'a dyn Transaction,
    pub features: &'a [f64],
    /// NaN when the model score is unavailable.
    pub score: f64,
}

pub type NumFn = Box<dyn for<'a> Fn(&Ctx<'a>) -> f64 + Send + Sync>;
pub type BoolFn = Box<dyn for<'a> Fn(&Ctx<'a>) -> Tri + Send + Sync>;

/// Text values are fields or literals; the language has no text functions.
pub enum TextOp {
    Field(Field),
    Lit(Box<str>),
    Missing,
}

impl TextOp {
    #[inline]
    pub fn get<'r>(&'r self, txn: &'r dyn Transaction) -> Option<&'r str> {
        match self {
            TextOp::Field(f) => txn.text(*f),
            TextOp::Lit(s) => Some(s),
            TextOp::Missing => None,
        }
    }
}

/// A number read without a call.
#[derive(Clone, Copy)]
pub enum Leaf {
    Const(f64),
    /// A feature value, by its index in the rule set's feature order.
    Feature(usize),
    Field(Field),
    Score,
}

#[inline(always)]
pub fn read(leaf: Leaf, c: &Ctx<'_>) -> f64 {
    match leaf {
        Leaf::Const(v) => v,
        Leaf::Feature(i) => c.features.get(i).copied().unwrap_or(f64::NAN),
        Leaf::Field(f) => c.txn.number(f).unwrap_or(f64::NAN),
        Leaf::Score => c.score,
    }
}

/// The leaf an expression is, if it is one.
pub fn leaf(ir: &Ir) -> Option<Leaf> {
    match ir {
        Ir::Const(v) => Some(Leaf::Const(*v)),
        Ir::Bool(b) => Some(Leaf::Const(if *b { 1.0 } else { 0.0 })),
        Ir::Feature(index) => Some(Leaf::Feature(*index as usize)),
        Ir::Field(f) => Some(Leaf::Field(*f)),
        Ir::Score => Some(Leaf::Score),
        _ => None,
    }
}

/// A checked text expression as an operand.
pub fn text(ir: &Ir) -> TextOp {
    match ir {
        Ir::Field(f) => TextOp::Field(*f),
        Ir::Text(s) => TextOp::Lit(s.clone()),
        _ => TextOp::Missing,
    }
}
