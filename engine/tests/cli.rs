//! The `verdict` binary as a user runs it.

use std::path::Path;
use std::process::Command;

/// Runs `verdict args…` with `tmp` as its temporary directory; panics with
/// its stderr unless it succeeds.
fn verdict(tmp: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .expect("the verdict binary runs");
    assert!(
        out.status.success(),
        "verdict {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The embedded rules and model are extracted into a scratch directory for
/// the run; every command removes it when it finishes, so repeated runs do
/// not fill the temporary directory.
#[test]
fn commands_leave_no_scratch_directory_behind() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let events = work.path().join("events.jsonl");
    let decisions = work.path().join("decisions.jsonl");
    let (events_arg, decisions_arg) = (events.to_str().unwrap(), decisions.to_str().unwrap());
    verdict(
        tmp.path(),
        &[
            "generate", "--count", "200", "--output", events_arg, "--seed", "1",
        ],
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
    // Replay on the embedded default rules and model.
    verdict(
        tmp.path(),
        &["replay", "--input", events_arg, "--output", decisions_arg],
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
    let lines = std::fs::read_to_string(&decisions).unwrap().lines().count();
    assert_eq!(lines, 200, "one decision per event");
}

/// Runs `verdict args…` in `tmp` and returns its stdout; panics with its
/// stderr unless it succeeds.
fn verdict_stdout(tmp: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .expect("the verdict binary runs");
    assert!(
        out.status.success(),
        "verdict {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The integers of `line`, in order (`p50 1.25` gives 1 and 25).
fn integers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// A short demo without malformed traffic: every event it produced comes
/// back decided, none dead-lettered, and the action counts add up.
#[test]
fn a_short_demo_decides_every_event() {
    let tmp = tempfile::tempdir().unwrap();
    let stdout = verdict_stdout(
        tmp.path(),
        &[
            "demo",
            "--seconds",
            "3",
            "--malformed-rate",
            "0",
            "--users",
            "2000",
            "--admin",
            "",
        ],
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("summary: produced "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    // produced | decisions (allow, review, decline, degraded) | dlq | ...
    let n = integers(summary);
    let (produced, decisions, allow, review, decline, dlq) = (n[0], n[1], n[2], n[3], n[4], n[6]);
    assert!(produced > 0, "{summary}");
    assert_eq!(decisions, produced, "every event decided: {summary}");
    assert_eq!(dlq, 0, "{summary}");
    assert_eq!(allow + review + decline, decisions, "{summary}");
}

/// A backtest of generated labelled traffic (at the README's event rate, so
/// the fraud scenarios, spread over minutes of event time, unfold): one
/// decision per event, the action mix adds up, precision and recall columns
/// are there, and both rankings (rules alone, model score) are far above
/// chance.
#[test]
fn backtest_reports_the_decision_mix_and_rankings() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = |name: &str| work.path().join(name).display().to_string();
    let (events, labels, json) = (
        path("events.jsonl"),
        path("labels.csv"),
        path("report.json"),
    );
    verdict(
        tmp.path(),
        &[
            "generate",
            "--count",
            "5000",
            "--users",
            "2000",
            "--events-per-sec",
            "0.25",
            "--fraud-rate",
            "0.02",
            "--seed",
            "3",
            "--output",
            &events,
            "--labels",
            &labels,
        ],
    );
    let report = verdict_stdout(
        tmp.path(),
        &[
            "backtest", "--input", &events, "--labels", &labels, "--json", &json,
        ],
    );
    assert!(report.contains("precision"), "{report}");
    assert!(report.contains("recall"), "{report}");
    assert!(
        !report.contains("eta"),
        "progress went to stdout:\n{report}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["decisions"], 5000, "{report}");
    let frauds = r["frauds"].as_u64().unwrap();
    assert!(frauds > 0 && frauds < 5000, "{report}");
    let mut by_action = (0, 0);
    for (action, counts) in r["actions"].as_object().unwrap() {
        assert!(
            ["allow", "review", "decline"].contains(&action.as_str()),
            "{action}"
        );
        by_action.0 += counts[0].as_u64().unwrap();
        by_action.1 += counts[1].as_u64().unwrap();
    }
    assert_eq!(by_action, (5000 - frauds, frauds), "{report}");
    for (rule, s) in r["rules"].as_object().unwrap() {
        assert!(
            s["fraud_hits"].as_u64() <= s["hits"].as_u64(),
            "{rule}: {s}"
        );
    }
    // Declines are mostly fraud (0.874 for this seed with the default rules
    // and model).
    let decline = &r["actions"]["decline"];
    let (legit, fraud) = (decline[0].as_u64().unwrap(), decline[1].as_u64().unwrap());
    assert!(fraud > legit, "decline precision {fraud}/{}", fraud + legit);
    // Both rankings far above chance (ROC AUC 0.960 and 0.985, PR AUC 0.825
    // and 0.950 against a base rate of 0.114 for this seed).
    for ranking in ["rules_only", "model"] {
        let roc = r[ranking]["roc_auc"].as_f64().unwrap();
        let pr = r[ranking]["pr_auc"].as_f64().unwrap();
        assert!(roc > 0.9 && roc <= 1.0, "{ranking} ROC AUC {roc}");
        assert!(pr > 0.5 && pr <= 1.0, "{ranking} PR AUC {pr}");
    }
}

/// `models eval` of the default model on a feature log of generated traffic:
/// its one-line result on stdout (no progress there), the report files
/// written where asked.
#[test]
fn models_eval_reports_on_a_feature_log() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = |name: &str| work.path().join(name).display().to_string();
    let (events, labels, decisions, features, out) = (
        path("events.jsonl"),
        path("labels.csv"),
        path("decisions.jsonl"),
        path("features.parquet"),
        path("eval"),
    );
    verdict(
        tmp.path(),
        &[
            "generate",
            "--count",
            "3000",
            "--users",
            "1000",
            "--events-per-sec",
            "0.25",
            "--fraud-rate",
            "0.02",
            "--seed",
            "4",
            "--output",
            &events,
            "--labels",
            &labels,
        ],
    );
    verdict(
        tmp.path(),
        &[
            "replay",
            "--input",
            &events,
            "--output",
            &decisions,
            "--feature-log",
            &features,
        ],
    );
    let defaults = verdict_engine::defaults::extract(work.path()).unwrap();
    let model = defaults.model_dir.display().to_string();
    let stdout = verdict_stdout(
        tmp.path(),
        &[
            "models", "eval", "--model", &model, "--data", &features, "--labels", &labels, "--out",
            &out,
        ],
    );
    assert!(stdout.contains(" on 3000 rows: ROC AUC "), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the result on stdout: {stdout}"
    );
    assert!(work.path().join("eval/report.json").is_file());
}
