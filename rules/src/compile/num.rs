//! Value expressions to closures.
//!
//! Every node becomes a boxed closure over a [`Ctx`] (the transaction, the
//! feature values, the score). Leaves are read inline ([`read`]); `and` / `or`
//! and the other yes/no nodes are compiled as conditions ([`super::cond`])
//! and read as 1 / 0 / NaN. A call wraps the evaluation of its row in
//! [`crate::functions::FUNCTIONS`]; the checker has already checked the
//! arity and argument types against that same row.

use super::cond::cond;
use super::operand::{BoolFn, Ctx, NumFn, leaf, read};
use crate::check::ir::Ir;
use crate::functions::{Eval, Function};
use crate::syntax::ast::BinOp;

fn is_bool_node(ir: &Ir) -> bool {
    matches!(
        ir,
        Ir::And(..)
            | Ir::Or(..)
            | Ir::Not(_)
            | Ir::In { .. }
            | Ir::Is { .. }
            | Ir::CmpNum(..)
            | Ir::CmpText(..)
    )
}

/// Compile a value stored as `f64` (number, duration, time; yes/no as 1/0/NaN).
pub fn num(ir: &Ir) -> NumFn {
    if let Some(l) = leaf(ir) {
        return Box::new(move |c| read(l, c));
    }
    if is_bool_node(ir) {
        let b = boolean(ir);
        return Box::new(move |c| b(c).to_f64());
    }
    match ir {
        Ir::Neg(a) => {
            let a = num(a);
            Box::new(move |c| -a(c))
        }
        Ir::Arith(op, a, b) => {
            let (a, b) = (num(a), num(b));
            match op {
                BinOp::Add => Box::new(move |c| a(c) + b(c)),
                BinOp::Sub => Box::new(move |c| a(c) - b(c)),
                BinOp::Mul => Box::new(move |c| a(c) * b(c)),
                _ => Box::new(move |c| a(c) / b(c)),
            }
        }
        Ir::Call(func, args) => call(func, args),
        _ => Box::new(|_| f64::NAN),
    }
}

fn call(func: &Function, args: &[Ir]) -> NumFn {
    let mut fs: Vec<NumFn> = args.iter().map(num).collect();
    // The checker guarantees the arity; a missing argument reads as missing.
    let mut take = || {
        if fs.is_empty() {
            Box::new(|_: &Ctx<'_>| f64::NAN) as NumFn
        } else {
            fs.remove(0)
        }
    };
    match func.eval {
        Eval::Unary(f) => {
            let a = take();
            Box::new(move |c| f(a(c)))
        }
        Eval::Binary(f) => {
            let (a, b) = (take(), take());
            Box::new(move |c| f(a(c), b(c)))
        }
        Eval::Quaternary(f) => {
            let (a, b, c2, d) = (take(), take(), take(), take());
            Box::new(move |c| f(a(c), b(c), c2(c), d(c)))
        }
    }
}

/// Compile a yes/no condition into a closure (for window filters and for
/// yes/no values used as numbers); rules evaluate [`super::cond::Cond`] directly.
pub fn boolean(ir: &Ir) -> BoolFn {
    let c = cond(ir);
    Box::new(move |ctx| c.eval(ctx))
}
