//! Mobility: partitions move between instances while traffic flows, and
//! their state moves with them through the changelog topic.
//!
//! `verdict run` processes (the real binary, RocksDB state, each instance
//! on a disk of its own, empty when it starts) against a real broker
//! (tansu), the producer running throughout: one instance, then three, then
//! two (one stops with SIGTERM), then one is SIGKILLed and a new one starts
//! on an empty disk. Every valid event is decided, and every decision —
//! duplicates included — equals the one an uninterrupted single instance
//! makes on the same partitions (same action, score, rules and reasons,
//! which carry the windows' and the history's values): so the instances
//! that took partitions over decided them on the state their previous
//! owners had built, restored from the changelog (their logs say so).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::process::{Child, Command};
use verdict_engine::config::Config;
use verdict_engine::contract::decision::DecisionRecord;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::ensure_topics;
use verdict_tests::{Broker, decision, read_until, reader, verdict_binary};

const MESSAGES: usize = 8_000;
const PARTITIONS: i32 = 6;

/// One instance's configuration: its own disk, its own log.
struct Instance {
    name: &'static str,
    config: PathBuf,
    log: PathBuf,
}

fn instance(dir: &Path, brokers: &str, name: &'static str, group: &str, output: &str) -> Instance {
    let config = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"[kafka]
brokers = "{brokers}"
group-id = "{group}"
output-topic = "{output}"
topic-partitions = {PARTITIONS}
[kafka.consumer-properties]
"fetch.wait.max.ms" = "10"
[engine]
# About state, not latency: a busy 2-core machine running four engines must
# not turn a scored decision into a degraded one.
sla-ms = 30000
# Counted from receipt: the reference reads events produced a minute before.
deadline-clock = "receipt"
checkpoint-interval-ms = 250
shutdown-grace-ms = 20000
[state]
dir = "{state}"
changelog-transactions = false  # tansu 0.6 has no transactions (EndTxn)
[admin]
listen = "127.0.0.1:0"
[validation]
pan-hash-key = "mobility-test-pan-key-0123"
"#,
        state = dir.join(format!("{name}-state")).display()
    );
    std::fs::write(&config, text).unwrap();
    Instance {
        name,
        config,
        log: dir.join(format!("{name}.log")),
    }
}

