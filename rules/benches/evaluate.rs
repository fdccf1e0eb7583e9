//! Rule evaluation and compilation benchmarks.
//!
//! - `evaluate/default_set`: the shipped rule set over a batch of 1,000
//!   realistic events whose features were precomputed by the reference state
//!   (so the measurement is rules only: derive + evaluate). Throughput is per
//!   event; divide the batch time by 1,000 for the per-event median.
//! - `evaluate/generated_200_rules`: the default features with 200 generated
//!   rules mixing comparisons, lists, `or`, `is missing` and reasons, with
//!   thresholds set so that a few rules fire per event (the bench prints the
//!   hit rate: every hit renders its reason, so the rate drives the cost).
//! - `compile/1000_rules`: parse, check and compile a 1,000-rule file.
//!
//! Each group runs twice: `evaluate` / `compile` measure wall-clock time (the
//! criterion default); `evaluate_cpu` / `compile_cpu` measure the benchmark
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which on a shared, loaded
//! machine leaves out the time the thread spent descheduled.
//!
//! Run: `cargo bench -p verdict-rules --bench evaluate -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use verdict_rules::reference::{Event, ReferenceState};
use verdict_rules::{Evaluation, Field, RuleSet, SourceFile};

const BATCH: usize = 1_000;

fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("default")
}

/// A small deterministic generator (no RNG dependency needed for fixtures).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 1,000 events over ~3 hours: 200 users with a card and a device each, some
/// shared IPs, mostly small amounts, a few card-testing bursts and travellers.
fn events() -> Vec<(Event, Option<f32>)> {
    let mut rng = Lcg(42);
    let start = 1_772_445_600_000i64; // 2026-03-02T10:00:00Z
    let countries = ["FR", "DE", "US", "GB", "ES", "KP"];
    (0..BATCH)
        .map(|i| {
            let user = rng.below(200);
            let mut e = Event::default();
            e.set_text(Field::TransactionId, Some(&format!("t{i}")));
            e.set_event_time(start + i as i64 * 10_000 + rng.below(5_000) as i64);
            e.set_text(Field::UserId, Some(&format!("u{user}")));
            e.set_text(Field::CardId, Some(&format!("c{user}")));
            e.set_text(Field::MerchantId, Some(&format!("m{}", rng.below(50))));
            e.set_text(Field::Currency, Some("EUR"));
            let amount = if rng.below(10) == 0 {
                1.0
            } else {
                (rng.below(30_000) as f64) / 100.0
            };
            e.set_number(Field::Amount, Some(amount));
            e.set_text(Field::Country, Some(countries[rng.below(6) as usize]));
            e.set_text(
                Field::Channel,
                Some(if rng.below(2) == 0 { "web" } else { "pos" }),
            );
            e.set_text(Field::DeviceId, Some(&format!("d{}", user / 2)));
            e.set_text(
                Field::Ip,
                Some(&format!("10.0.{}.{}", rng.below(4), rng.below(60))),
            );
            e.set_text(Field::CardBin, Some("411111"));
            e.set_number(Field::Lat, Some(40.0 + rng.below(1000) as f64 / 100.0));
            e.set_number(Field::Lon, Some(-5.0 + rng.below(1000) as f64 / 100.0));
            let score = (rng.below(20) != 0).then(|| rng.below(1000) as f32 / 1000.0);
            (e, score)
        })
        .collect()
}

/// Features for every event, computed once by the brute-force reference.
fn features(set: &RuleSet, events: &[(Event, Option<f32>)]) -> Vec<Vec<f64>> {
    let mut state = ReferenceState::new();
    events.iter().map(|(e, _)| state.process(set, e)).collect()
}

