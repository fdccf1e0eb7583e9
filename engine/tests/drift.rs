//! Serving drift, live: a running engine's `verdict_score_psi` is low on
//! traffic like the model's training data and rises past the alert's
//! threshold (0.25, `VerdictScorePsi`) when the traffic shifts, as a
//! Prometheus scrape of `/metrics` sees it.
//!
//! The engine runs on librdkafka's in-process mock cluster with the
//! default rules and model (whose manifest carries the score reference).

mod common;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use verdict_engine::admin::{self, Admin};
use verdict_engine::dataflow::Dataflow;
use verdict_engine::defaults;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::{Role, client_config};
use verdict_engine::metrics::Metrics;

const PARTITIONS: i32 = 2;
const ALERT: f64 = 0.25;

/// `verdict_score_psi` as scraped, once it is published.
fn scraped_psi(addr: &str) -> Option<f64> {
    let (_, text) = common::get(addr, "/metrics").ok()?;

    let line = text.lines().find(|l| l.starts_with("verdict_score_psi "))?;
    line.split_whitespace()
        .nth(1)?
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
}

async fn produce(producer: &FutureProducer, topic: &str, generator: Generator, count: usize) {
    let mut deliveries = Vec::with_capacity(count);
    for g in generator.take(count) {
        let record = FutureRecord::to(topic).key(&g.key).payload(&g.payload);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for d in deliveries {
        d.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_score_psi_rises_past_the_alert_when_the_traffic_shifts() {
    let scratch = tempfile::tempdir().unwrap();
    let d = defaults::extract(scratch.path()).unwrap();
    let dataflow = Dataflow::build(
        Dataflow::fixed_rules(&d.rules_dir).unwrap(),
        Some(&d.model_dir),
        Arc::new(Metrics::new()),
        None,
        Default::default(),
    )
    .unwrap()
    .with_drift_window(Duration::from_secs(600));
    let (_cluster, config, engine) = common::mock_engine(&dataflow, PARTITIONS);
    let admin = Admin {
        dataflow: dataflow.clone(),
        status: engine.status(),
        decisions: engine.decisions(),
        rules: None,
        token: None,
    };
    let (addr, _server) = admin::serve("127.0.0.1:0", admin).await.unwrap();
    let addr = addr.to_string();
    // Traffic starts once the partitions run, as a live checkout's would:
    // records that wait for the group's assignment are past their deadline
    // and decided unscored.
    let status = engine.status();
    let a = addr.clone();
    tokio::task::spawn_blocking(move || {
        common::wait_for("the partitions running", Duration::from_secs(30), || {
            (status.is_ready() && common::get(&a, "/readyz").ok()?.0 == 200).then_some(())
        })
    })
    .await
    .unwrap();
    let producer: FutureProducer = client_config(&config.kafka, Role::Producer)
        .create()
        .unwrap();
    producer
        .client()
        .fetch_metadata(Some(&config.kafka.input_topic), Duration::from_secs(10))
        .unwrap();
    let topic = config.kafka.input_topic.clone();
    // Right after an assignment the consumer may take a while to fetch its
    // first records: one probe per partition is decided first, so the
    // traffic measured is a running engine's.
    for p in 0..PARTITIONS {
        let payload = common::blocked_merchant_event(&format!("tx-probe-{p}"), "u-probe");
        let record = FutureRecord::to(&topic)
            .key("u-probe")
            .payload(payload.as_str())
            .partition(p);
        producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let metrics = Arc::clone(&dataflow.metrics);
    tokio::task::spawn_blocking(move || {
        common::wait_for("the probes decided", Duration::from_secs(30), || {
            let declined = metrics.decisions.with_label_values(&["decline"]).get();
            (declined >= PARTITIONS as u64).then_some(())
        })
    })
    .await
    .unwrap();

    // Traffic like the training data's: users who transact about once a
    // day (the default model's training population: 20 events per user over
    // 18 days), over the last 10 days.
    let day = 86_400_000;
    let now = chrono::Utc::now().timestamp_millis();
    let like_training = Generator::new(GeneratorConfig {
        seed: 31,
        users: 200,
        events_per_sec: 2_000.0 / (10.0 * 86_400.0),
        start_ms: now - 10 * day,
        ..Default::default()
    });
    produce(&producer, &topic, like_training, 2_000).await;
    let a = addr.clone();
    let before = tokio::task::spawn_blocking(move || {
        common::wait_for(
            "verdict_score_psi published",
            Duration::from_secs(60),
            || scraped_psi(&a),
        )
    })
    .await
    .unwrap();
    assert!(
        before < ALERT,
        "PSI {before:.3} on traffic like the training data's"
    );

    // Shifted: the same users, afterwards, with fraud in a quarter of the
    // steps (the reference saw well under 1 %).
    let shifted = Generator::new(GeneratorConfig {
        seed: 32,
        users: 200,
        fraud_rate: 0.25,
        events_per_sec: 0.5,
        start_ms: now - 3 * 3_600_000,
        id_prefix: "shifted".into(),
        ..Default::default()
    });
    produce(&producer, &topic, shifted, 6_000).await;
    let a = addr.clone();
    let after = tokio::task::spawn_blocking(move || {
        common::wait_for(
            "verdict_score_psi past the alert",
            Duration::from_secs(60),
            || scraped_psi(&a).filter(|&v| v > ALERT),
        )
    })
    .await
    .unwrap();
    engine.shutdown().await.unwrap();
    eprintln!("verdict_score_psi {before:.3} → {after:.3}");
    assert!(after > before + 0.2, "PSI {before:.3} → {after:.3}");
}
