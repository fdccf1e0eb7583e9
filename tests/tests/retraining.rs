//! The retraining loop of the README, end to end, with the real binary
//! against a real broker (tansu): run → collect → label → train →
//! challenger → compare → promote.
//!
//! 1. `verdict run` decides 20 days of generated traffic (produced by
//!    `verdict generate`) and writes its feature log; SIGTERM closes it.
//! 2. The generator's labels go to the `labels` topic (`verdict labels
//!    publish`) and are pulled back into a file (`verdict labels pull`).
//! 3. `verdict train` on the engine's own log, with a label maturity that
//!    leaves the youngest days out: the model's inputs are the rule set's
//!    declared features (and the transaction fields), nothing served.
//! 4. `verdict models compare` reports the default model against it.
//! 5. The engine restarted; `verdict models challenger` loads the new model
//!    beside the champion: every decision carries its score. `verdict
//!    models promote` makes it the champion: every later decision names it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use verdict_engine::config::Config;
use verdict_engine::contract::decision::DecisionRecord;
use verdict_engine::kafka::ensure_topics;
use verdict_tests::{
    Broker, decision, read_until, reader, start_run as start, terminate, verdict_binary,
};

const TOKEN: &str = "retraining-test-token-0123";
const HISTORY: u64 = 6_000;
const DAYS: i64 = 20;
const LIVE: u64 = 300;
const NEW_MODEL: &str = "verdict-fraud@retrained";

fn write_config(dir: &Path, brokers: &str, admin_port: u16) -> PathBuf {
    let file = dir.join("verdict.toml");
    let text = format!(
        r#"[kafka]
brokers = "{brokers}"
group-id = "retraining"
topic-partitions = 2
[kafka.consumer-properties]
"fetch.wait.max.ms" = "10"
[engine]
# About the loop, not latency: a busy 2-core machine must not turn a scored
# decision into a degraded one.
sla-ms = 30000
checkpoint-interval-ms = 200
shutdown-grace-ms = 20000
[state]
dir = "{state}"
changelog-transactions = false  # tansu 0.6 has no transactions (EndTxn)
[feature-log]
dir = "{features}"
[admin]
listen = "127.0.0.1:{admin_port}"
token = "{TOKEN}"
[validation]
pan-hash-key = "retraining-test-pan-key-0123"
"#,
        state = dir.join("state").display(),
        features = dir.join("features").display(),
    );
    std::fs::write(&file, text).unwrap();
    file
}