fn generated_rules(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let k = i % 7 + 2;
        let rule = match i % 5 {
            0 => format!(
                "rule g{i}: review when card_txn_1h >= {k} and amount > {}\n",
                50 * k
            ),
            1 => format!(
                "rule g{i}: decline when ip in blocked_ips or amount_to_user_avg > {}\n",
                20 + k
            ),
            2 => format!(
                "rule g{i}: review when country in [\"KP\", \"IR\"] and user_spend_24h > {} reason \"{{user_spend_24h}} in 24h\"\n",
                500 * k
            ),
            3 => format!(
                "shadow rule g{i}: review when score is missing and amount > {}\n",
                100 * k
            ),
            _ => format!(
                "rule g{i}: review when speed_kmh_from_prev > {} and km_from_prev > 500\n",
                2000 * k
            ),
        };
        out.push_str(&rule);
    }
    out
}

fn with_default_features(extra: String) -> Vec<SourceFile> {
    let dir = default_dir();
    let mut files: Vec<SourceFile> = ["features.rules", "lists.rules"]
        .iter()
        .map(|f| {
            let path = dir.join(f);
            SourceFile {
                path: path.to_string_lossy().into(),
                text: std::fs::read_to_string(&path).unwrap(),
            }
        })
        .collect();
    files.push(SourceFile {
        path: dir.join("generated.rules").to_string_lossy().into(),
        text: extra,
    });
    files
}

fn run_batch(
    set: &RuleSet,
    events: &[(Event, Option<f32>)],
    features: &mut [Vec<f64>],
    out: &mut Evaluation,
) -> usize {
    let mut hits = 0;
    for ((e, score), f) in events.iter().zip(features.iter_mut()) {
        set.derive(e, f);
        set.evaluate(e, f, *score, out);
        hits += out.hits.len();
    }
    hits
}

/// CPU time of the calling thread, in nanoseconds.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }

    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match ns {
            n if n < 1e3 => (1.0, "ns"),
            n if n < 1e6 => (1e-3, "µs"),
            n if n < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(
        &self,
        ns: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let elements = match throughput {
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => *n as f64,
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => *n as f64,
            Throughput::Bits(n) => *n as f64,
        };
        let per_second = elements * 1e9 / ns;
        let (factor, unit) = match per_second {
            r if r < 1e3 => (1.0, "elem/s (CPU)"),
            r if r < 1e6 => (1e-3, "Kelem/s (CPU)"),
            _ => (1e-6, "Melem/s (CPU)"),
        };
        values
            .iter_mut()
            .for_each(|v| *v = elements * 1e9 / *v * factor);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn bench_evaluate<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let events = events();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH as u64));

    let default = RuleSet::compile_dir(&default_dir()).expect("default set compiles");
    let mut feats = features(&default, &events);
    let mut out = Evaluation::new();
    let hits = run_batch(&default, &events, &mut feats, &mut out);
    eprintln!(
        "default set: {} rules, {:.2} hits per event",
        default.rules().len(),
        hits as f64 / BATCH as f64
    );
    group.bench_function("default_set", |b| {
        b.iter(|| black_box(run_batch(&default, &events, &mut feats, &mut out)))
    });

    let generated = RuleSet::compile_sources(&with_default_features(generated_rules(200)))
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let mut feats = features(&generated, &events);
    let hits = run_batch(&generated, &events, &mut feats, &mut out);
    eprintln!(
        "generated set: {} rules, {:.2} hits per event",
        generated.rules().len(),
        hits as f64 / BATCH as f64
    );
    group.bench_function("generated_200_rules", |b| {
        b.iter(|| black_box(run_batch(&generated, &events, &mut feats, &mut out)))
    });
    group.finish();
}

fn bench_compile<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let sources = with_default_features(generated_rules(1_000));
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.bench_function("1000_rules", |b| {
        b.iter(|| {
            black_box(
                RuleSet::compile_sources(&sources)
                    .map(|s| s.rules().len())
                    .unwrap_or(0),
            )
        })
    });
    group.finish();
}

fn wall(c: &mut Criterion) {
    bench_evaluate(c, "evaluate");
    bench_compile(c, "compile");
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    bench_evaluate(c, "evaluate_cpu");
    bench_compile(c, "compile_cpu");
}

criterion_group!(wall_clock, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_clock, cpu_time);
