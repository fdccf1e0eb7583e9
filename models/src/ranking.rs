//! Ranking metrics for imbalanced binary classification.
//!
//! Everything is computed from one sort of the scores (descending), walking
//! distinct thresholds: ROC AUC by the trapezoid rule, PR AUC as average
//! precision (the step-wise sum, not an interpolated area), recall at a fixed
//! false-positive rate, and a threshold table an analyst can pick a review
//! or decline cut-off from.

use serde::{Deserialize, Serialize};

use crate::manifest::Metrics;

/// Operating point at one threshold (`score >= threshold` is flagged).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRow {
    pub threshold: f32,
    pub flagged_rate: f64,
    pub precision: f64,
    pub recall: f64,
    pub false_positive_rate: f64,
    pub true_positives: usize,
    pub false_positives: usize,
}

/// Full evaluation of a score vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub metrics: Metrics,
    pub thresholds: Vec<ThresholdRow>,
    /// `(fpr, tpr)`, down-sampled for plotting.
    pub roc_curve: Vec<(f64, f64)>,
    /// `(recall, precision)`, down-sampled for plotting.
    pub pr_curve: Vec<(f64, f64)>,
}

/// Fixed thresholds reported in the table, besides the FPR-targeted ones.
const TABLE_THRESHOLDS: [f32; 11] = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
const CURVE_POINTS: usize = 500;

struct Point {
    threshold: f32,
    tp: usize,
    fp: usize,
}

/// Evaluates `scores` against `labels` (1.0 = fraud).
pub fn evaluate_scores(scores: &[f32], labels: &[f32]) -> Evaluation {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let positives = labels.iter().filter(|&&y| y > 0.5).count();
    let counts = Counts {
        positives,
        negatives: labels.len() - positives,
        total: scores.len(),
    };
    let points = operating_points(scores, labels);
    let metrics = headline_metrics(&points, &counts, scores, labels);
    let thresholds = threshold_table(&points, &counts);
    let (roc_curve, pr_curve) = curves(&points, &counts);
    Evaluation {
        metrics,
        thresholds,
        roc_curve,
        pr_curve,
    }
}

/// Class sizes of the evaluated vector.
struct Counts {
    positives: usize,
    negatives: usize,
    total: usize,
}

