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
//!
//! Range reads cost O(log n) in the user's active days: once read, a history
//! keeps running totals per day (count and sum through the day, largest
//! amount from the day on), which an event on the newest day updates in
//! O(1) amortized and any other change drops for a rebuild at the next read.
//!
//! Encoded size (format 2) is about 6 bytes for a day with one event with a
//! cent amount, 9–10 for busier days, and 7 per seen value.
//!
//! Files: `mod.rs` the rollups, range reads and recording; `seen.rs` the
//! seen sets; `codec.rs` the two record formats. On the look-ahead chain
//! ([`crate::lookahead`]) a history pulls in its header at
//! [`Link::Buffers`], the days and totals its reads start from at
//! [`Link::Indexes`], where the event's values are searched in its seen
//! sets at [`Link::ValueProbes`] and the days of the values found at
//! [`Link::FoundValues`].

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::HistoryFeature;

use crate::codec::Wide;
use crate::history::seen::{SeenSet, SeenValue, seen_hash};
use crate::lookahead::{Link, Lookahead};
use crate::prefetch::{prefetch_line, prefetch_slice, prefetch_span};
use crate::units::{DAY_MS, HISTORY_DAYS, to_fixed};

mod codec;
mod seen;

/// Range-read cursors a history keeps, and the steps one may walk.
const CURSORS: usize = 4;
const CURSOR_WALK: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayRollup {
    day: i64,
    count: u32,
    sum: i64,
    max: i64,
    hours: u32,
}

/// Running totals at one day of [`HistoryState::days`], so that a range of
/// days reads in O(log n): count and sum through this day since the first
/// retained one, and the largest amount from this day to the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prefix {
    count: u64,
    sum: Wide,
    max_from: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct HistoryState {
    max_day: i64,
    /// Sorted by day, all within the retained year.
    days: Vec<DayRollup>,
    /// Parallel to `days` once read; empty until the first read (a history
    /// that is only written, as in a backfill, never builds it) and after a
    /// change it cannot follow cheaply (an event on an earlier day).
    prefix: Vec<Prefix>,
    /// `(window days, index of its first day)` of recent range reads: cursors
    /// for the next read of the same window (see [`Self::lower`]); a stale
    /// one only costs a search.
    cursors: [(u16, u32); CURSORS],
    seen: Vec<SeenSet>,
    /// At or before the oldest `last_day` of any seen value: a new day
    /// scans the seen sets for values leaving the year only once one can.
    seen_oldest: i64,
    /// Seen-set searches of the current event's `FirstTime` reads, reused
    /// by its `record` (the sets do not change in between): `(field, hash,
    /// search result)`.
    probes: Vec<(Field, u32, Result<usize, usize>)>,
}

impl Default for HistoryState {
    fn default() -> Self {
        HistoryState {
            max_day: i64::MIN,
            days: Vec::new(),
            prefix: Vec::new(),
            cursors: [(0, 0); CURSORS],
            seen: Vec::new(),
            seen_oldest: i64::MIN,
            probes: Vec::new(),
        }
    }
}

/// Totals of a range of days.
struct Span {
    count: u64,
    sum: i128,
    max: i64,
    days: usize,
}

impl HistoryState {
    pub(crate) fn is_empty(&self) -> bool {
        self.days.is_empty() && self.seen.iter().all(|s| s.hashes.is_empty())
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        64 + self.days.len() * std::mem::size_of::<DayRollup>()
            + self.prefix.len() * std::mem::size_of::<Prefix>()
            + self
                .seen
                .iter()
                .map(|s| 64 + s.hashes.len() * 20)
                .sum::<usize>()
    }

    /// Builds the running totals when they are missing.
    fn index(&mut self) {
        if self.prefix.len() == self.days.len() {
            return;
        }
        self.prefix.clear();
        self.prefix.reserve(self.days.len());
        let (mut count, mut sum) = (0u64, 0i128);
        for r in &self.days {
            count += u64::from(r.count);
            sum += i128::from(r.sum);
            self.prefix.push(Prefix {
                count,
                sum: Wide::new(sum),
                max_from: r.max,
            });
        }
        let mut m = i64::MIN;
        for p in self.prefix.iter_mut().rev() {
            m = m.max(p.max_from);
            p.max_from = m;
        }
    }