impl Instance {
    fn start(&self) -> Child {
        let state = self.config.with_file_name(format!("{}-state", self.name));
        assert!(!state.exists(), "{} starts on an empty disk", self.name);
        Command::new(verdict_binary())
            .args(["run", "--config"])
            .arg(&self.config)
            .env("VERDICT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("verdict run")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the instance decides at least one partition.
    async fn owns_a_partition(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.log().contains("partition worker started") {
            assert!(
                Instant::now() < deadline,
                "{} got no partition within {limit:?}:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The records it restored from the changelog, by its log.
    fn restored_records(&self) -> u64 {
        self.log()
            .lines()
            .filter(|l| l.contains("brought up to date") && l.contains("Restored"))
            .filter_map(|l| {
                let at = l.find("records=")? + "records=".len();
                let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u64>().ok()
            })
            .sum()
    }
}

async fn signal(child: &mut Child, signal: i32) -> std::process::ExitStatus {
    let pid = child.id().expect("running") as i32;
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("the instance exits")
        .unwrap()
}

/// Reads decisions until at least `n` more than now, or `limit`.
async fn decide_more(
    c: &StreamConsumer,
    seen: &mut Vec<DecisionRecord>,
    n: usize,
    limit: Duration,
) {
    let want = seen.len() + n;
    read_until(c, seen, Instant::now() + limit, decision, |d| {
        d.len() >= want
    })
    .await;
    assert!(seen.len() >= want, "only {} decisions", seen.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_follows_its_partition_to_any_instance() {
    let broker = Broker::start().expect("tansu broker");
    let dir = tempfile::tempdir().unwrap();
    let brokers = broker.bootstrap.clone();
    let [a, b, c, d] = ["a", "b", "c", "d"]
        .map(|name| instance(dir.path(), &brokers, name, "mobile", "decisions.mobile"));
    let reference = instance(
        dir.path(),
        &brokers,
        "reference",
        "reference",
        "decisions.reference",
    );
    let config = Config::load_with_env(Some(&a.config), std::iter::empty()).unwrap();
    ensure_topics(&config.kafka).await.unwrap();
    let alone = Config::load_with_env(Some(&reference.config), std::iter::empty()).unwrap();
    ensure_topics(&alone.kafka).await.unwrap();

    let gen_cfg = GeneratorConfig {
        seed: 77,
        start_ms: verdict_tests::now_ms() - 60_000,
        users: 300,
        fraud_rate: 0.03,
        ..Default::default()
    };
    let valid: HashSet<String> = Generator::new(gen_cfg.clone())
        .take(MESSAGES)
        .filter_map(|g| g.label.map(|l| l.transaction_id))
        .collect();
    // About 200 events a second for 40 s: every move lands
    // while the producer runs.
    let producer_task = {
        let (brokers, topic) = (brokers.clone(), config.kafka.input_topic.clone());
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
                if i % 50 == 49 {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        })
    };

    let decisions = reader(&brokers, "mobile-reader", "decisions.mobile");
    let mut seen = Vec::new();
    let limit = Duration::from_secs(120);
    let mut first = a.start();
    decide_more(&decisions, &mut seen, 300, limit).await;
    // 1 → 3: b and c join and take partitions a built state for.
    let (mut second, mut third) = (b.start(), c.start());
    b.owns_a_partition(limit).await;
    c.owns_a_partition(limit).await;
    decide_more(&decisions, &mut seen, 300, limit).await;
    assert!(
        c.restored_records() > 0,
        "c restored its partitions from the changelog:\n{}",
        c.log()
    );
    // 3 → 2: c stops cleanly; its partitions go back to a and b.
    let stopped = signal(&mut third, libc::SIGTERM).await;
    assert!(stopped.success(), "{stopped}:\n{}", c.log());
    decide_more(&decisions, &mut seen, 300, limit).await;
    // b dies, and d starts on an empty disk.
    signal(&mut second, libc::SIGKILL).await;
    let mut fourth = d.start();
    d.owns_a_partition(limit).await;
    assert!(
        !producer_task.is_finished(),
        "every move must land under load"
    );
    producer_task.await.unwrap();
    read_until(
        &decisions,
        &mut seen,
        Instant::now() + limit,
        decision,
        |s| {
            s.iter()
                .map(|d| &d.transaction_id)
                .collect::<HashSet<_>>()
                .len()
                >= valid.len()
        },
    )
    .await;
    for (child, instance) in [(&mut first, &a), (&mut fourth, &d)] {
        let status = signal(child, libc::SIGTERM).await;
        assert!(status.success(), "{status}:\n{}", instance.log());
    }
    for instance in [&b, &d] {
        assert!(
            instance.restored_records() > 0,
            "{} restored its partitions from the changelog:\n{}",
            instance.name,
            instance.log()
        );
    }

    // The uninterrupted reference: one instance, same partitions, fresh disk.
    let mut alone = reference.start();
    let reference_reader = reader(&brokers, "reference-reader", "decisions.reference");
    let mut expected = Vec::new();
    read_until(
        &reference_reader,
        &mut expected,
        Instant::now() + limit,
        decision,
        |d| d.len() >= valid.len(),
    )
    .await;
    signal(&mut alone, libc::SIGTERM).await;
    assert_eq!(
        expected.len(),
        valid.len(),
        "the reference decided every event once"
    );

    assert!(seen.iter().all(|d| !d.degraded), "a decision was degraded");
    verdict_tests::assert_as_the_reference(&seen, &expected, &valid, "the moves");
}
