//! State configuration: the `[state.tuning]` section of the engine config
//! (RocksDB's options in `[state.tuning.rocksdb]`), with every problem
//! reported at once, by key path, by [`StateConfig::validate`].

use serde::Deserialize;
use verdict_rules::input::Field;

use crate::store::rocks::RocksOptions;
use crate::tuning::{WindowTuning, bucket_width};

/// Keyed-state settings. Kebab-case keys; unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct StateConfig {
    /// Maximum hot entities (one per key of each key field, holding all of
    /// that key's feature states, and the history for a user) kept in memory
    /// per partition. Clean entities beyond it are evicted
    /// least-recently-used first and reloaded from the store on a miss;
    /// entities dirtied since the last checkpoint are never evicted, so
    /// memory is bounded by this plus the keys touched in one checkpoint
    /// interval.
    pub cache_capacity: usize,
    /// Windows up to this length keep every event and are exact; longer ones
    /// use time buckets.
    pub exact_window_max_ms: i64,
    /// Upper bound on buckets per bucketed window (sets the bucket width).
    pub max_buckets_per_window: i64,
    /// Events up to this far behind their key's latest event time get exact
    /// answers; state is kept for `window + allowed-lateness`.
    pub allowed_lateness_ms: i64,
    /// Distinct values a window bucket keeps exactly before switching to a
    /// HyperLogLog sketch.
    pub distinct_exact_limit: usize,
    /// Maintain per-user history (needed by history features and backfill).
    pub history: bool,
    /// Fields whose seen values the user history records (for `FirstTime`),
    /// besides those named by `FirstTime` features.
    pub history_tracked_fields: Vec<String>,
    pub rocksdb: RocksOptions,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            cache_capacity: 500_000,
            exact_window_max_ms: 3_600_000,
            max_buckets_per_window: 1_440,
            allowed_lateness_ms: 600_000,
            distinct_exact_limit: 256,
            history: true,
            history_tracked_fields: vec![
                "merchant_id".into(),
                "country".into(),
                "device_id".into(),
            ],
            rocksdb: RocksOptions::default(),
        }
    }
}

impl StateConfig {
    /// Every problem with the configuration, not just the first.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if self.cache_capacity == 0 {
            errors.push("state.tuning.cache-capacity must be at least 1".to_string());
        }
        if self.exact_window_max_ms < 0 {
            errors.push("state.tuning.exact-window-max-ms must not be negative".to_string());
        }
        if self.max_buckets_per_window < 1 {
            errors.push("state.tuning.max-buckets-per-window must be at least 1".to_string());
        }
        if self.allowed_lateness_ms < 0 {
            errors.push("state.tuning.allowed-lateness-ms must not be negative".to_string());
        }
        if self.distinct_exact_limit == 0 {
            errors.push("state.tuning.distinct-exact-limit must be at least 1".to_string());
        }
        for name in &self.history_tracked_fields {
            if Field::from_name(name).is_none() {
                errors.push(format!(
                    "state.tuning.history-tracked-fields: unknown field `{name}`"
                ));
            }
        }
        errors.extend(self.rocksdb.problems("state.tuning.rocksdb"));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Bucket width used for a window of this length, `None` when the
    /// window is exact (see the `window` module docs for the guarantee).
    pub fn bucket_ms_for(&self, window_ms: i64) -> Option<i64> {
        bucket_width(window_ms.max(1), self.window_tuning())
    }

    pub(crate) fn tracked_fields(&self) -> Vec<Field> {
        self.history_tracked_fields
            .iter()
            .filter_map(|n| Field::from_name(n))
            .collect()
    }

    pub(crate) fn window_tuning(&self) -> WindowTuning {
        WindowTuning {
            exact_window_max_ms: self.exact_window_max_ms,
            max_buckets_per_window: self.max_buckets_per_window,
            allowed_lateness_ms: self.allowed_lateness_ms,
            distinct_exact_limit: self.distinct_exact_limit,
        }
    }
}
