//! [`WindowPlan`]: everything needed to maintain one window feature, fixed
//! at open or reload (aggregate, field, length, lateness, layout), and the
//! operations on a key's [`WindowState`] under it: the value an event
//! contributes, update, query, expiry, and the stored form.

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::{Aggregate, WindowFeature};

use crate::hashing::field_hash;
use crate::tuning::{WindowTuning, bucket_width};
use crate::units::{DAY_MS, to_fixed};
use crate::window::aggregate::{Agg, Layout};
use crate::window::codec;
use crate::window::state::WindowState;

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
        WindowState::empty(self.agg, self.layout)
    }

    /// The answer over no events.
    pub(crate) fn empty_result(&self) -> f64 {
        self.agg.empty_result()
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
                s.insert(t, value);
                let r = s.query(self.agg, self.window_ms, t, scratch);
                s.drop_through(self.horizon(s.max_time));
                r
            }
            WindowState::Bucketed(s) => {
                let b = self.bucket_ms().unwrap_or(1);
                let idx = t.div_euclid(b);
                s.add(self.agg, idx, value, self.distinct_limit);
                s.max_time = s.max_time.max(t);
                let r = s.query(self.agg, self.window_ms, b, t, scratch);
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
            WindowState::Exact(s) => s.query(self.agg, self.window_ms, t, scratch),
            WindowState::Bucketed(s) => {
                let b = self.bucket_ms().unwrap_or(1);
                s.query(self.agg, self.window_ms, b, t, scratch)
            }
        }
    }

    fn horizon(&self, max_time: i64) -> i64 {
        max_time
            .saturating_sub(self.lateness_ms)
            .saturating_sub(self.window_ms)
    }

    /// First UTC day on which no allowed query can read this state.
    pub(crate) fn expiry_day(&self, st: &WindowState) -> u32 {
        let end = st
            .max_time()
            .saturating_add(self.lateness_ms)
            .saturating_add(self.window_ms);
        (end.div_euclid(DAY_MS) + 1).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Appends the stored form of `st` (see [`codec`]).
    pub(crate) fn encode(&self, st: &WindowState, out: &mut Vec<u8>) {
        codec::encode(self.agg, self.bucket_ms(), st, out);
    }

    /// Decodes a stored state; one written under another layout (the
    /// config changed the bucket width) decodes as empty.
    pub(crate) fn decode(&self, data: &[u8]) -> Option<WindowState> {
        codec::decode(self.agg, self.layout, data)
    }
}
