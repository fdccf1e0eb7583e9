//! Crash test: the engine runs as a separate process against a real broker
//! (tansu) with RocksDB state, is killed with SIGKILL at random points several
//! times while a producer runs, and is restarted each time. Afterwards every
//! valid transaction has a decision, and every decision — duplicates included
//! — equals the one an uninterrupted run makes on the same input: same action,
//! same score, same rules and reasons (which carry the window counts), so no
//! event was lost or counted twice in any aggregate.
//!
//! Two of the restarts are on an empty disk, as when the orchestrator moves
//! the instance to another node: the partitions' state then comes from the
//! changelog topic alone (including any copy a kill left unfinished, which
//! the restore discards and repairs), and the decisions must still equal
//! the uninterrupted run's.
//!
//! The engine process is this test binary re-executed into
//! `engine_process_entry` (an ignored test that runs the engine until killed),
//! configured through environment variables.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::{FutureProducer, FutureRecord};
use verdict_engine::config::{Config, DeadlineClock};
use verdict_engine::contract::decision::DecisionRecord;
use verdict_engine::dataflow::Dataflow;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::{ensure_topics, run_engine};
use verdict_engine::metrics::Metrics;
use verdict_tests::{Broker, decision, read_until, reader};

const MESSAGES: usize = 12_000;
/// SIGKILL cycles.
const ROUNDS: usize = 10;

fn engine_config(brokers: &str, group: &str, output: &str) -> Config {
    let mut c = Config::default();
    c.kafka.brokers = brokers.into();
    c.kafka.group_id = group.into();
    c.kafka.output_topic = output.into();
    c.kafka.dlq_topic = format!("{output}.dlq");
    c.kafka.topic_partitions = 2;
    c.engine.checkpoint_interval_ms = 100;
    // tansu 0.6 has no transactions (EndTxn).
    c.state.changelog_transactions = false;
    // This test is about state, not latency: a generous deadline keeps a busy
    // 2-core machine from turning a scored decision into a degraded one.
    c.engine.sla_ms = 30_000;
    // Counted from receipt: the reference reads events produced a minute
    // before it starts.
    c.engine.deadline_clock = DeadlineClock::Receipt;
    c.admin.listen = None;
    c
}

/// Runs an engine until the process is killed. Only meaningful when started
/// by `engine_process` below.
#[test]
#[ignore = "entry point of the engine child process"]
fn engine_process_entry() {
    let Ok(brokers) = std::env::var("CRASH_BROKERS") else {
        return;
    };
    if std::env::var_os("VERDICT_TEST_LOGS").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(std::io::stderr)
            .init();
    }
    let state = std::env::var("CRASH_STATE").unwrap();
    let defaults = std::env::var("CRASH_DEFAULTS").unwrap();
    let mut config = engine_config(&brokers, "crash", "decisions.crash");
    // Static membership: a restart is the same member, and gets its
    // partitions back without waiting for the group to notice the kill.
    config.kafka.group_instance_id = Some("crash-0".into());
    let config = Arc::new(config);
    let d = verdict_engine::defaults::extract(std::path::Path::new(&defaults)).unwrap();
    let shared = Dataflow::build(
        Dataflow::fixed_rules(&d.rules_dir).unwrap(),
        Some(&d.model_dir),
        Arc::new(Metrics::new()),
        Some(std::path::Path::new(&state)),
        Default::default(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let logged = std::env::var_os("VERDICT_TEST_LOGS").is_some();
    let metrics = Arc::clone(&shared.metrics);
    rt.block_on(async move {
        let engine = run_engine(config, shared).unwrap();
        if logged {
            // What the engine has done, every second, beside its own log.
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    every.tick().await;
                    eprintln!(
                        "progress: {} consumed, {} decided, {} checkpoints",
                        metrics.events_consumed.get(),
                        metrics.decisions.with_label_values(&["allow"]).get()
                            + metrics.decisions.with_label_values(&["review"]).get()
                            + metrics.decisions.with_label_values(&["decline"]).get(),
                        metrics.checkpoints.get()
                    );
                }
            });
        }
        engine.join().await.unwrap();
    });
}

/// Starts the engine process. With `VERDICT_TEST_LOGS=<dir>` set, its log
/// goes to `<dir>/crash-<n>.log` (the n-th process started), for diagnosing a
/// failure; otherwise nowhere.
fn engine_process(brokers: &str, state: &std::path::Path, defaults: &std::path::Path) -> Child {
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stderr = match std::env::var_os("VERDICT_TEST_LOGS") {
        Some(dir) => Stdio::from(
            std::fs::File::create(std::path::Path::new(&dir).join(format!("crash-{n}.log")))
                .unwrap(),
        ),
        None => Stdio::null(),
    };
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::engine_process_entry",
            "--ignored",
            "--nocapture",
        ])
        .env("CRASH_BROKERS", brokers)
        .env("CRASH_STATE", state)
        .env("CRASH_DEFAULTS", defaults)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Reads decisions until `until` holds or `limit` passes.
