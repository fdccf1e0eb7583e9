//! The deadline, tested live: with a model far slower than the service
//! level, every decision still leaves before its deadline (counted from the
//! record's broker timestamp), decided by the rules alone and marked
//! `degraded`, and the metrics say so.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use verdict_engine::config::{Config, DeadlineClock};
use verdict_engine::dataflow::Dataflow;
use verdict_engine::defaults;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::{Role, client_config, run_engine};
use verdict_engine::metrics::Metrics;
use verdict_models::{Manifest, ScoreError, Scorer};

use common::{blocked_merchant_event, read_decisions};

/// The default model behind a pause of many service levels per call.
struct Slow {
    inner: Arc<dyn Scorer>,
    pause: Duration,
    calls: AtomicUsize,
    finished: AtomicUsize,
}

impl Scorer for Slow {
    fn manifest(&self) -> &Manifest {
        self.inner.manifest()
    }
    fn score_batch(&self, rows: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(self.pause);
        let scored = self.inner.score_batch(rows, out);
        self.finished.fetch_add(1, Ordering::Relaxed);
        scored
    }
}

const EVENTS: usize = 400;
const PARTITIONS: i32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_model_costs_the_score_never_the_deadline() {
    let scratch = tempfile::tempdir().unwrap();
    let d = defaults::extract(scratch.path()).unwrap();
    let dataflow = Dataflow::build(
        Dataflow::fixed_rules(&d.rules_dir).unwrap(),
        None,
        Arc::new(Metrics::new()),
        None,
        Default::default(),
    )
    .unwrap();
    let mut config = Config::default();
    assert_eq!(config.engine.deadline_clock, DeadlineClock::CreateTime);
    let sla = Duration::from_millis(config.engine.sla_ms);
    let slow = Arc::new(Slow {
        inner: verdict_models::load_model(&d.model_dir).unwrap(),
        pause: sla * 10,
        calls: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
    });
    dataflow
        .models
        .swap(Arc::clone(&slow) as Arc<dyn Scorer>, &dataflow.rules.load())
        .unwrap();

    let cluster = MockCluster::new(1).unwrap();
    for topic in &verdict_engine::kafka::topics(&config.kafka, &dataflow.rekey_plan(&config.engine))
    {
        cluster.create_topic(topic, PARTITIONS, 1).unwrap();
    }
    config.kafka.brokers = cluster.bootstrap_servers();
    config.admin.listen = None;
    let config = Arc::new(config);
    let engine = run_engine(Arc::clone(&config), dataflow.clone()).unwrap();
    // Traffic starts once the partitions run, as a live checkout's would:
    // the time before is the consumer group's, not the decisions'.
    let status = engine.status();
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    let joined = Instant::now();
    while !status.is_ready() {
        assert!(joined.elapsed() < Duration::from_secs(30), "never ready");
        poll.tick().await;
    }

    // Produced with no explicit timestamp: librdkafka stamps each record's
    // CreateTime as it is sent, and the engine's clock starts there.
    let producer: FutureProducer = client_config(&config.kafka, Role::Producer)
        .create()
        .unwrap();
    // A checkout service's producer is long connected: learn the topic's
    // metadata first, or the first records would age waiting for it.
    producer
        .client()
        .fetch_metadata(
            Some(config.kafka.input_topic.as_str()),
            Duration::from_secs(10),
        )
        .unwrap();
    let generated = Generator::new(GeneratorConfig {
        seed: 11,
        users: 100,
        fraud_rate: 0.05,
        start_ms: chrono::Utc::now().timestamp_millis() - 60_000,
        ..Default::default()
    });

    // Measured traffic starts once every partition is deciding (as a
    // checkout's would, long after the instance joined): right after an
    // assignment the consumer may take a while to fetch its first records.
    // One probe per partition, decided first; the metrics count from there,
    // once the model's thread is done with the probes' calls.
    let probes: Vec<String> = (0..PARTITIONS).map(|p| format!("tx-probe-{p}")).collect();
    for (p, id) in probes.iter().enumerate() {
        let payload = blocked_merchant_event(id, "u-probe");
        let record = FutureRecord::to(&config.kafka.input_topic)
            .key("u-probe")
            .payload(payload.as_str())
            .partition(p as i32);
        producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }
    read_decisions(&config, PARTITIONS, &probes).await;
    let idle = Instant::now();
    while slow.finished.load(Ordering::Relaxed) < slow.calls.load(Ordering::Relaxed) {
        assert!(
            idle.elapsed() < Duration::from_secs(30),
            "the model never finished"
        );
        poll.tick().await;
    }
    let m = &dataflow.metrics;
    let (misses, degraded, late) = (
        m.sla_misses.get(),
        m.degraded.get(),
        m.ops.model_abandoned.with_label_values(&["late"]).get(),
    );

    let mut ids = Vec::with_capacity(EVENTS + 1);
    let mut deliveries = Vec::with_capacity(EVENTS + 1);
    let blocked = blocked_merchant_event("tx-deadline-blocked", "u-deadline");
    let mut messages: Vec<(String, Vec<u8>)> = vec![("u-deadline".into(), blocked.into_bytes())];
    ids.push("tx-deadline-blocked".to_string());
    for g in generated.take(EVENTS) {
        ids.push(g.label.expect("no malformed messages").transaction_id);
        messages.push((g.key, g.payload));
    }
    for (key, payload) in &messages {
        let record = FutureRecord::to(&config.kafka.input_topic)
            .key(key)
            .payload(payload);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap().unwrap();
    }

    let decisions = read_decisions(&config, PARTITIONS, &ids).await;
    engine.shutdown().await.unwrap();

    assert!(
        slow.calls.load(Ordering::Relaxed) >= 1,
        "the model was never called: the test did not exercise the bounded call"
    );
    let sla_ms = sla.as_secs_f64() * 1e3;
    for id in &ids {
        let d = decisions
            .get(id)
            .unwrap_or_else(|| panic!("no decision for {id}"));
        assert!(
            d.degraded && d.score.is_none() && d.model.is_none(),
            "decided by rules alone and marked degraded: {d:?}"
        );
        assert!(
            d.latency_ms < sla_ms,
            "{id} left {:.1} ms after its record's timestamp (SLA {sla_ms} ms)",
            d.latency_ms
        );
    }
    let blocked = &decisions["tx-deadline-blocked"];
    assert_eq!(
        blocked.action, "decline",
        "the rules still decide: {blocked:?}"
    );
    assert!(blocked.rules.contains(&"blocked_merchant".to_string()));

    assert_eq!(
        m.sla_misses.get() - misses,
        0,
        "decisions after their deadline"
    );
    assert_eq!(m.degraded.get() - degraded, ids.len() as u64);
    let late = m.ops.model_abandoned.with_label_values(&["late"]).get() - late;
    assert!(late >= 1, "no call was abandoned at its deadline");
    assert_eq!(m.model_errors.get(), 0, "a slow model is not a failing one");
}
