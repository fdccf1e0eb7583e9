//! Equivalence: two `verdict run` processes on eight partitions decide as a
//! one-partition `verdict replay` of the same events does.
//!
//! The traffic has fraud rings: users whose transactions share a device and
//! an IP across users (rings of about 5, 20 and 100 users, by a hash of the
//! user id), so their velocity windows `by device_id` and `by ip` — and the
//! default rules' `device_velocity` and `ip_velocity`, which read them — see
//! events of users on other partitions, and other instances. Those windows
//! are kept by their key's owner through `<group>.by.<field>` and answered on
//! `<group>.features` (`engine/src/rekey.rs`): every decision's action,
//! score, rules and reasons equal the replay's. A decision whose answers
//! could not come before its deadline is marked degraded instead (none, on
//! an idle machine; at most 1 %, or the test fails, and the engines' logs
//! are printed).
//!
//! A key owner applies requests in the order they reach it, and two events
//! of one shared key sent by two homes within the hop's own time of each
//! other can reach it in either order (one run in ten at a steady 100
//! events a second had one such pair). So the test sends an event that
//! shares a device or an IP with an earlier one only once that one is
//! decided; the rest go at about 100 a second.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use verdict_engine::config::Config;
use verdict_engine::contract::decision::DecisionRecord;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::ensure_topics;
use verdict_tests::{Broker, decision, start_run as start, terminate, verdict_binary};

const MESSAGES: usize = 1_600;
const PARTITIONS: i32 = 8;
/// Units each engine runs in all: the input's partitions and those of the
/// two request topics (`by.device_id`, `by.ip`).
const UNITS: usize = 3 * PARTITIONS as usize;

fn config(dir: &Path, brokers: &str, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"[kafka]
brokers = "{brokers}"
group-id = "equal"
output-topic = "decisions.equal"
topic-partitions = {PARTITIONS}
[engine]
rekey = true
# About the features, not latency: a join may wait up to 10 s on a machine
# whose two cores run the broker, both engines and the test.
sla-ms = 10000
deadline-clock = "receipt"
checkpoint-interval-ms = 500
[state]
dir = "{state}"
changelog-transactions = false  # tansu 0.6 has no transactions (EndTxn)
[admin]
listen = "127.0.0.1:0"
[validation]
pan-hash-key = "equivalence-test-pan-key-01"
"#,
        state = dir.join(format!("{name}-state")).display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Units a log says are running now.
fn running(log: &Path) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let started = text.matches("partition worker started").count();
    let stopped = text.matches("stopped at a checkpoint").count();
    started.saturating_sub(stopped)
}

/// Prints the engines' warnings and group changes (for a failure's report).
fn print_group_changes(logs: &[PathBuf]) {
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        eprintln!("--- {}: warnings and group changes", log.display());
        for line in text.lines().filter(|l| {
            l.contains("WARN")
                || l.contains("ERROR")
                || l.contains("partitions ")
                || l.contains("partition worker")
        }) {
            eprintln!("{line}");
        }
    }
}

