//! The `verdict` binary as a user runs it.

mod common;

use common::verdict_stdout;

use std::path::Path;
use std::process::Command;

/// Runs `verdict args…` with `tmp` as its temporary directory; panics with
/// its output unless it succeeds.
fn verdict(tmp: &Path, args: &[&str]) {
    verdict_stdout(tmp, args);
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

/// Runs `verdict args…` with `stdin`, with no `VERDICT_*` variable but
/// `env`; returns (success, stdout, stderr).
fn verdict_with(args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verdict"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VERDICT_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("the verdict binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const KEY: (&str, &str) = (
    "VERDICT_VALIDATION__PAN_HASH_KEY",
    "a-secret-of-the-tests-only",
);

/// `verdict run` checks its configuration before it touches Kafka: the
/// built-in PAN key and missing `state.dir` are refused, every problem said.
#[test]
fn run_refuses_the_development_key_and_non_durable_state() {
    let (ok, _, err) = verdict_with(&["run"], &[], "");
    assert!(!ok);
    assert!(err.contains("2 configuration problem(s)"), "{err}");
    assert!(
        err.contains("validation.pan-hash-key is the built-in development key")
            && err.contains("set VERDICT_VALIDATION__PAN_HASH_KEY"),
        "{err}"
    );
    assert!(err.contains("state.dir is not set"), "{err}");

    // With a key, only the state is missing; --ephemeral accepts memory, so
    // what is left are the problems given here.
    let (ok, _, err) = verdict_with(&["run"], &[KEY], "");
    assert!(!ok);
    assert!(
        err.contains("1 configuration problem(s)") && err.contains("--ephemeral"),
        "{err}"
    );
    let (ok, _, err) = verdict_with(
        &["run", "--ephemeral"],
        &[KEY, ("VERDICT_ENGINE__SLA_MS", "0")],
        "",
    );
    assert!(!ok);
    assert!(err.contains("2 configuration problem(s)"), "{err}");
    assert!(err.contains("engine.sla-ms must be positive"), "{err}");
    assert!(
        !err.contains("state.dir") && !err.contains("pan-hash-key"),
        "{err}"
    );
}

/// `verdict config check` checks as `verdict run` does, `--ephemeral` too.
#[test]
fn config_check_accepts_ephemeral_state_with_a_warning() {
    let (ok, out, err) = verdict_with(&["config", "check", "--ephemeral"], &[KEY], "");
    assert!(ok, "{err}");
    assert_eq!(out, "configuration ok\n");
    assert!(
        err.contains("warning: state is in memory (--ephemeral): not durable"),
        "{err}"
    );
    let (ok, _, err) = verdict_with(&["config", "check"], &[KEY], "");
    assert!(!ok);
    assert!(err.contains("config: state.dir is not set"), "{err}");
}

/// `verdict config check` reports a file's problems of every kind at once.
#[test]
fn config_check_reports_every_problem_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("verdict.toml");
    std::fs::write(
        &file,
        "[kafka]\ntopic-partitions = \"x\"\nbrokerz = \"b:9092\"\n[engine]\nsla-ms = 0\n[state]\ndir = \"/tmp/st\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (ok, _, err) = verdict_with(&["config", "check", "--config", path], &[KEY], "");
    assert!(!ok);
    for line in [
        format!(
            "config: kafka.topic-partitions: invalid type: found string \"x\", expected i32 (in {path})"
        ),
        "config: kafka.brokerz: unknown key; expected one of brokers, group-id, ".to_string(),
        "config: engine.sla-ms must be positive".to_string(),
        "config: engine.batch-wait-ms (1) must be below engine.sla-ms (0)".to_string(),
        "4 problem(s)".to_string(),
    ] {
        assert!(err.contains(&line), "missing {line:?} in:\n{err}");
    }
    std::fs::write(&file, "[state]\ndir = \"/tmp/st\"\n").unwrap();
    let (ok, out, err) = verdict_with(&["config", "check", "--config", path], &[KEY], "");
    assert!(ok, "{err}");
    assert_eq!(out, "configuration ok\n");
}

/// A card number whose keyed hash `verdict hash-pan` printed into the block
/// list is declined by the default rules in whatever form it is written,
/// through the whole pipeline (decode, hash, rules), and never printed.
#[test]
fn a_blocked_card_hash_declines() {
    let (ok, out, err) = verdict_with(
        &["hash-pan"],
        &[],
        "4000 0000 0000 0002\n4000-0000-0000-0002\n",
    );
    assert!(ok, "{err}");
    assert!(err.contains("development key"), "warned: {err}");
    let hashes: Vec<&str> = out.lines().collect();
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes[0], hashes[1], "separators do not change the hash");
    let list = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rules/default/lists/blocked_cards.txt"
    ))
    .unwrap();
    assert!(
        list.lines().any(|l| l == hashes[0]),
        "the default list holds the test card"
    );

    // Not a card number: reported by line, never echoed, nothing printed.
    let (ok, out, err) = verdict_with(&["hash-pan"], &[], "4000000000000002\n4000000000000003\n");
    assert!(!ok && out.is_empty());
    assert!(
        err.contains("line(s) 2") && !err.contains("4000000000000003"),
        "{err}"
    );

    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.jsonl");
    let output = work.path().join("out.jsonl");
    let event = |id: &str, card: &str| {
        format!(
            r#"{{"transaction_id":"{id}","event_time":"2026-03-02T10:00:00Z","user_id":"u-{id}","card_id":"c-{id}","amount":"20","currency":"EUR","merchant_id":"m1"{card}}}"#
        )
    };
    let lines = [
        event("spaces", r#","card_number":"4000 0000 0000 0002""#),
        event("dashes", r#","card_number":"4000-0000-0000-0002""#),
        event("other", r#","card_number":"4111111111111111""#),
        event("none", ""),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let (ok, _, err) = verdict_with(
        &[
            "replay",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--no-model",
        ],
        &[],
        "",
    );
    assert!(ok, "{err}");
    let decisions = std::fs::read_to_string(&output).unwrap();
    assert!(!decisions.contains("4000000000000002") && !decisions.contains("0000 0000"));
    let decisions: Vec<serde_json::Value> = decisions
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decisions.len(), 4);
    for d in &decisions {
        let blocked = matches!(d["transaction_id"].as_str(), Some("spaces" | "dashes"));
        let rules: Vec<&str> = d["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(rules.contains(&"blocked_card"), blocked, "{d}");
        if blocked {
            assert_eq!(d["action"], "decline", "{d}");
        }
    }

    // Under another key the same card's hash is another, and nothing matches.
    let (ok, out, _) = verdict_with(&["hash-pan", "4000000000000002"], &[KEY], "");
    assert!(ok);
    assert_ne!(out.trim(), hashes[0]);
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
    // Every fraud is in its scenario's row, every declined one too.
    let scenarios = r["scenarios"].as_object().unwrap();
    assert!(scenarios.len() >= 3, "{report}");
    let sum = |field: &str| -> u64 { scenarios.values().map(|s| s[field].as_u64().unwrap()).sum() };
    assert_eq!(sum("frauds"), frauds, "{report}");
    assert_eq!(
        sum("declined"),
        r["actions"]["decline"][1].as_u64().unwrap(),
        "{report}"
    );
    for (rule, s) in r["rules"].as_object().unwrap() {
        assert!(
            s["fraud_hits"].as_u64() <= s["hits"].as_u64(),
            "{rule}: {s}"
        );
    }
    // The model's explanations of reviews and declines, by feature: one
    // named first per review or decline.
    assert!(report.contains("score reason"), "{report}");
    let reasons = r["score_reasons"].as_object().unwrap();
    let first: u64 = reasons.values().map(|s| s["first"].as_u64().unwrap()).sum();
    let flagged: u64 = ["review", "decline"]
        .iter()
        .map(|a| {
            r["actions"][a][0].as_u64().unwrap_or(0) + r["actions"][a][1].as_u64().unwrap_or(0)
        })
        .sum();
    assert_eq!(first, flagged, "{report}");
    for (feature, s) in reasons {
        assert!(s["first"].as_u64() <= s["named"].as_u64(), "{feature}: {s}");
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
    // Users' first three transactions: the report's counts equal a recount
    // from the input, the labels and the decisions.
    let fraud: std::collections::HashSet<String> = std::fs::read_to_string(&labels)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| matches!(l.split(',').nth(1), Some("1" | "true")))
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    let decisions = tmp.path().join("recount.jsonl");
    verdict(
        tmp.path(),
        &[
            "replay",
            "--input",
            &events,
            "--output",
            decisions.to_str().unwrap(),
        ],
    );
    let declined: std::collections::HashSet<String> = std::fs::read_to_string(&decisions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|d| d["action"] == "decline")
        .map(|d| d["transaction_id"].as_str().unwrap().to_string())
        .collect();
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let (mut legit, mut legit_declined) = (0u64, 0u64);
    for line in std::fs::read_to_string(&events).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = e["transaction_id"].as_str().unwrap();
        let n = seen
            .entry(e["user_id"].as_str().unwrap().to_string())
            .or_default();
        if *n < 3 && !fraud.contains(id) {
            legit += 1;
            legit_declined += u64::from(declined.contains(id));
        }
        *n += 1;
    }
    let first = &r["first_transactions"];
    assert_eq!(
        (first["legit"].as_u64(), first["declined"].as_u64()),
        (Some(legit), Some(legit_declined))
    );
    assert!(
        legit > 2_500,
        "2,000 users with 2.5 transactions each on average: {legit}"
    );
    assert!(
        report.contains(&format!(
            "users' first 3 transactions: {legit_declined} of {legit} legitimate declined"
        )),
        "{report}"
    );
}

/// Generates `count` labelled events from 2026-01-01 at `per_sec` into
/// `work`; returns the events' and labels' paths.
fn labelled_traffic(tmp: &Path, work: &Path, count: &str, per_sec: &str) -> (String, String) {
    let path = |name: &str| work.join(name).display().to_string();
    let (events, labels) = (path("events.jsonl"), path("labels.csv"));
    verdict(
        tmp,
        &[
            "generate",
            "--count",
            count,
            "--users",
            "1500",
            "--events-per-sec",
            per_sec,
            "--fraud-rate",
            "0.02",
            "--seed",
            "5",
            "--output",
            &events,
            "--labels",
            &labels,
        ],
    );
    (events, labels)
}

/// A window backtest is point in time: its decisions are, byte for byte,
/// the same window's lines of a full replay (the stream before the window
/// replayed for state), and not what deciding the window alone gives.
#[test]
fn a_backtest_window_equals_the_full_replay_of_that_window() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = |name: &str| work.path().join(name).display().to_string();
    // 6000 events over about 28 hours of event time.
    let (events, labels) = labelled_traffic(tmp.path(), work.path(), "6000", "0.06");
    let (full, window, json) = (path("full.jsonl"), path("window.jsonl"), path("w.json"));
    verdict(
        tmp.path(),
        &["replay", "--input", &events, "--output", &full],
    );
    let (from, to) = ("2026-01-01T12:00:00Z", "2026-01-01T20:00:00Z");
    let report = verdict_stdout(
        tmp.path(),
        &[
            "backtest",
            "--input",
            &events,
            "--labels",
            &labels,
            "--from",
            from,
            "--to",
            "2026-01-01T20:00:00+00:00",
            "--output",
            &window,
            "--json",
            &json,
        ],
    );
    assert!(
        report.contains(&format!("window {from} .. {to}")),
        "{report}"
    );
    // Whether a JSON line's time `field` is in [from, to).
    let in_window = |field: &'static str| {
        let time = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
        move |line: &&str| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = time(v[field].as_str().unwrap());
            t >= time(from) && t < time(to)
        }
    };
    let full = std::fs::read_to_string(&full).unwrap();
    let expected: Vec<&str> = full.lines().filter(in_window("decided_at")).collect();
    let got = std::fs::read_to_string(&window).unwrap();
    assert!(
        expected.len() > 1000,
        "{} decisions in the window",
        expected.len()
    );
    assert_eq!(
        got,
        expected.join("\n") + "\n",
        "the window differs from the full replay's"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["decisions"], expected.len());

    // The window's events alone: every user looks new, decisions differ.
    let alone = path("alone.jsonl");
    let input = std::fs::read_to_string(&events).unwrap();
    let window_events: Vec<&str> = input.lines().filter(in_window("event_time")).collect();
    assert_eq!(window_events.len(), expected.len());
    std::fs::write(path("window-events.jsonl"), window_events.join("\n") + "\n").unwrap();
    verdict(
        tmp.path(),
        &[
            "replay",
            "--input",
            &path("window-events.jsonl"),
            "--output",
            &alone,
        ],
    );
    assert_ne!(
        std::fs::read_to_string(&alone).unwrap(),
        got,
        "history made no difference: the test proves nothing"
    );
}