    /// The first day after `day - days`: a short walk from where the last
    /// read of the same window started (an event a day later moves it by a
    /// day or so), a binary search when that is far or unknown.
    fn lower(&mut self, day: i64, days: u16) -> usize {
        let bound = day - i64::from(days);
        let pred = |r: &DayRollup| r.day <= bound;
        let c = match self.cursors.iter().position(|c| c.0 == days) {
            Some(c) => c,
            None => {
                let free = self.cursors.iter().position(|c| c.0 == 0).unwrap_or(0);
                self.cursors[free] = (days, 0);
                free
            }
        };
        let mut i = (self.cursors[c].1 as usize).min(self.days.len());
        let mut found = false;
        for _ in 0..CURSOR_WALK {
            if self.days.get(i).is_some_and(pred) {
                i += 1;
            } else if i > 0 && !pred(&self.days[i - 1]) {
                i -= 1;
            } else {
                found = true;
                break;
            }
        }
        if !found {
            i = self.days.partition_point(pred);
        }
        self.cursors[c].1 = i as u32;
        i
    }

    /// Totals over days `day - days < d <= day`, from the running totals.
    fn span(&mut self, day: i64, days: u16) -> Span {
        let n = self.days.len();
        let lo = self.lower(day, days);
        // In order, `day` is the newest day: no search.
        let hi = if self.days.last().is_none_or(|r| r.day <= day) {
            n
        } else {
            self.days.partition_point(|r| r.day <= day)
        };
        if lo >= hi {
            return Span {
                count: 0,
                sum: 0,
                max: i64::MIN,
                days: 0,
            };
        }
        let (first, last) = (&self.prefix[lo], &self.prefix[hi - 1]);
        let before = &self.days[lo];
        let max = if hi == n {
            first.max_from
        } else {
            self.days[lo..hi]
                .iter()
                .map(|r| r.max)
                .fold(i64::MIN, i64::max)
        };
        Span {
            count: last.count - first.count + u64::from(before.count),
            sum: last.sum.get() - first.sum.get() + i128::from(before.sum),
            max,
            days: hi - lo,
        }
    }

