//! `verdict demo`: the whole engine on an embedded default, no setup.
//!
//! It starts librdkafka's in-process mock Kafka cluster, creates the topics,
//! runs the engine against it with the default rule set and model, feeds it
//! from the traffic generator (with a sprinkle of malformed messages), reads
//! the decisions back, prints a live line every second and a summary at the end.
//! Latency is measured from the generator's produce call to the moment the
//! decision is read back from the `decisions` topic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{
    DefaultProducerContext, DeliveryFuture, FutureProducer, FutureRecord, Producer,
};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::config::Config;
use crate::dataflow::Dataflow;
use crate::generate::{Generator, GeneratorConfig};
use crate::kafka::{FETCH_WAIT, Role, client_config, run_engine};
use crate::status::EngineStatus;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub seconds: u64,
    pub rate: u32,
    pub users: u32,
    pub partitions: i32,
    pub malformed_rate: f64,
    pub fraud_rate: f64,
    pub seed: u64,
    pub admin: Option<String>,
    /// Use this broker instead of the in-process mock cluster (topics are created if missing).
    pub brokers: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct DemoSummary {
    pub produced: u64,
    pub decisions: u64,
    pub allow: u64,
    pub review: u64,
    pub decline: u64,
    pub dlq: u64,
    pub degraded: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// What the checkpoints copied to the state changelog.
    pub changelog_records: u64,
    pub changelog_bytes: u64,
}

#[derive(Default)]
struct Tally {
    decisions: AtomicU64,
    allow: AtomicU64,
    review: AtomicU64,
    decline: AtomicU64,
    degraded: AtomicU64,
    dlq: AtomicU64,
}

/// Runs the demo; `dataflow` holds the rule set and model to use.
pub async fn run(
    opts: DemoOptions,
    mut config: Config,
    dataflow: Dataflow,
) -> anyhow::Result<DemoSummary> {
    let plan = dataflow.rekey_plan(&config.engine);
    let cluster = connect(&opts, &mut config, &plan).await?;
    let brokers = config.kafka.brokers.clone();
    let config = Arc::new(config);
    let engine = run_engine(Arc::clone(&config), dataflow.clone())?;
    if let Some(listen) = &opts.admin {
        let admin = crate::admin::Admin {
            dataflow: dataflow.clone(),
            status: engine.status(),
            decisions: engine.decisions(),
            rules: None,
            token: None,
        };
        let (addr, _) = crate::admin::serve(listen, admin).await?;
        println!("metrics: http://{addr}/metrics");
    }
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let window = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let tally = Arc::new(Tally::default());
    let readers = spawn_readers(
        &brokers,
        &config,
        Arc::clone(&sent_at),
        Arc::clone(&latency),
        Arc::clone(&window),
        Arc::clone(&tally),
    )?;
    // The readers fetch from the start while the engine joins, so they are
    // reading by the time traffic starts.
    wait_until_ready(&engine.status()).await?;
    let produced = Arc::new(AtomicU64::new(0));
    let feeder = spawn_feeder(
        &opts,
        &brokers,
        config.kafka.input_topic.clone(),
        Arc::clone(&produced),
        sent_at,
    )?;
    report_every_second(&opts, &tally, &window, &feeder, &produced).await;
    engine.shutdown().await?;
    // Readers close their clients before the in-process cluster goes away.
    for r in readers {
        r.abort();
        let _ = r.await;
    }
    let l = latency.lock().expect("lock");
    let summary = DemoSummary {
        produced: produced.load(Ordering::Relaxed),
        decisions: tally.decisions.load(Ordering::Relaxed),
        allow: tally.allow.load(Ordering::Relaxed),
        review: tally.review.load(Ordering::Relaxed),
        decline: tally.decline.load(Ordering::Relaxed),
        dlq: tally.dlq.load(Ordering::Relaxed),
        degraded: tally.degraded.load(Ordering::Relaxed),
        p50_ms: l.value_at_quantile(0.5) as f64 / 1e3,
        p99_ms: l.value_at_quantile(0.99) as f64 / 1e3,
        changelog_records: dataflow.metrics.ops.changelog_records.get(),
        changelog_bytes: dataflow.metrics.ops.changelog_bytes.get(),
    };
    drop(cluster);
    Ok(summary)
}