/// `--compare` on a generated month: a stricter model threshold moves
/// declines, and the diff it reports is what the two decision files say.
#[test]
fn backtest_compare_shows_what_a_rule_change_moves() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = |name: &str| work.path().join(name).display().to_string();
    // 5000 events over 29 days.
    let (events, labels) = labelled_traffic(tmp.path(), work.path(), "5000", "0.002");
    let d = verdict_engine::defaults::extract(&work.path().join("defaults")).unwrap();
    let candidate = work.path().join("candidate");
    std::fs::create_dir_all(&candidate).unwrap();
    for entry in std::fs::read_dir(&d.rules_dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), candidate.join(entry.file_name())).unwrap();
        } else {
            let sub = candidate.join(entry.file_name());
            std::fs::create_dir_all(&sub).unwrap();
            for f in std::fs::read_dir(entry.path()).unwrap() {
                let f = f.unwrap();
                std::fs::copy(f.path(), sub.join(f.file_name())).unwrap();
            }
        }
    }
    let model_rules = candidate.join("model.rules");
    let text = std::fs::read_to_string(&model_rules).unwrap();
    assert!(text.contains("decline when score >= 0.95"));
    std::fs::write(
        &model_rules,
        text.replace("decline when score >= 0.95", "decline when score >= 0.995"),
    )
    .unwrap();

    let (out, json) = (path("baseline.jsonl"), path("compare.json"));
    let report = verdict_stdout(
        tmp.path(),
        &[
            "backtest",
            "--input",
            &events,
            "--labels",
            &labels,
            "--compare",
            candidate.to_str().unwrap(),
            "--output",
            &out,
            "--json",
            &json,
        ],
    );
    for line in [
        "baseline",
        "candidate",
        "false-decline rate",
        "decline recall",
        "change their decision",
    ] {
        assert!(report.contains(line), "no {line:?} in:\n{report}");
    }
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The diff, recounted from the two decision files.
    let actions = |p: &str| -> Vec<(String, String)> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                let d: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    d["transaction_id"].as_str().unwrap().to_owned(),
                    d["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (a, b) = (actions(&out), actions(&format!("{out}.compare")));
    assert_eq!(a.len(), 5000);
    let mut changes = std::collections::BTreeMap::<String, u64>::new();
    for ((id_a, x), (id_b, y)) in a.iter().zip(&b) {
        assert_eq!(id_a, id_b);
        if x != y {
            *changes.entry(format!("{x} -> {y}")).or_default() += 1;
        }
    }
    assert!(
        !changes.is_empty(),
        "the stricter threshold changed nothing"
    );
    assert!(
        changes.keys().all(|k| k.starts_with("decline -> ")),
        "{changes:?}"
    );
    let reported: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(c["changes"].clone()).unwrap();
    assert_eq!(reported, changes);
    assert_eq!(
        c["changed"].as_u64().unwrap(),
        changes.values().sum::<u64>()
    );
    assert!(!c["sample"].as_array().unwrap().is_empty());
    let declines = |r: &serde_json::Value| {
        r["actions"]["decline"][0].as_u64().unwrap_or(0)
            + r["actions"]["decline"][1].as_u64().unwrap_or(0)
    };
    assert!(declines(&c["candidate"]) < declines(&c["baseline"]));
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

/// A challenger beside the default model through `verdict replay
/// --challenger`: every decision carries both scores, the feature log
/// records what was served (and training never reads it as an input), and
/// `models compare` on that log reports both models, with counts at the
/// decline threshold that equal a recount of the served scores.
#[test]
fn models_compare_reports_champion_and_challenger_on_a_feature_log() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = |name: &str| work.path().join(name).display().to_string();
    let (decisions, features, out) = (
        path("decisions.jsonl"),
        path("features.parquet"),
        path("compare"),
    );
    let (events, labels) = labelled_traffic(tmp.path(), work.path(), "4000", "0.25");
    let defaults = verdict_engine::defaults::extract(&work.path().join("defaults")).unwrap();
    let challenger = work.path().join("halved");
    common::halved_model(&defaults.model_dir, &challenger, "halved");
    let challenger = challenger.display().to_string();
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
            "--challenger",
            &challenger,
        ],
    );
    let mut served = std::collections::HashMap::new();
    for line in std::fs::read_to_string(&decisions).unwrap().lines() {
        let d: verdict_engine::contract::decision::DecisionRecord =
            serde_json::from_str(line).unwrap();
        assert_eq!(
            d.challenger_model.as_deref(),
            Some("verdict-fraud@halved"),
            "{line}"
        );
        let (score, half) = (d.score.unwrap(), d.challenger_score.unwrap());
        assert!((half - score / 2.0).abs() < 2e-6, "{line}");
        served.insert(d.transaction_id, score);
    }
    assert_eq!(served.len(), 4000);

    // The feature log's served columns equal the decisions'.
    let file = std::fs::File::open(&features).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let (mut rows, mut flagged) = (0, 0);
    for batch in reader {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::Float64Type;
        let batch = batch.unwrap();
        let ids = batch
            .column_by_name("transaction_id")
            .unwrap()
            .as_string::<i32>()
            .clone();
        let score = batch
            .column_by_name("served_score")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        let half = batch
            .column_by_name("challenger_score")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        let model = batch
            .column_by_name("challenger_model")
            .unwrap()
            .as_string::<i32>()
            .clone();
        for i in 0..batch.num_rows() {
            assert!((score.value(i) as f32 - served[ids.value(i)]).abs() < 1e-6);
            flagged += usize::from(score.value(i) as f32 >= 0.95);
            assert!(!half.is_null(i));
            assert_eq!(model.value(i), "verdict-fraud@halved");
            rows += 1;
        }
    }
    assert_eq!(rows, 4000);
    let table = verdict_models::table::read_table(Path::new(&features)).unwrap();
    for column in ["served_score", "challenger_score"] {
        assert!(
            !table.numeric_names.iter().any(|n| n == column),
            "{column} is not an input"
        );
    }

    let model = defaults.model_dir.display().to_string();
    let stdout = verdict_stdout(
        tmp.path(),
        &[
            "models",
            "compare",
            "--champion",
            &model,
            "--challenger",
            &challenger,
            "--data",
            &features,
            "--labels",
            &labels,
            "--out",
            &out,
        ],
    );
    assert!(stdout.contains("# Champion vs challenger"), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("compare/compare.json")).unwrap(),
    )
    .unwrap();
    let metric = |side: &str, name: &str| {
        report[side]["report"]["evaluation"]["metrics"][name]
            .as_f64()
            .unwrap()
    };
    // Halving keeps every ranking; it moves every score below the cut.
    assert_eq!(
        metric("champion", "roc_auc"),
        metric("challenger", "roc_auc")
    );
    assert!(metric("champion", "roc_auc") > 0.8, "{report}");
    assert!(
        flagged > 0,
        "the default model declines some of this traffic"
    );
    assert_eq!(report["champion"]["flagged"], flagged);
    assert_eq!(report["challenger"]["flagged"], 0);
    assert_eq!(report["frauds_flagged_by_challenger_only"], 0);
    assert_eq!(
        report["frauds_flagged_by_champion_only"].as_u64().unwrap()
            + report["legitimate_flagged_by_champion_only"]
                .as_u64()
                .unwrap(),
        flagged as u64
    );
    for side in ["champion", "challenger"] {
        assert!(
            work.path()
                .join(format!("compare/{side}/report.md"))
                .is_file()
        );
    }
}

