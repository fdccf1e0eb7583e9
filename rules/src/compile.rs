//! Typed IR to closures.
//!
//! Every node becomes a boxed closure over a [`Ctx`] (the transaction, the
//! feature slots, the score). Names were resolved by the checker, so a closure
//! reads a slot index or matches a [`Field`] variant; no string is looked at
//! per event except list membership, which hashes the field value once. The
//! common leaf comparisons (`feature >= 5`, `amount < 5.00`, `score > 0.9`)
//! are fused into one closure without inner calls. `and` / `or` short-circuit.

use std::f64::consts::PI;

use crate::check::ir::{Func, Ir, Type};
use crate::eval::Tri;
use crate::input::{Field, Transaction};
use crate::syntax::ast::BinOp;

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

#[derive(Clone, Copy)]
pub enum Leaf {
    Const(f64),
    Slot(usize),
    Field(Field),
    Score,
}

#[inline(always)]
pub fn read(leaf: Leaf, c: &Ctx<'_>) -> f64 {
    match leaf {
        Leaf::Const(v) => v,
        Leaf::Slot(i) => c.features.get(i).copied().unwrap_or(f64::NAN),
        Leaf::Field(f) => c.txn.number(f).unwrap_or(f64::NAN),
        Leaf::Score => c.score,
    }
}

pub fn leaf(ir: &Ir) -> Option<Leaf> {
    match ir {
        Ir::Const(v) => Some(Leaf::Const(*v)),
        Ir::Bool(b) => Some(Leaf::Const(if *b { 1.0 } else { 0.0 })),
        Ir::Feature(slot) => Some(Leaf::Slot(*slot as usize)),
        Ir::Field(f) => Some(Leaf::Field(*f)),
        Ir::Score => Some(Leaf::Score),
        _ => None,
    }
}

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
        Ir::Call(func, args) => call(*func, args),
        _ => Box::new(|_| f64::NAN),
    }
}

fn call(func: Func, args: &[Ir]) -> NumFn {
    let mut fs: Vec<NumFn> = args.iter().map(num).collect();
    // The checker guarantees the arity; a missing argument reads as missing.
    let mut take = || {
        if fs.is_empty() {
            Box::new(|_: &Ctx<'_>| f64::NAN) as NumFn
        } else {
            fs.remove(0)
        }
    };
    match func {
        Func::Haversine => {
            let (a, b, c2, d) = (take(), take(), take(), take());
            Box::new(move |c| haversine_km(a(c), b(c), c2(c), d(c)))
        }
        Func::Abs => {
            let a = take();
            Box::new(move |c| a(c).abs())
        }
        Func::Sqrt => {
            let a = take();
            Box::new(move |c| a(c).sqrt())
        }
        Func::Ln => {
            let a = take();
            Box::new(move |c| a(c).ln())
        }
        Func::Round => {
            let a = take();
            Box::new(move |c| a(c).round())
        }
        Func::Floor => {
            let a = take();
            Box::new(move |c| a(c).floor())
        }
        Func::Min | Func::Max => {
            let (a, b) = (take(), take());
            let max = func == Func::Max;
            Box::new(move |c| {
                let (x, y) = (a(c), b(c));
                if x.is_nan() || y.is_nan() {
                    f64::NAN
                } else if max {
                    x.max(y)
                } else {
                    x.min(y)
                }
            })
        }
        Func::Coalesce => {
            let (a, b) = (take(), take());
            Box::new(move |c| {
                let x = a(c);
                if x.is_nan() { b(c) } else { x }
            })
        }
        Func::Seconds | Func::Minutes | Func::Hours | Func::Days => {
            let a = take();
            let unit = match func {
                Func::Seconds => 1_000.0,
                Func::Minutes => 60_000.0,
                Func::Hours => 3_600_000.0,
                _ => 86_400_000.0,
            };
            Box::new(move |c| a(c) / unit)
        }
    }
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

pub fn text(ir: &Ir) -> TextOp {
    match ir {
        Ir::Field(f) => TextOp::Field(*f),
        Ir::Text(s) => TextOp::Lit(s.clone()),
        _ => TextOp::Missing,
    }
}

/// Compile a yes/no condition into a closure (for window filters and for
/// yes/no values used as numbers); rules evaluate [`crate::cond::Cond`] directly.
pub fn boolean(ir: &Ir) -> BoolFn {
    let c = crate::cond::cond(ir);
    Box::new(move |ctx| c.eval(ctx))
}

/// A reason value ready to be rendered.
pub enum TemplateValue {
    Text(TextOp),
    Num(NumFn, Type),
}

/// Render a value into a reason string.
pub fn render_value(value: &TemplateValue, c: &Ctx<'_>, out: &mut String) {
    use std::fmt::Write;
    match value {
        TemplateValue::Text(t) => out.push_str(t.get(c.txn).unwrap_or("missing")),
        TemplateValue::Num(f, ty) => {
            let v = f(c);
            if v.is_nan() {
                out.push_str("missing");
                return;
            }
            let _ = match ty {
                Type::Bool => write!(out, "{}", if v != 0.0 { "yes" } else { "no" }),
                Type::Duration => write_duration(out, v),
                Type::Time => match chrono::DateTime::from_timestamp_millis(v as i64) {
                    Some(t) => write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%SZ")),
                    None => write!(out, "{v}"),
                },
                _ => write_number(out, v),
            };
        }
    }
}

fn write_number(out: &mut String, v: f64) -> std::fmt::Result {
    use std::fmt::Write;
    if v.is_infinite() {
        return out.write_str(if v > 0.0 { "infinity" } else { "-infinity" });
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return write!(out, "{}", v as i64);
    }
    // Two decimals, trailing zeros trimmed, written in place (no temporary).
    write!(out, "{v:.2}")?;
    let trimmed = out.trim_end_matches('0').trim_end_matches('.').len();
    out.truncate(trimmed);
    Ok(())
}

fn write_duration(out: &mut String, ms: f64) -> std::fmt::Result {
    let (value, unit) = match ms.abs() {
        m if m < 120_000.0 => (ms / 1_000.0, "s"),
        m if m < 7_200_000.0 => (ms / 60_000.0, "m"),
        m if m < 172_800_000.0 => (ms / 3_600_000.0, "h"),
        _ => (ms / 86_400_000.0, "d"),
    };
    write_number(out, (value * 10.0).round() / 10.0)?;
    out.push_str(unit);
    Ok(())
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
    fn numbers_and_durations_render_for_people() {
        let mut s = String::new();
        write_number(&mut s, 7.0).unwrap();
        s.push(' ');
        write_number(&mut s, 1234.5).unwrap();
        s.push(' ');
        write_duration(&mut s, 5_400_000.0).unwrap();
        assert_eq!(s, "7 1234.5 90m");
    }
}
