//! The state changelog, live on librdkafka's mock cluster: a running engine
//! copies every checkpoint to `<group-id>.changelog`, each copy a
//! transaction (the default), and a store restored from it equals the
//! engine's own, partition by partition, even with a dead writer's
//! unfinished copy at the end of the topic (discarded, then repaired, and
//! right again for every later restore), even when the restorer that
//! repairs it dies half-way through its repair; a seed killed part-way is
//! seeded again (or restored, when the partition ran elsewhere since); a
//! store that is current is left alone; and a store whose changelog is
//! empty is copied to it (seeded) and can be restored from there. (The mock
//! gives every writer a producer id of its own, so it does not fence one
//! writer of a partition by the next, as Kafka does: that is not shown
//! here.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use verdict_engine::config::{Config, KafkaConfig};
use verdict_engine::dataflow::Dataflow;
use verdict_engine::defaults;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::changelog::{
    ChangelogWriter, Fencing, Outcome, bring_up_to_date, position_value, topic,
};
use verdict_engine::kafka::{Role, client_config, run_engine, topics};
use verdict_engine::metrics::Metrics;
use verdict_state::keys::{changelog_position_key, checkpoint_key, partition_range};
use verdict_state::{MemoryStore, StateStore};

const PARTITIONS: i32 = 2;
const EVENTS: u64 = 600;

/// A partition's records, without the store's changelog position (which
/// says where each store's own copy ends).
fn state(store: &dyn StateStore, partition: i32) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (start, end) = partition_range(partition);
    let position = changelog_position_key(partition);
    let mut all = Vec::new();
    store
        .scan(&start, &end, &mut |k, v| {
            if k != position.as_slice() {
                all.push((k.to_vec(), v.to_vec()));
            }
            true
        })
        .unwrap();
    all
}

async fn restore_into(
    kafka: &KafkaConfig,
    partition: i32,
    store: &dyn StateStore,
) -> verdict_engine::kafka::changelog::Restored {
    let mut writer = open(kafka, partition).await;
    bring_up_to_date(kafka, &mut writer, store, &mut |_, _| {}, &mut || {})
        .await
        .unwrap()
}

async fn open(kafka: &KafkaConfig, partition: i32) -> ChangelogWriter {
    let metrics = Arc::new(Metrics::new());
    let fencing = Fencing::Transactions;
    ChangelogWriter::open(
        kafka,
        fencing,
        (topic(kafka), partition),
        partition,
        metrics,
    )
    .await
    .unwrap()
}