/// `verdict args…`: (success, stdout, stderr).
fn verdict(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(verdict_binary())
        .args(args)
        .env("VERDICT_ADMIN__TOKEN", TOKEN)
        .output()
        .expect("the verdict binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `verdict args…`, which must succeed; its stdout.
fn ok(args: &[&str]) -> String {
    let (success, stdout, stderr) = verdict(args);
    assert!(success, "verdict {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

/// The transaction ids of a generator labels file.
fn labelled_ids(labels: &Path) -> HashSet<String> {
    std::fs::read_to_string(labels)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

/// Reads decisions (in its own group) until every one of `ids` is decided.
async fn decisions_of(brokers: &str, group: &str, ids: &HashSet<String>) -> Vec<DecisionRecord> {
    let c = reader(brokers, group, "decisions");
    let mut seen = Vec::new();
    read_until(
        &c,
        &mut seen,
        Instant::now() + Duration::from_secs(120),
        decision,
        |s: &[DecisionRecord]| {
            let decided: HashSet<&str> = s.iter().map(|d| d.transaction_id.as_str()).collect();
            ids.iter().all(|id| decided.contains(id.as_str()))
        },
    )
    .await;
    seen.retain(|d| ids.contains(&d.transaction_id));
    let decided: HashSet<&str> = seen.iter().map(|d| d.transaction_id.as_str()).collect();
    assert_eq!(decided.len(), ids.len(), "every event decided within 120 s");
    seen
}

/// `verdict generate` of `count` live events from now on, ids `<prefix>-n`.
fn live_traffic(brokers: &str, dir: &Path, prefix: &str, seed: &str) -> HashSet<String> {
    let labels = dir.join(format!("{prefix}.csv"));
    ok(&[
        "generate",
        "--brokers",
        brokers,
        "--topic",
        "transactions",
        "--count",
        &LIVE.to_string(),
        "--users",
        "400",
        "--fraud-rate",
        "0.03",
        "--seed",
        seed,
        "--start",
        "now",
        "--events-per-sec",
        "100",
        "--id-prefix",
        prefix,
        "--labels",
        labels.to_str().unwrap(),
    ]);
    labelled_ids(&labels)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_collect_label_train_challenge_compare_promote() {
    let broker = Broker::start().expect("tansu broker");
    let brokers = broker.bootstrap.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let shown = |name: &str| path(name).display().to_string();
    let port = free_port();
    let config_file = write_config(dir.path(), &brokers, port);
    let config = Config::load_with_env(Some(&config_file), std::iter::empty()).unwrap();
    ensure_topics(&config.kafka).await.unwrap();
    let admin = format!("http://127.0.0.1:{port}");

    // 1. Run and collect: 20 days of history, decided live.
    let mut engine = start(&config_file, &path("run-1.log"));
    let start_at = chrono::Utc::now() - chrono::Duration::days(DAYS);
    let rate = (HISTORY as f64 / (DAYS as f64 * 86_400.0) * 0.95).to_string();
    ok(&[
        "generate",
        "--brokers",
        &brokers,
        "--topic",
        "transactions",
        "--count",
        &HISTORY.to_string(),
        "--users",
        "400",
        "--fraud-rate",
        "0.03",
        "--seed",
        "12",
        "--start",
        &start_at.to_rfc3339(),
        "--events-per-sec",
        &rate,
        "--labels",
        &shown("labels.csv"),
    ]);
    let history = labelled_ids(&path("labels.csv"));
    assert_eq!(history.len() as u64, HISTORY);
    decisions_of(&brokers, "history-reader", &history).await;
    assert!(
        terminate(&mut engine, Duration::from_secs(40))
            .await
            .success()
    );
    let log = verdict_models::table::read_table(&path("features")).unwrap();
    assert_eq!(log.len() as u64, HISTORY, "one feature row per decision");

    // 2. Label: through the labels topic and back.
    let published = ok(&[
        "labels",
        "publish",
        "--brokers",
        &brokers,
        "--labels",
        &shown("labels.csv"),
        "--create-partitions",
        "2",
    ]);
    assert!(
        published.contains(&format!("published {HISTORY} labels")),
        "{published}"
    );
    let pulled = ok(&[
        "labels",
        "pull",
        "--brokers",
        &brokers,
        "--output",
        &shown("labels.jsonl"),
    ]);
    assert!(pulled.contains(&format!("{HISTORY} labels")), "{pulled}");

    // 3. Train on the engine's own log; the youngest 3 days are left out.
    let trained = ok(&[
        "train",
        "--data",
        &shown("features"),
        "--labels",
        &shown("labels.jsonl"),
        "--label-maturity-days",
        "3",
        "--out",
        &shown("retrained"),
        "--version",
        "retrained",
        "--epochs",
        "4",
    ]);
    assert!(
        trained.contains("younger than the label maturity were left out"),
        "{trained}"
    );
    let manifest = verdict_models::read_manifest(&path("retrained")).unwrap();
    let rules = verdict_rules::RuleSet::compile_dir(&defaults_rules(dir.path())).unwrap();
    let declared: Vec<&str> = rules.features().iter().map(|f| f.name.as_str()).collect();
    let inputs: Vec<&str> = manifest.schema.numeric.iter().map(String::as_str).collect();
    // The one absolute time the default rules declare is left out, and said so.
    let left_out: Vec<&str> = manifest
        .left_out
        .iter()
        .map(|l| l.feature.as_str())
        .collect();
    assert_eq!(left_out, ["prev_time"], "{:?}", manifest.left_out);
    let declared: Vec<&str> = declared
        .into_iter()
        .filter(|n| !left_out.contains(n))
        .collect();
    let fields = ["amount", "hour", "weekday"];
    assert_eq!(
        inputs
            .iter()
            .filter(|n| !fields.contains(n))
            .copied()
            .collect::<Vec<_>>(),
        declared
            .iter()
            .filter(|n| !fields.contains(n))
            .copied()
            .collect::<Vec<_>>(),
        "the model's inputs are the rule set's declared features but absolute times"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("retrained/report.json")).unwrap())
            .unwrap();
    let left_out = report["immature_rows_left_out"].as_u64().unwrap();
    assert!(
        left_out > 0 && left_out < HISTORY / 4,
        "{left_out} rows left out"
    );

    // 4. Compare the running model with the new one on the same log.
    let defaults = verdict_engine::defaults::extract(&path("defaults")).unwrap();
    let compared = ok(&[
        "models",
        "compare",
        "--champion",
        defaults.model_dir.to_str().unwrap(),
        "--challenger",
        &shown("retrained"),
        "--data",
        &shown("features"),
        "--labels",
        &shown("labels.jsonl"),
        "--label-maturity-days",
        "3",
        "--out",
        &shown("compare"),
    ]);
    assert!(compared.contains(NEW_MODEL), "{compared}");
    let comparison: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("compare/compare.json")).unwrap())
            .unwrap();
    assert_eq!(comparison["rows"].as_u64().unwrap(), HISTORY - left_out);

    // 5. The new model as challenger in the restarted engine, then promoted.
    let mut engine = start(&config_file, &path("run-2.log"));
    let limit = Instant::now() + Duration::from_secs(60);
    loop {
        let (success, stdout, stderr) = verdict(&[
            "models",
            "challenger",
            "--admin",
            &admin,
            "--dir",
            &shown("retrained"),
        ]);
        if success {
            assert!(stdout.contains(NEW_MODEL), "{stdout}");
            break;
        }
        assert!(
            Instant::now() < limit,
            "the admin API never took the challenger: {stderr}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let challenged = live_traffic(&brokers, dir.path(), "challenged", "13");
    for d in decisions_of(&brokers, "challenged-reader", &challenged).await {
        assert_eq!(d.challenger_model.as_deref(), Some(NEW_MODEL), "{d:?}");
        assert!(
            d.challenger_score.is_some() && d.score.is_some(),
            "both scores: {d:?}"
        );
        assert_ne!(
            d.model.as_deref(),
            Some(NEW_MODEL),
            "the challenger never acts: {d:?}"
        );
    }
    let promoted = ok(&["models", "promote", "--admin", &admin]);
    assert!(promoted.contains(NEW_MODEL), "{promoted}");
    let after = live_traffic(&brokers, dir.path(), "promoted", "14");
    for d in decisions_of(&brokers, "promoted-reader", &after).await {
        assert_eq!(d.model.as_deref(), Some(NEW_MODEL), "{d:?}");
        assert_eq!(d.challenger_model, None, "{d:?}");
    }
    assert!(
        terminate(&mut engine, Duration::from_secs(40))
            .await
            .success()
    );
    let log = verdict_models::table::read_table(&path("features")).unwrap();
    assert_eq!(
        log.len() as u64,
        HISTORY + 2 * LIVE,
        "both runs' rows, once each"
    );
}

/// The embedded default rules, extracted.
fn defaults_rules(dir: &Path) -> PathBuf {
    verdict_engine::defaults::extract(&dir.join("rules-defaults"))
        .unwrap()
        .rules_dir
}
