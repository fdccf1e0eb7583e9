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
use crate::scorer::{ScoreError, Scorer, load_model};
use crate::shift::FeatureShift;
use crate::table::{
    DataError, FeatureTable, Label, LabelMaturity, label_vector, read_labels, read_table,
};

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
    /// Rows left out because their labels may not have arrived yet
    /// ([`LabelMaturity`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub immature_rows_left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
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
    evaluate_with_progress(model_dir, data, labels, None, out_report_dir, &|_, _| {})
}

/// [`evaluate`] on the rows old enough for their labels (`maturity`),
/// calling `progress(rows scored, rows)` after each chunk of
/// [`EVAL_CHUNK_ROWS`] rows, so a caller can show how far scoring is.
pub fn evaluate_with_progress(
    model_dir: &Path,
    data: &Path,
    labels: &Path,
    maturity: Option<&LabelMaturity>,
    out_report_dir: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<EvalReport, EvalError> {
    let model = load_model(model_dir)?;
    let (table, immature) = read_mature(data, maturity)?;
    let label_map = read_labels(labels)?;
    let scores = score_table(model.as_ref(), &table, progress)?;
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
    let report = EvalReport {
        immature_rows_left_out: immature,
        ..report
    };
    write_report(out_report_dir, &report)?;
    Ok(report)
}

/// The table at `data`, without the rows too young for their labels;
/// returns it and how many rows were left out.
fn read_mature(
    data: &Path,
    maturity: Option<&LabelMaturity>,
) -> Result<(FeatureTable, usize), EvalError> {
    let mut table = read_table(data)?;
    let immature = maturity.map_or(0, |m| table.retain_mature(m));
    if table.is_empty() {
        return Err(EvalError::Empty);
    }
    Ok((table, immature))
}

/// Every row of `table` scored by `model`, in chunks of [`EVAL_CHUNK_ROWS`],
/// calling `progress(rows scored, rows)` after each.
fn score_table(
    model: &dyn Scorer,
    table: &FeatureTable,
    progress: &dyn Fn(u64, u64),
) -> Result<Vec<f32>, EvalError> {
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
    Ok(scores)
}

/// File names of a comparison.
pub const COMPARE_JSON: &str = "compare.json";
pub const COMPARE_MD: &str = "compare.md";

/// Contents of `compare.json`: a champion and a challenger evaluated on the
/// same labelled rows, and what switching from one to the other would
/// change at a decision threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub data: String,
    pub rows: usize,
    /// `score >= threshold` is what the rules act on (the default rules
    /// decline at 0.95).
    pub threshold: f32,
    pub champion: ModelAtThreshold,
    pub challenger: ModelAtThreshold,
    /// Frauds flagged by both models, by the champion only, by the
    /// challenger only.
    pub frauds_flagged_by_both: usize,
    pub frauds_flagged_by_champion_only: usize,
    pub frauds_flagged_by_challenger_only: usize,
    /// Legitimate rows flagged by the challenger and not the champion, and
    /// the other way round: the false declines a promotion adds and removes.
    pub legitimate_flagged_by_challenger_only: usize,
    pub legitimate_flagged_by_champion_only: usize,
}

/// One side of a comparison: its evaluation (as in `report.json`) and its
/// operating point at the comparison's threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelAtThreshold {
    pub report: EvalReport,
    pub flagged: usize,
    pub precision: f64,
    pub recall: f64,
    /// Flagged legitimate rows over all legitimate rows.
    pub false_positive_rate: f64,
}

/// What [`compare`] compares, on which data.
#[derive(Debug, Clone, Copy)]
pub struct Comparison<'a> {
    pub champion: &'a Path,
    pub challenger: &'a Path,
    pub data: &'a Path,
    pub labels: &'a Path,
    pub maturity: Option<LabelMaturity>,
    /// The score the rules act on.
    pub threshold: f32,
}

