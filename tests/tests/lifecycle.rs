//! The engine process's life and death: `verdict run` — the real binary,
//! its own process, RocksDB state, against a real broker (tansu).
//!
//! - Graceful stop: SIGTERM while traffic is flowing. It must stop
//!   consuming, finish its batches, checkpoint, commit and exit 0 within its
//!   grace period; restarted on the same state, it goes on where it
//!   stopped. Across the two runs every valid event is decided exactly
//!   once: nothing lost, nothing re-decided.
//! - Failure: an internal error in one partition (its checkpoint record
//!   corrupted on disk) fails that partition loudly and the process exits
//!   non-zero — no zombie that holds partitions without consuming them.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use verdict_engine::config::Config;
use verdict_engine::contract::decision::DecisionRecord;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::ensure_topics;
use verdict_state::keys::checkpoint_key;
use verdict_state::{RocksOptions, RocksStore, StateStore, WriteBatch};
use verdict_tests::{Broker, decision, read_until, reader, start_run as start, terminate};

const MESSAGES: usize = 3_000;

fn write_config(dir: &Path, brokers: &str, group: &str) -> std::path::PathBuf {
    let file = dir.join("verdict.toml");
    let text = format!(
        r#"[kafka]
brokers = "{brokers}"
group-id = "{group}"
topic-partitions = 2
[kafka.consumer-properties]
"fetch.wait.max.ms" = "10"
[engine]
# About state, not latency: a busy 2-core machine must not turn a scored
# decision into a degraded one.
sla-ms = 30000
checkpoint-interval-ms = 200
shutdown-grace-ms = 20000
[state]
dir = "{state}"
changelog-transactions = false  # tansu 0.6 has no transactions (EndTxn)
[admin]
listen = "127.0.0.1:0"
[validation]
pan-hash-key = "shutdown-test-pan-key-0123"
"#,
        state = dir.join("state").display()
    );
    std::fs::write(&file, text).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_checkpoints_and_the_restart_re_decides_nothing() {
    let broker = Broker::start().expect("tansu broker");
    let dir = tempfile::tempdir().unwrap();
    let config_file = write_config(dir.path(), &broker.bootstrap, "shutdown");
    let config = Config::load_with_env(Some(&config_file), std::iter::empty()).unwrap();
    ensure_topics(&config.kafka).await.unwrap();

    let gen_cfg = GeneratorConfig {
        seed: 41,
        start_ms: verdict_tests::now_ms() - 60_000,
        users: 300,
        fraud_rate: 0.03,
        ..Default::default()
    };
    let valid = Generator::new(gen_cfg.clone())
        .take(MESSAGES)
        .filter(|g| g.label.is_some())
        .count();
    // About 1,000 events a second: the stop lands while the producer runs.
    let producer_task = {
        let brokers = broker.bootstrap.clone();
        let topic = config.kafka.input_topic.clone();
        tokio::spawn(async move {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("linger.ms", "2")
                .create()
                .unwrap();
            for (i, g) in Generator::new(gen_cfg).take(MESSAGES).enumerate() {
                producer
                    .send(
                        FutureRecord::to(&topic).key(&g.key).payload(&g.payload),
                        Duration::from_secs(10),
                    )
                    .await
                    .unwrap();
                if i % 100 == 99 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        })
    };

    let decisions = reader(
        &broker.bootstrap,
        "shutdown-reader",
        &config.kafka.output_topic,
    );
    let mut seen: Vec<DecisionRecord> = Vec::new();
    let first_log = dir.path().join("first.log");
    let mut first = start(&config_file, &first_log);
    read_until(
        &decisions,
        &mut seen,
        Instant::now() + Duration::from_secs(120),
        decision,
        |d| d.len() >= 500,
    )
    .await;
    assert!(
        seen.len() >= 500,
        "the first run decided only {}",
        seen.len()
    );
    assert!(
        !producer_task.is_finished(),
        "the stop must land under load"
    );
    let status = terminate(&mut first, Duration::from_secs(30)).await;
    let log = std::fs::read_to_string(&first_log).unwrap();
    assert!(
        status.success(),
        "SIGTERM must end in exit 0, got {status}:\n{log}"
    );
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("stopped at a checkpoint"), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");

    producer_task.await.unwrap();
    let second_log = dir.path().join("second.log");
    let mut second = start(&config_file, &second_log);
    read_until(
        &decisions,
        &mut seen,
        Instant::now() + Duration::from_secs(120),
        decision,
        |d| d.len() >= valid,
    )
    .await;
    let status = terminate(&mut second, Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&second_log).unwrap()
    );
    // Both runs have stopped: everything they produced is in the topic.
    // Read all of it, duplicates included, to the end of every partition.
    let everything = read_to_end(&broker.bootstrap, &config.kafka.output_topic, 2).await;
    assert!(everything.len() >= seen.len());
    let seen = everything;

    let mut times: HashMap<&str, usize> = HashMap::new();
    for d in &seen {
        *times.entry(d.transaction_id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "re-decided after the graceful stop: {twice:?}"
    );
    assert_eq!(times.len(), valid, "every valid event decided");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_in_one_partition_makes_the_process_exit_non_zero() {
    let broker = Broker::start().expect("tansu broker");
    let dir = tempfile::tempdir().unwrap();
    let config_file = write_config(dir.path(), &broker.bootstrap, "failure");
    let config = Config::load_with_env(Some(&config_file), std::iter::empty()).unwrap();
    ensure_topics(&config.kafka).await.unwrap();
    // Damage partition 1's checkpoint record the way a bad disk would.
    {
        let store = RocksStore::open(dir.path().join("state"), &RocksOptions::default()).unwrap();
        let mut batch = WriteBatch::new();
        batch.put(checkpoint_key(1), b"\xde\xad\xbe\xef");
        store.write(batch).unwrap();
    }
    let log = dir.path().join("engine.log");
    let mut engine = start(&config_file, &log);
    let status = tokio::time::timeout(Duration::from_secs(60), engine.wait())
        .await
        .expect("a failed partition ends the process")
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "exit status {status}:\n{text}");
    assert!(text.contains("partition worker failed"), "{text}");
    assert!(text.contains("opening state of partition 1"), "{text}");
}

/// Every message of `topic` from the beginning to the end of each of its
/// `partitions` (the broker's end-of-partition signal, not a timeout).
async fn read_to_end(brokers: &str, topic: &str, partitions: i32) -> Vec<DecisionRecord> {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "lifecycle-audit")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut at_end = HashSet::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while at_end.len() < partitions as usize {
        assert!(
            Instant::now() < deadline,
            "reading {topic} to its end timed out"
        );
        match tokio::time::timeout(Duration::from_secs(1), c.recv()).await {
            Ok(Ok(m)) => out.push(decision(&m)),
            Ok(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Ok(Err(e)) => panic!("reading {topic}: {e}"),
            Err(_) => {}
        }
    }
    out
}
