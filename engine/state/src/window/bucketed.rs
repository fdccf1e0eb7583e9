//! The bucketed layout: a sparse ring of time buckets of width `B`, sorted
//! by index, each with running totals so that a query at the newest time
//! reads count, sum and average in O(1), min and max from a suffix extreme,
//! and a distinct count from the newest-bucket index
//! ([`crate::window::distinct`]); other ranges scan their buckets.
//!
//! A bucket is 40 bytes, so that a buffer's end (where in-order events
//! land) spans one or two cache lines; a distinct count's values are kept
//! apart, so other windows' buckets stay small.

use std::collections::VecDeque;

use crate::codec::Wide;
use crate::prefetch::{prefetch_line, prefetch_slice, prefetch_span};
use crate::search::{Cursor, back_point};
use crate::window::aggregate::Agg;
use crate::window::distinct::{Distinct, DistinctParts, NewestIndex};
use crate::window::sketch::{HyperLogLog, REGISTERS};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BucketedWindow {
    pub(super) max_time: i64,
    /// Non-empty buckets sorted by index.
    pub(super) buckets: VecDeque<Bucket>,
    /// Distinct counts only (boxed, so that other windows' headers and
    /// every window's buckets stay small).
    pub(super) distinct: Option<Box<DistinctParts>>,
    /// Where the last query's range started.
    pub(super) start: Cursor,
}

/// One time bucket of a bucketed window: 40 bytes, so that a buffer's
/// end (where in-order events land) spans one or two cache lines. A
/// distinct count's values are kept apart ([`DistinctParts`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bucket {
    pub(super) index: i64,
    /// Events in the bucket. A bucket is at most a day of one key of one
    /// partition, far below 2³² events.
    pub(super) count: u32,
    /// Events of the retained buckets up to and including this one,
    /// counted from an arbitrary base and wrapping: ranges read them as
    /// differences.
    cum_count: u32,
    /// Sum (fixed-point i64 bits) or min/max (f64 bits), per aggregate.
    pub(super) acc: u64,
    /// Sum and average: the sum of the retained buckets up to and
    /// including this one, like `cum_count` (exact in 128 bits). Min and
    /// max: the extreme of this bucket and every newer one, in the first
    /// word.
    run: Wide,
}

impl Bucket {
    pub(super) fn new(index: i64, agg: Agg) -> Self {
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
    /// The aggregate over the buckets of `(t - window_ms, t]` (`b` wide).
    pub(super) fn query(
        &mut self,
        agg: Agg,
        window_ms: i64,
        b: i64,
        t: i64,
        scratch: &mut Vec<u64>,
    ) -> f64 {
        let s = self;
        let lo_idx = t.saturating_sub(window_ms).div_euclid(b);
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
            return agg.empty_result();
        }
        // Running totals: O(1) for count, sum and average; min and max read
        // the suffix extreme and distinct counts the newest-bucket index
        // when the range reaches the newest bucket (a query at the newest
        // time); other ranges scan their buckets.
        let (first, last) = (&s.buckets[lo], &s.buckets[hi - 1]);
        let count = last.cum_count.wrapping_sub(first.cum_count) + first.count;
        let sum = || last.cum_sum() - first.cum_sum() + i128::from(first.acc as i64);
        match agg {
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
        match agg {
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
                    return agg.empty_result();
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

    /// Adds `v` to bucket `idx`, keeping the running totals, suffix
    /// extremes and newest-bucket index. In order (the newest bucket) this
    /// is O(1) amortized; a late event in an older bucket also updates the
    /// buckets after it.
    pub(super) fn add(&mut self, agg: Agg, idx: i64, v: u64, distinct_limit: usize) {
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
    pub(super) fn pop_front(&mut self) {
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
    pub(super) fn derive(&mut self, agg: Agg) {
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

impl BucketedWindow {
    /// Pulls the ends of the buffer, where updates and queries start.
    pub(super) fn prefetch_buffers(&self) {
        if let (Some(a), Some(b)) = (self.buckets.front(), self.buckets.back()) {
            // A bucket spans two lines: the first (a pop reads it), the
            // newest with the place a new newest bucket goes to, and where
            // the last range started.
            prefetch_span(a, size_of_val(a));
            prefetch_span(b, 2 * size_of_val(b));
            if let Some(start) = self.buckets.get(self.start.get()) {
                prefetch_span(start, size_of_val(start));
            }
        }
        if let Some(parts) = &self.distinct {
            prefetch_line(&**parts);
        }
    }

    /// Pulls a distinct count's short value index toward the core (one
    /// link after [`Self::prefetch_buffers`], which brings in its header).
    pub(super) fn prefetch_index(&self) {
        if let Some(parts) = &self.distinct {
            if let Some(NewestIndex::Few(v)) = &parts.newest {
                prefetch_slice(v);
            }
            if let Some(set) = parts.sets.back() {
                prefetch_line(set);
            }
        }
    }

    /// Pulls a distinct count's newest bucket's values toward the core (one
    /// link after [`Self::prefetch_index`]), where an in-order event's
    /// value is looked up.
    pub(super) fn prefetch_values(&self) {
        if let Some(parts) = &self.distinct
            && let Some(Distinct::Exact(values)) = parts.sets.back()
        {
            prefetch_slice(values);
        }
    }

    pub(super) fn approx_bytes(&self) -> usize {
        48 + self.buckets.len() * std::mem::size_of::<Bucket>()
            + self.distinct.as_ref().map_or(0, |parts| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_40_bytes() {
        // Buckets are read at a buffer's ends on every event: at 40 bytes
        // the newest and the place after it span one or two cache lines.
        assert_eq!(std::mem::size_of::<Bucket>(), 40);
    }
}