/// Points `config` at the given broker (creating the topics) or at a new
/// in-process mock cluster with them, which is returned to keep it alive.
async fn connect(
    opts: &DemoOptions,
    config: &mut Config,
    plan: &crate::rekey::RekeyPlan,
) -> anyhow::Result<Option<MockCluster<'static, DefaultProducerContext>>> {
    let (cluster, brokers) = match &opts.brokers {
        Some(b) => (None, b.clone()),
        None => {
            let cluster = MockCluster::new(1)?;
            for topic in &crate::kafka::topics(&config.kafka, plan) {
                cluster.create_topic(topic, opts.partitions, 1)?;
            }
            let brokers = cluster.bootstrap_servers();
            (Some(cluster), brokers)
        }
    };
    // librdkafka's mock cluster answers a fetch only when fetch.wait.max.ms
    // expires; the engine's latency defaults (`kafka/client.rs`) cover it.
    config.kafka.brokers = brokers;
    config.kafka.topic_partitions = opts.partitions;
    if cluster.is_none() {
        crate::kafka::ensure_topics(&config.kafka).await?;
    }
    Ok(cluster)
}

/// Feed only once the engine owns its partitions and runs them, as a live
/// deployment takes traffic only once ready: the figures measure deciding,
/// not the consumer group's first join.
async fn wait_until_ready(status: &EngineStatus) -> anyhow::Result<()> {
    let joined = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    while !status.is_ready() {
        anyhow::ensure!(
            joined.elapsed() < Duration::from_secs(30),
            "the engine was not ready within 30 s"
        );
        poll.tick().await;
    }
    Ok(())
}

