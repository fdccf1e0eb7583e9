//! `verdict backtest`: replay traffic with a rule set and model, then join the
//! fraud labels that arrived later and report what the decisions were worth.
//!
//! The report has the confusion of actions against labels, each rule's hits
//! and precision, and two rankings scored against the labels with ROC AUC and
//! PR AUC: the model score, and the rules-only decision (allow < review <
//! decline) — the baseline a model has to beat.

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;
use std::path::Path;

use serde::Serialize;
use verdict_models::ranking::evaluate_scores;
use verdict_models::table::read_labels;

use crate::contract::decision::DecisionRecord;
use crate::dataflow::Dataflow;
use crate::replay::{ReplayOptions, ReplaySummary, replay_with_progress};

#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleStats {
    pub hits: u64,
    pub fraud_hits: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    pub roc_auc: f64,
    pub pr_auc: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BacktestReport {
    pub decisions: u64,
    pub frauds: u64,
    /// action → (legit, fraud) counts.
    pub actions: BTreeMap<String, (u64, u64)>,
    pub rules: BTreeMap<String, RuleStats>,
    pub model: Option<Ranking>,
    pub rules_only: Option<Ranking>,
    pub rules_version: String,
    pub model_label: Option<String>,
}

/// Replays `opts.input` and evaluates its decisions against `labels`;
/// `progress` is the replay's (see [`replay_with_progress`]).
pub fn backtest(
    opts: &ReplayOptions,
    dataflow: &Dataflow,
    labels: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<(ReplaySummary, BacktestReport)> {
    let summary = replay_with_progress(opts, dataflow, progress)?;
    let labels = read_labels(labels)?;
    let mut report = BacktestReport::default();
    let (mut y, mut model_scores, mut action_scores) = (Vec::new(), Vec::new(), Vec::new());
    let reader = std::io::BufReader::new(std::fs::File::open(&opts.output)?);
    for line in reader.lines() {
        let d: DecisionRecord = serde_json::from_str(&line?)?;
        let fraud = labels.get(&d.transaction_id).is_some_and(|l| l.is_fraud);
        report.decisions += 1;
        report.frauds += u64::from(fraud);
        let entry = report.actions.entry(d.action.clone()).or_default();
        if fraud {
            entry.1 += 1
        } else {
            entry.0 += 1
        }
        for rule in &d.rules {
            let s = report.rules.entry(rule.clone()).or_default();
            s.hits += 1;
            s.fraud_hits += u64::from(fraud);
        }
        y.push(if fraud { 1.0 } else { 0.0 });
        action_scores.push(match d.action.as_str() {
            "decline" => 1.0,
            "review" => 0.5,
            _ => 0.0,
        });
        if let Some(s) = d.score {
            model_scores.push(s);
        }
        report.rules_version = d.rules_version;
        if d.model.is_some() {
            report.model_label = d.model;
        }
    }
    if report.frauds > 0 && report.frauds < report.decisions {
        let m = evaluate_scores(&action_scores, &y).metrics;
        report.rules_only = Some(Ranking {
            roc_auc: m.roc_auc,
            pr_auc: m.pr_auc,
        });
        if model_scores.len() == y.len() {
            let m = evaluate_scores(&model_scores, &y).metrics;
            report.model = Some(Ranking {
                roc_auc: m.roc_auc,
                pr_auc: m.pr_auc,
            });
        }
    }
    Ok((summary, report))
}

impl fmt::Display for BacktestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rules {}  model {}",
            self.rules_version,
            self.model_label.as_deref().unwrap_or("none")
        )?;
        writeln!(
            f,
            "{} decisions, {} labelled fraud",
            self.decisions, self.frauds
        )?;
        writeln!(
            f,
            "{:<10} {:>10} {:>10} {:>10}",
            "action", "legit", "fraud", "precision"
        )?;
        for (action, (legit, fraud)) in &self.actions {
            let p = *fraud as f64 / (*legit + *fraud).max(1) as f64;
            writeln!(f, "{action:<10} {legit:>10} {fraud:>10} {p:>10.3}")?;
        }
        writeln!(
            f,
            "{:<28} {:>8} {:>8} {:>10} {:>8}",
            "rule", "hits", "fraud", "precision", "recall"
        )?;
        for (rule, s) in &self.rules {
            let p = s.fraud_hits as f64 / s.hits.max(1) as f64;
            let r = s.fraud_hits as f64 / self.frauds.max(1) as f64;
            writeln!(
                f,
                "{rule:<28} {:>8} {:>8} {p:>10.3} {r:>8.3}",
                s.hits, s.fraud_hits
            )?;
        }
        if let Some(r) = &self.rules_only {
            writeln!(
                f,
                "rules-only decision ranking: ROC AUC {:.4}  PR AUC {:.4}",
                r.roc_auc, r.pr_auc
            )?;
        }
        if let Some(m) = &self.model {
            writeln!(
                f,
                "model score ranking:         ROC AUC {:.4}  PR AUC {:.4}",
                m.roc_auc, m.pr_auc
            )?;
        }
        Ok(())
    }
}
