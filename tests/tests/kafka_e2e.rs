//! End to end against a real Kafka-protocol broker (tansu): generated traffic
//! with malformed messages in, every valid transaction decided exactly once,
//! every invalid one dead-lettered with the right reason, and the engine
//! restarted in the middle of the stream without losing or repeating anything.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use verdict_engine::config::Config;
use verdict_engine::contract::decision::DecisionRecord;
use verdict_engine::dataflow::Dataflow;
use verdict_engine::defaults;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::{ensure_topics, run_engine};
use verdict_engine::metrics::Metrics;
use verdict_tests::{Broker, read_until, reader};

const MESSAGES: usize = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decides_every_valid_event_once_and_dead_letters_every_invalid_one_across_a_restart() {
    let broker = Broker::start().expect("tansu broker");
    let scratch = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.kafka.brokers = broker.bootstrap.clone();
    config.kafka.topic_partitions = 3;
    config.kafka.group_id = "verdict-e2e".into();
    config.engine.checkpoint_interval_ms = 200;
    config.admin.listen = None;
    // tansu 0.6 has no transactions (EndTxn).
    config.state.changelog_transactions = false;
    ensure_topics(&config.kafka).await.expect("topics");
    let config = Arc::new(config);

    let d = defaults::extract(scratch.path()).unwrap();
    let rules = Dataflow::fixed_rules(&d.rules_dir).unwrap();
    let shared = Dataflow::build(
        rules,
        Some(&d.model_dir),
        Arc::new(Metrics::new()),
        Some(&scratch.path().join("state")),
        Default::default(),
    )
    .unwrap();

    // Produce everything up front; remember what each message must become.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .create()
        .unwrap();
    let gen_cfg = GeneratorConfig {
        seed: 7,
        // Live traffic: the engine rejects event times far from its clock.
        start_ms: verdict_tests::now_ms() - 60_000,
        users: 300,
        fraud_rate: 0.02,
        malformed_rate: 0.05,
        ..Default::default()
    };
    let mut valid_ids = HashSet::new();
    let mut expected_dlq: HashMap<(i32, i64), &'static str> = HashMap::new();
    for g in Generator::new(gen_cfg).take(MESSAGES) {
        let delivery = producer
            .send(
                FutureRecord::to("transactions")
                    .key(&g.key)
                    .payload(&g.payload),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
        match (g.label, g.expected_rejection) {
            (Some(label), None) => {
                valid_ids.insert(label.transaction_id);
            }
            (None, Some(reason)) => {
                expected_dlq.insert((delivery.partition, delivery.offset), reason.code());
            }
            other => panic!("generator gave {other:?}"),
        }
    }
    assert!(!expected_dlq.is_empty() && valid_ids.len() > MESSAGES / 2);

    let decisions = reader(&broker.bootstrap, "e2e-decisions", "decisions");
    let parse_decision = |m: &rdkafka::message::BorrowedMessage<'_>| {
        let d: DecisionRecord =
            serde_json::from_slice(m.payload().unwrap_or_default()).expect("decision JSON");
        assert_eq!(
            m.key(),
            Some(d.transaction_id.as_bytes()),
            "decisions are keyed by transaction id"
        );
        d
    };
    let mut seen: Vec<DecisionRecord> = Vec::new();

    // First run: stop it once part of the stream is decided.
    let engine = run_engine(Arc::clone(&config), shared.clone()).unwrap();
    read_until(
        &decisions,
        &mut seen,
        Instant::now() + Duration::from_secs(90),
        parse_decision,
        |s| s.len() >= valid_ids.len() / 3,
    )
    .await;
    engine.shutdown().await.expect("first run stops cleanly");
    assert!(!seen.is_empty(), "the first run decided nothing");

    // Second run picks up where the first stopped.
    let engine = run_engine(Arc::clone(&config), shared.clone()).unwrap();
    let target = valid_ids.len();
    read_until(
        &decisions,
        &mut seen,
        Instant::now() + Duration::from_secs(120),
        parse_decision,
        |s| {
            s.iter()
                .map(|d| &d.transaction_id)
                .collect::<HashSet<_>>()
                .len()
                >= target
        },
    )
    .await;
    let dlq = reader(&broker.bootstrap, "e2e-dlq", "transactions.dlq");
    let mut dead: Vec<((i32, i64), String, String)> = Vec::new();
    read_until(
        &dlq,
        &mut dead,
        Instant::now() + Duration::from_secs(60),
        |m| {
            let headers = m.headers().expect("DLQ records carry headers");
            let mut h = BTreeMap::new();
            for header in headers.iter() {
                h.insert(
                    header.key.to_string(),
                    String::from_utf8_lossy(header.value.unwrap_or_default()).to_string(),
                );
            }
            let origin = (
                h["verdict.dlq.partition"].parse().unwrap(),
                h["verdict.dlq.offset"].parse().unwrap(),
            );
            (
                origin,
                h["verdict.dlq.reason"].clone(),
                h["verdict.dlq.topic"].clone(),
            )
        },
        |d| d.len() >= expected_dlq.len(),
    )
    .await;
    engine.shutdown().await.expect("second run stops cleanly");

    // Anything still in flight would arrive now; give it one more quiet read.
    read_until(
        &decisions,
        &mut seen,
        Instant::now() + Duration::from_secs(3),
        parse_decision,
        |_| false,
    )
    .await;

    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for d in &seen {
        *per_id.entry(d.transaction_id.as_str()).or_default() += 1;
        assert!(matches!(d.action.as_str(), "allow" | "review" | "decline"));
        assert!(
            valid_ids.contains(&d.transaction_id),
            "decision for an unknown id {}",
            d.transaction_id
        );
    }
    let missing: Vec<_> = valid_ids
        .iter()
        .filter(|id| !per_id.contains_key(id.as_str()))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} valid transactions got no decision, e.g. {missing:?}",
        valid_ids.len() - per_id.len()
    );
    let repeated: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(repeated.is_empty(), "decided more than once: {repeated:?}");

    assert_eq!(
        dead.len(),
        expected_dlq.len(),
        "every invalid message dead-lettered once"
    );
    for (origin, reason, topic) in &dead {
        assert_eq!(topic, "transactions");
        assert_eq!(
            expected_dlq.get(origin),
            Some(&reason.as_str()),
            "DLQ record from {origin:?}"
        );
    }
}
