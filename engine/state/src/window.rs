//! Sliding-window aggregates for one feature and one entity key.
//!
//! Semantics (shared with `verdict_rules::spec`): for an event at time `t`
//! the aggregate covers events of the same key *processed so far* (arrival
//! order, the current one included when it passes the filter) whose event
//! time lies in `(t - window, t]`.
//!
//! Two layouts, chosen per feature from its duration:
//!
//! * **Exact** (`window <= exact-window-max-ms`, default 1 h): the events
//!   themselves are kept, sorted by event time, each as `(time, value)`. Every
//!   aggregate is exact (distinct counts compare 64-bit XXH3 hashes, so only a
//!   hash collision, p ≈ n²/2⁶⁵, can merge two values).
//! * **Bucketed** (longer windows): a sparse ring of time buckets of width
//!   `B` (the smallest of 1 s, 5 s, 10 s, 30 s, 1 min, 5 min, 10 min, 15 min,
//!   30 min, 1 h, 2 h, 6 h, 1 d giving at most `max-buckets-per-window`
//!   buckets, default 1440: 1 min for 24 h, 30 min for 30 d). The aggregate
//!   covers exactly the events whose bucket `floor(time / B)` lies in
//!   `(floor((t - window) / B), floor(t / B)]`, i.e. the window with both
//!   ends moved forward to bucket boundaries by less than `B`. Count, sum,
//!   min, max and average are exact over that bucket-aligned window. Distinct
//!   counts are exact while every bucket in range holds at most
//!   `distinct-exact-limit` values; a bucket beyond turns into a HyperLogLog
//!   (±5% at ≈3σ, see [`crate::sketch`]) and the union becomes an estimate.
//!
//! Cost: a bucketed window keeps running totals per bucket (events and sum
//! through it, and for min/max the extreme from it to the newest), and a
//! distinct count an index of each value's newest bucket. A query at the
//! newest time (the in-order case) then reads count, sum, average, min and
//! max in O(1) and a distinct count in O(values) while it holds at most 16
//! (one pass over the index), beyond that in O(values in the buckets older
//! than the window, i.e. within the allowed lateness), not O(buckets); a
//! late event's query scans its range. Both layouts search the newest end
//! of their buffer first, where in-order events land, and find the start of
//! a query's range from where the window's last query found it.
//!
//! Sums and averages accumulate fixed-point `i64` in 1/10000 units, so they
//! are exact (for values with at most 4 decimals) and independent of arrival
//! order.
//!
//! Out of order: a state remembers the largest event time it has seen
//! (`max_time`) and keeps everything newer than
//! `max_time - allowed_lateness - window`. An event at `t >= max_time - allowed_lateness` therefore gets
//! the exact (or bucket-exact) answer; later ones still enter their bucket
//! while it is retained, and events at or before that horizon are ignored
//! for windows (answered from what is retained).

use std::collections::VecDeque;

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::{Aggregate, WindowFeature};

use crate::codec::{Reader, Wide, Writer};
use crate::sketch::{HyperLogLog, REGISTERS};

pub(crate) const DAY_MS: i64 = 86_400_000;
const BUCKET_LADDER_MS: [i64; 13] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
    7_200_000, 21_600_000, DAY_MS,
];

/// Amount in 1/10000 units, saturating.
pub(crate) fn to_fixed(v: f64) -> i64 {
    (v * 10_000.0).round() as i64
}