/// FNV-1a, to put users in rings deterministically.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The generator's events, each ring member's every other transaction
/// moved onto its ring's device and IP. Returns (key, payload) pairs.
fn ring_traffic() -> Vec<(String, Vec<u8>)> {
    let gen_cfg = GeneratorConfig {
        seed: 91,
        start_ms: verdict_tests::now_ms() - 60_000,
        users: 400,
        fraud_rate: 0.02,
        ..Default::default()
    };
    let mut turn = 0u64;
    Generator::new(gen_cfg)
        .take(MESSAGES)
        .map(|g| {
            let mut v: serde_json::Value = serde_json::from_slice(&g.payload).unwrap();
            let user = v["user_id"].as_str().unwrap_or_default().to_owned();
            let ring = match hash(&user) % 400 {
                0..5 => Some(0),
                5..25 => Some(1),
                25..125 => Some(2),
                _ => None,
            };
            turn += 1;
            if let Some(ring) = ring.filter(|_| turn.is_multiple_of(2)) {
                v["device_id"] = format!("ring-device-{ring}").into();
                v["ip"] = format!("10.66.0.{ring}").into();
            }
            (g.key, serde_json::to_vec(&v).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_eight_partitions_decide_as_a_one_partition_replay() {
    let dir = tempfile::tempdir().unwrap();
    let events = ring_traffic();
    let valid: HashSet<String> = events
        .iter()
        .filter_map(|(_, p)| {
            let v: serde_json::Value = serde_json::from_slice(p).ok()?;
            Some(v["transaction_id"].as_str()?.to_owned())
        })
        .collect();
    assert_eq!(valid.len(), MESSAGES, "every event is valid");

    // The ground truth: one partition sees every entity's whole history.
    let input = dir.path().join("events.jsonl");
    let mut lines = Vec::new();
    for (_, payload) in &events {
        lines.extend_from_slice(payload);
        lines.push(b'\n');
    }
    std::fs::write(&input, lines).unwrap();
    let replayed = dir.path().join("replay.jsonl");
    let status = std::process::Command::new(verdict_binary())
        .args(["replay", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&replayed)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "verdict replay: {status}");
    let expected: Vec<DecisionRecord> = std::fs::read_to_string(&replayed)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ring_rules = expected
        .iter()
        .filter(|d| {
            d.rules
                .iter()
                .any(|r| r == "device_velocity" || r == "ip_velocity")
        })
        .count();
    assert!(
        ring_rules >= 20,
        "the rings drive shared-key rules ({ring_rules} decisions)"
    );

    let broker = Broker::start().expect("tansu broker");
    let brokers = broker.bootstrap.clone();
    let (a, b) = (
        config(dir.path(), &brokers, "a"),
        config(dir.path(), &brokers, "b"),
    );
    let loaded = Config::load_with_env(Some(&a), std::iter::empty()).unwrap();
    ensure_topics(&loaded.kafka).await.unwrap();
    let logs = [dir.path().join("a.log"), dir.path().join("b.log")];
    let mut engines = [start(&a, &logs[0]), start(&b, &logs[1])];
    // Both instances settled: every unit running, each somewhere.
    let settle = Instant::now() + Duration::from_secs(90);
    while logs.iter().map(|l| running(l)).sum::<usize>() != UNITS
        || logs.iter().any(|l| running(l) == 0)
    {
        if Instant::now() > settle {
            print_group_changes(&logs);
            panic!("the group did not settle");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "2")
        .create()
        .unwrap();
    // Decisions are read while the events go in: an event that shares a
    // device or an IP with an earlier one is sent once that one is decided.
    // A key owner applies requests in the order they reach it, and two
    // events from two homes can reach it in either order (see the README,
    // "Features across partitions"): the test is about the features.
    let decisions: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "equal-reader")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // tansu holds a fetch this long even when data is there.
        .set("fetch.wait.max.ms", "5")
        .create()
        .unwrap();
    decisions.subscribe(&["decisions.equal"]).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reading = tokio::spawn(async move {
        loop {
            if let Ok(m) = decisions.recv().await
                && tx.send(decision(&m)).is_err()
            {
                break;
            }
        }
    });
    let mut seen: Vec<DecisionRecord> = Vec::new();
    let mut decided: HashSet<String> = HashSet::new();
    let mut wait_for = async |ids: &[String], deadline: Instant| {
        while ids.iter().any(|id| !decided.contains(id)) {
            let d = tokio::time::timeout_at(deadline.into(), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("{ids:?} not decided in time"))
                .expect("the reader runs");
            decided.insert(d.transaction_id.clone());
            seen.push(d);
        }
    };
    let mut last_on_key: HashMap<String, String> = HashMap::new();
    for (key, payload) in &events {
        let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
        let id = v["transaction_id"].as_str().unwrap().to_owned();
        let shared: Vec<String> = ["device_id", "ip"]
            .iter()
            .filter_map(|f| Some(format!("{f}={}", v[*f].as_str()?)))
            .collect();
        let before: Vec<String> = shared
            .iter()
            .filter_map(|k| last_on_key.get(k).cloned())
            .collect();
        wait_for(&before, Instant::now() + Duration::from_secs(30)).await;
        for k in shared {
            last_on_key.insert(k, id.clone());
        }
        producer
            .send(
                FutureRecord::to(&loaded.kafka.input_topic)
                    .key(key)
                    .payload(payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(8)).await;
    }
    let all: Vec<String> = valid.iter().cloned().collect();
    wait_for(&all, Instant::now() + Duration::from_secs(120)).await;
    reading.abort();
    for engine in &mut engines {
        let status = terminate(engine, Duration::from_secs(40)).await;
        assert!(status.success(), "{status}");
    }

    let degraded: Vec<&str> = seen
        .iter()
        .filter(|d| d.degraded)
        .map(|d| d.transaction_id.as_str())
        .collect();
    if !degraded.is_empty() {
        print_group_changes(&logs);
    }
    // A join waits for its answers until just before the deadline; one that
    // could not (an instance starved of CPU past the 10 s SLA) decides on
    // what its home knows and says so. Those few are not the replay's to
    // equal; every other decision is, and the events behind a degraded one
    // were still applied at their owners, so what follows stays exact.
    assert!(
        degraded.len() <= MESSAGES / 100,
        "{} degraded decisions at a moderate rate, e.g. {:?}",
        degraded.len(),
        &degraded[..degraded.len().min(5)]
    );
    let exact: Vec<DecisionRecord> = seen.iter().filter(|d| !d.degraded).cloned().collect();
    let decided_exactly: HashSet<String> = valid
        .iter()
        .filter(|id| !degraded.contains(&id.as_str()))
        .cloned()
        .collect();
    verdict_tests::assert_as_the_reference(&exact, &expected, &decided_exactly, "the hop");
}
