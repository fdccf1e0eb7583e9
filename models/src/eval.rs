//! Model evaluation and the report files.
//!
//! [`evaluate`] scores a labelled feature table with a saved model (through
//! the same scorer the engine uses) and writes `report.json`, `report.md`,
//! `roc.png` and `pr.png`. Training calls [`write_report`] on its validation
//! split, so every artifact ships with its report.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::LoadError;
use crate::calibration::{ReliabilityBin, reliability};
use crate::manifest::ScoreDistribution;
use crate::ranking::{Evaluation, evaluate_scores};
use crate::scorer::{ScoreError, load_model};
use crate::shift::FeatureShift;
use crate::table::{DataError, Label, label_vector, read_labels, read_table};

/// Report file names.
pub const REPORT_JSON: &str = "report.json";
pub const REPORT_MD: &str = "report.md";
pub const ROC_PNG: &str = "roc.png";
pub const PR_PNG: &str = "pr.png";
pub const RELIABILITY_PNG: &str = "reliability.png";

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("feature table does not fit the model: {0}")]
    Schema(String),
    #[error(transparent)]
    Score(#[from] ScoreError),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("no labelled rows to evaluate")]
    Empty,
}

/// Recall of one fraud scenario at the 1 %-FPR operating point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecall {
    pub scenario: String,
    pub frauds: usize,
    pub recall_at_1pct_fpr: f64,
}

/// Contents of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub model: String,
    pub data: String,
    pub rows: usize,
    pub generated: String,
    pub evaluation: Evaluation,
    pub scenarios: Vec<ScenarioRecall>,
    pub score_distribution: ScoreDistribution,
    /// The reliability curve of the report's scores (ten bins).
    #[serde(default)]
    pub reliability: Vec<ReliabilityBin>,
    /// Training's check of its calibration, on validation rows it was not
    /// fitted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationCheck>,
    /// Training's look at its inputs ([`crate::shift`]), most shifted first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_shift: Vec<FeatureShift>,
}

/// The calibration's fit and its check, on the two halves (by event time)
/// of the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationCheck {
    pub fitted_rows: usize,
    pub held_out_rows: usize,
    /// The network's own outputs on the held-out half.
    pub uncalibrated: Vec<ReliabilityBin>,
    /// The calibrated scores on the held-out half.
    pub calibrated: Vec<ReliabilityBin>,
}

/// Rows scored per call while evaluating, between two progress reports.
pub const EVAL_CHUNK_ROWS: usize = 65_536;

/// Scores `data` with the model in `model_dir` and writes the report files
/// into `out_report_dir`.
pub fn evaluate(
    model_dir: &Path,
    data: &Path,
    labels: &Path,
    out_report_dir: &Path,
) -> Result<EvalReport, EvalError> {
    evaluate_with_progress(model_dir, data, labels, out_report_dir, &|_, _| {})
}

