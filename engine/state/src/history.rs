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

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::HistoryFeature;

use crate::codec::{Reader, Wide, Writer};
use crate::window::{DAY_MS, field_hash, partition_point_from, to_fixed};

pub(crate) const HISTORY_DAYS: i64 = 365;

/// First byte of a format-2 record. A format-1 record starts with its
/// newest day as a zigzag varint, whose first byte is 0xFF only for a day
/// before 1970, which no accepted event carries.
const FORMAT_2: u8 = 0xFF;

/// Range-read cursors a history keeps, and the steps one may walk.
const CURSORS: usize = 4;
const CURSOR_WALK: usize = 8;

/// Divisors of stored amounts (1/10000 units), by scale code.
const AMOUNT_SCALES: [i64; 3] = [1, 100, 10_000];

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

/// The values of one field a user was seen with.
///
/// Searched on every `FirstTime` read and record of the field, so the
/// hashes are kept apart from their days: a binary search over a heavy
/// user's hundreds of merchants touches a quarter of the cache lines it
/// would over whole values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeenSet {
    field: Field,
    /// Sorted.
    hashes: Vec<u32>,
    /// `(first day, last day)` of the value at the same index of `hashes`.
    spans: Vec<(i64, i64)>,
}

impl SeenSet {
    fn new(field: Field) -> Self {
        SeenSet {
            field,
            hashes: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Where `hash` is (`Ok`) or would go (`Err`).
    ///
    /// The hashes are uniform, so a value's place is close to where its
    /// hash falls in the `u32` range (within about √n places): the search
    /// starts there and gallops outward, touching a line or two of a heavy
    /// user's hundreds of values where a binary search touches most of
    /// its log₂ n probes' lines cold. The hint a step ahead
    /// ([`HistoryState::prefetch_seen`]) pulls in that same line.
    fn find(&self, hash: u32) -> Result<usize, usize> {
        let h = &self.hashes;
        let at = partition_point_from(h.len(), Self::guess(hash, h.len()), |i| h[i] < hash);
        if h.get(at) == Some(&hash) {
            Ok(at)
        } else {
            Err(at)
        }
    }

    /// Where a uniform `hash` is expected among `n` sorted ones.
    fn guess(hash: u32, n: usize) -> usize {
        ((u64::from(hash) * n as u64) >> 32) as usize
    }

    fn get(&self, i: usize) -> SeenValue {
        let (first_day, last_day) = self.spans[i];
        SeenValue {
            hash: self.hashes[i],
            first_day,
            last_day,
        }
    }

    fn values(&self) -> impl Iterator<Item = SeenValue> + '_ {
        (0..self.hashes.len()).map(|i| self.get(i))
    }

    /// Notes `v` where `at` (a [`Self::find`] of its hash) says: widens
    /// the days of a known value, inserts a new one.
    fn note(&mut self, at: Result<usize, usize>, v: SeenValue) {
        match at {
            Ok(i) => {
                let s = &mut self.spans[i];
                s.0 = s.0.min(v.first_day);
                s.1 = s.1.max(v.last_day);
            }
            Err(i) => {
                self.hashes.insert(i, v.hash);
                self.spans.insert(i, (v.first_day, v.last_day));
            }
        }
    }

    /// Keeps the values last seen after `horizon`.
    fn retain_after(&mut self, horizon: i64) {
        let mut kept = 0;
        for i in 0..self.hashes.len() {
            if self.spans[i].1 > horizon {
                self.hashes[kept] = self.hashes[i];
                self.spans[kept] = self.spans[i];
                kept += 1;
            }
        }
        self.hashes.truncate(kept);
        self.spans.truncate(kept);
    }

    fn oldest(&self) -> Option<i64> {
        self.spans.iter().map(|s| s.1).min()
    }
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
    /// `(window days, index of its first day)` of recent range reads: hints
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

fn hash32(txn: &dyn Transaction, f: Field) -> Option<u32> {
    field_hash(txn, f).map(|h| (h >> 32) as u32)
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

    /// Pulls what the next read and record start from toward the core: the
    /// newest day, where the last range reads started (days and totals),
    /// and the seen sets' headers (see `PartitionState::process_batch`).
    pub(crate) fn prefetch(&self) {
        use crate::partition::prefetch_line;
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
        crate::partition::prefetch_slice(&self.seen);
    }

    /// Pulls toward the core the seen-set entries that the `FirstTime`
    /// reads and the record of `txn` will search, in two links (see
    /// `PartitionState::process_batch`): `ahead == 2` the line of each
    /// set's hashes where the search starts, `ahead == 1` (that line now
    /// cached) the days of the value found.
    pub(crate) fn prefetch_seen(&self, txn: &dyn Transaction, ahead: usize) {
        use crate::partition::prefetch_line;
        for set in &self.seen {
            let Some(h) = hash32(txn, set.field) else {
                continue;
            };
            match ahead {
                2 => prefetch_line(
                    set.hashes
                        .as_ptr()
                        .wrapping_add(SeenSet::guess(h, set.hashes.len())),
                ),
                _ => {
                    let (Ok(i) | Err(i)) = set.find(h);
                    if let Some(s) = set.spans.get(i) {
                        prefetch_line(s);
                    }
                }
            }
        }
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
        let slot = match self.cursors.iter().position(|c| c.0 == days) {
            Some(slot) => slot,
            None => {
                let slot = self.cursors.iter().position(|c| c.0 == 0).unwrap_or(0);
                self.cursors[slot] = (days, 0);
                slot
            }
        };
        let mut i = (self.cursors[slot].1 as usize).min(self.days.len());
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
        self.cursors[slot].1 = i as u32;
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
            let Some(h) = hash32(txn, f) else { continue };
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

    /// The newest day and the days of a format-1 record (written before
    /// format 2; its seen sets are encoded the same way).
    fn decode_days_1(r: &mut Reader<'_>) -> Option<(i64, Vec<DayRollup>)> {
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
        Some((max_day, days))
    }

    /// Encodes the record (format 2, see [`FORMAT_2`]): `[0xFF][amount
    /// scale][newest day]`, the days newest-relative, then the seen sets.
    /// A day with one event is `[age][count 1, single][amount][hour]`;
    /// others add the maximum and the hours bitmask. Amounts are stored
    /// divided by the largest of 10000, 100, 1 that divides all of them
    /// (whole currency units, cents, or finer).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let divides = |d: i64| {
            self.days
                .iter()
                .all(|r| r.sum % d == 0 && (r.max == i64::MIN || r.max % d == 0))
        };
        let scale: u8 = if divides(10_000) {
            2
        } else if divides(100) {
            1
        } else {
            0
        };
        let div = AMOUNT_SCALES[usize::from(scale)];
        let mut w = Writer::new(out);
        w.u8(FORMAT_2);
        w.u8(scale);
        w.ivar(self.max_day);
        w.uvar(self.days.len() as u64);
        for r in &self.days {
            w.uvar((self.max_day - r.day) as u64);
            let single = r.count == 1 && r.hours.count_ones() == 1 && r.max == r.sum;
            let has_max = r.max != i64::MIN;
            w.uvar((u64::from(r.count) << 2) | (u64::from(has_max) << 1) | u64::from(single));
            w.ivar(r.sum / div);
            if single {
                w.u8(r.hours.trailing_zeros() as u8);
            } else {
                if has_max {
                    w.ivar(r.max / div);
                }
                w.uvar(u64::from(r.hours));
            }
        }
        self.encode_seen(&mut w);
    }

    /// The seen sets (the same in both formats), relative to the newest day.
    fn encode_seen(&self, w: &mut Writer<'_>) {
        w.uvar(self.seen.len() as u64);
        for s in &self.seen {
            w.u8(crate::keys::field_code(s.field));
            w.uvar(s.hashes.len() as u64);
            for v in s.values() {
                w.u32_raw(v.hash);
                w.uvar(self.max_day.saturating_sub(v.last_day) as u64);
                w.uvar(v.last_day.saturating_sub(v.first_day) as u64);
            }
        }
    }

    /// Decodes a record of either format; `None` when it is corrupt.
    pub(crate) fn decode(data: &[u8]) -> Option<HistoryState> {
        let mut r = Reader::new(data);
        let (max_day, days) = if data.first() == Some(&FORMAT_2) {
            r.u8()?;
            let div = *AMOUNT_SCALES.get(usize::from(r.u8()?))?;
            let max_day = r.ivar()?;
            let n = r.len()?;
            let mut days = Vec::with_capacity(n);
            for _ in 0..n {
                let day = max_day.checked_sub(i64::try_from(r.uvar()?).ok()?)?;
                let head = r.uvar()?;
                let count = u32::try_from(head >> 2).ok()?;
                let sum = r.ivar()?.checked_mul(div)?;
                let (max, hours) = if head & 1 == 1 {
                    (sum, 1u32.checked_shl(u32::from(r.u8()?))?)
                } else {
                    let max = if head & 2 == 2 {
                        r.ivar()?.checked_mul(div)?
                    } else {
                        i64::MIN
                    };
                    (max, u32::try_from(r.uvar()?).ok()?)
                };
                days.push(DayRollup {
                    day,
                    count,
                    sum,
                    max,
                    hours,
                });
            }
            (max_day, days)
        } else {
            Self::decode_days_1(&mut r)?
        };
        let m = r.len()?;
        let mut seen = Vec::with_capacity(m);
        for _ in 0..m {
            let field = *Field::ALL.get(usize::from(r.u8()?))?;
            let k = r.len()?;
            let mut set = SeenSet::new(field);
            set.hashes.reserve_exact(k);
            set.spans.reserve_exact(k);
            for _ in 0..k {
                set.hashes.push(r.u32_raw()?);
                let last_day = max_day - r.uvar()? as i64;
                let first_day = last_day - r.uvar()? as i64;
                set.spans.push((first_day, last_day));
            }
            seen.push(set);
        }
        let seen_oldest = seen
            .iter()
            .filter_map(SeenSet::oldest)
            .min()
            .unwrap_or(i64::MAX);
        r.is_empty().then_some(HistoryState {
            max_day,
            days,
            prefix: Vec::new(),
            cursors: [(0, 0); CURSORS],
            seen,
            seen_oldest,
            probes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_rules::input::Transaction;

    struct Ev {
        amount: Option<f64>,
        merchant: &'static str,
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
    fn year(amount: impl Fn(i64) -> Option<f64>) -> HistoryState {
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

    fn same(a: &HistoryState, b: &HistoryState) -> bool {
        a.max_day == b.max_day && a.days == b.days && a.seen == b.seen
    }

    /// The format-1 encoder, as records written before format 2 hold it.
    fn encode_1(h: &HistoryState) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.ivar(h.max_day);
        w.uvar(h.days.len() as u64);
        for r in &h.days {
            w.uvar((h.max_day - r.day) as u64);
            w.uvar(u64::from(r.count));
            w.ivar(r.sum);
            w.ivar(r.max);
            w.uvar(u64::from(r.hours));
        }
        h.encode_seen(&mut w);
        out
    }

    #[test]
    fn both_formats_round_trip_at_every_amount_scale() {
        let cents = |i: i64| (i % 11 != 5).then(|| (i * 137 % 20_000) as f64 / 100.0 + 0.5);
        let units = |i: i64| Some((i * 31 % 900) as f64);
        let fine = |i: i64| Some((i * 7_919 % 100_000) as f64 / 10_000.0 - 3.0);
        for (h, scale) in [(year(cents), 1u8), (year(units), 2), (year(fine), 0)] {
            assert!(scale != 1 || h.days.iter().any(|r| r.max == i64::MIN));
            let mut v2 = Vec::new();
            h.encode(&mut v2);
            assert_eq!(v2[..2], [FORMAT_2, scale]);
            let back = HistoryState::decode(&v2).expect("format 2 decodes");
            assert!(same(&h, &back));
            let v1 = encode_1(&h);
            assert!(same(
                &h,
                &HistoryState::decode(&v1).expect("format 1 decodes")
            ));
            assert!(v2.len() < v1.len());
        }
        // Cents, one event on most days: the case the single-event form is for.
        let h = year(cents);
        let mut v2 = Vec::new();
        h.encode(&mut v2);
        let v1 = encode_1(&h);
        assert!(
            v2.len() * 10 < v1.len() * 8,
            "{} vs {} bytes",
            v2.len(),
            v1.len()
        );
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
    fn corrupt_records_are_rejected_without_panicking() {
        let mut v2 = Vec::new();
        year(|i| Some(i as f64)).encode(&mut v2);
        for cut in 0..v2.len() {
            assert!(
                HistoryState::decode(&v2[..cut]).is_none(),
                "prefix of {cut} bytes"
            );
        }
        // A scale code out of range, an hour past the bitmask.
        assert!(HistoryState::decode(&[FORMAT_2, 3, 0, 0, 0]).is_none());
        assert!(HistoryState::decode(&[FORMAT_2, 0, 2, 1, 0, 5, 0, 40, 0]).is_none());
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

    proptest::proptest! {
        /// The guided search answers as a binary search does, for hashes
        /// uniform or not (clustered at one end, all equal but one).
        #[test]
        fn seen_search_agrees_with_binary_search(
            mut hashes in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..300),
            skew in 0u32..3,
            probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..40),
        ) {
            let squash = |h: u32| match skew {
                0 => h,
                1 => h >> 24,
                _ => u32::MAX - (h >> 28),
            };
            hashes.iter_mut().for_each(|h| *h = squash(*h));
            hashes.sort_unstable();
            hashes.dedup();
            let set = SeenSet {
                field: Field::MerchantId,
                spans: vec![(0, 0); hashes.len()],
                hashes,
            };
            let present = set.hashes.clone();
            for h in probes.into_iter().map(squash).chain(present) {
                proptest::prop_assert_eq!(set.find(h), set.hashes.binary_search(&h), "hash {}", h);
            }
        }
    }
}
