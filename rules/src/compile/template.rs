//! Reason templates: compiled values rendered into a decision's reason text.
//!
//! Values are rendered for people: integers without decimals, other numbers
//! with at most two, durations in the largest readable unit, times in RFC 3339
//! UTC, yes/no as words, and a missing value as `missing`. Rendering writes in
//! place into the reason string, with no temporary allocation.

use super::operand::{Ctx, NumFn, TextOp};
use crate::check::ir::Type;

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
