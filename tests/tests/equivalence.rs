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
//! score, rules and reasons equal the replay's, and none is degraded.
//!
//! The rate is moderate (about 100 events a second, the broker and both
//! engines on the test machine's cores): a key owner applies requests in
//! the order they reach it, which is the events' order when two events of a
//! shared key are not produced within the hop's own time of each other.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::process::{Child, Command};
use verdict_engine::config::Config;
use verdict_engine::contract::decision::DecisionRecord;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::ensure_topics;
use verdict_tests::{Broker, decision, read_until, reader, verdict_binary};

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

fn start(config: &Path, log: &Path) -> Child {
    Command::new(verdict_binary())
        .args(["run", "--config"])
        .arg(config)
        .env("VERDICT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("verdict run")
}

/// Units a log says are running now.
fn running(log: &Path) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let started = text.matches("partition worker started").count();
    let stopped = text.matches("stopped at a checkpoint").count();
    started.saturating_sub(stopped)
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
        assert!(Instant::now() < settle, "the group did not settle");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "2")
        .create()
        .unwrap();
    let decisions = reader(&brokers, "equal-reader", "decisions.equal");
    // One event every 10 ms or so (each send awaits its acknowledgement).
    for (key, payload) in &events {
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
    let mut seen = Vec::new();
    read_until(
        &decisions,
        &mut seen,
        Instant::now() + Duration::from_secs(120),
        decision,
        |s: &[DecisionRecord]| {
            s.iter()
                .map(|d| &d.transaction_id)
                .collect::<HashSet<_>>()
                .len()
                >= valid.len()
        },
    )
    .await;
    for engine in &mut engines {
        let pid = engine.id().expect("running") as i32;
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(Duration::from_secs(40), engine.wait())
            .await
            .expect("the instance exits")
            .unwrap();
        assert!(status.success(), "{status}");
    }

    let degraded = seen.iter().filter(|d| d.degraded).count();
    assert_eq!(degraded, 0, "degraded decisions at a moderate rate");
    verdict_tests::assert_as_the_reference(&seen, &expected, &valid, "the hop");
}
