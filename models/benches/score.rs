//! Scoring benchmarks: the fused CPU path vs burn's ndarray backend, at
//! batch sizes 1, 16, 64, 256 and 1024, on the reference shape
//! (48 inputs = 24 numeric + 3 categorical × 8-dim embeddings → 128 → 64 → 1).
//!
//! `cargo bench -p verdict-models --bench score -- --warm-up-time 1 --measurement-time 3`
//!
//! Then `explain/fast`: the cost of one event's score reasons.
//!
//! Before the criterion groups, it prints the p50/p99 latency of single-row
//! calls on the fused path (criterion reports means, the target is a p99).

use std::hint::black_box;
use std::time::Instant;

use burn::backend::NdArray;
use burn::backend::ndarray::NdArrayDevice;
use criterion::{BenchmarkId, Criterion, Throughput};
use verdict_models::explain::Scratch;
use verdict_models::synth::{self, SynthConfig};
use verdict_models::train::{TrainConfig, train};
use verdict_models::{FastScorer, Scorer, load_burn_model};

const BATCHES: [usize; 5] = [1, 16, 64, 256, 1024];

fn rows(width: usize, numeric: usize, n: usize) -> Vec<f32> {
    (0..n * width)
        .map(|i| {
            let c = i % width;
            if c < numeric {
                ((i * 7919) % 1000) as f32 / 10.0
            } else {
                (i % 5) as f32
            }
        })
        .collect()
}

/// Nanoseconds this thread has run on a CPU, from `/proc/thread-self/schedstat`.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, labels) = (dir.path().join("f.parquet"), dir.path().join("l.csv"));
    let cfg = SynthConfig {
        rows: 4_000,
        noise_features: 12,
        ..SynthConfig::default()
    };
    synth::write(&cfg, &data, &labels).expect("synthetic data");
    let model_dir = dir.path().join("model");
    let summary = train(&TrainConfig {
        epochs: 1,
        progress: false,
        ..TrainConfig::new(&data, &labels, &model_dir)
    })
    .expect("train");
    let arch = &summary.manifest.architecture;
    assert_eq!(arch.input_width(), 48, "reference shape");
    let fast = FastScorer::load(&model_dir).expect("load");
    let burn = load_burn_model::<NdArray>(&model_dir, NdArrayDevice::default()).expect("load");
    let width = summary.manifest.schema.width();
    let numeric = summary.manifest.schema.numeric.len();
    let input = rows(width, numeric, 1024);

    // p50 / p99 of single-row calls.
    let mut out = [0.0f32];
    let mut lat: Vec<u128> = (0..200_000)
        .map(|i| {
            let r = (i % 1024) * width;
            let t = Instant::now();
            fast.score_batch(black_box(&input[r..r + width]), &mut out)
                .unwrap();
            t.elapsed().as_nanos()
        })
        .collect();
    lat.sort_unstable();
    println!(
        "fast batch=1 latency: p50 {} ns, p99 {} ns, p99.9 {} ns (simd: {})",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100],
        lat[lat.len() * 999 / 1000],
        fast.uses_simd()
    );

    // CPU time of this thread per event (Linux schedstat): unlike criterion's
    // wall-clock means, it excludes time the thread spent descheduled, so it
    // stays meaningful on a shared machine.
    if cpu_ns().is_some() {
        for (name, scorer) in [
            ("fast", &fast as &dyn Scorer),
            ("burn_ndarray", &burn as &dyn Scorer),
        ] {
            for &n in &BATCHES {
                let mut out = vec![0.0f32; n];
                let (start_cpu, start) = (cpu_ns().unwrap_or(0), Instant::now());
                let mut events = 0u64;
                while start.elapsed().as_millis() < 400 {
                    scorer
                        .score_batch(black_box(&input[..n * width]), &mut out)
                        .unwrap();
                    events += n as u64;
                }
                let cpu = cpu_ns().unwrap_or(0) - start_cpu;
                println!(
                    "{name} batch={n}: {:.3} µs CPU per event",
                    cpu as f64 / events as f64 / 1000.0
                );
            }
        }
    }

    #[allow(unused_mut)] // only pushed to with the `cuda` feature
    let mut scorers: Vec<(&str, &dyn Scorer)> = vec![("fast", &fast), ("burn_ndarray", &burn)];
    #[cfg(feature = "cuda")]
    let cuda = verdict_models::load_model_cuda(&model_dir).expect("load on CUDA");
    #[cfg(feature = "cuda")]
    scorers.push(("burn_cuda", &*cuda));
    let mut c = Criterion::default().configure_from_args();
    for (name, scorer) in scorers {
        let mut group = c.benchmark_group(format!("score/{name}"));
        for &n in &BATCHES {
            group.throughput(Throughput::Elements(n as u64));
            let mut out = vec![0.0f32; n];
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.iter(|| {
                    scorer
                        .score_batch(black_box(&input[..n * width]), &mut out)
                        .unwrap()
                })
            });
        }
        group.finish();
    }
    // Explanations (`score_reasons`): the engine explains each review and
    // decline after scoring; per event at batch 256 (target ≤ 2 µs).
    let explainer = fast.explainer().expect("the fused scorer explains");
    let mut group = c.benchmark_group("explain/fast");
    group.throughput(Throughput::Elements(256));
    let (mut scratch, mut reasons) = (Scratch::default(), Vec::new());
    group.bench_function(BenchmarkId::from_parameter(256), |b| {
        b.iter(|| {
            explainer.explain(
                black_box(&input[..256 * width]),
                3,
                &mut scratch,
                &mut reasons,
            );
            black_box(&reasons);
        })
    });
    group.finish();
    c.final_summary();
}
