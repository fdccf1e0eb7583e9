//! A year of per-user history as daily rollups.
//!
//! One record per user (key `user_id`) holds:
//!
//! * a sorted list of active days, each `{day, count, amount sum, amount max,
//!   active-hours bitmask}` with amounts in fixed-point 1/10000 units (exact);
//! * per tracked field (by default merchant_id, country, device_id, plus every
//!   field a `FirstTime` feature names) a set of seen values as 32-bit XXH3
//!   hashes with the first and last day each was seen.
//!
//! Only days within 365 days of the user's latest event day are kept
//! (`max_day - 365 < day`); the record expires from the store through the
//! partition's expiry index once the partition's event time is 365 days past
//! the user's last activity (see [`crate::keys`]).
//!
//! Features read the history *before* the current event is recorded, over
//! days `day(t) - days < day <= day(t)`. Counts, sums, maxima, active days and
//! days-since-first are exact. `FirstTime` compares 32-bit hashes (a new value
//! colliding with one of the user's `n` seen values reads as seen, p ≈ n/2³²),
//! and, keeping only the first and last day per value, treats a value seen
//! both before and after the query range (only possible out of order) as seen.
//! Encoded size is about 10 bytes per active day and 7 per seen value.

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::HistoryFeature;

use crate::codec::{Reader, Writer};
use crate::window::{DAY_MS, field_hash, to_fixed};

