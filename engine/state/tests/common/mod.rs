//! Shared test support: a small transaction type, feature builders and a
//! brute-force reference with the semantics of `verdict_rules::spec`.
#![allow(dead_code)]

use std::collections::HashSet;

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::{
    Aggregate, FeatureKind, FeatureSpec, HistoryFeature, Predicate, WindowFeature,
};
use verdict_state::StateConfig;

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z
pub const T0: i64 = 1_767_225_600_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Txn {
    pub user: Option<String>,
    pub card: String,
    pub merchant: String,
    pub country: String,
    pub device: Option<String>,
    pub amount: f64,
    pub time: i64,
}

impl Txn {
    pub fn new(user: &str, time: i64, amount: f64) -> Self {
        Txn {
            user: Some(user.to_string()),
            card: format!("card-{user}"),
            merchant: "m0".into(),
            country: "FR".into(),
            device: Some(format!("dev-{user}")),
            amount,
            time,
        }
    }
    pub fn merchant(mut self, m: &str) -> Self {
        self.merchant = m.into();
        self
    }
    pub fn country(mut self, c: &str) -> Self {
        self.country = c.into();
        self
    }
    pub fn card(mut self, c: &str) -> Self {
        self.card = c.into();
        self
    }
    pub fn device(mut self, d: Option<&str>) -> Self {
        self.device = d.map(str::to_string);
        self
    }
}

impl Transaction for Txn {
    fn text(&self, field: Field) -> Option<&str> {
        match field {
            Field::UserId => self.user.as_deref(),
            Field::CardId => Some(&self.card),
            Field::MerchantId => Some(&self.merchant),
            Field::Country => Some(&self.country),
            Field::DeviceId => self.device.as_deref(),
            Field::Currency => Some("EUR"),
            _ => None,
        }
    }
    fn number(&self, field: Field) -> Option<f64> {
        match field {
            Field::Amount => Some(self.amount),
            Field::EventTime => Some(self.time as f64),
            Field::Hour => Some((self.time.rem_euclid(DAY) / HOUR) as f64),
            _ => None,
        }
    }
}

pub fn window(
    name: &str,
    aggregate: Aggregate,
    key: Field,
    window_ms: i64,
    filter: Option<Predicate>,
) -> FeatureSpec {
    FeatureSpec {
        name: name.into(),
        kind: FeatureKind::Window(WindowFeature {
            aggregate,
            key,
            window_ms,
            filter,
        }),
    }
}

pub fn history(name: &str, h: HistoryFeature) -> FeatureSpec {
    FeatureSpec {
        name: name.into(),
        kind: FeatureKind::History(h),
    }
}

pub fn small_amounts() -> Predicate {
    Predicate::new("amount < 50", |t: &dyn Transaction| {
        t.number(Field::Amount).is_some_and(|a| a < 50.0)
    })
}

/// A representative feature set: every aggregate, exact and bucketed
/// windows, a filter, previous values and history lookups.
pub fn feature_set() -> Vec<FeatureSpec> {
    vec![
        window("card_count_1m", Aggregate::Count, Field::CardId, MIN, None),
        window(
            "card_sum_10m",
            Aggregate::Sum(Field::Amount),
            Field::CardId,
            10 * MIN,
            None,
        ),
        window(
            "card_small_count_1h",
            Aggregate::Count,
            Field::CardId,
            HOUR,
            Some(small_amounts()),
        ),
        window(
            "card_max_1h",
            Aggregate::Max(Field::Amount),
            Field::CardId,
            HOUR,
            None,
        ),
        window(
            "user_avg_24h",
            Aggregate::Avg(Field::Amount),
            Field::UserId,
            DAY,
            None,
        ),
        window(
            "user_min_24h",
            Aggregate::Min(Field::Amount),
            Field::UserId,
            DAY,
            None,
        ),
        window(
            "user_merchants_1h",
            Aggregate::DistinctCount(Field::MerchantId),
            Field::UserId,
            HOUR,
            None,
        ),
        window(
            "user_merchants_24h",
            Aggregate::DistinctCount(Field::MerchantId),
            Field::UserId,
            DAY,
            None,
        ),
        window(
            "device_users_24h",
            Aggregate::DistinctCount(Field::UserId),
            Field::DeviceId,
            DAY,
            None,
        ),
        window(
            "device_count_10m",
            Aggregate::Count,
            Field::DeviceId,
            10 * MIN,
            None,
        ),
        FeatureSpec {
            name: "derived".into(),
            kind: FeatureKind::Derived,
        },
        FeatureSpec {
            name: "prev_amount".into(),
            kind: FeatureKind::Previous {
                key: Field::CardId,
                field: Field::Amount,
            },
        },
        history("hist_avg_30", HistoryFeature::AvgAmount { days: 30 }),
        history("hist_max_365", HistoryFeature::MaxAmount { days: 365 }),
        history("hist_count_7", HistoryFeature::TxnCount { days: 7 }),
        history("hist_sum_90", HistoryFeature::SumAmount { days: 90 }),
        history(
            "first_merchant",
            HistoryFeature::FirstTime(Field::MerchantId),
        ),
        history("first_country", HistoryFeature::FirstTime(Field::Country)),
        history("days_since_first", HistoryFeature::DaysSinceFirst),
        history("active_days_30", HistoryFeature::ActiveDays { days: 30 }),
    ]
}