    /// The feature's value for an event at `t`, from history before it.
    pub(crate) fn read(&mut self, feature: HistoryFeature, txn: &dyn Transaction, t: i64) -> f64 {
        let day = t.div_euclid(DAY_MS);
        self.index();
        match feature {
            HistoryFeature::TxnCount { days } => self.span(day, days).count as f64,
            HistoryFeature::SumAmount { days } => self.span(day, days).sum as f64 / 10_000.0,
            HistoryFeature::AvgAmount { days } => {
                let s = self.span(day, days);
                if s.count == 0 {
                    f64::NAN
                } else {
                    s.sum as f64 / 10_000.0 / s.count as f64
                }
            }
            HistoryFeature::MaxAmount { days } => match self.span(day, days).max {
                i64::MIN => f64::NAN,
                m => m as f64 / 10_000.0,
            },
            HistoryFeature::ActiveDays { days } => self.span(day, days).days as f64,
            HistoryFeature::DaysSinceFirst => {
                let lo = self.lower(day, HISTORY_DAYS as u16);
                match self.days.get(lo).filter(|r| r.day <= day) {
                    Some(r) => (day - r.day) as f64,
                    None => f64::NAN,
                }
            }
            HistoryFeature::FirstTime(f) => {
                let Some(h) = seen_hash(txn, f) else {
                    return f64::NAN;
                };
                let lo = day - HISTORY_DAYS;
                let in_range = |d: i64| lo < d && d <= day;
                let seen = self
                    .seen
                    .iter()
                    .find(|s| s.field == f)
                    .and_then(|s| {
                        let found = s.find(h);
                        self.probes.push((f, h, found));
                        found.ok().map(|i| s.get(i))
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
        // This event's reads' searches: valid until the first change below.
        let mut probes = std::mem::take(&mut self.probes);
        let day = t.div_euclid(DAY_MS);
        if self.max_day != i64::MIN && day <= self.max_day - HISTORY_DAYS {
            return;
        }
        let amount = txn
            .number(Field::Amount)
            .filter(|v| !v.is_nan())
            .map(to_fixed);
        let hour = t.rem_euclid(DAY_MS) / 3_600_000;
        // In order, the event's day is the newest day or a new one after it.
        let at = match self.days.last() {
            Some(r) if r.day == day => self.days.len() - 1,
            Some(r) if r.day > day => self.days.partition_point(|r| r.day < day),
            _ => self.days.len(),
        };
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
        let (count0, sum0) = (r.count, r.sum);
        r.count = r.count.saturating_add(1);
        if let Some(a) = amount {
            r.sum = r.sum.saturating_add(a);
            r.max = r.max.max(a);
        }
        r.hours |= 1 << hour;
        let r = *r;
        self.follow(at, count0, sum0, r);
        for &f in tracked {
            let Some(h) = seen_hash(txn, f) else { continue };
            let set = match self.seen.iter().position(|s| s.field == f) {
                Some(i) => &mut self.seen[i],
                None => {
                    self.seen.push(SeenSet::new(f));
                    self.seen.last_mut().expect("just pushed")
                }
            };
            self.seen_oldest = self.seen_oldest.min(day);
            // A set changes only under its own field: a search of it by
            // this event's read still holds, once.
            let probed = probes
                .iter()
                .position(|p| p.0 == f && p.1 == h)
                .map(|i| probes.swap_remove(i).2);
            let at = probed.unwrap_or_else(|| set.find(h));
            set.note(
                at,
                SeenValue {
                    hash: h,
                    first_day: day,
                    last_day: day,
                },
            );
        }
        probes.clear();
        self.probes = probes;
        if day > self.max_day {
            self.max_day = day;
            self.trim();
        }
    }

    /// Keeps the running totals after day `at` went from `(count0, sum0)`
    /// to `r` (a new day has `count0 == 0`). The newest day, the in-order
    /// case, costs O(1) amortized; any other change drops the totals for a
    /// rebuild at the next read.
    fn follow(&mut self, at: usize, count0: u32, sum0: i64, r: DayRollup) {
        let n = self.days.len();
        let is_new = count0 == 0;
        let had = if is_new { n - 1 } else { n };
        if at + 1 != n || self.prefix.len() != had {
            self.prefix.clear();
            return;
        }
        let (count, sum) = match (is_new, at.checked_sub(1)) {
            (true, Some(p)) => (self.prefix[p].count, self.prefix[p].sum.get()),
            (true, None) => (0, 0),
            (false, _) => (
                self.prefix[at].count - u64::from(count0),
                self.prefix[at].sum.get() - i128::from(sum0),
            ),
        };
        let entry = Prefix {
            count: count + u64::from(r.count),
            sum: Wide::new(sum + i128::from(r.sum)),
            max_from: r.max,
        };
        if is_new {
            self.prefix.push(entry);
        } else {
            self.prefix[at] = Prefix {
                max_from: self.prefix[at].max_from.max(r.max),
                ..entry
            };
        }
        // Suffix maxima are non-increasing: raise them back to the first
        // that already covers the newest day's maximum.
        for p in self.prefix[..at].iter_mut().rev() {
            if p.max_from >= r.max {
                break;
            }
            p.max_from = r.max;
        }
    }

    fn trim(&mut self) {
        let horizon = self.max_day - HISTORY_DAYS;
        // Most new days drop no day: a history younger than a year.
        let keep_from = match self.days.first() {
            Some(r) if r.day <= horizon => self.days.partition_point(|r| r.day <= horizon),
            _ => 0,
        };
        if keep_from > 0 {
            if self.prefix.len() == self.days.len() {
                // Running totals are only ever read as differences.
                self.prefix.drain(..keep_from);
            } else {
                self.prefix.clear();
            }
            self.days.drain(..keep_from);
            for c in &mut self.cursors {
                c.1 = c.1.saturating_sub(keep_from as u32);
            }
        }
        if self.seen_oldest <= horizon {
            for s in &mut self.seen {
                s.retain_after(horizon);
            }
            self.seen_oldest = self
                .seen
                .iter()
                .filter_map(SeenSet::oldest)
                .min()
                .unwrap_or(i64::MAX);
        }
    }

    /// Folds another user's partial history in (backfill chunks).
    pub(crate) fn merge(&mut self, other: &HistoryState) {
        self.prefix.clear();
        self.probes.clear();
        self.seen_oldest = self.seen_oldest.min(other.seen_oldest);
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
                    self.seen.push(SeenSet::new(os.field));
                    self.seen.last_mut().expect("just pushed")
                }
            };
            for ov in os.values() {
                let at = set.find(ov.hash);
                set.note(at, ov);
            }
        }
        self.max_day = self.max_day.max(other.max_day);
        self.trim();
    }

    /// First UTC day on which nothing of this record is in any query's year.
    pub(crate) fn expiry_day(&self) -> u32 {
        (self.max_day.saturating_add(HISTORY_DAYS + 1)).clamp(0, i64::from(u32::MAX)) as u32
    }
}

impl Lookahead for HistoryState {
    fn prefetch(&self, link: Link, txn: &dyn Transaction) {
        match link {
            Link::Buffers => prefetch_span(self, size_of::<HistoryState>()),
            Link::Indexes => self.prefetch_indexes(),
            Link::ValueProbes => self.prefetch_seen_probes(txn),
            Link::FoundValues => self.prefetch_seen_found(txn),
            Link::Cells | Link::TableSlots => {}
        }
    }
}

impl HistoryState {
    /// Pulls what the next read and record start from toward the core: the
    /// newest day, where the last range reads started (days and totals),
    /// and the seen sets' headers.
    fn prefetch_indexes(&self) {
        let newest = self.days.len().wrapping_sub(1);
        let starts = self.cursors.iter().map(|c| c.1 as usize);
        for i in starts.chain([newest]) {
            if let Some(r) = self.days.get(i) {
                prefetch_line(r);
            }
            if let Some(p) = self.prefix.get(i) {
                prefetch_line(p);
            }
        }
        prefetch_slice(&self.seen);
    }

