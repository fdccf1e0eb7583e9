//! Units shared by windows, history and records: event time in
//! milliseconds, UTC days, the year of history kept, and the fixed-point
//! amounts that make sums exact and independent of arrival order.

/// Milliseconds per UTC day: days index history rollups and expiry.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Days of history a user keeps, and a `Previous` value is remembered.
pub(crate) const HISTORY_DAYS: i64 = 365;

/// Amount in 1/10000 units, saturating: exact for values with at most 4
/// decimals.
#[inline]
pub(crate) fn to_fixed(v: f64) -> i64 {
    (v * 10_000.0).round() as i64
}