fn key_of(t: &Txn, f: Field) -> Option<String> {
    t.text(f).map(str::to_string)
}

/// Brute force over `prior` (processed before, arrival order) and `cur`.
/// Bucketed windows (per `cfg`) compare bucket indices instead of times.
pub fn reference(spec: &FeatureSpec, prior: &[Txn], cur: &Txn, cfg: &StateConfig) -> f64 {
    match &spec.kind {
        FeatureKind::Window(w) => {
            let Some(key) = key_of(cur, w.key) else {
                return f64::NAN;
            };
            let t = cur.time;
            let in_window = |e: i64| match cfg.bucket_ms_for(w.window_ms) {
                None => t - w.window_ms < e && e <= t,
                Some(b) => {
                    (t - w.window_ms).div_euclid(b) < e.div_euclid(b)
                        && e.div_euclid(b) <= t.div_euclid(b)
                }
            };
            let events: Vec<&Txn> = prior
                .iter()
                .chain(std::iter::once(cur))
                .filter(|e| key_of(e, w.key).as_deref() == Some(&key))
                .filter(|e| in_window(e.time))
                .filter(|e| w.filter.as_ref().is_none_or(|p| p.matches(*e)))
                .collect();
            let nums = |f: Field| {
                events
                    .iter()
                    .filter_map(|e| e.number(f))
                    .collect::<Vec<f64>>()
            };
            match w.aggregate {
                Aggregate::Count => events.len() as f64,
                Aggregate::Sum(f) => nums(f).iter().sum(),
                Aggregate::Avg(f) => {
                    let v = nums(f);
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.iter().sum::<f64>() / v.len() as f64
                    }
                }
                Aggregate::Min(f) => nums(f).into_iter().fold(f64::NAN, f64::min),
                Aggregate::Max(f) => nums(f).into_iter().fold(f64::NAN, f64::max),
                Aggregate::DistinctCount(f) => events
                    .iter()
                    .filter_map(|e| e.text(f))
                    .collect::<HashSet<_>>()
                    .len() as f64,
            }
        }
        FeatureKind::Previous { key, field } => {
            let Some(k) = key_of(cur, *key) else {
                return f64::NAN;
            };
            prior
                .iter()
                .rev()
                .find(|e| key_of(e, *key).as_deref() == Some(&k))
                .map_or(f64::NAN, |e| e.number(*field).unwrap_or(f64::NAN))
        }
        FeatureKind::History(h) => {
            let Some(user) = cur.user.as_deref() else {
                return f64::NAN;
            };
            let d = cur.time.div_euclid(DAY);
            let mine = prior.iter().filter(|e| e.user.as_deref() == Some(user));
            let within = |days: u16| {
                let days = i64::from(days);
                mine.clone().filter(move |e| {
                    let de = e.time.div_euclid(DAY);
                    d - days < de && de <= d
                })
            };
            match *h {
                HistoryFeature::TxnCount { days } => within(days).count() as f64,
                HistoryFeature::SumAmount { days } => within(days).map(|e| e.amount).sum(),
                HistoryFeature::AvgAmount { days } => {
                    let v: Vec<f64> = within(days).map(|e| e.amount).collect();
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.iter().sum::<f64>() / v.len() as f64
                    }
                }
                HistoryFeature::MaxAmount { days } => {
                    within(days).map(|e| e.amount).fold(f64::NAN, f64::max)
                }
                HistoryFeature::ActiveDays { days } => within(days)
                    .map(|e| e.time.div_euclid(DAY))
                    .collect::<HashSet<_>>()
                    .len() as f64,
                HistoryFeature::DaysSinceFirst => within(365)
                    .map(|e| e.time.div_euclid(DAY))
                    .min()
                    .map_or(f64::NAN, |f| (d - f) as f64),
                HistoryFeature::FirstTime(f) => {
                    let Some(v) = cur.text(f) else {
                        return f64::NAN;
                    };
                    if within(365).any(|e| e.text(f) == Some(v)) {
                        0.0
                    } else {
                        1.0
                    }
                }
            }
        }
        FeatureKind::Derived => f64::NAN,
    }
}

/// Equal, both NaN, or within 1e-9 relative (sums of decimals in f64).
pub fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Deterministic stream: `n` events over `users` users, a few cards and
/// merchants each, times advancing with bounded disorder `jitter_ms`.
pub fn stream(seed: u64, n: usize, users: u32, step_ms: i64, jitter_ms: i64) -> Vec<Txn> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut now = T0;
    (0..n)
        .map(|_| {
            now += rng.random_range(0..=step_ms);
            let u = rng.random_range(0..users);
            let jitter = if jitter_ms > 0 {
                rng.random_range(0..=jitter_ms)
            } else {
                0
            };
            let amount = f64::from(rng.random_range(1..50_000u32)) / 100.0;
            let t = Txn::new(&format!("u{u}"), now - jitter, amount)
                .card(&format!("c{u}-{}", rng.random_range(0..2)))
                .merchant(&format!("m{}", rng.random_range(0..8)))
                .country(["FR", "DE", "US"][rng.random_range(0..3)]);
            if rng.random_range(0..10) == 0 {
                t.device(None)
            } else {
                t.device(Some(&format!("d{}", u % 7)))
            }
        })
        .collect()
}