    /// Pulls the line of each seen set's hashes where the search for the
    /// `FirstTime` reads and the record of `txn` starts.
    fn prefetch_seen_probes(&self, txn: &dyn Transaction) {
        for set in &self.seen {
            let Some(h) = seen_hash(txn, set.field) else {
                continue;
            };
            prefetch_line(
                set.hashes
                    .as_ptr()
                    .wrapping_add(SeenSet::guess(h, set.hashes.len())),
            );
        }
    }

    /// Pulls the days of the values `txn` finds in the seen sets (the
    /// line its search reads was pulled in one link before).
    fn prefetch_seen_found(&self, txn: &dyn Transaction) {
        for set in &self.seen {
            let Some(h) = seen_hash(txn, set.field) else {
                continue;
            };
            let (Ok(i) | Err(i)) = set.find(h);
            if let Some(s) = set.spans.get(i) {
                prefetch_line(s);
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use verdict_rules::input::Transaction;

    pub(super) struct Ev {
        pub(super) amount: Option<f64>,
        pub(super) merchant: &'static str,
    }

    impl Transaction for Ev {
        fn text(&self, field: Field) -> Option<&str> {
            (field == Field::MerchantId).then_some(self.merchant)
        }
        fn number(&self, field: Field) -> Option<f64> {
            (field == Field::Amount).then_some(self.amount).flatten()
        }
    }

    const T0: i64 = 1_767_225_600_000;

    /// A year of days: one-event days, busy days, days without amounts.
    pub(super) fn year(amount: impl Fn(i64) -> Option<f64>) -> HistoryState {
        let mut h = HistoryState::default();
        let merchants = ["m1", "m2", "m3", "m4"];
        for d in 0..400i64 {
            let events = [0, 1, 1, 3][(d % 4) as usize];
            for k in 0..events {
                let t = T0 + d * DAY_MS + (d * 7 + k * 5) % 24 * 3_600_000;
                let ev = Ev {
                    amount: amount(d * 3 + k),
                    merchant: merchants[((d + k) % 4) as usize],
                };
                h.record(&ev, t, &[Field::MerchantId]);
            }
        }
        h
    }

    pub(super) fn same(a: &HistoryState, b: &HistoryState) -> bool {
        a.max_day == b.max_day && a.days == b.days && a.seen == b.seen
    }

    #[test]
    fn wide_sums_round_trip() {
        for v in [
            0,
            1,
            -1,
            i128::from(i64::MAX) * 400,
            i128::from(i64::MIN) * 400,
        ] {
            assert_eq!(Wide::new(v).get(), v);
        }
        assert_eq!(std::mem::size_of::<Prefix>(), 32);
    }

    #[test]
    fn range_reads_follow_in_order_and_late_events() {
        let mut h = year(|i| Some((i % 50) as f64));
        let reads = |h: &mut HistoryState, t: i64| {
            [7, 30, 90, 365].map(|days| {
                let ev = Ev {
                    amount: None,
                    merchant: "m1",
                };
                [
                    h.read(HistoryFeature::TxnCount { days }, &ev, t),
                    h.read(HistoryFeature::SumAmount { days }, &ev, t),
                    h.read(HistoryFeature::MaxAmount { days }, &ev, t),
                    h.read(HistoryFeature::ActiveDays { days }, &ev, t),
                ]
            })
        };
        let t = T0 + 400 * DAY_MS;
        let fresh = |h: &HistoryState| {
            let mut c = h.clone();
            c.prefix.clear();
            c
        };
        // Indexed, then changed in order (newest day) and out of order
        // (a day in the middle): the kept totals equal rebuilt ones.
        let _ = reads(&mut h, t);
        for (dt, amount) in [(0, 99.0), (-40 * DAY_MS, 1_000.0), (0, 5.0)] {
            h.record(
                &Ev {
                    amount: Some(amount),
                    merchant: "m9",
                },
                t + dt,
                &[Field::MerchantId],
            );
            let want = reads(&mut fresh(&h), t);
            assert_eq!(format!("{:?}", reads(&mut h, t)), format!("{want:?}"));
            assert_eq!(
                format!("{:?}", reads(&mut h, t - 50 * DAY_MS)),
                format!("{:?}", reads(&mut fresh(&h), t - 50 * DAY_MS))
            );
        }
    }
}