/// A writer of partition 0 that leaves `records` as a copy without its
/// checkpoint record: what a writer that died mid-copy left in the log
/// before copies were transactions (now its copy is aborted and never
/// read), still restored right.
async fn die_in_a_copy(kafka: &KafkaConfig, records: &[(Vec<u8>, Vec<u8>)]) {
    let metrics = Arc::new(Metrics::new());
    let mut dead = open(kafka, 0).await;
    dead.send(
        records
            .iter()
            .map(|(k, v)| (k.as_slice(), Some(v.as_slice()))),
    )
    .await
    .unwrap()
    .acknowledged(&metrics)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_restored_from_the_changelog_equals_the_engines_own() {
    let scratch = tempfile::tempdir().unwrap();
    let d = defaults::extract(scratch.path()).unwrap();
    let dataflow = Dataflow::build(
        Dataflow::fixed_rules(&d.rules_dir).unwrap(),
        Some(&d.model_dir),
        Arc::new(Metrics::new()),
        None,
        Default::default(),
    )
    .unwrap();
    let cluster = MockCluster::new(1).unwrap();
    let mut config = Config::default();
    let mut other = config.kafka.clone();
    other.group_id = "another-application".into();
    let mut third = config.kafka.clone();
    third.group_id = "a-backfilled-application".into();
    let mut fourth = config.kafka.clone();
    fourth.group_id = "an-interrupted-seed".into();
    for topic in topics(&config.kafka, &dataflow.rekey_plan(&config.engine))
        .iter()
        .chain([&topic(&other), &topic(&third), &topic(&fourth)])
    {
        cluster.create_topic(topic, PARTITIONS, 1).unwrap();
    }
    config.kafka.brokers = cluster.bootstrap_servers();
    other.brokers = cluster.bootstrap_servers();
    third.brokers = cluster.bootstrap_servers();
    fourth.brokers = cluster.bootstrap_servers();
    config.admin.listen = None;
    config.engine.checkpoint_interval_ms = 100;
    config.engine.sla_ms = 30_000;
    let config = Arc::new(config);
    let kafka = &config.kafka;
    let engine = run_engine(Arc::clone(&config), dataflow.clone()).unwrap();

    let producer: FutureProducer = client_config(kafka, Role::Producer).create().unwrap();
    let generated = Generator::new(GeneratorConfig {
        seed: 5,
        users: 150,
        start_ms: chrono::Utc::now().timestamp_millis() - 60_000,
        ..Default::default()
    });
    let mut deliveries = Vec::new();
    for g in generated.take(EVENTS as usize) {
        let record = FutureRecord::to(&kafka.input_topic)
            .key(&g.key)
            .payload(&g.payload);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap().unwrap();
    }
    let metrics = Arc::clone(&dataflow.metrics);
    let started = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    while metrics.events_consumed.get() < EVENTS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} of {EVENTS} events consumed",
            metrics.events_consumed.get()
        );
        poll.tick().await;
    }
    // A clean stop: the last checkpoints and their copies land.
    engine.shutdown().await.unwrap();
    assert!(metrics.ops.changelog_records.get() > 0);
    let own = Arc::clone(&dataflow.store);
    for p in 0..PARTITIONS {
        assert!(!state(&*own, p).is_empty(), "partition {p} has state");
    }

    // A writer that died in the middle of a copy: new values for five of
    // partition 0's keys, and no checkpoint record after them.
    let unfinished: Vec<(Vec<u8>, Vec<u8>)> = state(&*own, 0)
        .into_iter()
        .rev()
        .take(5)
        .map(|(k, _)| (k, b"never committed".to_vec()))
        .collect();
    die_in_a_copy(kafka, &unfinished).await;

    for p in 0..PARTITIONS {
        let fresh = MemoryStore::new();
        let done = restore_into(kafka, p, &fresh).await;
        assert_eq!(done.outcome, Outcome::Restored, "partition {p}: {done:?}");
        assert!(done.checkpoints >= 1 && done.records > 0, "{done:?}");
        let tail = if p == 0 { unfinished.len() as u64 } else { 0 };
        assert_eq!(done.discarded, tail, "partition {p}: the unfinished copy");
        assert!(
            state(&fresh, p) == state(&*own, p),
            "partition {p} restored differs from the engine's store"
        );
        let again = restore_into(kafka, p, &fresh).await;
        assert_eq!(
            (again.outcome, again.records),
            (Outcome::Current, 0),
            "a current store reads nothing"
        );
    }
    // After the repair the unfinished copy is no longer the log's last: a
    // restore applies it, then the repair, which puts its keys back.
    let fresh = MemoryStore::new();
    let done = restore_into(kafka, 0, &fresh).await;
    assert_eq!(done.discarded, 0, "{done:?}");
    assert!(state(&fresh, 0) == state(&*own, 0));

    // A restorer that dies while it repairs: another unfinished copy, then
    // the start of its repair (the committed values of two of its keys, no
    // marker). Everything after the last marker is unfinished: both are put
    // back and repaired whole, and every later restore is right again.
    let keys: Vec<Vec<u8>> = state(&*own, 0)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| *k != checkpoint_key(0))
        .take(5)
        .collect();
    let unfinished: Vec<_> = keys
        .iter()
        .map(|k| (k.clone(), b"never committed".to_vec()))
        .collect();
    die_in_a_copy(kafka, &unfinished).await;
    let repairing: Vec<_> = state(&*own, 0)
        .into_iter()
        .filter(|(k, _)| keys[..2].contains(k))
        .collect();
    die_in_a_copy(kafka, &repairing).await;
    for discarded in [keys.len() as u64, 0] {
        let fresh = MemoryStore::new();
        let done = restore_into(kafka, 0, &fresh).await;
        assert_eq!(done.discarded, discarded, "{done:?}");
        assert!(
            state(&fresh, 0) == state(&*own, 0),
            "restored after an interrupted repair: {done:?}"
        );
    }

    // The same store under another application, whose changelog is empty:
    // it is copied there whole, and a store restored from that copy is equal.
    let seeded = restore_into(&other, 1, &*own).await;
    assert_eq!(seeded.outcome, Outcome::Seeded, "{seeded:?}");
    let fresh = MemoryStore::new();
    let done = restore_into(&other, 1, &fresh).await;
    assert_eq!((done.outcome, done.checkpoints), (Outcome::Restored, 1));
    assert!(state(&fresh, 1) == state(&*own, 1));

    // A store that was loaded but never ran (`verdict backfill`) has no
    // checkpoint record: it is seeded all the same, and restored equal.
    let backfilled = MemoryStore::new();
    let mut load = verdict_state::WriteBatch::new();
    for (k, v) in state(&*own, 1) {
        if k != checkpoint_key(1) {
            load.put(k, v);
        }
    }
    backfilled.write(load).unwrap();
    let seeded = restore_into(&third, 1, &backfilled).await;
    assert_eq!(seeded.outcome, Outcome::Seeded, "{seeded:?}");
    let fresh = MemoryStore::new();
    let done = restore_into(&third, 1, &fresh).await;
    assert_eq!((done.outcome, done.discarded), (Outcome::Restored, 0));
    assert!(state(&fresh, 1) == state(&backfilled, 1));
    assert!(fresh.get(&checkpoint_key(1)).unwrap().is_none());

    // A seed killed part-way: the store still says it is being seeded (the
    // position a seed writes before it sends: -1), and the changelog holds
    // part of its copy. The next start seeds it again instead of restoring
    // that part, and a store restored from the changelog then equals it.
    let interrupted = MemoryStore::new();
    let mut load = verdict_state::WriteBatch::new();
    for (k, v) in state(&*own, 0) {
        load.put(k, v);
    }
    load.put(
        changelog_position_key(0),
        position_value(&topic(&fourth), -1),
    );
    interrupted.write(load).unwrap();
    let part: Vec<_> = state(&*own, 0)
        .into_iter()
        .filter(|(k, _)| *k != checkpoint_key(0))
        .take(3)
        .collect();
    die_in_a_copy(&fourth, &part).await;
    let seeded = restore_into(&fourth, 0, &interrupted).await;
    assert_eq!(seeded.outcome, Outcome::Seeded, "{seeded:?}");
    assert!(state(&interrupted, 0) == state(&*own, 0));
    let fresh = MemoryStore::new();
    let done = restore_into(&fourth, 0, &fresh).await;
    assert_eq!((done.outcome, done.discarded), (Outcome::Restored, 0));
    assert!(state(&fresh, 0) == state(&*own, 0), "{done:?}");

    // A seed killed part-way on a disk the partition then left: the
    // changelog has a confirmed copy since (the seed above stands for the
    // other instance's), which is what was decided on. The stale store (half
    // of the state, still saying it is being seeded) is restored from it,
    // not copied over it.
    let stale = MemoryStore::new();
    let mut load = verdict_state::WriteBatch::new();
    for (k, v) in state(&*own, 0).into_iter().step_by(2) {
        load.put(k, v);
    }
    load.put(
        changelog_position_key(0),
        position_value(&topic(&fourth), -1),
    );
    stale.write(load).unwrap();
    let done = restore_into(&fourth, 0, &stale).await;
    assert_eq!((done.outcome, done.discarded), (Outcome::Restored, 0));
    assert!(state(&stale, 0) == state(&*own, 0), "{done:?}");
}