/// Scores the comparison's data with both models and writes `compare.json`
/// and `compare.md` into `out_dir`, with each model's own report (as
/// [`evaluate`] writes it) under `champion/` and `challenger/`.
pub fn compare(
    what: &Comparison<'_>,
    out_dir: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<CompareReport, EvalError> {
    let (data, threshold) = (what.data, what.threshold);
    let champion = load_model(what.champion)?;
    let challenger = load_model(what.challenger)?;
    let (table, immature) = read_mature(data, what.maturity.as_ref())?;
    let label_map = read_labels(what.labels)?;
    let n = table.len() as u64;
    let a = score_table(champion.as_ref(), &table, &|done, _| progress(done, 2 * n))?;
    let b = score_table(challenger.as_ref(), &table, &|done, _| {
        progress(n + done, 2 * n)
    })?;
    let y = label_vector(&table, &label_map);
    let scenarios: Vec<Option<&Label>> = table
        .transaction_ids
        .iter()
        .map(|id| label_map.get(id))
        .collect();
    let shown = data.display().to_string();
    let side = |model: &dyn Scorer, scores: &[f32]| {
        let report = build_report(model.manifest().id(), shown.clone(), scores, &y, &scenarios);
        let report = EvalReport {
            immature_rows_left_out: immature,
            ..report
        };
        at_threshold(report, scores, &y, threshold)
    };
    let (champion, challenger) = (side(champion.as_ref(), &a), side(challenger.as_ref(), &b));
    let mut report = CompareReport {
        data: shown.clone(),
        rows: table.len(),
        threshold,
        frauds_flagged_by_both: 0,
        frauds_flagged_by_champion_only: 0,
        frauds_flagged_by_challenger_only: 0,
        legitimate_flagged_by_challenger_only: 0,
        legitimate_flagged_by_champion_only: 0,
        champion,
        challenger,
    };
    for ((&sa, &sb), &label) in a.iter().zip(&b).zip(&y) {
        let count = match (label > 0.5, sa >= threshold, sb >= threshold) {
            (true, true, true) => &mut report.frauds_flagged_by_both,
            (true, true, false) => &mut report.frauds_flagged_by_champion_only,
            (true, false, true) => &mut report.frauds_flagged_by_challenger_only,
            (false, true, false) => &mut report.legitimate_flagged_by_champion_only,
            (false, false, true) => &mut report.legitimate_flagged_by_challenger_only,
            _ => continue,
        };
        *count += 1;
    }
    write_report(&out_dir.join("champion"), &report.champion.report)?;
    write_report(&out_dir.join("challenger"), &report.challenger.report)?;
    let json = serde_json::to_string_pretty(&report).expect("a report serializes");
    for (name, text) in [
        (COMPARE_JSON, json),
        (COMPARE_MD, compare_markdown(&report)),
    ] {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| EvalError::Write {
            path,
            message: e.to_string(),
        })?;
    }
    Ok(report)
}

