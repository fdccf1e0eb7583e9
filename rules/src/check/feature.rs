//! Checking feature definitions: windows, history lookups, previous() and
//! derived expressions, each to a [`CheckedKind`] and its [`Type`].

use super::expr::{Scope, ScopeKind};
use super::ir::{Ir, Type};
use super::program::CheckedKind;
use crate::diag::{Code, Diagnostic, Span, closest};
use crate::input::{Field, FieldType};
use crate::spec::{Aggregate, HistoryFeature};
use crate::syntax::ast::*;

pub fn feature_def(
    scope: &Scope,
    decl: &FeatureDecl,
    text: &str,
    errs: &mut Vec<(Diagnostic, Span)>,
) -> (Type, CheckedKind) {
    let error = (Type::Error, CheckedKind::Derived(Ir::Const(f64::NAN)));
    match &decl.def {
        FeatureDef::Derived(e) => {
            let (ir, ty) = scope.check(e, errs);
            if ty == Type::Text {
                errs.push((
                    Diagnostic::new(Code::BadFeatureType, "a feature cannot be text")
                        .hint("features are model inputs: numbers, durations, times or yes/no"),
                    e.span,
                ));
                return error;
            }
            (ty, CheckedKind::Derived(ir))
        }
        FeatureDef::Window {
            aggregate,
            arg,
            window,
            key,
            filter,
        } => window_def(
            scope,
            WindowDecl {
                aggregate,
                arg: arg.as_ref(),
                window: *window,
                key,
                filter: filter.as_ref(),
            },
            text,
            errs,
        ),
        FeatureDef::Previous { field, key } => previous(field, key, errs),
        FeatureDef::History { lookup, arg, days } => history(lookup, arg.as_ref(), *days, errs),
    }
}

/// The parts of a window declaration, borrowed from the syntax tree.
struct WindowDecl<'a> {
    aggregate: &'a Ident,
    arg: Option<&'a Ident>,
    window: (i64, Span),
    key: &'a Ident,
    filter: Option<&'a Expr>,
}

/// `AGG over DURATION by KEY [where FILTER]`.
fn window_def(
    scope: &Scope,
    decl: WindowDecl<'_>,
    text: &str,
    errs: &mut Vec<(Diagnostic, Span)>,
) -> (Type, CheckedKind) {
    let error = (Type::Error, CheckedKind::Derived(Ir::Const(f64::NAN)));
    let WindowDecl {
        aggregate,
        arg,
        window,
        key,
        filter,
    } = decl;
    let key_field = key_field(key, errs);
    if !(1_000..=30 * 86_400_000).contains(&window.0) {
        errs.push((
            Diagnostic::new(
                Code::WindowRange,
                "window length must be between 1s and 30d",
            )
            .hint("for longer periods use a `history` lookup"),
            window.1,
        ));
    }
    let field = arg.as_ref().map(|a| (field_of(a, errs), a.span));
    let (agg, ty) = window_aggregate(aggregate, field, errs);
    let filter = filter.as_ref().map(|f| {
        let fscope = Scope {
            kind: ScopeKind::Filter,
            features: scope.features,
            lists: scope.lists,
        };
        let ir = fscope.boolean(f, errs, "a window filter");
        let src = &text[f.span.start..f.span.end.min(text.len())];
        (src.split_whitespace().collect::<Vec<_>>().join(" "), ir)
    });
    match (agg, key_field) {
        (Some(aggregate), Some(key)) => (
            ty,
            CheckedKind::Window {
                aggregate,
                key,
                window_ms: window.0,
                filter,
            },
        ),
        _ => error,
    }
}

/// The aggregate of a window and its type, from its name and field (`None`
/// when there is no field; `Some((None, _))` when the field was unknown,
/// already reported).
fn window_aggregate(
    aggregate: &Ident,
    field: Option<(Option<Field>, Span)>,
    errs: &mut Vec<(Diagnostic, Span)>,
) -> (Option<Aggregate>, Type) {
    match (aggregate.name.as_str(), field) {
        ("count", None) => (Some(Aggregate::Count), Type::Number),
        ("count", Some((_, span))) => {
            errs.push((
                Diagnostic::new(Code::ArgCount, "`count` takes no field")
                    .hint("filter with `where`: count over 10m by card_id where amount < 5"),
                span,
            ));
            (None, Type::Error)
        }
        (agg @ ("sum" | "avg" | "min" | "max" | "distinct"), None) => {
            errs.push((
                Diagnostic::new(Code::ArgCount, format!("`{agg}` needs a field"))
                    .hint(format!("write e.g. `{agg}(amount)`")),
                aggregate.span,
            ));
            (None, Type::Error)
        }
        (_, Some((None, _))) => (None, Type::Error),
        (agg @ ("sum" | "avg" | "min" | "max" | "distinct"), Some((Some(f), span))) => {
            let fty = Type::of_field(f);
            let ok = match agg {
                "sum" | "avg" => fty == Type::Number,
                "min" | "max" => matches!(fty, Type::Number | Type::Time),
                _ => true,
            };
            if !ok {
                errs.push((
                    Diagnostic::new(Code::BadAggregateField, format!("`{agg}` of {} field `{}`", fty.describe(), f.name()))
                        .hint("sum and avg need a number field (amount); count distinct text with `distinct(...)`"),
                    span,
                ));
            }
            match agg {
                "sum" => (Some(Aggregate::Sum(f)), Type::Number),
                "avg" => (Some(Aggregate::Avg(f)), Type::Number),
                "min" => (Some(Aggregate::Min(f)), fty),
                "max" => (Some(Aggregate::Max(f)), fty),
                _ => (Some(Aggregate::DistinctCount(f)), Type::Number),
            }
        }
        (other, _) => {
            let hint = match closest(
                other,
                ["count", "sum", "avg", "min", "max", "distinct"].into_iter(),
            ) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "aggregates: count, sum, avg, min, max, distinct".to_string(),
            };
            errs.push((
                Diagnostic::new(
                    Code::UnknownAggregate,
                    format!("unknown window aggregate `{other}`"),
                )
                .hint(hint),
                aggregate.span,
            ));
            (None, Type::Error)
        }
    }
}

