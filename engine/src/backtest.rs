//! `verdict backtest`: replay traffic with a rule set and model, then join the
//! fraud labels that arrived later and report what the decisions were worth.
//!
//! The report has the confusion of actions against labels, each rule's hits
//! and precision, the decline's precision and recall and the false-decline
//! rate, and two rankings scored against the labels with ROC AUC and PR AUC:
//! the model score, and the rules-only decision (allow < review < decline) —
//! the baseline a model has to beat.
//!
//! Point in time: a [`Window`] of event time is reported, but everything
//! before it is replayed too, so each window event meets the state its
//! entities had when it happened (a user with a year of history is not a new
//! user because the report starts in September). The window's decisions are
//! therefore, byte for byte, those of a full replay.
//!
//! [`compare`] sets two backtests of the same traffic side by side: what each
//! rule set decides, and every transaction whose action changes.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use verdict_models::ranking::evaluate_scores;
use verdict_models::table::Label;

use crate::contract::decision::DecisionRecord;
use crate::dataflow::Dataflow;
use crate::replay::{ReplayOptions, ReplaySummary, replay_with_progress};

#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleStats {
    pub hits: u64,
    pub fraud_hits: u64,
}

/// How often the model named a feature among a review's or a decline's
/// `score_reasons`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReasonStats {
    /// Named first (the largest contribution).
    pub first: u64,
    /// Named at all (among the top three).
    pub named: u64,
    /// Of `named`, decisions on labelled frauds.
    pub fraud: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    pub roc_auc: f64,
    pub pr_auc: f64,
}

/// Labels by transaction id.
pub type Labels = HashMap<String, Label>;

/// The event-time window `[from, to)` a backtest reports on (either end
/// open). Events before `from` are replayed only to build the state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl Window {
    pub fn contains(&self, event_time_ms: i64) -> bool {
        self.from_ms.is_none_or(|from| event_time_ms >= from)
            && self.to_ms.is_none_or(|to| event_time_ms < to)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BacktestReport {
    /// The reported window's ends (RFC 3339), when bounded.
    pub from: Option<String>,
    pub to: Option<String>,
    pub decisions: u64,
    pub frauds: u64,
    /// action → (legit, fraud) counts.
    pub actions: BTreeMap<String, (u64, u64)>,
    pub rules: BTreeMap<String, RuleStats>,
    /// Feature → how the model's explanations of reviews and declines
    /// named it.
    pub score_reasons: BTreeMap<String, ReasonStats>,
    pub model: Option<Ranking>,
    pub rules_only: Option<Ranking>,
    pub rules_version: String,
    pub model_label: Option<String>,
    /// Fraudulent transactions declined, of all frauds.
    pub decline_recall: f64,
    /// Frauds among the declines.
    pub decline_precision: f64,
    /// Legitimate transactions declined, of all legitimate ones.
    pub false_decline_rate: f64,
    /// The same on each user's first [`FIRST_TRANSACTIONS`] transactions of
    /// the replayed stream: a new customer's first purchase declined is a
    /// customer lost.
    pub first_transactions: FirstTransactions,
    /// Fraud scenario (the label's) → its frauds and how many were declined.
    pub scenarios: BTreeMap<String, ScenarioStats>,
}

/// One fraud scenario's frauds in the window and their declines.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScenarioStats {
    pub frauds: u64,
    pub declined: u64,
    pub decline_recall: f64,
}

/// How many of a user's transactions count as their first.
pub const FIRST_TRANSACTIONS: usize = 3;

/// Legitimate first transactions of users (in the window) and their declines.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FirstTransactions {
    pub legit: u64,
    pub declined: u64,
    pub false_decline_rate: f64,
}

impl BacktestReport {
    /// (legit, fraud) decisions with `action`.
    fn count(&self, action: &str) -> (u64, u64) {
        self.actions.get(action).copied().unwrap_or_default()
    }
}

