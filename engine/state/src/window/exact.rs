//! The exact layout: every event of the window's retention, sorted by
//! event time, each as `(time, value)`. Every aggregate is exact (distinct
//! counts compare 64-bit hashes). A query's range ends at the newest end in
//! the in-order case and starts where the last query's started, so both
//! ends are found near a cursor rather than by bisection.

use std::collections::VecDeque;

use crate::prefetch::{prefetch_line, prefetch_span};
use crate::search::{Cursor, back_point};
use crate::window::aggregate::Agg;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExactWindow {
    pub(super) max_time: i64,
    /// `(event time, value)` sorted by time; equal times in arrival order.
    pub(super) events: VecDeque<(i64, u64)>,
    /// Where the last query's range started.
    pub(super) start: Cursor,
}

impl ExactWindow {
    pub(super) fn new(max_time: i64, events: VecDeque<(i64, u64)>) -> Self {
        ExactWindow {
            max_time,
            events,
            start: Cursor::default(),
        }
    }

    /// Adds an event at `t`.
    pub(super) fn insert(&mut self, t: i64, value: u64) {
        if self.events.back().is_none_or(|e| e.0 <= t) {
            self.events.push_back((t, value));
        } else {
            let at = self.events.partition_point(|e| e.0 <= t);
            self.events.insert(at, (t, value));
        }
        self.max_time = self.max_time.max(t);
    }

    /// Drops the events at or before `horizon`.
    pub(super) fn drop_through(&mut self, horizon: i64) {
        while self.events.front().is_some_and(|e| e.0 <= horizon) {
            self.events.pop_front();
            self.start.shift();
        }
    }

    /// The aggregate over `(t - window_ms, t]`.
    pub(super) fn query(
        &mut self,
        agg: Agg,
        window_ms: i64,
        t: i64,
        scratch: &mut Vec<u64>,
    ) -> f64 {
        let lo = self
            .start
            .point(&self.events, |e| e.0 <= t.saturating_sub(window_ms));
        let hi = back_point(&self.events, |e| e.0 <= t);
        let vals = self.events.range(lo..hi.max(lo)).map(|e| e.1);
        match agg {
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

    /// Pulls the ends of the buffer, where updates and queries start.
    pub(super) fn prefetch_buffers(&self) {
        if let (Some(a), Some(b)) = (self.events.front(), self.events.back()) {
            prefetch_line(a);
            if let Some(start) = self.events.get(self.start.get()) {
                prefetch_line(start);
            }
            // The newest event and the place an in-order one goes to.
            prefetch_span(b, 2 * size_of_val(b));
        }
    }
}
