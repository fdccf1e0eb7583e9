//! What the training report warns about in the features themselves.
//!
//! * **Shift between the splits**: the population stability index (PSI) of
//!   each input between the training split and the validation split (which
//!   is later in time). The training split's deciles are the bins (plus one
//!   for missing values; a categorical input's bins are its vocabulary).
//!   Above [`SHIFTED`], the validation metrics describe a population the
//!   model was not trained on.
//! * **Inputs that follow the clock**: the rank correlation of a numeric
//!   input with event time over the training split. Above
//!   [`FOLLOWS_TIME`] in absolute value the input is mostly a timestamp
//!   (`prev_time`, a running count that only grows): what the model learns
//!   from it holds for the training period's dates, and serving traffic
//!   lies outside the range it saw.

use serde::{Deserialize, Serialize};

/// PSI above which an input is flagged as shifted.
pub const SHIFTED: f64 = 0.25;
/// |Spearman ρ| with event time above which an input is flagged.
pub const FOLLOWS_TIME: f64 = 0.8;
/// Rows the time correlation is computed on, at most (evenly spaced).
const SAMPLE: usize = 50_000;
const FLOOR: f64 = 1e-4;

/// One input's line in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureShift {
    pub feature: String,
    /// PSI of the validation split against the training split.
    pub psi: f64,
    /// Spearman ρ with event time on the training split (numeric inputs).
    pub time_correlation: Option<f64>,
    /// Why it is flagged, if it is.
    pub warnings: Vec<String>,
}

/// PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ) of observed bin `counts` against the
/// `reference` fractions, each fraction floored at 10⁻⁴ so an empty bin
/// stays finite (`None` without counts, or with another number of bins).
pub fn psi(reference: &[f64], counts: &[u64]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.len() != reference.len() {
        return None;
    }
    let sum = counts
        .iter()
        .zip(reference)
        .map(|(&c, &e)| {
            let (a, e) = ((c as f64 / total as f64).max(FLOOR), e.max(FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum();
    Some(sum)
}

/// Fractions of `counts` (all zero without any).
fn fractions(counts: &[u64]) -> Vec<f64> {
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts.iter().map(|&c| c as f64 / total).collect()
}

/// A numeric input's reference distribution: the training values' deciles
/// as bin edges, plus a bin for missing values (NaN), with the fraction of
/// training rows in each. The manifest keeps one per numeric input, for
/// serving drift (`verdict_feature_psi`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    /// Inner edges, increasing: bin `i` holds values in `[edges[i-1], edges[i])`.
    pub edges: Vec<f32>,
    /// `edges.len() + 2` fractions: the value bins, then the missing bin.
    pub fractions: Vec<f64>,
}

impl Bins {
    /// The reference of `values`.
    pub fn of(values: &[f32]) -> Bins {
        let mut known: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        known.sort_by(f32::total_cmp);
        let mut edges: Vec<f32> = (1..10)
            .filter_map(|q| known.get(known.len() * q / 10).copied())
            .collect();
        edges.dedup();
        let mut bins = Bins {
            fractions: Vec::new(),
            edges,
        };
        bins.fractions = fractions(&bins.count(values));
        bins
    }

    /// Bins, value bins then the missing one.
    pub fn width(&self) -> usize {
        self.edges.len() + 2
    }

    /// The bin of `v`.
    pub fn bin(&self, v: f32) -> usize {
        if v.is_nan() {
            self.edges.len() + 1
        } else {
            self.edges.partition_point(|&e| e <= v)
        }
    }

    /// Counts of `values` per bin.
    pub fn count(&self, values: &[f32]) -> Vec<u64> {
        let mut counts = vec![0u64; self.width()];
        for &v in values {
            counts[self.bin(v)] += 1;
        }
        counts
    }

    /// PSI of observed bin counts against this reference (`None` when
    /// there are none, or they are not this reference's bins).
    pub fn psi(&self, counts: &[u64]) -> Option<f64> {
        psi(&self.fractions, counts)
    }
}

/// A numeric input's reference, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReference {
    pub feature: String,
    pub bins: Bins,
}

/// PSI of a numeric input: the training values' deciles are the bins, and
/// missing values (NaN) one more.
pub fn numeric_psi(train: &[f32], valid: &[f32]) -> f64 {
    let bins = Bins::of(train);
    bins.psi(&bins.count(valid)).unwrap_or(0.0)
}

/// PSI of a categorical input over its vocabulary indices.
pub fn categorical_psi(train: &[i64], valid: &[i64], vocabulary: usize) -> f64 {
    let count = |values: &[i64]| {
        let mut bins = vec![0u64; vocabulary.max(1)];
        for &v in values {
            bins[(v.max(0) as usize).min(vocabulary.max(1) - 1)] += 1;
        }
        bins
    };
    psi(&fractions(&count(train)), &count(valid)).unwrap_or(0.0)
}

/// Spearman's rank correlation of `values` with `times` (pairs with a
/// missing value left out; `None` when fewer than 10 are left or either
/// side is constant).
pub fn time_correlation(values: &[f32], times: &[i64]) -> Option<f64> {
    let step = (values.len() / SAMPLE).max(1);
    let pairs: Vec<(f64, f64)> = (0..values.len())
        .step_by(step)
        .filter(|&i| !values[i].is_nan())
        .map(|i| (f64::from(values[i]), times[i] as f64))
        .collect();
    if pairs.len() < 10 {
        return None;
    }
    let ranks = |pick: fn(&(f64, f64)) -> f64| -> Vec<f64> {
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by(|&a, &b| pick(&pairs[a]).total_cmp(&pick(&pairs[b])));
        let mut rank = vec![0.0; pairs.len()];
        let mut i = 0;
        while i < order.len() {
            // Ties share their mean rank.
            let mut j = i;
            while j + 1 < order.len() && pick(&pairs[order[j + 1]]) == pick(&pairs[order[i]]) {
                j += 1;
            }
            for &k in &order[i..=j] {
                rank[k] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        rank
    };
    let (a, b) = (ranks(|p| p.0), ranks(|p| p.1));
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(&b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

/// The report's line for an input, with its warnings.
pub fn assess(feature: &str, psi: f64, time_correlation: Option<f64>) -> FeatureShift {
    let mut warnings = Vec::new();
    if psi > SHIFTED {
        warnings.push(format!(
            "shifted: PSI {psi:.2} between the training and validation splits"
        ));
    }
    if let Some(rho) = time_correlation.filter(|r| r.abs() > FOLLOWS_TIME) {
        warnings.push(format!(
            "follows event time (rank correlation {rho:.2}): what the model learns from it holds for the training dates"
        ));
    }
    FeatureShift {
        feature: feature.to_owned(),
        psi,
        time_correlation,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_distribution_is_stable_and_a_moved_one_is_not() {
        let train: Vec<f32> = (0..10_000).map(|i| (i % 1000) as f32).collect();
        let same: Vec<f32> = (0..5_000).map(|i| ((i * 7) % 1000) as f32).collect();
        let moved: Vec<f32> = same.iter().map(|v| v + 400.0).collect();
        assert!(numeric_psi(&train, &same) < 0.01);
        assert!(numeric_psi(&train, &moved) > SHIFTED);
        // Values going missing is a shift too.
        let missing: Vec<f32> = same
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 2 == 0 { f32::NAN } else { v })
            .collect();
        assert!(numeric_psi(&train, &missing) > SHIFTED);
        let (a, b) = (vec![0i64, 1, 2, 1, 2, 2], vec![2i64, 2, 2, 2, 2, 1]);
        assert!(categorical_psi(&a, &b, 3) > 0.1);
        assert!(categorical_psi(&a, &a, 3) < 1e-9);
    }

    #[test]
    fn a_timestamp_follows_time_and_behaviour_does_not() {
        let times: Vec<i64> = (0..5_000).map(|i| 1_700_000_000_000 + i * 1_000).collect();
        let stamp: Vec<f32> = times
            .iter()
            .map(|&t| (t / 1000 - 1_700_000_000) as f32)
            .collect();
        let amount: Vec<f32> = (0..5_000).map(|i| ((i * 7919) % 300) as f32).collect();
        let rho = time_correlation(&stamp, &times).unwrap();
        assert!(rho > 0.99, "{rho}");
        assert!(time_correlation(&amount, &times).unwrap().abs() < 0.1);
        assert_eq!(assess("prev_time", 0.01, Some(rho)).warnings.len(), 1);
        assert!(assess("amount", 0.01, Some(0.02)).warnings.is_empty());
        assert_eq!(time_correlation(&[1.0; 20], &times[..20]), None);
    }
}