fn at_threshold(report: EvalReport, scores: &[f32], y: &[f32], threshold: f32) -> ModelAtThreshold {
    let (mut tp, mut fp) = (0usize, 0usize);
    for (&s, &label) in scores.iter().zip(y) {
        if s >= threshold {
            if label > 0.5 {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    let m = &report.evaluation.metrics;
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    ModelAtThreshold {
        flagged: tp + fp,
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, m.positives),
        false_positive_rate: ratio(fp, m.negatives),
        report,
    }
}

/// `compare.md`: the two models side by side.
pub fn compare_markdown(r: &CompareReport) -> String {
    let (a, b) = (&r.champion, &r.challenger);
    let (ma, mb) = (&a.report.evaluation.metrics, &b.report.evaluation.metrics);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Champion vs challenger\n\nData: `{}` — {} rows ({} fraud, {} legitimate).\n",
        r.data, r.rows, ma.positives, ma.negatives
    );
    let _ = writeln!(
        s,
        "| | champion `{}` | challenger `{}` | change |\n|---|---|---|---|",
        a.report.model, b.report.model
    );
    let rows: [(&str, f64, f64); 4] = [
        ("ROC AUC", ma.roc_auc, mb.roc_auc),
        ("PR AUC", ma.pr_auc, mb.pr_auc),
        (
            "recall at 1 % FPR",
            ma.recall_at_1pct_fpr,
            mb.recall_at_1pct_fpr,
        ),
        (
            "recall at 0.1 % FPR",
            ma.recall_at_0_1pct_fpr,
            mb.recall_at_0_1pct_fpr,
        ),
    ];
    for (name, x, y) in rows {
        let _ = writeln!(s, "| {name} | {x:.4} | {y:.4} | {:+.4} |", y - x);
    }
    let t = r.threshold;
    let _ = writeln!(
        s,
        "| flagged at score >= {t} | {} | {} | {:+} |",
        a.flagged,
        b.flagged,
        b.flagged as i64 - a.flagged as i64
    );
    let _ = writeln!(
        s,
        "| precision at {t} | {:.4} | {:.4} | {:+.4} |",
        a.precision,
        b.precision,
        b.precision - a.precision
    );
    let _ = writeln!(
        s,
        "| recall at {t} | {:.4} | {:.4} | {:+.4} |",
        a.recall,
        b.recall,
        b.recall - a.recall
    );
    let _ = writeln!(
        s,
        "| legitimate flagged at {t} | {:.4} % | {:.4} % | {:+.4} pp |",
        a.false_positive_rate * 100.0,
        b.false_positive_rate * 100.0,
        (b.false_positive_rate - a.false_positive_rate) * 100.0
    );
    let _ = writeln!(
        s,
        "\n## What a promotion changes at score >= {t}\n\n| | rows |\n|---|---|\n\
         | frauds flagged by both | {} |\n| frauds only the champion flags (lost) | {} |\n\
         | frauds only the challenger flags (gained) | {} |\n\
         | legitimate rows only the challenger flags (new false declines) | {} |\n\
         | legitimate rows only the champion flags (false declines removed) | {} |",
        r.frauds_flagged_by_both,
        r.frauds_flagged_by_champion_only,
        r.frauds_flagged_by_challenger_only,
        r.legitimate_flagged_by_challenger_only,
        r.legitimate_flagged_by_champion_only
    );
    let scenarios: std::collections::BTreeSet<&str> = (a.report.scenarios.iter())
        .chain(&b.report.scenarios)
        .map(|sc| sc.scenario.as_str())
        .collect();
    if !scenarios.is_empty() {
        let _ = writeln!(
            s,
            "\n## Recall by fraud scenario at each model's 1 % FPR\n\n| scenario | frauds | champion | challenger |\n|---|---|---|---|"
        );
        let find = |side: &ModelAtThreshold, name: &str| {
            side.report
                .scenarios
                .iter()
                .find(|sc| sc.scenario == name)
                .cloned()
        };
        for name in scenarios {
            let (x, y) = (find(a, name), find(b, name));
            let frauds = x.as_ref().or(y.as_ref()).map_or(0, |sc| sc.frauds);
            let recall = |sc: Option<ScenarioRecall>| sc.map_or(0.0, |sc| sc.recall_at_1pct_fpr);
            let _ = writeln!(
                s,
                "| {name} | {frauds} | {:.3} | {:.3} |",
                recall(x),
                recall(y)
            );
        }
    }
    let _ = writeln!(
        s,
        "\nEach model's full report: `champion/report.md`, `challenger/report.md`."
    );
    s
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
        immature_rows_left_out: 0,
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
    if report.immature_rows_left_out > 0 {
        let _ = writeln!(
            s,
            "{} younger rows were left out: their labels may not have arrived yet (label maturity).\n",
            report.immature_rows_left_out
        );
    }
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