/// Produces `seconds × rate` generated messages to `topic` at `rate` per
/// second, noting when each labelled one was sent; `produced` counts the
/// confirmed deliveries. Finishes once every delivery is confirmed.
fn spawn_feeder(
    opts: &DemoOptions,
    brokers: &str,
    topic: String,
    produced: Arc<AtomicU64>,
    sent_at: Arc<Mutex<HashMap<String, Instant>>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "1")
        .create()?;
    let gen_cfg = GeneratorConfig {
        seed: opts.seed,
        users: opts.users,
        fraud_rate: opts.fraud_rate,
        malformed_rate: opts.malformed_rate,
        start_ms: chrono::Utc::now().timestamp_millis(),
        events_per_sec: f64::from(opts.rate),
        ..Default::default()
    };
    let (seconds, rate) = (opts.seconds, opts.rate);
    // Deliveries are awaited by a second task, in order, so the feeder
    // never waits on a broker round trip (awaiting each send would cap
    // the feed at one message per linger interval).
    let (deliveries, mut delivered) = tokio::sync::mpsc::channel::<DeliveryFuture>(65_536);
    let confirmer = tokio::spawn(async move {
        while let Some(fut) = delivered.recv().await {
            if matches!(fut.await, Ok(Ok(_))) {
                produced.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let warm = (producer.clone(), topic.clone());
    Ok(tokio::spawn(async move {
        // Like the engine, the feeder learns its topic's metadata before its
        // clock starts: a first send to an unknown topic waits for it.
        let _ = tokio::task::spawn_blocking(move || {
            let (producer, topic) = warm;
            producer
                .client()
                .fetch_metadata(Some(topic.as_str()), Duration::from_secs(5))
        })
        .await;
        let mut generator = Generator::new(gen_cfg);
        let start = Instant::now();
        let total = seconds * u64::from(rate);
        let mut n = 0u64;
        while n < total {
            // Pace in 10 ms slices.
            let due = (start.elapsed().as_secs_f64() * f64::from(rate)) as u64;
            while n < due.min(total) {
                let g = generator.next_message();
                if let Some(label) = &g.label {
                    sent_at
                        .lock()
                        .expect("lock")
                        .insert(label.transaction_id.clone(), Instant::now());
                }
                let mut record = FutureRecord::to(&topic).key(&g.key).payload(&g.payload);
                loop {
                    match producer.send_result(record) {
                        Ok(fut) => {
                            if deliveries.send(fut).await.is_err() {
                                return;
                            }
                            break;
                        }
                        // Queue full: let deliveries drain, then retry.
                        Err((_, r)) => {
                            record = r;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                n += 1;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(deliveries);
        let _ = confirmer.await;
    }))
}

/// Prints a live line every second until everything fed is back (decided
/// or dead-lettered), or 30 s past the feed's planned end.
async fn report_every_second(
    opts: &DemoOptions,
    tally: &Tally,
    window: &Mutex<Histogram<u64>>,
    feeder: &tokio::task::JoinHandle<()>,
    produced: &AtomicU64,
) {
    let started = Instant::now();
    let mut last = (0u64, Instant::now());
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let decided = tally.decisions.load(Ordering::Relaxed);
        let dlq = tally.dlq.load(Ordering::Relaxed);
        let rate = (decided - last.0) as f64 / last.1.elapsed().as_secs_f64();
        last = (decided, Instant::now());
        let (p50, p99) = {
            let mut w = window.lock().expect("lock");
            let r = (
                w.value_at_quantile(0.5) as f64 / 1e3,
                w.value_at_quantile(0.99) as f64 / 1e3,
            );
            w.reset();
            r
        };
        println!(
            "[{:>3}s] {:>7.0} decisions/s | allow {:>7} review {:>6} decline {:>6} | p50 {:>6.2} ms p99 {:>6.2} ms | dlq {:>5}",
            started.elapsed().as_secs(),
            rate,
            tally.allow.load(Ordering::Relaxed),
            tally.review.load(Ordering::Relaxed),
            tally.decline.load(Ordering::Relaxed),
            p50,
            p99,
            dlq,
        );
        let fed = feeder.is_finished();
        let all_back = decided + dlq >= produced.load(Ordering::Relaxed);
        if fed && all_back || started.elapsed() > Duration::from_secs(opts.seconds + 30) {
            break;
        }
    }
}

fn spawn_readers(
    brokers: &str,
    config: &Config,
    sent_at: Arc<Mutex<HashMap<String, Instant>>>,
    latency: Arc<Mutex<Histogram<u64>>>,
    window: Arc<Mutex<Histogram<u64>>>,
    tally: Arc<Tally>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    // The readers fetch as the engine does (its fetch wait, overrides included).
    let engine_consumer = client_config(&config.kafka, Role::Consumer);
    let fetch_wait = engine_consumer
        .get(FETCH_WAIT)
        .expect("the engine's consumer always sets it");
    let reader = |group: &str| -> anyhow::Result<StreamConsumer> {
        Ok(ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "6000")
            .set(FETCH_WAIT, fetch_wait)
            .create()?)
    };
    let decisions = reader("verdict-demo-decisions")?;
    // Readers take every partition directly (no group join to wait for), so
    // a decision is counted the moment it lands.
    let assign = |c: &StreamConsumer, topic: &str| -> anyhow::Result<()> {
        let mut tpl = TopicPartitionList::new();
        for p in 0..config.kafka.topic_partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        Ok(c.assign(&tpl)?)
    };
    assign(&decisions, &config.kafka.output_topic)?;
    let dlq = reader("verdict-demo-dlq")?;
    assign(&dlq, &config.kafka.dlq_topic)?;
    let t = Arc::clone(&tally);
    let decisions_task = tokio::spawn(async move {
        while let Ok(m) = decisions.recv().await {
            let Some(Ok(d)) = m
                .payload()
                .map(serde_json::from_slice::<crate::contract::decision::DecisionRecord>)
            else {
                continue;
            };
            t.decisions.fetch_add(1, Ordering::Relaxed);
            match d.action.as_str() {
                "allow" => t.allow.fetch_add(1, Ordering::Relaxed),
                "review" => t.review.fetch_add(1, Ordering::Relaxed),
                _ => t.decline.fetch_add(1, Ordering::Relaxed),
            };
            if d.degraded {
                t.degraded.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(at) = sent_at.lock().expect("lock").remove(&d.transaction_id) {
                let us = at.elapsed().as_micros().max(1) as u64;
                let _ = latency.lock().expect("lock").record(us);
                let _ = window.lock().expect("lock").record(us);
            }
        }
    });
    let dlq_task = tokio::spawn(async move {
        while dlq.recv().await.is_ok() {
            tally.dlq.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(vec![decisions_task, dlq_task])
}
