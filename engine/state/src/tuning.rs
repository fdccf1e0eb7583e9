//! The window knobs of the `[state]` config and the bucket width they give
//! a window: the one rule shared by the config (which reports it) and the
//! window plan (which lays a window out by it).

use crate::units::DAY_MS;

const BUCKET_LADDER_MS: [i64; 13] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
    7_200_000, 21_600_000, DAY_MS,
];

/// Window knobs from `StateConfig`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowTuning {
    pub exact_window_max_ms: i64,
    pub max_buckets_per_window: i64,
    pub allowed_lateness_ms: i64,
    pub distinct_exact_limit: usize,
}

/// Bucket width for a window, `None` when it is kept exactly: the
/// smallest step of the ladder giving at most `max-buckets-per-window`
/// buckets.
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
