//! The reference feature computer: brute force, obviously correct, slow.
//!
//! [`ReferenceState`] keeps every event it has been shown and computes each
//! [`FeatureSpec`] by scanning all of them. It is the oracle the engine's fast
//! state layer is property-tested against, and what the golden runner replays
//! test events through. Semantics (the contract the engine must match):
//!
//! - **Window** `agg(f) over W by K where P`: for the current event at time
//!   `t`, the events processed so far *plus the current one* with the same
//!   value of `K`, event time in `(t - W, t]`, and passing `P` (true under
//!   three-valued logic). `count` counts them; `sum`/`min`/`max`/`avg` use the
//!   ones where `f` is present (`sum` of none is 0, `min`/`max`/`avg` of none
//!   are missing); `distinct(f)` counts distinct present values. Arrival order
//!   decides what "processed so far" means: a late event is counted by later
//!   events whose window covers its time, never retroactively.
//! - **History** (per `user_id`): the user's previously processed events, not
//!   the current one, whose UTC day `d` satisfies `today - days < d <= today`.
//!   `avg_amount`/`max_amount` are missing when there are none; `txn_count`,
//!   `sum_amount`, `active_days` are 0. `first_time(f)` looks at the last 365
//!   days and is 1 when no such event had the current value of `f` (missing
//!   when the current event has no `f`); `days_since_first` is `today` minus
//!   the earliest such day within 365 days, missing for a new user.
//! - **Previous** `previous(f) by K`: `f` on the most recently *processed*
//!   earlier event with the same `K`; missing when there is none or it had no `f`.
//! - When the current event has no value for the key (or `user_id`), the
//!   feature is missing. Missing is `f64::NAN`.

use std::collections::HashSet;

use crate::input::{Field, FieldType, Transaction};
use crate::ruleset::RuleSet;
use crate::spec::{Aggregate, FeatureKind, FeatureSpec, HistoryFeature};

const DAY_MS: i64 = 86_400_000;

/// An owned transaction: every field copied out of a [`Transaction`] or read
/// from the engine's JSON event format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    text: [Option<String>; Field::ALL.len()],
    number: [Option<f64>; Field::ALL.len()],
}

/// `Field::ALL` lists the variants in declaration order, so the discriminant
/// is the index (checked by a test).
fn field_index(field: Field) -> usize {
    field as usize
}

impl Event {
    /// Copy every field of `txn`.
    pub fn capture(txn: &dyn Transaction) -> Event {
        let mut e = Event::default();
        for f in Field::ALL {
            match f.field_type() {
                FieldType::Text => e.text[field_index(f)] = txn.text(f).map(str::to_string),
                FieldType::Number => e.number[field_index(f)] = txn.number(f),
            }
        }
        e
    }

    pub fn set_text(&mut self, field: Field, value: Option<&str>) {
        self.text[field_index(field)] = value.map(str::to_string);
    }

    pub fn set_number(&mut self, field: Field, value: Option<f64>) {
        self.number[field_index(field)] = value;
    }

    /// Set `event_time` (ms since the epoch) and the `hour` / `weekday` fields derived from it.
    pub fn set_event_time(&mut self, ms: i64) {
        self.set_number(Field::EventTime, Some(ms as f64));
        let secs_of_day = ms.rem_euclid(DAY_MS) / 1000;
        self.set_number(Field::Hour, Some((secs_of_day / 3600) as f64));
        // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
        let day = ms.div_euclid(DAY_MS);
        self.set_number(Field::Weekday, Some(((day + 3).rem_euclid(7)) as f64));
    }

    /// Read an event in the engine's JSON format: text fields as strings
    /// (`mcc` and `card_bin` may also be numbers), `amount`/`lat`/`lon` as
    /// numbers, `event_time` as RFC 3339 or epoch milliseconds. Unknown keys
    /// are rejected so a typo in a test cannot pass silently.
    pub fn from_json(value: &serde_json::Value) -> Result<Event, String> {
        let obj = value.as_object().ok_or("an event must be a JSON object")?;
        let mut e = Event::default();
        for (key, v) in obj {
            let field = Field::from_name(key)
                .filter(|f| !matches!(f, Field::Hour | Field::Weekday))
                .ok_or_else(|| format!("unknown event field `{key}`"))?;
            if v.is_null() {
                continue;
            }
            match (field, field.field_type()) {
                (Field::EventTime, _) => {
                    let ms = match v {
                        serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                            .map_err(|e| format!("event_time `{s}`: {e}"))?
                            .timestamp_millis(),
                        serde_json::Value::Number(n) => {
                            n.as_i64().ok_or("event_time must be whole milliseconds")?
                        }
                        _ => return Err("event_time must be an RFC 3339 string".into()),
                    };
                    e.set_event_time(ms);
                }
                (_, FieldType::Text) => {
                    let s = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        _ => return Err(format!("`{key}` must be a string")),
                    };
                    e.set_text(field, Some(&s));
                }
                (_, FieldType::Number) => {
                    let n = match v {
                        serde_json::Value::Number(n) => n.as_f64(),
                        serde_json::Value::String(s) => s.parse().ok(),
                        _ => None,
                    };
                    e.set_number(
                        field,
                        Some(n.ok_or_else(|| format!("`{key}` must be a number"))?),
                    );
                }
            }
        }
        Ok(e)
    }
}

impl Transaction for Event {
    fn text(&self, field: Field) -> Option<&str> {
        self.text[field_index(field)].as_deref()
    }

    fn number(&self, field: Field) -> Option<f64> {
        self.number[field_index(field)]
    }
}

/// Every event seen so far, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct ReferenceState {
    events: Vec<Event>,
}

