//! Compiled conditions: a compact enum tree with every name already resolved.
//!
//! Conditions are where evaluation time goes (every rule, every event), so
//! their common shapes get dedicated variants evaluated by one `match`, with
//! their operands stored inline: feature and field comparisons against constants,
//! list membership, text equality, presence tests, and flattened `and` / `or`
//! chains. Only unusual shapes (a comparison of two computed expressions) call
//! a boxed closure. Compared with a closure per node this removes most
//! indirect calls and keeps a rule's condition in a few contiguous cache
//! lines. Truth is three-valued ([`Tri`]); see [`crate::eval`].
//!
//! A comparison whose operand is not a leaf compiles that operand with
//! [`super::num`], and `num` compiles yes/no values through [`cond`]: the
//! compiler's one mutual recursion, kept inside this folder.

use super::num::num;
use super::operand::{Ctx, Leaf, NumFn, TextOp, leaf, read, text};
use crate::check::ir::{Ir, ListSet, Type};
use crate::eval::Tri;
use crate::input::Field;
use crate::syntax::ast::BinOp;

/// A number operand of a comparison.
pub enum Operand {
    Leaf(Leaf),
    Computed(NumFn),
}

impl Operand {
    fn new(ir: &Ir) -> Operand {
        match leaf(ir) {
            Some(l) => Operand::Leaf(l),
            None => Operand::Computed(num(ir)),
        }
    }

    #[inline(always)]
    fn get(&self, c: &Ctx<'_>) -> f64 {
        match self {
            Operand::Leaf(l) => read(*l, c),
            Operand::Computed(f) => f(c),
        }
    }
}

/// 24 bytes: the frequent shapes are stored inline, rare large ones boxed,
/// so a rule set's conditions stay small enough to live in L1/L2 cache.
pub enum Cond {
    Const(Tri),
    /// A yes/no feature, by its index in the rule set's feature order.
    Feature(u32),
    /// `feature OP constant`, the most common shape.
    FeatureConst {
        op: BinOp,
        feature: u32,
        k: f64,
    },
    /// `field OP constant`.
    FieldConst {
        op: BinOp,
        field: Field,
        k: f64,
    },
    /// `score OP constant`.
    ScoreConst {
        op: BinOp,
        k: f64,
    },
    Cmp(Box<(BinOp, Operand, Operand)>),
    TextCmp(Box<(TextOp, TextOp, bool)>),
    In {
        field: Field,
        negated: bool,
        set: ListSet,
    },
    InOther(Box<(TextOp, ListSet, bool)>),
    FieldPresent {
        field: Field,
        text: bool,
        present: bool,
    },
    NumPresent(Box<(Operand, bool)>),
    And(Box<[Cond]>),
    Or(Box<[Cond]>),
    Not(Box<Cond>),
}

const _: () = assert!(std::mem::size_of::<Cond>() <= 24);

/// `a OP b` read as `b OP' a`.
fn flip(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Le => BinOp::Ge,
        BinOp::Gt => BinOp::Lt,
        BinOp::Ge => BinOp::Le,
        other => other,
    }
}

fn compare_cond(op: BinOp, a: &Ir, b: &Ir) -> Cond {
    match (leaf(a), leaf(b)) {
        (Some(l), Some(Leaf::Const(k))) => leaf_const(op, l, k),
        (Some(Leaf::Const(k)), Some(l)) => leaf_const(flip(op), l, k),
        _ => Cond::Cmp(Box::new((op, Operand::new(a), Operand::new(b)))),
    }
}

fn leaf_const(op: BinOp, l: Leaf, k: f64) -> Cond {
    match l {
        Leaf::Feature(index) => Cond::FeatureConst {
            op,
            feature: index as u32,
            k,
        },
        Leaf::Field(field) => Cond::FieldConst { op, field, k },
        Leaf::Score => Cond::ScoreConst { op, k },
        Leaf::Const(c) => Cond::Const(compare(op, c, k)),
    }
}

/// Collect the operands of a chain of `and` (or of `or`).
fn flatten<'i>(ir: &'i Ir, and: bool, out: &mut Vec<&'i Ir>) {
    match ir {
        Ir::And(a, b) if and => {
            flatten(a, and, out);
            flatten(b, and, out);
        }
        Ir::Or(a, b) if !and => {
            flatten(a, and, out);
            flatten(b, and, out);
        }
        other => out.push(other),
    }
}