pub(crate) fn text_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// Hash of a field's value, text or number; `None` when absent.
pub(crate) fn field_hash(txn: &dyn Transaction, field: Field) -> Option<u64> {
    match txn.text(field) {
        Some(s) => Some(text_hash(s)),
        None => txn
            .number(field)
            .filter(|v| !v.is_nan())
            .map(|v| text_hash(&v.to_string())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agg {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Distinct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Exact,
    Bucketed { bucket_ms: i64 },
}

/// Everything needed to maintain one window feature, fixed at open/reload.
#[derive(Debug, Clone)]
pub(crate) struct WindowPlan {
    agg: Agg,
    field: Option<Field>,
    window_ms: i64,
    lateness_ms: i64,
    layout: Layout,
    distinct_limit: usize,
}

/// Bucket width for a window, `None` when it is kept exactly.
pub(crate) fn bucket_width(window_ms: i64, tuning: WindowTuning) -> Option<i64> {
    if window_ms <= tuning.exact_window_max_ms {
        return None;
    }
    let max_b = tuning.max_buckets_per_window.max(1);
    Some(
        BUCKET_LADDER_MS
            .into_iter()
            .find(|b| (window_ms + b - 1) / b <= max_b)
            .unwrap_or(DAY_MS),
    )
}

/// Window knobs from [`crate::StateConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowTuning {
    pub exact_window_max_ms: i64,
    pub max_buckets_per_window: i64,
    pub allowed_lateness_ms: i64,
    pub distinct_exact_limit: usize,
}

impl WindowPlan {
    pub(crate) fn new(w: &WindowFeature, tuning: WindowTuning) -> Self {
        let (agg, field) = match w.aggregate {
            Aggregate::Count => (Agg::Count, None),
            Aggregate::Sum(f) => (Agg::Sum, Some(f)),
            Aggregate::Min(f) => (Agg::Min, Some(f)),
            Aggregate::Max(f) => (Agg::Max, Some(f)),
            Aggregate::Avg(f) => (Agg::Avg, Some(f)),
            Aggregate::DistinctCount(f) => (Agg::Distinct, Some(f)),
        };
        let window_ms = w.window_ms.max(1);
        let layout = match bucket_width(window_ms, tuning) {
            None => Layout::Exact,
            Some(bucket_ms) => Layout::Bucketed { bucket_ms },
        };
        WindowPlan {
            agg,
            field,
            window_ms,
            lateness_ms: tuning.allowed_lateness_ms.max(0),
            layout,
            distinct_limit: tuning.distinct_exact_limit.max(1),
        }
    }

    /// A bucketed distinct count: its buckets' values live apart from them.
    pub(crate) fn keeps_values(&self) -> bool {
        self.agg == Agg::Distinct && matches!(self.layout, Layout::Bucketed { .. })
    }

    /// Bucket width, or `None` for an exact window.
    pub(crate) fn bucket_ms(&self) -> Option<i64> {
        match self.layout {
            Layout::Exact => None,
            Layout::Bucketed { bucket_ms } => Some(bucket_ms),
        }
    }

    /// The value this event contributes, or `None` when it contributes nothing.
    pub(crate) fn value(&self, txn: &dyn Transaction) -> Option<u64> {
        let number = |f| txn.number(f).filter(|v: &f64| !v.is_nan());
        match (self.agg, self.field) {
            (Agg::Count, _) => Some(0),
            (Agg::Sum | Agg::Avg, Some(f)) => number(f).map(|v| to_fixed(v) as u64),
            (Agg::Min | Agg::Max, Some(f)) => number(f).map(f64::to_bits),
            (Agg::Distinct, Some(f)) => field_hash(txn, f),
            _ => None,
        }
    }

    pub(crate) fn empty(&self) -> WindowState {
        match self.layout {
            Layout::Exact => WindowState::Exact(ExactWindow {
                max_time: i64::MIN,
                events: VecDeque::new(),
                start: Hint::default(),
            }),
            Layout::Bucketed { .. } => WindowState::Bucketed(BucketedWindow {
                max_time: i64::MIN,
                buckets: VecDeque::new(),
                distinct: (self.agg == Agg::Distinct).then(|| {
                    Box::new(DistinctParts {
                        sets: VecDeque::new(),
                        newest: Some(NewestIndex::default()),
                    })
                }),
                start: Hint::default(),
            }),
        }
    }

    /// The answer over no events.
    pub(crate) fn empty_result(&self) -> f64 {
        match self.agg {
            Agg::Count | Agg::Sum | Agg::Distinct => 0.0,
            Agg::Min | Agg::Max | Agg::Avg => f64::NAN,
        }
    }

    /// Adds an event, returns the aggregate at `t` (including it), then drops
    /// what no allowed query can read any more.
    pub(crate) fn update(
        &self,
        st: &mut WindowState,
        t: i64,
        value: u64,
        scratch: &mut Vec<u64>,
    ) -> f64 {
        match st {
            WindowState::Exact(s) => {
                if s.events.back().is_none_or(|e| e.0 <= t) {
                    s.events.push_back((t, value));
                } else {
                    let at = s.events.partition_point(|e| e.0 <= t);
                    s.events.insert(at, (t, value));
                }
                s.max_time = s.max_time.max(t);
                let r = self.query_exact(s, t, scratch);
                let horizon = self.horizon(s.max_time);
                while s.events.front().is_some_and(|e| e.0 <= horizon) {
                    s.events.pop_front();
                    s.start.shift();
                }
                r
            }
            WindowState::Bucketed(s) => {
                let b = self.bucket_ms().unwrap_or(1);
                let idx = t.div_euclid(b);
                s.add(self.agg, idx, value, self.distinct_limit);
                s.max_time = s.max_time.max(t);
                let r = self.query_bucketed(s, t, scratch);
                let horizon_idx = self.horizon(s.max_time).div_euclid(b);
                while s.buckets.front().is_some_and(|k| k.index <= horizon_idx) {
                    s.pop_front();
                }
                r
            }
        }
    }

    /// The aggregate at `t` without adding anything.
    pub(crate) fn query(&self, st: &mut WindowState, t: i64, scratch: &mut Vec<u64>) -> f64 {
        match st {
            WindowState::Exact(s) => self.query_exact(s, t, scratch),
            WindowState::Bucketed(s) => self.query_bucketed(s, t, scratch),
        }
    }

    fn horizon(&self, max_time: i64) -> i64 {
        max_time
            .saturating_sub(self.lateness_ms)
            .saturating_sub(self.window_ms)
    }

    /// First UTC day on which no allowed query can read this state.
    pub(crate) fn expiry_day(&self, st: &WindowState) -> u32 {
        let max_time = match st {
            WindowState::Exact(s) => s.max_time,
            WindowState::Bucketed(s) => s.max_time,
        };
        let end = max_time
            .saturating_add(self.lateness_ms)
            .saturating_add(self.window_ms);
        (end.div_euclid(DAY_MS) + 1).clamp(0, i64::from(u32::MAX)) as u32
    }

    fn query_exact(&self, s: &mut ExactWindow, t: i64, scratch: &mut Vec<u64>) -> f64 {
        let lo = s
            .start
            .point(&s.events, |e| e.0 <= t.saturating_sub(self.window_ms));
        let hi = back_point(&s.events, |e| e.0 <= t);
        let vals = s.events.range(lo..hi.max(lo)).map(|e| e.1);
        match self.agg {
            Agg::Count => hi.saturating_sub(lo) as f64,
            Agg::Sum => vals.map(|v| i128::from(v as i64)).sum::<i128>() as f64 / 10_000.0,
            Agg::Avg => {
                let n = hi.saturating_sub(lo);
                if n == 0 {
                    return f64::NAN;
                }
                vals.map(|v| i128::from(v as i64)).sum::<i128>() as f64 / 10_000.0 / n as f64
            }
            Agg::Min => vals.map(f64::from_bits).fold(f64::NAN, f64::min),
            Agg::Max => vals.map(f64::from_bits).fold(f64::NAN, f64::max),
            Agg::Distinct => {
                scratch.clear();
                scratch.extend(vals);
                scratch.sort_unstable();
                scratch.dedup();
                scratch.len() as f64
            }
        }
    }

    fn query_bucketed(&self, s: &mut BucketedWindow, t: i64, scratch: &mut Vec<u64>) -> f64 {
        let b = self.bucket_ms().unwrap_or(1);
        let lo_idx = t.saturating_sub(self.window_ms).div_euclid(b);
        let hi_idx = t.div_euclid(b);
        let hi = back_point(&s.buckets, |k| k.index <= hi_idx);
        let newest = hi == s.buckets.len();
        // A distinct count through the newest bucket is the number of
        // values whose newest bucket is in range: with few values, one
        // pass over the short index, no bucket read.
        if newest
            && let Some(DistinctParts {
                newest: Some(NewestIndex::Few(entries)),
                ..
            }) = s.distinct.as_deref()
        {
            return entries.iter().filter(|e| e.1 > lo_idx).count() as f64;
        }
        let lo = s.start.point(&s.buckets, |k| k.index <= lo_idx);
        if lo >= hi {
            return self.empty_result();
        }
        // Running totals: O(1) for count, sum and average; min and max read
        // the suffix extreme and distinct counts the newest-bucket index
        // when the range reaches the newest bucket (a query at the newest
        // time); other ranges scan their buckets.
        let (first, last) = (&s.buckets[lo], &s.buckets[hi - 1]);
        let count = last.cum_count.wrapping_sub(first.cum_count) + first.count;
        let sum = || last.cum_sum() - first.cum_sum() + i128::from(first.acc as i64);
        match self.agg {
            Agg::Count => return f64::from(count),
            Agg::Sum => return sum() as f64 / 10_000.0,
            Agg::Avg => return sum() as f64 / 10_000.0 / f64::from(count),
            Agg::Min | Agg::Max if newest => return f64::from_bits(first.from()),
            Agg::Distinct if newest => {
                if let Some(DistinctParts {
                    sets,
                    newest: Some(index),
                }) = s.distinct.as_deref()
                {
                    return s.distinct_from(sets, index, lo) as f64;
                }
            }
            _ => {}
        }
        let in_range = s.buckets.range(lo..hi);
        match self.agg {
            Agg::Count => in_range.map(|k| u64::from(k.count)).sum::<u64>() as f64,
            Agg::Sum => in_range.map(|k| i128::from(k.acc as i64)).sum::<i128>() as f64 / 10_000.0,
            Agg::Avg => {
                let (mut n, mut sum) = (0u64, 0i128);
                for k in in_range {
                    n += u64::from(k.count);
                    sum += i128::from(k.acc as i64);
                }
                if n == 0 {
                    f64::NAN
                } else {
                    sum as f64 / 10_000.0 / n as f64
                }
            }
            Agg::Min => in_range
                .map(|k| f64::from_bits(k.acc))
                .fold(f64::NAN, f64::min),
            Agg::Max => in_range
                .map(|k| f64::from_bits(k.acc))
                .fold(f64::NAN, f64::max),
            Agg::Distinct => {
                let Some(parts) = s.distinct.as_deref() else {
                    return self.empty_result();
                };
                let in_range = parts.sets.range(lo..hi);
                if in_range.clone().any(|d| matches!(d, Distinct::Sketch(_))) {
                    let mut hll = HyperLogLog::new();
                    for d in in_range {
                        match d {
                            Distinct::Exact(v) => v.iter().for_each(|&h| hll.insert(h)),
                            Distinct::Sketch(h) => hll.merge(h),
                        }
                    }
                    return hll.estimate().round();
                }
                scratch.clear();
                for d in in_range {
                    if let Distinct::Exact(v) = d {
                        scratch.extend_from_slice(v);
                    }
                }
                scratch.sort_unstable();
                scratch.dedup();
                scratch.len() as f64
            }
        }
    }

    pub(crate) fn encode(&self, st: &WindowState, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        match st {
            WindowState::Exact(s) => {
                w.u8(1);
                w.ivar(s.max_time);
                w.uvar(s.events.len() as u64);
                let mut prev = 0i64;
                for &(t, v) in &s.events {
                    w.ivar(t.wrapping_sub(prev));
                    prev = t;
                    self.encode_value(&mut w, v);
                }
            }
            WindowState::Bucketed(s) => {
                w.u8(2);
                w.ivar(self.bucket_ms().unwrap_or(0));
                w.ivar(s.max_time);
                w.uvar(s.buckets.len() as u64);
                let mut prev = 0i64;
                let sets = s.distinct.as_deref().map(|d| &d.sets);
                for (i, k) in s.buckets.iter().enumerate() {
                    w.ivar(k.index.wrapping_sub(prev));
                    prev = k.index;
                    w.uvar(u64::from(k.count));
                    match self.agg {
                        Agg::Sum | Agg::Avg | Agg::Min | Agg::Max => {
                            self.encode_value(&mut w, k.acc)
                        }
                        Agg::Count => {}
                        Agg::Distinct => match sets.and_then(|d| d.get(i)).unwrap_or(&NO_VALUES) {
                            Distinct::Exact(v) => {
                                w.u8(0);
                                w.uvar(v.len() as u64);
                                v.iter().for_each(|&h| w.u64_raw(h));
                            }
                            Distinct::Sketch(h) => {
                                w.u8(1);
                                w.bytes(h.registers());
                            }
                        },
                    }
                }
            }
        }
    }

    fn encode_value(&self, w: &mut Writer<'_>, v: u64) {
        match self.agg {
            Agg::Count => {}
            Agg::Sum | Agg::Avg => w.ivar(v as i64),
            Agg::Min | Agg::Max => w.f64(f64::from_bits(v)),
            Agg::Distinct => w.u64_raw(v),
        }
    }

    fn decode_value(&self, r: &mut Reader<'_>) -> Option<u64> {
        match self.agg {
            Agg::Count => Some(0),
            Agg::Sum | Agg::Avg => r.ivar().map(|v| v as u64),
            Agg::Min | Agg::Max => r.f64().map(f64::to_bits),
            Agg::Distinct => r.u64_raw(),
        }
    }

    /// Decodes a record written by [`Self::encode`]. A record written under
    /// another layout (the config changed the bucket width) decodes as empty.
    pub(crate) fn decode(&self, data: &[u8]) -> Option<WindowState> {
        let mut r = Reader::new(data);
        let tag = r.u8()?;
        match (tag, self.layout) {
            (1, Layout::Exact) => {
                let max_time = r.ivar()?;
                let n = r.len()?;
                let mut events = VecDeque::with_capacity(n);
                let mut prev = 0i64;
                for _ in 0..n {
                    let t = prev.wrapping_add(r.ivar()?);
                    prev = t;
                    events.push_back((t, self.decode_value(&mut r)?));
                }
                Some(WindowState::Exact(ExactWindow {
                    max_time,
                    events,
                    start: Hint::default(),
                }))
            }
            (2, Layout::Bucketed { bucket_ms }) => {
                if r.ivar()? != bucket_ms {
                    return Some(self.empty());
                }
                let max_time = r.ivar()?;
                let n = r.len()?;
                let mut buckets = VecDeque::with_capacity(n);
                let mut sets = VecDeque::new();
                let mut prev = 0i64;
                for _ in 0..n {
                    let index = prev.wrapping_add(r.ivar()?);
                    prev = index;
                    let mut k = Bucket::new(index, self.agg);
                    k.count = u32::try_from(r.uvar()?).ok()?;
                    match self.agg {
                        Agg::Count => {}
                        Agg::Distinct => sets.push_back(match r.u8()? {
                            0 => {
                                let m = r.len()?;
                                Distinct::Exact((0..m).map(|_| r.u64_raw()).collect::<Option<_>>()?)
                            }
                            _ => Distinct::Sketch(HyperLogLog::from_registers(r.take(REGISTERS)?)?),
                        }),
                        _ => k.acc = self.decode_value(&mut r)?,
                    }
                    buckets.push_back(k);
                }
                let mut s = BucketedWindow {
                    max_time,
                    buckets,
                    distinct: (self.agg == Agg::Distinct)
                        .then(|| Box::new(DistinctParts { sets, newest: None })),
                    start: Hint::default(),
                };
                s.derive(self.agg);
                Some(WindowState::Bucketed(s))
            }
            _ => Some(self.empty()),
        }
    }
}

/// Where the last query of a window found the lower end of its range (a
/// position in its buffer): the next query's end is usually there or a
/// step later, so it searches outward from it, touching the one line the
/// hints pulled in (see [`WindowState::prefetch`]) rather than a binary
/// search's scattered probes. A stale hint only costs a longer search. Not
/// part of the state: equal whatever its value, not stored.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hint(u32);

impl PartialEq for Hint {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Hint {
    /// `d.partition_point(pred)`, searched from the hint, which moves there.
    fn point<T>(&mut self, d: &VecDeque<T>, pred: impl Fn(&T) -> bool) -> usize {
        let p = point_from(d, self.0 as usize, pred);
        self.0 = p.min(u32::MAX as usize) as u32;
        p
    }

    /// The buffer's first element was dropped.
    fn shift(&mut self) {
        self.0 = self.0.saturating_sub(1);
    }

    fn get(self) -> usize {
        self.0 as usize
    }
}

/// `d.partition_point(pred)`, galloping outward from `h`.
fn point_from<T>(d: &VecDeque<T>, h: usize, pred: impl Fn(&T) -> bool) -> usize {
    partition_point_from(d.len(), h, |i| pred(&d[i]))
}

/// The first index in `0..n` where `below` is false (`below` true then false
/// along the range, as for `partition_point`), found by galloping outward
/// from `h`: O(log d) probes for a boundary `d` places away, all near `h`
/// when it is close.
pub(crate) fn partition_point_from(n: usize, h: usize, below: impl Fn(usize) -> bool) -> usize {
    let h = h.min(n);
    // The boundary lies in `lo..=hi`.
    let (mut lo, mut hi) = if h < n && below(h) {
        let mut step = 1;
        while h + step < n && below(h + step) {
            step *= 2;
        }
        (h + step / 2 + 1, (h + step).min(n))
    } else {
        let mut step = 1;
        while step <= h && !below(h - step) {
            step *= 2;
        }
        ((h + 1).saturating_sub(step), h - step / 2)
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `partition_point` for a boundary expected at the back (a query at the
/// newest time): O(1) when every element satisfies `pred`.
fn back_point<T>(d: &VecDeque<T>, pred: impl Fn(&T) -> bool) -> usize {
    match d.back() {
        Some(x) if !pred(x) => d.partition_point(pred),
        _ => d.len(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WindowState {
    Exact(ExactWindow),
    Bucketed(BucketedWindow),
}

impl WindowState {
    /// Pulls a distinct count's short value index toward the core (one
    /// link after [`Self::prefetch`], which brings in its header).
    pub(crate) fn prefetch_index(&self) {
        if let WindowState::Bucketed(BucketedWindow {
            distinct: Some(parts),
            ..
        }) = self
        {
            if let Some(NewestIndex::Few(v)) = &parts.newest {
                crate::partition::prefetch_slice(v);
            }
            if let Some(set) = parts.sets.back() {
                crate::partition::prefetch_line(set);
            }
        }
    }

    /// Pulls a distinct count's newest bucket's values toward the core (one
    /// link after [`Self::prefetch_index`]), where an in-order event's
    /// value is looked up.
    pub(crate) fn prefetch_values(&self) {
        if let WindowState::Bucketed(BucketedWindow {
            distinct: Some(parts),
            ..
        }) = self
            && let Some(Distinct::Exact(values)) = parts.sets.back()
        {
            crate::partition::prefetch_slice(values);
        }
    }

    /// Pulls the ends of the state's buffer, where updates and queries
    /// start, toward the core (see `PartitionState::process_batch`).
    pub(crate) fn prefetch(&self) {
        use crate::partition::{prefetch_line, prefetch_span};
        match self {
            WindowState::Exact(s) => {
                if let (Some(a), Some(b)) = (s.events.front(), s.events.back()) {
                    prefetch_line(a);
                    if let Some(start) = s.events.get(s.start.get()) {
                        prefetch_line(start);
                    }
                    // The newest event and the slot an in-order one goes to.
                    prefetch_span(b, 2 * size_of_val(b));
                }
            }
            WindowState::Bucketed(s) => {
                if let (Some(a), Some(b)) = (s.buckets.front(), s.buckets.back()) {
                    // A bucket spans two lines: the first (a pop reads
                    // it), the newest with the slot a new newest bucket
                    // goes to, and where the last range started.
                    prefetch_span(a, size_of_val(a));
                    prefetch_span(b, 2 * size_of_val(b));
                    if let Some(start) = s.buckets.get(s.start.get()) {
                        prefetch_span(start, size_of_val(start));
                    }
                }
                if let Some(parts) = &s.distinct {
                    prefetch_line(&**parts);
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            WindowState::Exact(s) => s.events.is_empty(),
            WindowState::Bucketed(s) => s.buckets.is_empty(),
        }
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        match self {
            WindowState::Exact(s) => 48 + s.events.len() * 16,
            WindowState::Bucketed(s) => {
                48 + s.buckets.len() * std::mem::size_of::<Bucket>()
                    + s.distinct.as_ref().map_or(0, |parts| {
                        64 + parts.newest.as_ref().map_or(0, NewestIndex::approx_bytes)
                            + parts
                                .sets
                                .iter()
                                .map(|d| {
                                    std::mem::size_of::<Distinct>()
                                        + match d {
                                            Distinct::Exact(v) => v.len() * 8,
                                            Distinct::Sketch(_) => REGISTERS,
                                        }
                                })
                                .sum::<usize>()
                    })
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExactWindow {
    max_time: i64,
    /// `(event time, value)` sorted by time; equal times in arrival order.
    events: VecDeque<(i64, u64)>,
    /// Where the last query's range started.
    start: Hint,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BucketedWindow {
    max_time: i64,
    /// Non-empty buckets sorted by index.
    buckets: VecDeque<Bucket>,
    /// Distinct counts only (boxed, so that other windows' headers and
    /// every window's buckets stay small).
    distinct: Option<Box<DistinctParts>>,
    /// Where the last query's range started.
    start: Hint,
}

/// What a bucketed distinct count keeps beside its buckets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DistinctParts {
    /// The values of each bucket, parallel to `buckets`.
    sets: VecDeque<Distinct>,
    /// Each retained value's newest bucket index, while every retained
    /// bucket is exact (`None` once one is a sketch, until it expires).
    newest: Option<NewestIndex>,
}

/// An empty bucket's values.
static NO_VALUES: Distinct = Distinct::Exact(Vec::new());

/// Each retained value of a distinct count with its newest bucket index.
///
/// Most keys see few values (a user's countries, a device's users): up to
/// [`FEW_VALUES`] they stay in one short array scanned linearly, whose
/// buffer the prefetch hints can reach ([`WindowState::prefetch_index`]);
/// past that, a hash map.
#[derive(Debug, Clone)]
pub(crate) enum NewestIndex {
    Few(Vec<(u64, i64)>),
    Many(hashbrown::HashMap<u64, i64, BuildHashed>),
}

const FEW_VALUES: usize = 16;

/// The same values with the same buckets, whatever the representation.
impl PartialEq for NewestIndex {
    fn eq(&self, other: &Self) -> bool {
        let entries = |i: &NewestIndex| -> Vec<(u64, i64)> {
            let mut e: Vec<(u64, i64)> = match i {
                NewestIndex::Few(v) => v.clone(),
                NewestIndex::Many(m) => m.iter().map(|(&h, &b)| (h, b)).collect(),
            };
            e.sort_unstable();
            e
        };
        entries(self) == entries(other)
    }
}

impl Default for NewestIndex {
    fn default() -> Self {
        NewestIndex::Few(Vec::new())
    }
}

impl NewestIndex {
    fn get(&self, h: u64) -> Option<i64> {
        match self {
            NewestIndex::Few(v) => v.iter().find(|e| e.0 == h).map(|e| e.1),
            NewestIndex::Many(m) => m.get(&h).copied(),
        }
    }

    /// Records that `h` is in bucket `idx` (keeping the newest).
    fn insert(&mut self, h: u64, idx: i64) {
        match self {
            NewestIndex::Few(v) => match v.iter().position(|e| e.0 == h) {
                Some(i) => v[i].1 = v[i].1.max(idx),
                None if v.len() < FEW_VALUES => v.push((h, idx)),
                None => {
                    let mut m: hashbrown::HashMap<u64, i64, BuildHashed> =
                        v.iter().copied().collect();
                    m.insert(h, idx);
                    *self = NewestIndex::Many(m);
                }
            },
            NewestIndex::Many(m) => {
                let e = m.entry(h).or_insert(idx);
                *e = (*e).max(idx);
            }
        }
    }

    fn remove(&mut self, h: u64) {
        match self {
            NewestIndex::Few(v) => v.retain(|e| e.0 != h),
            NewestIndex::Many(m) => {
                m.remove(&h);
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            NewestIndex::Few(v) => v.len(),
            NewestIndex::Many(m) => m.len(),
        }
    }

    fn approx_bytes(&self) -> usize {
        match self {
            NewestIndex::Few(v) => 32 + v.capacity() * 16,
            NewestIndex::Many(m) => 48 + m.capacity() * 17,
        }
    }
}

/// The hasher of maps whose keys already are uniform hashes (the value
/// hashes of distinct counts): it folds them instead of hashing again.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BuildHashed;

#[derive(Default)]
pub(crate) struct Hashed(u64);

impl std::hash::BuildHasher for BuildHashed {
    type Hasher = Hashed;
    fn build_hasher(&self) -> Hashed {
        Hashed(0)
    }
}

impl std::hash::Hasher for Hashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed; stay correct for anything else.
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// One time bucket of a bucketed window: 40 bytes, so that a buffer's
/// end (where in-order events land) spans one or two cache lines. A
/// distinct count's values are kept apart ([`DistinctParts`]).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    index: i64,
    /// Events in the bucket. A bucket is at most a day of one key of one
    /// partition, far below 2³² events.
    count: u32,
    /// Events of the retained buckets up to and including this one,
    /// counted from an arbitrary base and wrapping: ranges read them as
    /// differences.
    cum_count: u32,
    /// Sum (fixed-point i64 bits) or min/max (f64 bits), per aggregate.
    acc: u64,
    /// Sum and average: the sum of the retained buckets up to and
    /// including this one, like `cum_count` (exact in 128 bits). Min and
    /// max: the extreme of this bucket and every newer one, in the first
    /// word.
    run: Wide,
}

#[derive(Debug, Clone, PartialEq)]
enum Distinct {
    /// Sorted hashes.
    Exact(Vec<u64>),
    Sketch(HyperLogLog),
}

impl Distinct {
    fn add(&mut self, v: u64, distinct_limit: usize) {
        match self {
            Distinct::Exact(set) => {
                if let Err(at) = set.binary_search(&v) {
                    set.insert(at, v);
                    if set.len() > distinct_limit {
                        let mut h = HyperLogLog::new();
                        set.iter().for_each(|&x| h.insert(x));
                        *self = Distinct::Sketch(h);
                    }
                }
            }
            Distinct::Sketch(h) => h.insert(v),
        }
    }

    fn is_exact(&self) -> bool {
        matches!(self, Distinct::Exact(_))
    }
}

impl Bucket {
    fn new(index: i64, agg: Agg) -> Self {
        let acc = match agg {
            Agg::Min => f64::INFINITY.to_bits(),
            Agg::Max => f64::NEG_INFINITY.to_bits(),
            _ => 0,
        };
        let mut k = Bucket {
            index,
            count: 0,
            acc,
            cum_count: 0,
            run: Wide::default(),
        };
        if matches!(agg, Agg::Min | Agg::Max) {
            k.set_from(acc);
        }
        k
    }

    fn cum_sum(&self) -> i128 {
        self.run.get()
    }

    fn from(&self) -> u64 {
        self.run.0
    }

    fn set_from(&mut self, v: u64) {
        self.run.0 = v;
    }

    /// Adds `v` to the bucket's own count and accumulator.
    fn add(&mut self, agg: Agg, v: u64) {
        self.count = self.count.saturating_add(1);
        match agg {
            Agg::Count | Agg::Distinct => {}
            Agg::Sum | Agg::Avg => self.acc = (self.acc as i64).saturating_add(v as i64) as u64,
            Agg::Min => self.acc = f64::from_bits(self.acc).min(f64::from_bits(v)).to_bits(),
            Agg::Max => self.acc = f64::from_bits(self.acc).max(f64::from_bits(v)).to_bits(),
        }
    }
}

/// The more extreme of two min/max accumulators (f64 bits).
fn extreme(agg: Agg, a: u64, b: u64) -> u64 {
    match agg {
        Agg::Min => f64::from_bits(a).min(f64::from_bits(b)).to_bits(),
        _ => f64::from_bits(a).max(f64::from_bits(b)).to_bits(),
    }
}

impl BucketedWindow {
    /// Adds `v` to bucket `idx`, keeping the running totals, suffix
    /// extremes and newest-bucket index. In order (the newest bucket) this
    /// is O(1) amortized; a late event in an older bucket also updates the
    /// buckets after it.
    fn add(&mut self, agg: Agg, idx: i64, v: u64, distinct_limit: usize) {
        let n = self.buckets.len();
        let at = match self.buckets.back() {
            Some(k) if k.index == idx => n - 1,
            Some(k) if k.index > idx => self.buckets.partition_point(|k| k.index < idx),
            _ => n,
        };
        if self.buckets.get(at).is_none_or(|k| k.index != idx) {
            let mut k = Bucket::new(idx, agg);
            let next = self.buckets.get(at);
            // Totals before this bucket.
            let (cum_count, cum_sum) = match (at.checked_sub(1), next) {
                (Some(p), _) => (self.buckets[p].cum_count, self.buckets[p].cum_sum()),
                (None, Some(next)) => (
                    next.cum_count.wrapping_sub(next.count),
                    next.cum_sum() - i128::from(next.acc as i64),
                ),
                (None, None) => (0, 0),
            };
            k.cum_count = cum_count;
            match agg {
                Agg::Sum | Agg::Avg => k.run = Wide::new(cum_sum),
                Agg::Min | Agg::Max => {
                    if let Some(next) = next {
                        k.set_from(next.from());
                    }
                }
                Agg::Count | Agg::Distinct => {}
            }
            self.buckets.insert(at, k);
            if let Some(parts) = &mut self.distinct {
                parts.sets.insert(at, Distinct::Exact(Vec::new()));
            }
        }
        let k = &mut self.buckets[at];
        let acc0 = k.acc;
        k.add(agg, v);
        match agg {
            Agg::Sum | Agg::Avg => {
                let d_sum = i128::from(k.acc as i64) - i128::from(acc0 as i64);
                for k in self.buckets.range_mut(at..) {
                    k.cum_count = k.cum_count.wrapping_add(1);
                    k.run = Wide::new(k.cum_sum() + d_sum);
                }
            }
            _ => {
                for k in self.buckets.range_mut(at..) {
                    k.cum_count = k.cum_count.wrapping_add(1);
                }
            }
        }
        match agg {
            Agg::Min | Agg::Max => {
                // Suffix extremes change from `at` back to the first that
                // already covers the new value.
                let mut next = self.buckets.get(at + 1).map(Bucket::from);
                for j in (0..=at).rev() {
                    let k = &mut self.buckets[j];
                    let f = next.map_or(k.acc, |nf| extreme(agg, k.acc, nf));
                    if j < at && f == k.from() {
                        break;
                    }
                    k.set_from(f);
                    next = Some(f);
                }
            }
            Agg::Distinct => {
                if let Some(parts) = &mut self.distinct {
                    let set = &mut parts.sets[at];
                    let was_exact = set.is_exact();
                    set.add(v, distinct_limit);
                    if was_exact && !set.is_exact() {
                        parts.newest = None;
                    } else if let Some(index) = &mut parts.newest {
                        index.insert(v, idx);
                    }
                }
            }
            Agg::Count | Agg::Sum | Agg::Avg => {}
        }
    }

    /// Drops the oldest bucket.
    fn pop_front(&mut self) {
        let Some(k) = self.buckets.pop_front() else {
            return;
        };
        self.start.shift();
        let Some(parts) = &mut self.distinct else {
            return;
        };
        match (parts.sets.pop_front(), &mut parts.newest) {
            (Some(Distinct::Exact(values)), Some(index)) => {
                for h in values {
                    if index.get(h) == Some(k.index) {
                        index.remove(h);
                    }
                }
            }
            (Some(Distinct::Sketch(_)), None) if parts.sets.iter().all(Distinct::is_exact) => {
                parts.newest = Some(build_newest(&self.buckets, &parts.sets));
            }
            _ => {}
        }
    }

    /// Distinct values in buckets `lo..` (through the newest): the values
    /// whose newest bucket is at or after `lo`.
    fn distinct_from(&self, sets: &VecDeque<Distinct>, index: &NewestIndex, lo: usize) -> usize {
        let older = self
            .buckets
            .range(..lo)
            .zip(sets.range(..lo))
            .map(|(k, d)| match d {
                Distinct::Exact(values) => values
                    .iter()
                    .filter(|&&h| index.get(h) == Some(k.index))
                    .count(),
                Distinct::Sketch(_) => 0,
            })
            .sum::<usize>();
        index.len() - older
    }

    /// Rebuilds what is derived from the buckets (after decoding).
    fn derive(&mut self, agg: Agg) {
        let (mut count, mut sum) = (0u32, 0i128);
        for k in &mut self.buckets {
            count = count.wrapping_add(k.count);
            k.cum_count = count;
            if matches!(agg, Agg::Sum | Agg::Avg) {
                sum += i128::from(k.acc as i64);
                k.run = Wide::new(sum);
            }
        }
        if matches!(agg, Agg::Min | Agg::Max) {
            let mut next: Option<u64> = None;
            for k in self.buckets.iter_mut().rev() {
                let f = next.map_or(k.acc, |nf| extreme(agg, k.acc, nf));
                k.set_from(f);
                next = Some(f);
            }
        }
        if let Some(parts) = &mut self.distinct {
            parts.newest = parts
                .sets
                .iter()
                .all(Distinct::is_exact)
                .then(|| build_newest(&self.buckets, &parts.sets));
        }
    }
}

/// The newest-bucket index of exact buckets and their values.
fn build_newest(buckets: &VecDeque<Bucket>, sets: &VecDeque<Distinct>) -> NewestIndex {
    let mut index = NewestIndex::default();
    for (k, d) in buckets.iter().zip(sets) {
        if let Distinct::Exact(values) = d {
            for &h in values {
                index.insert(h, k.index);
            }
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_40_bytes() {
        // Buckets are read at a buffer's ends on every event: at 40 bytes
        // the newest and the slot after it span one or two cache lines.
        assert_eq!(std::mem::size_of::<Bucket>(), 40);
    }

    proptest::proptest! {
        /// The search from a hint answers as a binary search does, from
        /// any hint, in a buffer that wrapped around its allocation.
        #[test]
        fn a_search_from_any_hint_agrees_with_partition_point(
            mut values in proptest::collection::vec(0i64..50, 0..80),
            rotate in 0usize..80,
            hint in 0usize..100,
            bound in -1i64..52,
        ) {
            values.sort_unstable();
            let mut d: VecDeque<i64> = VecDeque::with_capacity(values.len() + 1);
            // Wrap the ring: push and pop some before the real values.
            for _ in 0..rotate.min(values.len()) {
                d.push_back(-1);
                d.pop_front();
            }
            d.extend(values);
            let expected = d.partition_point(|&v| v <= bound);
            proptest::prop_assert_eq!(point_from(&d, hint, |&v| v <= bound), expected);
        }
    }
}