/// [`evaluate`], calling `progress(rows scored, rows)` after each chunk of
/// [`EVAL_CHUNK_ROWS`] rows, so a caller can show how far scoring is.
pub fn evaluate_with_progress(
    model_dir: &Path,
    data: &Path,
    labels: &Path,
    out_report_dir: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<EvalReport, EvalError> {
    let model = load_model(model_dir)?;
    let table = read_table(data)?;
    if table.is_empty() {
        return Err(EvalError::Empty);
    }
    let label_map = read_labels(labels)?;
    let rows = table
        .rows_for(&model.manifest().schema)
        .map_err(EvalError::Schema)?;
    let mut scores = vec![0.0; table.len()];
    let width = model.manifest().schema.width().max(1);
    let mut scored = 0;
    for (rows, out) in rows
        .chunks(EVAL_CHUNK_ROWS * width)
        .zip(scores.chunks_mut(EVAL_CHUNK_ROWS))
    {
        model.score_batch(rows, out)?;
        scored += out.len();
        progress(scored as u64, table.len() as u64);
    }
    let y = label_vector(&table, &label_map);
    let scenarios: Vec<Option<&Label>> = table
        .transaction_ids
        .iter()
        .map(|id| label_map.get(id))
        .collect();
    let report = build_report(
        model.manifest().id(),
        data.display().to_string(),
        &scores,
        &y,
        &scenarios,
    );
    write_report(out_report_dir, &report)?;
    Ok(report)
}

/// Assembles a report from scores and labels.
pub fn build_report(
    model: String,
    data: String,
    scores: &[f32],
    y: &[f32],
    labels: &[Option<&Label>],
) -> EvalReport {
    let evaluation = evaluate_scores(scores, y);
    let cut = evaluation
        .thresholds
        .iter()
        .filter(|r| r.false_positive_rate <= 0.01)
        .map(|r| r.threshold)
        .fold(f32::INFINITY, f32::min);
    let mut by_scenario: HashMap<String, (usize, usize)> = HashMap::new();
    for ((label, &score), &yy) in labels.iter().zip(scores).zip(y) {
        if yy > 0.5 {
            let name = label
                .and_then(|l| l.scenario.clone())
                .unwrap_or_else(|| "unspecified".into());
            let entry = by_scenario.entry(name).or_default();
            entry.0 += 1;
            entry.1 += usize::from(score >= cut);
        }
    }
    let mut scenarios: Vec<ScenarioRecall> = by_scenario
        .into_iter()
        .map(|(scenario, (frauds, caught))| ScenarioRecall {
            scenario,
            frauds,
            recall_at_1pct_fpr: caught as f64 / frauds as f64,
        })
        .collect();
    scenarios.sort_by(|a, b| a.scenario.cmp(&b.scenario));
    EvalReport {
        model,
        data,
        rows: scores.len(),
        generated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        evaluation,
        scenarios,
        score_distribution: ScoreDistribution::from_scores(scores),
        reliability: reliability(scores, y),
        calibration: None,
        feature_shift: Vec::new(),
    }
}

/// Writes `report.json`, `report.md`, `roc.png`, `pr.png` into `dir`.
pub fn write_report(dir: &Path, report: &EvalReport) -> Result<(), EvalError> {
    let fail = |path: PathBuf| move |e: String| EvalError::Write { path, message: e };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir.to_path_buf())(e.to_string()))?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| fail(dir.join(REPORT_JSON))(e.to_string()))?;
    std::fs::write(dir.join(REPORT_JSON), json)
        .map_err(|e| fail(dir.join(REPORT_JSON))(e.to_string()))?;
    std::fs::write(dir.join(REPORT_MD), markdown(report))
        .map_err(|e| fail(dir.join(REPORT_MD))(e.to_string()))?;
    let e = &report.evaluation;
    let roc_title = format!("ROC — AUC {:.4}", e.metrics.roc_auc);
    crate::plots::plot_curve(
        &dir.join(ROC_PNG),
        &roc_title,
        "false positive rate",
        "true positive rate",
        &e.roc_curve,
        true,
    )
    .map_err(fail(dir.join(ROC_PNG)))?;
    let pr_title = format!("Precision-recall — AP {:.4}", e.metrics.pr_auc);
    crate::plots::plot_curve(
        &dir.join(PR_PNG),
        &pr_title,
        "recall",
        "precision",
        &e.pr_curve,
        false,
    )
    .map_err(fail(dir.join(PR_PNG)))?;
    let (curve, title) = match &report.calibration {
        Some(c) => (&c.calibrated, "Reliability (held-out validation half)"),
        None => (&report.reliability, "Reliability"),
    };
    let points: Vec<(f64, f64)> = curve.iter().map(|b| (b.mean_score, b.fraud_rate)).collect();
    crate::plots::plot_curve(
        &dir.join(RELIABILITY_PNG),
        title,
        "mean score",
        "observed fraud rate",
        &points,
        true,
    )
    .map_err(fail(dir.join(RELIABILITY_PNG)))?;
    Ok(())
}