pub(crate) const HISTORY_DAYS: i64 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayRollup {
    day: i64,
    count: u32,
    sum: i64,
    max: i64,
    hours: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SeenValue {
    hash: u32,
    first_day: i64,
    last_day: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SeenSet {
    field: Field,
    /// Sorted by hash.
    values: Vec<SeenValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryState {
    max_day: i64,
    /// Sorted by day, all within the retained year.
    days: Vec<DayRollup>,
    seen: Vec<SeenSet>,
}

impl Default for HistoryState {
    fn default() -> Self {
        HistoryState {
            max_day: i64::MIN,
            days: Vec::new(),
            seen: Vec::new(),
        }
    }
}

fn hash32(txn: &dyn Transaction, f: Field) -> Option<u32> {
    field_hash(txn, f).map(|h| (h >> 32) as u32)
}

impl HistoryState {
    pub(crate) fn is_empty(&self) -> bool {
        self.days.is_empty() && self.seen.iter().all(|s| s.values.is_empty())
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        64 + self.days.len() * std::mem::size_of::<DayRollup>()
            + self
                .seen
                .iter()
                .map(|s| 32 + s.values.len() * std::mem::size_of::<SeenValue>())
                .sum::<usize>()
    }

    fn days_in(&self, day: i64, days: u16) -> &[DayRollup] {
        let lo = self
            .days
            .partition_point(|r| r.day <= day - i64::from(days));
        let hi = self.days.partition_point(|r| r.day <= day);
        &self.days[lo..hi.max(lo)]
    }

    /// The feature's value for an event at `t`, from history before it.
    pub(crate) fn read(&self, feature: HistoryFeature, txn: &dyn Transaction, t: i64) -> f64 {
        let day = t.div_euclid(DAY_MS);
        match feature {
            HistoryFeature::TxnCount { days } => self
                .days_in(day, days)
                .iter()
                .map(|r| u64::from(r.count))
                .sum::<u64>() as f64,
            HistoryFeature::SumAmount { days } => {
                self.days_in(day, days)
                    .iter()
                    .map(|r| i128::from(r.sum))
                    .sum::<i128>() as f64
                    / 10_000.0
            }
            HistoryFeature::AvgAmount { days } => {
                let (mut n, mut s) = (0u64, 0i128);
                for r in self.days_in(day, days) {
                    n += u64::from(r.count);
                    s += i128::from(r.sum);
                }
                if n == 0 {
                    f64::NAN
                } else {
                    s as f64 / 10_000.0 / n as f64
                }
            }
            HistoryFeature::MaxAmount { days } => self
                .days_in(day, days)
                .iter()
                .filter(|r| r.max != i64::MIN)
                .map(|r| r.max as f64 / 10_000.0)
                .fold(f64::NAN, f64::max),
            HistoryFeature::ActiveDays { days } => self.days_in(day, days).len() as f64,
            HistoryFeature::DaysSinceFirst => {
                match self.days_in(day, HISTORY_DAYS as u16).first() {
                    Some(r) => (day - r.day) as f64,
                    None => f64::NAN,
                }
            }
            HistoryFeature::FirstTime(f) => {
                let Some(h) = hash32(txn, f) else {
                    return f64::NAN;
                };
                let lo = day - HISTORY_DAYS;
                let in_range = |d: i64| lo < d && d <= day;
                let seen = self
                    .seen
                    .iter()
                    .find(|s| s.field == f)
                    .and_then(|s| {
                        s.values
                            .binary_search_by_key(&h, |v| v.hash)
                            .ok()
                            .map(|i| s.values[i])
                    })
                    .is_some_and(|v| {
                        in_range(v.first_day)
                            || in_range(v.last_day)
                            || (v.first_day <= lo && v.last_day > day)
                    });
                if seen { 0.0 } else { 1.0 }
            }
        }
    }

    /// Records an event at `t`, tracking seen values of `tracked` fields.
    /// Events 365 days or more behind the user's latest day are ignored.
    pub(crate) fn record(&mut self, txn: &dyn Transaction, t: i64, tracked: &[Field]) {
        let day = t.div_euclid(DAY_MS);
        if self.max_day != i64::MIN && day <= self.max_day - HISTORY_DAYS {
            return;
        }
        let amount = txn
            .number(Field::Amount)
            .filter(|v| !v.is_nan())
            .map(to_fixed);
        let hour = t.rem_euclid(DAY_MS) / 3_600_000;
        let at = self.days.partition_point(|r| r.day < day);
        if self.days.get(at).is_none_or(|r| r.day != day) {
            self.days.insert(
                at,
                DayRollup {
                    day,
                    count: 0,
                    sum: 0,
                    max: i64::MIN,
                    hours: 0,
                },
            );
        }
        let r = &mut self.days[at];
        r.count = r.count.saturating_add(1);
        if let Some(a) = amount {
            r.sum = r.sum.saturating_add(a);
            r.max = r.max.max(a);
        }
        r.hours |= 1 << hour;
        for &f in tracked {
            let Some(h) = hash32(txn, f) else { continue };
            let set = match self.seen.iter().position(|s| s.field == f) {
                Some(i) => &mut self.seen[i],
                None => {
                    self.seen.push(SeenSet {
                        field: f,
                        values: Vec::new(),
                    });
                    self.seen.last_mut().expect("just pushed")
                }
            };
            match set.values.binary_search_by_key(&h, |v| v.hash) {
                Ok(i) => {
                    let v = &mut set.values[i];
                    v.first_day = v.first_day.min(day);
                    v.last_day = v.last_day.max(day);
                }
                Err(i) => set.values.insert(
                    i,
                    SeenValue {
                        hash: h,
                        first_day: day,
                        last_day: day,
                    },
                ),
            }
        }
        if day > self.max_day {
            self.max_day = day;
            self.trim();
        }
    }

    fn trim(&mut self) {
        let horizon = self.max_day - HISTORY_DAYS;
        let keep_from = self.days.partition_point(|r| r.day <= horizon);
        self.days.drain(..keep_from);
        for s in &mut self.seen {
            s.values.retain(|v| v.last_day > horizon);
        }
    }

    /// Folds another user's partial history in (backfill chunks).
    pub(crate) fn merge(&mut self, other: &HistoryState) {
        for o in &other.days {
            let at = self.days.partition_point(|r| r.day < o.day);
            match self.days.get_mut(at) {
                Some(r) if r.day == o.day => {
                    r.count = r.count.saturating_add(o.count);
                    r.sum = r.sum.saturating_add(o.sum);
                    r.max = r.max.max(o.max);
                    r.hours |= o.hours;
                }
                _ => self.days.insert(at, *o),
            }
        }
        for os in &other.seen {
            let set = match self.seen.iter().position(|s| s.field == os.field) {
                Some(i) => &mut self.seen[i],
                None => {
                    self.seen.push(SeenSet {
                        field: os.field,
                        values: Vec::new(),
                    });
                    self.seen.last_mut().expect("just pushed")
                }
            };
            for ov in &os.values {
                match set.values.binary_search_by_key(&ov.hash, |v| v.hash) {
                    Ok(i) => {
                        let v = &mut set.values[i];
                        v.first_day = v.first_day.min(ov.first_day);
                        v.last_day = v.last_day.max(ov.last_day);
                    }
                    Err(i) => set.values.insert(i, *ov),
                }
            }
        }
        self.max_day = self.max_day.max(other.max_day);
        self.trim();
    }

    /// First UTC day on which nothing of this record is in any query's year.
    pub(crate) fn expiry_day(&self) -> u32 {
        (self.max_day.saturating_add(HISTORY_DAYS + 1)).clamp(0, i64::from(u32::MAX)) as u32
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.ivar(self.max_day);
        w.uvar(self.days.len() as u64);
        for r in &self.days {
            w.uvar((self.max_day - r.day) as u64);
            w.uvar(u64::from(r.count));
            w.ivar(r.sum);
            w.ivar(r.max);
            w.uvar(u64::from(r.hours));
        }
        w.uvar(self.seen.len() as u64);
        for s in &self.seen {
            w.u8(crate::keys::field_code(s.field));
            w.uvar(s.values.len() as u64);
            for v in &s.values {
                w.u32_raw(v.hash);
                w.uvar(self.max_day.saturating_sub(v.last_day) as u64);
                w.uvar(v.last_day.saturating_sub(v.first_day) as u64);
            }
        }
    }

    pub(crate) fn decode(data: &[u8]) -> Option<HistoryState> {
        let mut r = Reader::new(data);
        let max_day = r.ivar()?;
        let n = r.len()?;
        let mut days = Vec::with_capacity(n);
        for _ in 0..n {
            let day = max_day - r.uvar()? as i64;
            let count = u32::try_from(r.uvar()?).ok()?;
            let (sum, max) = (r.ivar()?, r.ivar()?);
            let hours = u32::try_from(r.uvar()?).ok()?;
            days.push(DayRollup {
                day,
                count,
                sum,
                max,
                hours,
            });
        }
        let m = r.len()?;
        let mut seen = Vec::with_capacity(m);
        for _ in 0..m {
            let field = *Field::ALL.get(usize::from(r.u8()?))?;
            let k = r.len()?;
            let mut values = Vec::with_capacity(k);
            for _ in 0..k {
                let hash = r.u32_raw()?;
                let last_day = max_day - r.uvar()? as i64;
                let first_day = last_day - r.uvar()? as i64;
                values.push(SeenValue {
                    hash,
                    first_day,
                    last_day,
                });
            }
            seen.push(SeenSet { field, values });
        }
        r.is_empty().then_some(HistoryState {
            max_day,
            days,
            seen,
        })
    }
}