/// Compile a checked yes/no expression.
pub fn cond(ir: &Ir) -> Cond {
    match ir {
        Ir::Bool(b) => Cond::Const(Tri::from_bool(*b)),
        Ir::Feature(index) => Cond::Feature(*index),
        Ir::Not(a) => Cond::Not(Box::new(cond(a))),
        Ir::And(..) | Ir::Or(..) => {
            let and = matches!(ir, Ir::And(..));
            let mut parts = Vec::new();
            flatten(ir, and, &mut parts);
            let parts = parts.into_iter().map(cond).collect();
            if and {
                Cond::And(parts)
            } else {
                Cond::Or(parts)
            }
        }
        Ir::CmpNum(op, a, b) => compare_cond(*op, a, b),
        Ir::CmpText(op, a, b) => Cond::TextCmp(Box::new((text(a), text(b), *op == BinOp::Eq))),
        Ir::In {
            value,
            set,
            negated,
        } => match text(value) {
            TextOp::Field(field) => Cond::In {
                field,
                set: set.clone(),
                negated: *negated,
            },
            other => Cond::InOther(Box::new((other, set.clone(), *negated))),
        },
        Ir::Is { value, ty, present } => match (&**value, *ty) {
            (Ir::Field(field), _) => Cond::FieldPresent {
                field: *field,
                text: *ty == Type::Text,
                present: *present,
            },
            (_, Type::Text) => Cond::Const(Tri::from_bool(
                matches!(text(value), TextOp::Lit(_)) == *present,
            )),
            _ => Cond::NumPresent(Box::new((Operand::new(value), *present))),
        },
        // The checker only hands yes/no expressions here.
        _ => Cond::Const(Tri::Unknown),
    }
}

#[inline(always)]
fn compare(op: BinOp, a: f64, b: f64) -> Tri {
    if a.is_nan() || b.is_nan() {
        return Tri::Unknown;
    }
    Tri::from_bool(match op {
        BinOp::Eq => a == b,
        BinOp::Ne => a != b,
        BinOp::Lt => a < b,
        BinOp::Le => a <= b,
        BinOp::Gt => a > b,
        _ => a >= b,
    })
}

impl Cond {
    /// Evaluate a leaf in place; `None` for `and` / `or` / `not`. Inlined into
    /// the chain loops so leaves cost no call.
    #[inline(always)]
    fn leaf(&self, c: &Ctx<'_>) -> Option<Tri> {
        Some(match self {
            Cond::Const(t) => *t,
            Cond::Feature(i) => {
                Tri::from_f64(c.features.get(*i as usize).copied().unwrap_or(f64::NAN))
            }
            Cond::FeatureConst { op, feature, k } => compare(
                *op,
                c.features
                    .get(*feature as usize)
                    .copied()
                    .unwrap_or(f64::NAN),
                *k,
            ),
            Cond::FieldConst { op, field, k } => {
                compare(*op, c.txn.number(*field).unwrap_or(f64::NAN), *k)
            }
            Cond::ScoreConst { op, k } => compare(*op, c.score, *k),
            Cond::Cmp(cmp) => compare(cmp.0, cmp.1.get(c), cmp.2.get(c)),
            Cond::TextCmp(t) => match (t.0.get(c.txn), t.1.get(c.txn)) {
                (Some(x), Some(y)) => Tri::from_bool((x == y) == t.2),
                _ => Tri::Unknown,
            },
            Cond::In {
                field,
                set,
                negated,
            } => match c.txn.text(*field) {
                Some(s) => Tri::from_bool(set.contains(s) != *negated),
                None => Tri::Unknown,
            },
            Cond::InOther(t) => match t.0.get(c.txn) {
                Some(s) => Tri::from_bool(t.1.contains(s) != t.2),
                None => Tri::Unknown,
            },
            Cond::FieldPresent {
                field,
                text,
                present,
            } => {
                let is = if *text {
                    c.txn.text(*field).is_some()
                } else {
                    c.txn.number(*field).is_some_and(|v| !v.is_nan())
                };
                Tri::from_bool(is == *present)
            }
            Cond::NumPresent(p) => Tri::from_bool(p.0.get(c).is_nan() != p.1),
            Cond::And(_) | Cond::Or(_) | Cond::Not(_) => return None,
        })
    }

    pub fn eval(&self, c: &Ctx<'_>) -> Tri {
        match self {
            Cond::And(parts) => {
                let mut unknown = false;
                for p in parts.iter() {
                    match p.leaf(c).unwrap_or_else(|| p.eval(c)) {
                        Tri::False => return Tri::False,
                        Tri::Unknown => unknown = true,
                        Tri::True => {}
                    }
                }
                if unknown { Tri::Unknown } else { Tri::True }
            }
            Cond::Or(parts) => {
                let mut unknown = false;
                for p in parts.iter() {
                    match p.leaf(c).unwrap_or_else(|| p.eval(c)) {
                        Tri::True => return Tri::True,
                        Tri::Unknown => unknown = true,
                        Tri::False => {}
                    }
                }
                if unknown { Tri::Unknown } else { Tri::False }
            }
            Cond::Not(a) => a.eval(c).not(),
            leaf => leaf.leaf(c).unwrap_or(Tri::Unknown),
        }
    }
}