/// The human-readable report.
pub fn markdown(report: &EvalReport) -> String {
    let m = &report.evaluation.metrics;
    let mut s = String::new();
    let _ = writeln!(s, "# Evaluation report: {}\n", report.model);
    let _ = writeln!(
        s,
        "Data: `{}` — {} rows ({} fraud, {} legitimate). Generated {}.\n",
        report.data, report.rows, m.positives, m.negatives, report.generated
    );
    let _ = writeln!(s, "| metric | value |\n|---|---|");
    let _ = writeln!(s, "| ROC AUC | {:.4} |", m.roc_auc);
    let _ = writeln!(s, "| PR AUC (average precision) | {:.4} |", m.pr_auc);
    let _ = writeln!(s, "| recall at 0.1 % FPR | {:.4} |", m.recall_at_0_1pct_fpr);
    let _ = writeln!(s, "| recall at 1 % FPR | {:.4} |", m.recall_at_1pct_fpr);
    let _ = writeln!(s, "| log loss | {:.4} |\n", m.log_loss);
    let _ = writeln!(
        s,
        "## Threshold table\n\n`score >= threshold` is flagged.\n"
    );
    let _ = writeln!(
        s,
        "| threshold | flagged | precision | recall | FPR | TP | FP |\n|---|---|---|---|---|---|---|"
    );
    for r in &report.evaluation.thresholds {
        let _ = writeln!(
            s,
            "| {:.4} | {:.3} % | {:.4} | {:.4} | {:.4} % | {} | {} |",
            r.threshold,
            r.flagged_rate * 100.0,
            r.precision,
            r.recall,
            r.false_positive_rate * 100.0,
            r.true_positives,
            r.false_positives
        );
    }
    if !report.scenarios.is_empty() {
        let _ = writeln!(
            s,
            "\n## Recall by fraud scenario at 1 % FPR\n\n| scenario | frauds | recall |\n|---|---|---|"
        );
        for sc in &report.scenarios {
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} |",
                sc.scenario, sc.frauds, sc.recall_at_1pct_fpr
            );
        }
    }
    let _ = writeln!(
        s,
        "\n## Score distribution (drift reference)\n\n| quantile | score |\n|---|---|"
    );
    for (q, v) in &report.score_distribution.quantiles {
        let _ = writeln!(s, "| {q} | {v:.5} |");
    }
    if !report.feature_shift.is_empty() {
        let flagged = report
            .feature_shift
            .iter()
            .filter(|f| !f.warnings.is_empty())
            .count();
        let _ = writeln!(
            s,
            "\n## Inputs: training split → validation split\n\n{flagged} of {} inputs flagged.\n\n\
             | input | PSI | rank correlation with event time | warning |\n|---|---|---|---|",
            report.feature_shift.len()
        );
        for f in &report.feature_shift {
            let rho = f.time_correlation.map_or("—".into(), |r| format!("{r:.2}"));
            let warn = if f.warnings.is_empty() {
                String::new()
            } else {
                format!("⚠ {}", f.warnings.join("; "))
            };
            let _ = writeln!(s, "| {} | {:.3} | {rho} | {warn} |", f.feature, f.psi);
        }
    }
    let _ = writeln!(s, "\n## Reliability\n");
    let table = |s: &mut String, bins: &[ReliabilityBin]| {
        let _ = writeln!(
            s,
            "| score bin | rows | mean score | observed fraud rate |\n|---|---|---|---|"
        );
        for b in bins {
            let _ = writeln!(
                s,
                "| {:.1}–{:.1} | {} | {:.4} | {:.4} |",
                b.lower, b.upper, b.rows, b.mean_score, b.fraud_rate
            );
        }
    };
    match &report.calibration {
        Some(c) => {
            let _ = writeln!(
                s,
                "Calibration (isotonic) fitted on the first {} validation rows by event \
                 time, checked on the other {}. Calibrated:\n",
                c.fitted_rows, c.held_out_rows
            );
            table(&mut s, &c.calibrated);
            let _ = writeln!(s, "\nThe network's own outputs on the same rows:\n");
            table(&mut s, &c.uncalibrated);
        }
        None => table(&mut s, &report.reliability),
    }
    let _ = writeln!(
        s,
        "\n![ROC]({ROC_PNG}) ![PR]({PR_PNG}) ![reliability]({RELIABILITY_PNG})"
    );
    s
}