/// `num / den`, 0 for an empty denominator.
fn rate(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// One point per distinct threshold, walking from the highest score down
/// (the first point, at +infinity, flags nothing).
fn operating_points(scores: &[f32], labels: &[f32]) -> Vec<Point> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![Point {
        threshold: f32::INFINITY,
        tp: 0,
        fp: 0,
    }];
    let (mut tp, mut fp) = (0, 0);
    for (i, &idx) in order.iter().enumerate() {
        if labels[idx] > 0.5 {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order
            .get(i + 1)
            .is_none_or(|&next| scores[next] != scores[idx]);
        if last_of_tie {
            points.push(Point {
                threshold: scores[idx],
                tp,
                fp,
            });
        }
    }
    points
}

/// ROC AUC (trapezoids), PR AUC (average precision), recall at fixed
/// false-positive rates, and the log loss of the raw scores.
fn headline_metrics(points: &[Point], counts: &Counts, scores: &[f32], labels: &[f32]) -> Metrics {
    let (positives, negatives) = (counts.positives, counts.negatives);
    let mut roc_auc = 0.0;
    let mut pr_auc = 0.0;
    for w in points.windows(2) {
        let (x0, x1) = (rate(w[0].fp, negatives), rate(w[1].fp, negatives));
        let (y0, y1) = (rate(w[0].tp, positives), rate(w[1].tp, positives));
        roc_auc += (x1 - x0) * (y0 + y1) / 2.0;
        pr_auc += (y1 - y0) * rate(w[1].tp, w[1].tp + w[1].fp);
    }
    let recall_at = |max_fpr: f64| {
        points
            .iter()
            .filter(|p| rate(p.fp, negatives) <= max_fpr)
            .map(|p| rate(p.tp, positives))
            .fold(0.0, f64::max)
    };
    let log_loss = scores
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = f64::from(p).clamp(1e-7, 1.0 - 1e-7);
            if y > 0.5 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum::<f64>()
        / scores.len().max(1) as f64;
    Metrics {
        roc_auc,
        pr_auc,
        recall_at_0_1pct_fpr: recall_at(0.001),
        recall_at_1pct_fpr: recall_at(0.01),
        log_loss,
        positives,
        negatives,
    }
}

/// The fixed thresholds plus the cut-offs reaching 0.1 % and 1 % FPR, sorted
/// and deduplicated.
fn threshold_table(points: &[Point], counts: &Counts) -> Vec<ThresholdRow> {
    let (positives, negatives) = (counts.positives, counts.negatives);
    let row = |p: &Point, threshold: f32| ThresholdRow {
        threshold,
        flagged_rate: rate(p.tp + p.fp, counts.total),
        precision: rate(p.tp, p.tp + p.fp),
        recall: rate(p.tp, positives),
        false_positive_rate: rate(p.fp, negatives),
        true_positives: p.tp,
        false_positives: p.fp,
    };
    let mut thresholds: Vec<ThresholdRow> = TABLE_THRESHOLDS
        .iter()
        .map(|&t| {
            // Last point whose threshold is still >= t: everything scored >= t.
            let p = points
                .iter()
                .rev()
                .find(|p| p.threshold >= t)
                .unwrap_or(&points[0]);
            row(p, t)
        })
        .collect();
    for max_fpr in [0.001, 0.01] {
        if let Some(p) = points
            .iter()
            .rev()
            .find(|p| rate(p.fp, negatives) <= max_fpr && p.threshold.is_finite())
        {
            thresholds.push(row(p, p.threshold));
        }
    }
    thresholds.sort_by(|a, b| a.threshold.total_cmp(&b.threshold));
    thresholds.dedup_by(|a, b| a.threshold == b.threshold);
    thresholds
}

/// `(fpr, tpr)` and `(recall, precision)` curves, down-sampled to about
/// [`CURVE_POINTS`] points (the last point always kept).
type Curve = Vec<(f64, f64)>;

fn curves(points: &[Point], counts: &Counts) -> (Curve, Curve) {
    let step = (points.len() / CURVE_POINTS).max(1);
    let sampled = points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == points.len() - 1)
        .map(|(_, p)| p);
    sampled
        .map(|p| {
            let recall = rate(p.tp, counts.positives);
            let precision = if p.tp + p.fp == 0 {
                1.0
            } else {
                rate(p.tp, p.tp + p.fp)
            };
            ((rate(p.fp, counts.negatives), recall), (recall, precision))
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_inverted_rankings() {
        let labels = [0.0, 0.0, 1.0, 1.0];
        let perfect = evaluate_scores(&[0.1, 0.2, 0.8, 0.9], &labels);
        assert!((perfect.metrics.roc_auc - 1.0).abs() < 1e-12);
        assert!((perfect.metrics.pr_auc - 1.0).abs() < 1e-12);
        assert_eq!(perfect.metrics.recall_at_0_1pct_fpr, 1.0);
        let inverted = evaluate_scores(&[0.9, 0.8, 0.2, 0.1], &labels);
        assert!(inverted.metrics.roc_auc.abs() < 1e-12);
    }

    #[test]
    fn ties_give_half_credit() {
        let e = evaluate_scores(&[0.5, 0.5], &[0.0, 1.0]);
        assert!((e.metrics.roc_auc - 0.5).abs() < 1e-12);
        assert!((e.metrics.pr_auc - 0.5).abs() < 1e-12);
    }

    #[test]
    fn known_mixed_ranking() {
        // Order: 1, 0, 1, 0 → ROC AUC 0.75, AP = (1 + 2/3) / 2.
        let e = evaluate_scores(&[0.9, 0.8, 0.7, 0.6], &[1.0, 0.0, 1.0, 0.0]);
        assert!((e.metrics.roc_auc - 0.75).abs() < 1e-12);
        assert!((e.metrics.pr_auc - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        let at_half = e.thresholds.iter().find(|r| r.threshold == 0.5).unwrap();
        assert_eq!((at_half.true_positives, at_half.false_positives), (2, 2));
    }
}
