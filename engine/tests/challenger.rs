//! Champion and challenger, live: the challenger scores every event beside
//! the champion and never acts (both scores are in every decision); a
//! corrupt challenger is refused and counted, the running one stays; and a
//! promotion through `verdict models promote` while traffic flows switches
//! each partition exactly once, between two batches, with no event lost.
//!
//! The engine runs on librdkafka's in-process mock cluster, the admin API
//! over real HTTP and the CLI as its own process.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use verdict_engine::admin::{self, Admin, Token};
use verdict_engine::dataflow::Dataflow;
use verdict_engine::defaults;
use verdict_engine::feature_log::Rotation;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::{Role, client_config};
use verdict_engine::metrics::Metrics;

use common::{corrupt_model, halved_model, read_decisions};

const PARTITIONS: i32 = 4;
/// Decided before the promotion, produced while it happens, after it.
const BEFORE: usize = 600;
const DURING: usize = 600;
const AFTER_PER_PARTITION: usize = 25;
const TOKEN: &str = "admin-token-for-tests-0123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_switches_each_partition_once_and_loses_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let d = defaults::extract(scratch.path()).unwrap();
    let challenger_dir = scratch.path().join("challenger");
    halved_model(&d.model_dir, &challenger_dir, "halved");
    let corrupt = scratch.path().join("corrupt");
    corrupt_model(&challenger_dir, &corrupt);

    let dataflow = Dataflow::build(
        Dataflow::fixed_rules(&d.rules_dir).unwrap(),
        Some(&d.model_dir),
        Arc::new(Metrics::new()),
        None,
        Default::default(),
    )
    .unwrap();
    let metrics = Arc::clone(&dataflow.metrics);
    let loads = |slot: &str, result: &str| {
        metrics
            .ops
            .model_reloads
            .with_label_values(&[slot, result])
            .get()
    };
    let champion = dataflow.models.champion().unwrap().label.clone();
    assert!(dataflow.load_challenger(&corrupt).is_err());
    assert!(dataflow.models.challenger().is_none());
    let challenger = dataflow.load_challenger(&challenger_dir).unwrap();
    assert_eq!(challenger, "verdict-fraud@halved");
    assert_eq!(
        (loads("challenger", "ok"), loads("challenger", "error")),
        (1, 1)
    );

    // The live feature log records both models' scores too.
    let features = scratch.path().join("features");
    let rotation = Rotation {
        max_bytes: 1 << 30,
        max_age: Duration::from_secs(3_600),
    };
    let (sink, feature_log) =
        verdict_engine::feature_sink::start(&features, rotation, &dataflow.metrics).unwrap();
    let dataflow = dataflow.with_feature_sink(sink);

    let (_cluster, config, engine) = common::mock_engine(&dataflow, PARTITIONS);
    let admin = Admin {
        dataflow: dataflow.clone(),
        status: engine.status(),
        decisions: engine.decisions(),
        rules: None,
        token: Some(Token::new(TOKEN)),
    };
    let (addr, _server) = admin::serve("127.0.0.1:0", admin).await.unwrap();
    let status = engine.status();
    let joined = Instant::now();
    while !status.is_ready() {
        assert!(joined.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let producer: FutureProducer = client_config(&config.kafka, Role::Producer)
        .create()
        .unwrap();
    producer
        .client()
        .fetch_metadata(
            Some(config.kafka.input_topic.as_str()),
            Duration::from_secs(10),
        )
        .unwrap();
    let mut traffic = Traffic {
        generator: Generator::new(GeneratorConfig {
            seed: 23,
            users: 300,
            fraud_rate: 0.03,
            start_ms: chrono::Utc::now().timestamp_millis() - 60_000,
            ..Default::default()
        }),
        producer,
        topic: config.kafka.input_topic.clone(),
        home: HashMap::new(),
        sent: Vec::new(),
    };
    for _ in 0..BEFORE {
        traffic.send().await;
    }
    let before: Vec<String> = traffic.sent.iter().map(|(id, _)| id.clone()).collect();
    read_decisions(&config, PARTITIONS, &before).await;

    // The promotion, through the CLI against the admin API, while events
    // keep arriving; a corrupt challenger offered on the way is refused.
    let url = format!("http://{addr}");
    let promoting = {
        let (url, corrupt) = (url.clone(), corrupt.clone());
        tokio::task::spawn_blocking(move || {
            let refused = cli(
                &["models", "challenger", "--admin", &url, "--dir"],
                &corrupt,
            );
            let promoted = cli(&["models", "promote", "--admin", &url], "");
            (refused, promoted)
        })
    };
    for _ in 0..DURING {
        traffic.send().await;
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let (refused, promoted) = promoting.await.unwrap();
    assert!(!refused.0, "a corrupt challenger is refused: {refused:?}");
    assert!(
        refused.2.contains("422") && refused.2.contains("checksum"),
        "{refused:?}"
    );
    assert!(promoted.0, "promotion: {promoted:?}");
    let answer: serde_json::Value = serde_json::from_str(&promoted.1).unwrap();
    assert_eq!(answer["champion"], "verdict-fraud@halved");
    assert!(
        answer["challenger"].is_null(),
        "the challenger moved up: {answer}"
    );
    // Every partition gets events after the promotion.
    let mut after = [0; PARTITIONS as usize];
    while after.iter().any(|&n| n < AFTER_PER_PARTITION) {
        let p = traffic.send().await;
        after[p as usize] += 1;
    }

    let sent = traffic.sent;
    let ids: Vec<String> = sent.iter().map(|(id, _)| id.clone()).collect();
    let decisions = read_decisions(&config, PARTITIONS, &ids).await;
    engine.shutdown().await.unwrap();
    assert_eq!(feature_log.finish().unwrap(), ids.len() as u64);
    assert_eq!(dataflow.metrics.ops.feature_log_dropped.get(), 0);
    let logged = read_served(&features);
    assert_eq!(logged.len(), ids.len(), "one feature row per decision");

    // No event lost; before the switch, both models on every scored
    // decision. One the deadline left unscored (degraded: a cold start's
    // first fetch) has neither score: the challenger keeps the champion's
    // deadlines.
    assert_eq!(decisions.len(), ids.len());
    let mut switched_at = HashMap::new();
    let mut position = HashMap::new();
    let mut degraded = 0;
    for (id, partition) in &sent {
        let d = &decisions[id];
        let n = position.entry(*partition).or_insert(0usize);
        let model = d.model.as_deref();
        let row = &logged[id];
        assert_eq!(row.0.as_deref(), model, "{id}: the log's model");
        assert_eq!(row.1.as_deref(), d.challenger_model.as_deref(), "{id}");
        assert_eq!(row.2.is_some(), d.challenger_score.is_some(), "{id}");
        if d.score.is_none() {
            assert!(d.degraded && d.challenger_score.is_none(), "{d:?}");
            degraded += 1;
            *n += 1;
            continue;
        }
        if model == Some(champion.as_str()) {
            assert!(
                !switched_at.contains_key(partition),
                "partition {partition} went back to the old champion at {id}: {d:?}"
            );
            assert_eq!(
                d.challenger_model.as_deref(),
                Some("verdict-fraud@halved"),
                "{d:?}"
            );
            let (score, half) = (d.score.unwrap(), d.challenger_score.unwrap());
            assert!(
                (half - score / 2.0).abs() < 2e-6,
                "the challenger's own score: {d:?}"
            );
        } else {
            assert_eq!(model, Some("verdict-fraud@halved"), "{d:?}");
            assert!(d.score.unwrap() <= 0.5, "the new champion scores: {d:?}");
            assert_eq!(d.challenger_model, None, "no challenger after it moved up");
            switched_at.entry(*partition).or_insert(*n);
        }
        assert!(!d.degraded, "{d:?}");
        *n += 1;
    }
    assert!(
        degraded * 100 <= ids.len(),
        "{degraded} of {} decisions degraded",
        ids.len()
    );
    let before_per_partition = |p: i32| {
        sent[..BEFORE]
            .iter()
            .filter(|(_, partition)| *partition == p)
            .count()
    };
    for p in 0..PARTITIONS {
        let at = switched_at[&p];
        assert!(
            at >= before_per_partition(p),
            "partition {p} switched at its event {at}, before the promotion"
        );
    }
    assert_eq!(
        (loads("champion", "ok"), loads("challenger", "error")),
        (2, 2),
        "the start and the promotion; the corrupt challenger twice"
    );
    let (_, metrics) = common::get(&addr.to_string(), "/metrics").unwrap();
    assert!(
        metrics.contains(r#"verdict_model_info{model="verdict-fraud@halved",role="champion"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"role="challenger""#), "{metrics}");
}

/// Generated events, each user's in one partition (as its key would put
/// it): the order of a partition's events is the order they are sent in.
struct Traffic {
    generator: Generator,
    producer: FutureProducer,
    topic: String,
    home: HashMap<String, i32>,
    /// (transaction id, partition), in the order sent.
    sent: Vec<(String, i32)>,
}

impl Traffic {
    /// Sends the next event; returns its partition.
    async fn send(&mut self) -> i32 {
        let g = self.generator.next_message();
        let users = self.home.len() as i32;
        let partition = *self.home.entry(g.key.clone()).or_insert(users % PARTITIONS);
        let record = FutureRecord::to(&self.topic)
            .key(&g.key)
            .payload(&g.payload)
            .partition(partition);
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
        let id = g.label.expect("no malformed messages").transaction_id;
        self.sent.push((id, partition));
        partition
    }
}

/// A feature-log row's served columns: (model, challenger model,
/// challenger score).
type Served = (Option<String>, Option<String>, Option<f64>);

/// The live feature log's served columns per transaction.
fn read_served(dir: &std::path::Path) -> HashMap<String, Served> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Float64Type;
    let mut rows = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            path.extension().unwrap(),
            "parquet",
            "closed files only: {path:?}"
        );
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let text = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap()
                    .as_string::<i32>()
                    .clone()
            };
            let (ids, model, challenger) = (
                text("transaction_id"),
                text("model"),
                text("challenger_model"),
            );
            let score = batch
                .column_by_name("challenger_score")
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone();
            let opt = |a: &arrow::array::StringArray, i: usize| {
                (!a.is_null(i)).then(|| a.value(i).to_string())
            };
            for i in 0..batch.num_rows() {
                let served = (
                    opt(&model, i),
                    opt(&challenger, i),
                    (!score.is_null(i)).then(|| score.value(i)),
                );
                rows.insert(ids.value(i).to_string(), served);
            }
        }
    }
    rows
}

/// Runs `verdict args… [dir]` with the admin token in its environment:
/// (success, stdout, stderr).
fn cli(args: &[&str], dir: impl AsRef<std::ffi::OsStr>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verdict"));
    cmd.args(args).env("VERDICT_ADMIN__TOKEN", TOKEN);
    if !dir.as_ref().is_empty() {
        cmd.arg(dir);
    }
    let out = cmd.output().expect("the verdict binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
