//! Which numeric columns of a feature table a model reads, and how each is
//! transformed before normalization. Decided on the training split and
//! written into the manifest, so serving applies exactly what training chose.
//!
//! * **Absolute times are left out.** A column whose values are instants on
//!   the event clock (`previous(event_time)`, a first-seen timestamp) tells
//!   the model the date: what it learns there is the calendar of the
//!   training data, and every served value lies outside it. The rules
//!   declare differences instead (`hours(event_time - prev_time)`); the
//!   manifest's `left_out` names each column left out and why.
//! * **Growing and heavy-tailed values are logged.** An input that is never
//!   negative on the training split and is not a flag (more than two
//!   distinct values) is fed as `ln(1 + x)`: counts, sums, amounts, ages and
//!   distances. A year's transaction count or a customer's age in days grows
//!   with the calendar; on the log scale a backfilled year sits a few
//!   standard deviations from a month of training data instead of dozens,
//!   and a business account's hundred transactions an hour stops dominating
//!   the fit. Flags and inputs that can be negative (longitudes) are fed as
//!   they are.

use std::collections::HashSet;

use crate::manifest::{LeftOutInput, NumericStats, Transform};
use crate::table::FeatureTable;

/// A column is an absolute time when this share of its present values lie
/// on the event clock.
const ON_THE_CLOCK: f64 = 0.99;
/// How far before the table's first event a timestamp may lie and still be
/// on its clock (a year of history, and more).
const CLOCK_LOOKBACK_MS: f64 = 10.0 * 365.0 * 86_400_000.0;
/// … and after its last (clock skew between producers).
const CLOCK_LOOKAHEAD_MS: f64 = 86_400_000.0;

/// The numeric columns of `table` that are absolute times on `rows`.
pub fn absolute_times(table: &FeatureTable, rows: &[usize]) -> Vec<LeftOutInput> {
    let Some(first) = rows.iter().map(|&r| table.event_time[r]).min() else {
        return Vec::new();
    };
    let last = rows
        .iter()
        .map(|&r| table.event_time[r])
        .max()
        .unwrap_or(first);
    let (lo, hi) = (
        first as f64 - CLOCK_LOOKBACK_MS,
        last as f64 + CLOCK_LOOKAHEAD_MS,
    );
    table
        .numeric_names
        .iter()
        .zip(&table.numeric)
        .filter(|(_, values)| {
            let (mut present, mut on_clock) = (0usize, 0usize);
            for &r in rows {
                let v = f64::from(values[r]);
                if v.is_finite() {
                    present += 1;
                    on_clock += usize::from((lo..=hi).contains(&v));
                }
            }
            present > 0 && on_clock as f64 >= ON_THE_CLOCK * present as f64
        })
        .map(|(name, _)| LeftOutInput {
            feature: name.clone(),
            reason: "absolute time: its values are instants on the event clock, so the model \
                     would learn the training data's calendar; declare a difference \
                     (event_time - it) instead"
                .into(),
        })
        .collect()
}

/// The numeric columns that become inputs: every one not in `left_out`, in
/// table order.
pub fn input_names(table: &FeatureTable, left_out: &[LeftOutInput]) -> Vec<String> {
    let skip: HashSet<&str> = left_out.iter().map(|l| l.feature.as_str()).collect();
    (table.numeric_names.iter())
        .filter(|n| !skip.contains(n.as_str()))
        .cloned()
        .collect()
}

/// The transform for a column with these training values (module docs).
pub fn transform_for(values: impl Iterator<Item = f32>) -> Transform {
    let mut distinct: Vec<u32> = Vec::with_capacity(3);
    for v in values.filter(|v| v.is_finite()) {
        if v < 0.0 {
            return Transform::Identity;
        }
        let bits = (v + 0.0).to_bits(); // -0.0 and 0.0 are one value
        if distinct.len() <= 2 && !distinct.contains(&bits) {
            distinct.push(bits);
        }
    }
    if distinct.len() > 2 {
        Transform::Log1p
    } else {
        Transform::Identity
    }
}