impl ReferenceState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of events observed.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Record `txn` as processed.
    pub fn observe(&mut self, txn: &dyn Transaction) {
        self.events.push(Event::capture(txn));
    }

    /// Compute every Window, History and Previous feature of `specs` for `txn`
    /// (not yet observed) into `out`; Derived features are set to NaN.
    pub fn compute(&self, specs: &[FeatureSpec], txn: &dyn Transaction, out: &mut [f64]) {
        for (spec, value) in specs.iter().zip(out.iter_mut()) {
            *value = match &spec.kind {
                FeatureKind::Window(w) => self.window(w, txn),
                FeatureKind::History(h) => self.history(*h, txn),
                FeatureKind::Previous { key, field } => self.previous(*key, *field, txn),
                FeatureKind::Derived => f64::NAN,
            };
        }
    }

    /// The full feature vector for `txn` (computed, then derived by `rules`),
    /// after which `txn` is observed.
    pub fn process(&mut self, rules: &RuleSet, txn: &dyn Transaction) -> Vec<f64> {
        let mut out = vec![f64::NAN; rules.features().len()];
        self.compute(rules.features(), txn, &mut out);
        rules.derive(txn, &mut out);
        self.observe(txn);
        out
    }

    fn window(&self, w: &crate::spec::WindowFeature, txn: &dyn Transaction) -> f64 {
        let (Some(key), Some(t)) = (txn.text(w.key), txn.number(Field::EventTime)) else {
            return f64::NAN;
        };
        let lo = t - w.window_ms as f64;
        let current = Event::capture(txn);
        let members: Vec<&Event> = self
            .events
            .iter()
            .chain(std::iter::once(&current))
            .filter(|e| e.text(w.key) == Some(key))
            .filter(|e| {
                e.number(Field::EventTime)
                    .is_some_and(|et| et > lo && et <= t)
            })
            .filter(|e| w.filter.as_ref().is_none_or(|p| p.matches(*e)))
            .collect();
        let values = |f: Field| members.iter().filter_map(move |e| e.number(f));
        match w.aggregate {
            Aggregate::Count => members.len() as f64,
            Aggregate::Sum(f) => values(f).sum(),
            Aggregate::Min(f) => values(f).reduce(f64::min).unwrap_or(f64::NAN),
            Aggregate::Max(f) => values(f).reduce(f64::max).unwrap_or(f64::NAN),
            Aggregate::Avg(f) => {
                let v: Vec<f64> = values(f).collect();
                if v.is_empty() {
                    f64::NAN
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            }
            Aggregate::DistinctCount(f) => {
                let distinct: HashSet<String> = members
                    .iter()
                    .filter_map(|e| match f.field_type() {
                        FieldType::Text => e.text(f).map(str::to_string),
                        FieldType::Number => e.number(f).map(|n| n.to_bits().to_string()),
                    })
                    .collect();
                distinct.len() as f64
            }
        }
    }

    /// The current user's earlier events within the last `days` UTC days, with their day.
    fn user_days<'s>(
        &'s self,
        txn: &dyn Transaction,
        days: u16,
    ) -> Option<(i64, Vec<(i64, &'s Event)>)> {
        let user = txn.text(Field::UserId)?;
        let today = (txn.number(Field::EventTime)? as i64).div_euclid(DAY_MS);
        let events = self
            .events
            .iter()
            .filter(|e| e.text(Field::UserId) == Some(user))
            .filter_map(|e| Some(((e.number(Field::EventTime)? as i64).div_euclid(DAY_MS), e)))
            .filter(|(d, _)| *d > today - i64::from(days) && *d <= today)
            .collect();
        Some((today, events))
    }

    fn history(&self, h: HistoryFeature, txn: &dyn Transaction) -> f64 {
        let days = match h {
            HistoryFeature::AvgAmount { days }
            | HistoryFeature::MaxAmount { days }
            | HistoryFeature::TxnCount { days }
            | HistoryFeature::SumAmount { days }
            | HistoryFeature::ActiveDays { days } => days,
            HistoryFeature::FirstTime(_) | HistoryFeature::DaysSinceFirst => 365,
        };
        let Some((today, events)) = self.user_days(txn, days) else {
            return f64::NAN;
        };
        let amounts: Vec<f64> = events
            .iter()
            .filter_map(|(_, e)| e.number(Field::Amount))
            .collect();
        match h {
            HistoryFeature::AvgAmount { .. } if amounts.is_empty() => f64::NAN,
            HistoryFeature::AvgAmount { .. } => amounts.iter().sum::<f64>() / amounts.len() as f64,
            HistoryFeature::MaxAmount { .. } => {
                amounts.into_iter().reduce(f64::max).unwrap_or(f64::NAN)
            }
            HistoryFeature::TxnCount { .. } => events.len() as f64,
            HistoryFeature::SumAmount { .. } => amounts.iter().sum(),
            HistoryFeature::ActiveDays { .. } => {
                events.iter().map(|(d, _)| *d).collect::<HashSet<_>>().len() as f64
            }
            HistoryFeature::FirstTime(f) => match txn.text(f) {
                None => f64::NAN,
                Some(v) => f64::from(u8::from(!events.iter().any(|(_, e)| e.text(f) == Some(v)))),
            },
            HistoryFeature::DaysSinceFirst => events
                .iter()
                .map(|(d, _)| *d)
                .min()
                .map_or(f64::NAN, |first| (today - first) as f64),
        }
    }

    fn previous(&self, key: Field, field: Field, txn: &dyn Transaction) -> f64 {
        let Some(k) = txn.text(key) else {
            return f64::NAN;
        };
        self.events
            .iter()
            .rev()
            .find(|e| e.text(key) == Some(k))
            .and_then(|e| e.number(field))
            .unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_discriminants_index_field_all() {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(field_index(*f), i);
        }
    }
}
