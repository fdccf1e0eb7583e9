//! Per-stage and whole-pipeline throughput without Kafka, and the durable
//! replay as `verdict replay --state-dir` runs it.
//!
//!     cargo bench -p verdict-benches --bench pipeline
//!
//! Every measured iteration processes a slice of generated traffic; criterion
//! reports time per event (`Throughput::Elements`).

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use verdict_benches::{Fixture, StateKind, messages, messages_at};
use verdict_engine::config::Config;
use verdict_engine::contract::{DecodeConfig, decode};
use verdict_engine::dataflow::Dataflow;
use verdict_engine::defaults;
use verdict_engine::metrics::Metrics;
use verdict_engine::replay::{self, ReplayOptions};

// The allocator the `verdict` binary runs on.
verdict_alloc::engine_allocator!();

const EVENTS: usize = 20_000;

fn decode_only(c: &mut Criterion) {
    let msgs = messages(EVENTS, 20_000);
    let cfg = DecodeConfig::default();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("json_to_event", |b| {
        b.iter(|| msgs.iter().filter(|m| decode(m, &cfg).is_ok()).count())
    });
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let msgs = messages(EVENTS, 20_000);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.sample_size(10);
    for (name, state, model) in [
        ("memory_state_rules_only", StateKind::Memory, false),
        ("memory_state_rules_and_model", StateKind::Memory, true),
        ("rocksdb_state_rules_and_model", StateKind::RocksDb, true),
    ] {
        g.bench_function(name, |b| {
            // A fresh pipeline per sample: state starts empty, as a replay does.
            b.iter_batched_ref(
                || Fixture::new(state, model).expect("fixture"),
                |f| {
                    let n = f.run(&msgs, 1024);
                    f.pipeline.checkpoint(EVENTS as i64).expect("checkpoint");
                    n
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// A population the durable replay runs on.
struct Population {
    name: &'static str,
    events: usize,
    users: u32,
    events_per_sec: f64,
}

/// `verdict replay --state-dir` as the CLI runs it: four threads (decode ‖
/// keyed features ‖ derived features, score, rules ‖ encode and write
/// decisions) on the machine's cores, RocksDB state checkpointed every `CHECKPOINT_EVERY` events and at
/// the end. Two populations: the README's data set shape (20k users, an
/// event every 4 s, nearly every key hot) and issue 16's many-keys one
/// (100k users, 1M events over ten days: most keys new, state that outgrows
/// the caches). Each sample replays into a fresh store; opening it is outside
/// the timing, the final checkpoint inside.
fn durable_replay(c: &mut Criterion) {
    let populations = [
        Population {
            name: "rocksdb_state_rules_and_model_200k_events",
            events: 200_000,
            users: 20_000,
            events_per_sec: 0.25,
        },
        Population {
            name: "rocksdb_state_rules_and_model_1m_events_100k_users",
            events: 1_000_000,
            users: 100_000,
            events_per_sec: 1_000_000.0 / (10.0 * 86_400.0),
        },
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let defaults = defaults::extract(dir.path()).expect("embedded defaults");
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    for p in populations {
        let input = dir.path().join(format!("{}.jsonl", p.name));
        let mut lines = Vec::new();
        for m in messages_at(p.events, p.users, p.events_per_sec) {
            lines.extend_from_slice(&m);
            lines.push(b'\n');
        }
        std::fs::write(&input, lines).expect("write the events");
        g.throughput(Throughput::Elements(p.events as u64));
        // Ten replays, each a second (200k) to five (1M).
        g.measurement_time(std::time::Duration::from_secs(
            6 * p.events as u64 / 100_000,
        ));
        g.bench_function(p.name, |b| {
            b.iter_batched(
                || {
                    let run = tempfile::tempdir().expect("tempdir");
                    let rules = Dataflow::fixed_rules(&defaults.rules_dir).expect("rules");
                    let dataflow = Dataflow::build(
                        rules,
                        Some(defaults.model_dir.as_path()),
                        Arc::new(Metrics::new()),
                        Some(run.path().join("state").as_path()),
                        Default::default(),
                    )
                    .expect("pipeline");
                    let opts = ReplayOptions {
                        input: input.clone(),
                        output: run.path().join("decisions.jsonl"),
                        dlq: None,
                        feature_log: None,
                        batch_size: 1024,
                        decode: Config::default().decode_config(false),
                        checkpoint_every: Some(replay::CHECKPOINT_EVERY),
                    };
                    (run, dataflow, opts)
                },
                |(run, dataflow, opts)| {
                    let summary = replay::replay(&opts, &dataflow).expect("replay");
                    assert_eq!(summary.decisions, p.events as u64);
                    (run, dataflow)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, decode_only, pipeline, durable_replay);
criterion_main!(benches);