/// The normalization of each column in `names` on `rows`: its transform,
/// then the mean and standard deviation of the transformed values.
pub fn numeric_stats(
    table: &FeatureTable,
    names: &[String],
    rows: &[usize],
    clip: f32,
) -> Vec<NumericStats> {
    names
        .iter()
        .map(|name| {
            let c = (table.numeric_names.iter())
                .position(|n| n == name)
                .expect("input names come from the table");
            let values = &table.numeric[c];
            let transform = transform_for(rows.iter().map(|&r| values[r]));
            let (mut n, mut sum, mut sum_sq) = (0usize, 0f64, 0f64);
            for &r in rows {
                let v = values[r];
                if v.is_finite() {
                    let t = f64::from(transform.apply(v));
                    n += 1;
                    sum += t;
                    sum_sq += t * t;
                }
            }
            let mean = if n > 0 { sum / n as f64 } else { 0.0 };
            let var = if n > 1 {
                (sum_sq / n as f64 - mean * mean).max(0.0)
            } else {
                0.0
            };
            let std = var.sqrt();
            NumericStats {
                transform,
                mean: mean as f32,
                std: if std > 1e-12 { std as f32 } else { 1.0 },
                clip,
                missing_rate: 1.0 - n as f32 / rows.len().max(1) as f32,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[(&str, Vec<f32>)], event_time: Vec<i64>) -> FeatureTable {
        FeatureTable {
            transaction_ids: (0..event_time.len()).map(|i| format!("t{i}")).collect(),
            event_time,
            numeric_names: columns.iter().map(|(n, _)| n.to_string()).collect(),
            numeric: columns.iter().map(|(_, v)| v.clone()).collect(),
            ..FeatureTable::default()
        }
    }

    #[test]
    fn instants_on_the_event_clock_are_left_out_and_nothing_else() {
        let t0 = 1_767_225_600_000i64; // 2026-01-01
        let times: Vec<i64> = (0..100).map(|i| t0 + i * 60_000).collect();
        let prev: Vec<f32> = (0..100)
            .map(|i| {
                if i == 0 {
                    f32::NAN
                } else {
                    (t0 + (i - 1) * 60_000) as f32
                }
            })
            .collect();
        let count: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let t = table(&[("count", count), ("prev_time", prev)], times);
        let rows: Vec<usize> = (0..100).collect();
        let left = absolute_times(&t, &rows);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].feature, "prev_time");
        assert_eq!(input_names(&t, &left), vec!["count".to_string()]);
    }

    #[test]
    fn counts_are_logged_flags_and_signed_values_are_not() {
        assert_eq!(
            transform_for([0.0, 1.0, 5.0, f32::NAN].into_iter()),
            Transform::Log1p
        );
        assert_eq!(
            transform_for([0.0, 1.0, 1.0, 0.0].into_iter()),
            Transform::Identity
        );
        assert_eq!(
            transform_for([-0.0, 0.0, 1.0].into_iter()),
            Transform::Identity
        );
        assert_eq!(
            transform_for([-70.5, 2.0, 30.0].into_iter()),
            Transform::Identity
        );
    }

    #[test]
    fn stats_are_of_the_transformed_values() {
        let t = table(
            &[("n", vec![0.0, (1f32).exp_m1(), (2f32).exp_m1(), f32::NAN])],
            vec![1, 2, 3, 4],
        );
        let s = numeric_stats(&t, &["n".to_string()], &[0, 1, 2, 3], 8.0);
        assert_eq!(s[0].transform, Transform::Log1p);
        assert!((s[0].mean - 1.0).abs() < 1e-5, "{s:?}");
        assert!((s[0].missing_rate - 0.25).abs() < 1e-6);
    }
}
