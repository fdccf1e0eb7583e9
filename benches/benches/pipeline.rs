//! Per-stage and whole-pipeline throughput without Kafka.
//!
//!     cargo bench -p verdict-benches --bench pipeline
//!
//! Every measured iteration processes a slice of generated traffic; criterion
//! reports time per event (`Throughput::Elements`).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use verdict_benches::{Fixture, StateKind, messages};
use verdict_engine::contract::{DecodeConfig, decode};

// The allocator the `verdict` binary runs on.
verdict_engine::engine_allocator!();

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
                    f.pipeline.on_checkpoint(EVENTS as i64).expect("checkpoint");
                    n
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, decode_only, pipeline);
criterion_main!(benches);