async fn collect(
    c: &StreamConsumer,
    into: &mut Vec<DecisionRecord>,
    until: impl Fn(&[DecisionRecord]) -> bool,
    limit: Duration,
) {
    read_until(c, into, Instant::now() + limit, decision, until).await;
}

/// A small deterministic generator of kill delays (no external RNG needed).
fn delays(seed: u64, n: usize) -> Vec<Duration> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(8_500 + x % 2_000)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_points_loses_nothing_and_counts_nothing_twice() {
    let broker = Broker::start().expect("tansu broker");
    let dir = tempfile::tempdir().unwrap();
    let brokers = broker.bootstrap.clone();
    let reference_cfg = engine_config(&brokers, "reference", "decisions.reference");
    ensure_topics(&reference_cfg.kafka).await.unwrap();
    ensure_topics(&engine_config(&brokers, "crash", "decisions.crash").kafka)
        .await
        .unwrap();

    // The producer runs throughout, at a steady pace, while the engine is killed.
    let gen_cfg = GeneratorConfig {
        seed: 99,
        // Live traffic: the engine rejects event times far from its clock.
        start_ms: verdict_tests::now_ms() - 60_000,
        users: 200,
        fraud_rate: 0.03,
        ..Default::default()
    };
    let ids: HashSet<String> = Generator::new(gen_cfg.clone())
        .take(MESSAGES)
        .filter_map(|g| g.label.map(|l| l.transaction_id))
        .collect();
    let producer_task = {
        let brokers = brokers.clone();
        tokio::spawn(async move {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .create()
                .unwrap();
            for (i, g) in Generator::new(gen_cfg).take(MESSAGES).enumerate() {
                producer
                    .send(
                        FutureRecord::to("transactions")
                            .key(&g.key)
                            .payload(&g.payload),
                        Duration::from_secs(10),
                    )
                    .await
                    .unwrap();
                // About 125 a second: traffic through every round.
                if i % 25 == 24 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
    };

    // The disk of each round: every other restart is on an empty one.
    let disk = |round: usize| dir.path().join(format!("state-{}", round / 2));
    let defaults = dir.path().join("defaults");
    let crash_reader = reader(&brokers, "crash-reader", "decisions.crash");
    let mut crashed: Vec<DecisionRecord> = Vec::new();
    let mut resumed = Vec::new();
    for (round, delay) in delays(7, ROUNDS).into_iter().enumerate() {
        let state = disk(round);
        if round % 2 == 0 && round > 0 {
            assert!(!state.exists(), "round {round} starts on an empty disk");
        }
        let started = verdict_tests::now_ms();
        let mut child = engine_process(&brokers, &state, &defaults);
        let before = crashed.len();
        collect(&crash_reader, &mut crashed, |_| false, delay).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // How long the restarted process took to decide again: its first
        // decision's wall-clock time, less the time it was started.
        let first = crashed[before..]
            .iter()
            .filter_map(|d| chrono::DateTime::parse_from_rfc3339(&d.decided_at).ok())
            .map(|t| t.timestamp_millis())
            .filter(|&t| t >= started)
            .min();
        let resume_ms = first.map(|t| t - started);
        if round > 0 {
            resumed.push(resume_ms);
        }
        eprintln!(
            "round {round}: started at {started} ms, killed after {delay:?}, first decision {resume_ms:?} ms after the start, {} decisions so far",
            crashed.len()
        );
    }
    eprintln!("decisions resumed after each restart (ms): {resumed:?}");
    producer_task.await.unwrap();
    let last = disk(ROUNDS);
    assert!(!last.exists(), "the last run starts on an empty disk");
    let mut child = engine_process(&brokers, &last, &defaults);
    collect(
        &crash_reader,
        &mut crashed,
        |d| {
            d.iter()
                .map(|d| &d.transaction_id)
                .collect::<HashSet<_>>()
                .len()
                >= ids.len()
        },
        Duration::from_secs(120),
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    // The uninterrupted reference: same input, same partitioning, fresh state.
    let d = verdict_engine::defaults::extract(&dir.path().join("reference-defaults")).unwrap();
    let shared = Dataflow::build(
        Dataflow::fixed_rules(&d.rules_dir).unwrap(),
        Some(&d.model_dir),
        Arc::new(Metrics::new()),
        Some(&dir.path().join("reference-state")),
        Default::default(),
    )
    .unwrap();
    let engine = run_engine(Arc::new(reference_cfg), shared).unwrap();
    let reference_reader = reader(&brokers, "reference-reader", "decisions.reference");
    let mut reference = Vec::new();
    collect(
        &reference_reader,
        &mut reference,
        |d| d.len() >= ids.len(),
        Duration::from_secs(120),
    )
    .await;
    engine.shutdown().await.unwrap();
    assert_eq!(
        reference.len(),
        ids.len(),
        "the reference run decided every transaction once"
    );

    verdict_tests::assert_as_the_reference(&crashed, &reference, &ids, "the kills");
}
