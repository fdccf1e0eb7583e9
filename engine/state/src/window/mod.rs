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
//!   (±5% at ≈3σ, see [`sketch`]) and the union becomes an estimate.
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
//!
//! Files: `plan.rs` maintains one window feature ([`plan::WindowPlan`]:
//! layout, update, query, expiry); `state.rs` is the state of one key
//! ([`state::WindowState`]) and its part of the look-ahead; `exact.rs` and
//! `bucketed.rs` the two layouts, `distinct.rs` what a bucketed distinct
//! count keeps beside its buckets; `codec.rs` the stored form; `sketch.rs`
//! the HyperLogLog; `aggregate.rs` the aggregate kinds all of them share.

mod aggregate;
mod bucketed;
mod codec;
mod distinct;
mod exact;
pub(crate) mod plan;
mod sketch;
pub(crate) mod state;