/// `previous(FIELD) by KEY`.
fn previous(field: &Ident, key: &Ident, errs: &mut Vec<(Diagnostic, Span)>) -> (Type, CheckedKind) {
    let error = (Type::Error, CheckedKind::Derived(Ir::Const(f64::NAN)));
    let key = key_field(key, errs);
    let f = field_of(field, errs);
    if let Some(f) = f
        && Type::of_field(f) == Type::Text
    {
        errs.push((
            Diagnostic::new(Code::PreviousText, format!("previous() of text field `{}`", f.name()))
                .hint("previous() keeps numbers and times (lat, lon, amount, event_time); for text use history first_time(...)"),
            field.span,
        ));
        return error;
    }
    match (key, f) {
        (Some(key), Some(f)) => (Type::of_field(f), CheckedKind::Previous { key, field: f }),
        _ => error,
    }
}

fn history(
    lookup: &Ident,
    arg: Option<&Ident>,
    days: Option<(i64, Span)>,
    errs: &mut Vec<(Diagnostic, Span)>,
) -> (Type, CheckedKind) {
    let error = (Type::Error, CheckedKind::Derived(Ir::Const(f64::NAN)));
    let day_count = match days {
        None => 365,
        Some((ms, span)) => {
            if ms % 86_400_000 != 0 || !(1..=365).contains(&(ms / 86_400_000)) {
                errs.push((
                    Diagnostic::new(Code::HistoryRange, "history period must be whole days from 1d to 365d")
                        .hint("history is kept as daily rollups for a year; for shorter periods use a window"),
                    span,
                ));
                return error;
            }
            (ms / 86_400_000) as u16
        }
    };
    let name = lookup.name.as_str();
    let needs_arg = name == "first_time";
    if needs_arg != arg.is_some() {
        let msg = if needs_arg {
            "`first_time` needs a field".to_string()
        } else {
            format!("`{name}` takes no field")
        };
        errs.push((
            Diagnostic::new(Code::ArgCount, msg)
                .hint("e.g. `history first_time(merchant_id)` or `history avg_amount over 365d`"),
            arg.map_or(lookup.span, |a| a.span),
        ));
        return error;
    }
    let h = match name {
        "avg_amount" => HistoryFeature::AvgAmount { days: day_count },
        "max_amount" => HistoryFeature::MaxAmount { days: day_count },
        "sum_amount" => HistoryFeature::SumAmount { days: day_count },
        "txn_count" => HistoryFeature::TxnCount { days: day_count },
        "active_days" => HistoryFeature::ActiveDays { days: day_count },
        "days_since_first" => HistoryFeature::DaysSinceFirst,
        "first_time" => {
            let Some(f) = arg.and_then(|a| field_of(a, errs)) else {
                return error;
            };
            if Type::of_field(f) != Type::Text {
                errs.push((
                    Diagnostic::new(
                        Code::ArgType,
                        format!("first_time of number field `{}`", f.name()),
                    )
                    .hint(
                        "first_time takes a text field such as merchant_id, country or device_id",
                    ),
                    arg.map_or(lookup.span, |a| a.span),
                ));
                return error;
            }
            return (
                Type::Bool,
                CheckedKind::History(HistoryFeature::FirstTime(f)),
            );
        }
        other => {
            const LOOKUPS: [&str; 7] = [
                "avg_amount",
                "max_amount",
                "sum_amount",
                "txn_count",
                "active_days",
                "days_since_first",
                "first_time",
            ];
            let hint = match closest(other, LOOKUPS.into_iter()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("history lookups: {}", LOOKUPS.join(", ")),
            };
            errs.push((
                Diagnostic::new(
                    Code::UnknownHistory,
                    format!("unknown history lookup `{other}`"),
                )
                .hint(hint),
                lookup.span,
            ));
            return error;
        }
    };
    (Type::Number, CheckedKind::History(h))
}

fn field_of(name: &Ident, errs: &mut Vec<(Diagnostic, Span)>) -> Option<Field> {
    let f = Field::from_name(&name.name);
    if f.is_none() {
        let mut d = Diagnostic::new(
            Code::NotAField,
            format!("`{}` is not a transaction field", name.name),
        );
        d = match closest(&name.name, Field::ALL.iter().map(|f| f.name())) {
            Some(s) => d.hint(format!("did you mean `{s}`?")),
            None => d.hint("fields: amount, card_id, user_id, merchant_id, country, device_id, ip, lat, lon, ..."),
        };
        errs.push((d, name.span));
    }
    f
}

fn key_field(name: &Ident, errs: &mut Vec<(Diagnostic, Span)>) -> Option<Field> {
    let f = field_of(name, errs)?;
    if f.field_type() != FieldType::Text {
        errs.push((
            Diagnostic::new(
                Code::BadKey,
                format!("cannot keep a window per `{}`", f.name()),
            )
            .hint("keys are entity fields: card_id, user_id, device_id, ip, merchant_id, ..."),
            name.span,
        ));
        return None;
    }
    Some(f)
}
