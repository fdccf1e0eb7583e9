//! Score calibration: the network's output made a probability that means
//! what it says (`score >= 0.95` flags events of which about 95 % are fraud).
//!
//! Training fits an isotonic map (pool-adjacent-violators) from the
//! network's output to the observed fraud rate on the first half (by time)
//! of the validation split, and checks it on the second half: the
//! reliability table in `report.md`. The map is stored in the manifest as
//! breakpoints and applied by every scorer after the network: linear
//! between breakpoints, flat beyond the ends, so it keeps the order of
//! scores (ties aside) and therefore every ranking metric.

use serde::{Deserialize, Serialize};

/// An isotonic map from the network's output to a probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Network outputs, increasing.
    pub scores: Vec<f32>,
    /// The calibrated probability at each, non-decreasing.
    pub probabilities: Vec<f32>,
    /// Rows the map was fitted on.
    pub fitted_rows: usize,
}

impl Calibration {
    /// Fits the map on `(score, label)` pairs (`y` 1.0 for fraud). `None`
    /// without both classes: there is nothing to calibrate against.
    pub fn fit(scores: &[f32], y: &[f32]) -> Option<Calibration> {
        let positives = y.iter().filter(|&&v| v > 0.5).count();
        if scores.is_empty() || positives == 0 || positives == y.len() {
            return None;
        }
        let mut pairs: Vec<(f32, f32)> = scores.iter().copied().zip(y.iter().copied()).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Pool adjacent violators: blocks of (score sum, label sum, rows).
        let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
        for (s, label) in pairs {
            blocks.push((f64::from(s), f64::from(label), 1));
            while blocks.len() > 1 {
                let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
                // Equal rates pool too: one breakpoint per distinct level.
                if a.1 / (a.2 as f64) < b.1 / (b.2 as f64) {
                    break;
                }
                blocks.pop();
                *blocks.last_mut().expect("two blocks") = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
            }
        }
        Some(Calibration {
            scores: blocks.iter().map(|b| (b.0 / b.2 as f64) as f32).collect(),
            probabilities: blocks.iter().map(|b| (b.1 / b.2 as f64) as f32).collect(),
            fitted_rows: scores.len(),
        })
    }

    /// The calibrated probability of network output `score`.
    pub fn apply(&self, score: f32) -> f32 {
        let (xs, ys) = (&self.scores, &self.probabilities);
        let Some((&first, &last)) = xs.first().zip(xs.last()) else {
            return score;
        };
        if score.is_nan() {
            return score;
        }
        if score <= first {
            return ys[0];
        }
        if score >= last {
            return ys[ys.len() - 1];
        }
        let i = xs.partition_point(|&x| x <= score);
        let (x0, x1, y0, y1) = (xs[i - 1], xs[i], ys[i - 1], ys[i]);
        if x1 <= x0 {
            return y1;
        }
        y0 + (y1 - y0) * (score - x0) / (x1 - x0)
    }

    /// Whether the breakpoints are well formed (same lengths, increasing
    /// scores, non-decreasing probabilities in [0, 1]): a manifest's map
    /// is checked at load.
    pub fn is_valid(&self) -> bool {
        self.scores.len() == self.probabilities.len()
            && !self.scores.is_empty()
            && self.scores.windows(2).all(|w| w[0] <= w[1])
            && self.probabilities.windows(2).all(|w| w[0] <= w[1])
            && self
                .probabilities
                .iter()
                .chain(&self.scores)
                .all(|v| (0.0..=1.0).contains(v))
    }
}

/// One bin of a reliability curve: scores in `[lower, upper)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lower: f32,
    pub upper: f32,
    pub rows: usize,
    /// The mean score of the bin's rows.
    pub mean_score: f64,
    /// The fraud rate observed among them.
    pub fraud_rate: f64,
}

/// The reliability curve of `scores` against labels `y` in ten equal-width
/// bins (the last one includes 1.0); empty bins are left out.
pub fn reliability(scores: &[f32], y: &[f32]) -> Vec<ReliabilityBin> {
    const BINS: usize = 10;
    let mut sums = [(0usize, 0.0f64, 0.0f64); BINS];
    for (&s, &label) in scores.iter().zip(y) {
        if s.is_nan() {
            continue;
        }
        let b = ((s * BINS as f32) as usize).min(BINS - 1);
        sums[b].0 += 1;
        sums[b].1 += f64::from(s);
        sums[b].2 += f64::from(label);
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(b, &(rows, score, fraud))| ReliabilityBin {
            lower: b as f32 / BINS as f32,
            upper: (b + 1) as f32 / BINS as f32,
            rows,
            mean_score: score / rows as f64,
            fraud_rate: fraud / rows as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores that overstate fraud (the true rate is the score squared),
    /// with labels drawn at that rate by a fixed LCG.
    fn overconfident(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        (0..n)
            .map(|_| {
                let s = next();
                (s, if next() < s * s { 1.0 } else { 0.0 })
            })
            .unzip()
    }

    #[test]
    fn the_fitted_map_is_monotone_and_calibrates_held_out_scores() {
        let (fit_s, fit_y) = overconfident(40_000, 1);
        let c = Calibration::fit(&fit_s, &fit_y).unwrap();
        assert!(c.is_valid(), "{c:?}");
        let (s, y) = overconfident(40_000, 2);
        let before = reliability(&s, &y);
        assert!(
            before
                .iter()
                .any(|b| (b.mean_score - b.fraud_rate).abs() > 0.2),
            "the raw scores are off: {before:?}"
        );
        let calibrated: Vec<f32> = s.iter().map(|&v| c.apply(v)).collect();
        for b in reliability(&calibrated, &y) {
            assert!(
                b.rows < 100 || (b.mean_score - b.fraud_rate).abs() <= 0.05,
                "{b:?}"
            );
        }
        // Order is kept: ranking metrics do not move.
        assert!((0..100).all(|i| c.apply(i as f32 / 100.0) <= c.apply((i + 1) as f32 / 100.0)));
    }

    #[test]
    fn one_class_fits_nothing_and_the_ends_are_flat() {
        assert_eq!(Calibration::fit(&[0.1, 0.2], &[0.0, 0.0]), None);
        let c = Calibration::fit(&[0.2, 0.4, 0.6, 0.8], &[0.0, 1.0, 0.0, 1.0]).unwrap();
        // 0.4 and 0.6 violate the order and are pooled at 0.5.
        assert_eq!(c.scores, vec![0.2, 0.5, 0.8]);
        assert_eq!(c.probabilities, vec![0.0, 0.5, 1.0]);
        assert_eq!(c.apply(0.0), 0.0);
        assert_eq!(c.apply(0.95), 1.0);
        assert!((c.apply(0.35) - 0.25).abs() < 1e-6);
        assert!(c.apply(f32::NAN).is_nan());
    }
}