/// `--device cuda` in a binary built without the `cuda` feature (as CI's
/// is): the model scores on the CPU, every decision is scored, and stderr
/// says why it is not on the GPU. The decisions equal a CPU run's.
#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_scores_on_the_cpu_and_says_why() {
    let (work, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (events, _) = labelled_traffic(tmp.path(), work.path(), "300", "1");
    let path = |name: &str| work.path().join(name).display().to_string();
    let (ok, _, stderr) = verdict_with(
        &[
            "replay",
            "--input",
            &events,
            "--output",
            &path("gpu.jsonl"),
            "--device",
            "cuda",
        ],
        &[],
        "",
    );
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("built without the `cuda` feature") && stderr.contains("using the CPU"),
        "{stderr}"
    );
    verdict(
        tmp.path(),
        &["replay", "--input", &events, "--output", &path("cpu.jsonl")],
    );
    let gpu = std::fs::read_to_string(path("gpu.jsonl")).unwrap();
    let decisions: Vec<serde_json::Value> = gpu
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decisions.len(), 300);
    assert!(
        decisions.iter().all(|d| d["score"].is_number()),
        "every event scored"
    );
    let without_times = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("latency_ms");
                v.to_string()
            })
            .collect()
    };
    assert_eq!(
        without_times(&gpu),
        without_times(&std::fs::read_to_string(path("cpu.jsonl")).unwrap())
    );
}