/// Replays `opts.input` into `opts.output`, writes the decisions of events in
/// `window` to `reported` (the full replay's lines, unchanged), and evaluates
/// those against `labels`; `progress` is the replay's (see
/// [`replay_with_progress`]).
pub fn backtest(
    opts: &ReplayOptions,
    dataflow: &Dataflow,
    labels: &Labels,
    window: Window,
    reported: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<(ReplaySummary, BacktestReport)> {
    let summary = replay_with_progress(opts, dataflow, progress)?;
    let first = first_transactions(&opts.input)?;
    let report = report_window(&opts.output, labels, &first, window, reported)?;
    Ok((summary, report))
}

/// The event time of a replayed decision: a replay stamps `decided_at` with
/// its event's time (see [`crate::pipeline::DecisionClock::EventTime`]).
fn event_time_ms(d: &DecisionRecord) -> anyhow::Result<i64> {
    Ok(chrono::DateTime::parse_from_rfc3339(&d.decided_at)
        .with_context(|| {
            format!(
                "decision {}: decided_at {:?}",
                d.transaction_id, d.decided_at
            )
        })?
        .timestamp_millis())
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// The ids of each user's first [`FIRST_TRANSACTIONS`] transactions in the
/// input, in its order (what the engine saw first); lines that are not a
/// transaction are skipped, as the replay dead-letters them.
fn first_transactions(input: &Path) -> anyhow::Result<std::collections::HashSet<String>> {
    #[derive(serde::Deserialize)]
    struct Ids<'a> {
        #[serde(borrow)]
        transaction_id: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        user_id: std::borrow::Cow<'a, str>,
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut first = std::collections::HashSet::new();
    for line in BufReader::new(File::open(input)?).lines() {
        let line = line?;
        let Ok(ids) = serde_json::from_str::<Ids<'_>>(&line) else {
            continue;
        };
        let n = seen.entry(ids.user_id.into_owned()).or_default();
        if *n < FIRST_TRANSACTIONS {
            first.insert(ids.transaction_id.into_owned());
        }
        *n += 1;
    }
    Ok(first)
}

/// Reads a replay's decisions, copies those in `window` to `reported`, and
/// reports on them.
fn report_window(
    decisions: &Path,
    labels: &Labels,
    first: &std::collections::HashSet<String>,
    window: Window,
    reported: &Path,
) -> anyhow::Result<BacktestReport> {
    let mut report = BacktestReport {
        from: window.from_ms.map(rfc3339),
        to: window.to_ms.map(rfc3339),
        ..BacktestReport::default()
    };
    let (mut y, mut model_scores, mut action_scores) = (Vec::new(), Vec::new(), Vec::new());
    let reader = BufReader::new(File::open(decisions)?);
    let mut out = BufWriter::new(
        File::create(reported).with_context(|| format!("creating {}", reported.display()))?,
    );
    for line in reader.lines() {
        let line = line?;
        let d: DecisionRecord = serde_json::from_str(&line)?;
        if !window.contains(event_time_ms(&d)?) {
            continue;
        }
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        let label = labels.get(&d.transaction_id).filter(|l| l.is_fraud);
        let fraud = label.is_some();
        report.decisions += 1;
        report.frauds += u64::from(fraud);
        if let Some(l) = label {
            let scenario = l.scenario.as_deref().unwrap_or("unnamed");
            let s = report.scenarios.entry(scenario.to_string()).or_default();
            s.frauds += 1;
            s.declined += u64::from(d.action == "decline");
        }
        if !fraud && first.contains(&d.transaction_id) {
            report.first_transactions.legit += 1;
            report.first_transactions.declined += u64::from(d.action == "decline");
        }
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
        for (i, r) in d.score_reasons.iter().enumerate() {
            let s = report.score_reasons.entry(r.feature.clone()).or_default();
            s.first += u64::from(i == 0);
            s.named += 1;
            s.fraud += u64::from(fraud);
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
    out.flush()?;
    let (declined_legit, declined_fraud) = report.count("decline");
    let legit = report.decisions - report.frauds;
    report.decline_recall = declined_fraud as f64 / report.frauds.max(1) as f64;
    report.decline_precision =
        declined_fraud as f64 / (declined_legit + declined_fraud).max(1) as f64;
    report.false_decline_rate = declined_legit as f64 / legit.max(1) as f64;
    let f = &mut report.first_transactions;
    f.false_decline_rate = f.declined as f64 / f.legit.max(1) as f64;
    for s in report.scenarios.values_mut() {
        s.decline_recall = s.declined as f64 / s.frauds.max(1) as f64;
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
    Ok(report)
}

/// One transaction whose action differs between two backtests.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub transaction_id: String,
    pub fraud: bool,
    pub from: String,
    pub to: String,
    pub rules_from: Vec<String>,
    pub rules_to: Vec<String>,
    pub reasons_to: Vec<String>,
    /// The candidate's model explanation (features, largest first).
    pub score_reasons_to: Vec<String>,
}

/// Two backtests of the same traffic: a baseline and a candidate rule set.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: BacktestReport,
    pub candidate: BacktestReport,
    /// Transactions whose action changed.
    pub changed: u64,
    /// Changed transactions by `"from -> to"`.
    pub changes: BTreeMap<String, u64>,
    /// The first changed transactions, in stream order.
    pub sample: Vec<Change>,
}

/// Compares the reported decisions of two backtests of the same traffic
/// (the same transactions in the same order), keeping `sample` changes.
pub fn compare(
    baseline: (BacktestReport, &Path),
    candidate: (BacktestReport, &Path),
    labels: &Labels,
    sample: usize,
) -> anyhow::Result<Comparison> {
    let mut c = Comparison {
        baseline: baseline.0,
        candidate: candidate.0,
        changed: 0,
        changes: BTreeMap::new(),
        sample: Vec::new(),
    };
    let mut b_lines = BufReader::new(File::open(candidate.1)?).lines();
    for a in BufReader::new(File::open(baseline.1)?).lines() {
        let a: DecisionRecord = serde_json::from_str(&a?)?;
        let b: DecisionRecord = match b_lines.next() {
            Some(line) => serde_json::from_str(&line?)?,
            None => anyhow::bail!("the candidate decided fewer transactions than the baseline"),
        };
        anyhow::ensure!(
            a.transaction_id == b.transaction_id,
            "the two backtests decided different transactions ({} and {}) at the same place",
            a.transaction_id,
            b.transaction_id
        );
        if a.action == b.action {
            continue;
        }
        c.changed += 1;
        *c.changes
            .entry(format!("{} -> {}", a.action, b.action))
            .or_default() += 1;
        if c.sample.len() < sample {
            c.sample.push(Change {
                fraud: labels.get(&a.transaction_id).is_some_and(|l| l.is_fraud),
                transaction_id: a.transaction_id,
                from: a.action,
                to: b.action,
                rules_from: a.rules,
                rules_to: b.rules,
                reasons_to: b.reasons,
                score_reasons_to: b.score_reasons.into_iter().map(|r| r.feature).collect(),
            });
        }
    }
    anyhow::ensure!(
        b_lines.next().is_none(),
        "the candidate decided more transactions than the baseline"
    );
    Ok(c)
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = (&self.baseline, &self.candidate);
        writeln!(f, "{:<24} {:>16} {:>16}", "", "baseline", "candidate")?;
        writeln!(
            f,
            "{:<24} {:>16} {:>16}",
            "rules", a.rules_version, b.rules_version
        )?;
        writeln!(
            f,
            "{:<24} {:>16} {:>16}",
            "decisions", a.decisions, b.decisions
        )?;
        for action in ["allow", "review", "decline"] {
            let (x, y) = (a.count(action), b.count(action));
            writeln!(f, "{action:<24} {:>16} {:>16}", x.0 + x.1, y.0 + y.1)?;
        }
        let pct = |v: f64| format!("{:.3} %", v * 100.0);
        for (name, x, y) in [
            (
                "decline precision",
                a.decline_precision,
                b.decline_precision,
            ),
            ("decline recall", a.decline_recall, b.decline_recall),
            (
                "false-decline rate",
                a.false_decline_rate,
                b.false_decline_rate,
            ),
            (
                "first-transaction f-d",
                a.first_transactions.false_decline_rate,
                b.first_transactions.false_decline_rate,
            ),
        ] {
            writeln!(f, "{name:<24} {:>16} {:>16}", pct(x), pct(y))?;
        }
        writeln!(f, "rule hits (fraud hits)")?;
        let rules: std::collections::BTreeSet<&String> =
            a.rules.keys().chain(b.rules.keys()).collect();
        for rule in rules {
            let hits = |r: &BacktestReport| {
                r.rules.get(rule).map_or("-".to_string(), |s| {
                    format!("{} ({})", s.hits, s.fraud_hits)
                })
            };
            writeln!(f, "  {rule:<22} {:>16} {:>16}", hits(a), hits(b))?;
        }
        writeln!(f, "{} transactions change their decision", self.changed)?;
        for (change, n) in &self.changes {
            writeln!(f, "  {change:<22} {n:>8}")?;
        }
        for c in &self.sample {
            writeln!(
                f,
                "  {} ({}): {} -> {}  rules {:?} -> {:?}  reasons {:?}  score reasons {:?}",
                c.transaction_id,
                if c.fraud { "fraud" } else { "legit" },
                c.from,
                c.to,
                c.rules_from,
                c.rules_to,
                c.reasons_to,
                c.score_reasons_to
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for BacktestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rules {}  model {}",
            self.rules_version,
            self.model_label.as_deref().unwrap_or("none")
        )?;
        if self.from.is_some() || self.to.is_some() {
            writeln!(
                f,
                "window {} .. {} (the stream before it replayed for state)",
                self.from.as_deref().unwrap_or("start"),
                self.to.as_deref().unwrap_or("end")
            )?;
        }
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
        if !self.score_reasons.is_empty() {
            writeln!(
                f,
                "{:<28} {:>8} {:>8} {:>10}",
                "score reason (review, decline)", "first", "named", "fraud share"
            )?;
            let mut reasons: Vec<_> = self.score_reasons.iter().collect();
            reasons.sort_by(|a, b| b.1.named.cmp(&a.1.named).then(a.0.cmp(b.0)));
            for (feature, s) in reasons {
                let share = s.fraud as f64 / s.named.max(1) as f64;
                writeln!(
                    f,
                    "{feature:<28} {:>8} {:>8} {share:>10.3}",
                    s.first, s.named
                )?;
            }
        }
        writeln!(
            f,
            "decline precision {:.3}  recall {:.3}  false-decline rate {:.3} % of legitimate",
            self.decline_precision,
            self.decline_recall,
            self.false_decline_rate * 100.0
        )?;
        let first = &self.first_transactions;
        writeln!(
            f,
            "users' first {FIRST_TRANSACTIONS} transactions: {} of {} legitimate declined ({:.3} %)",
            first.declined,
            first.legit,
            first.false_decline_rate * 100.0
        )?;
        for (scenario, s) in &self.scenarios {
            writeln!(
                f,
                "{scenario:<28} {:>8} frauds {:>8} declined  recall {:.3}",
                s.frauds, s.declined, s.decline_recall
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
