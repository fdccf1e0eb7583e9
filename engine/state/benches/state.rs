//! Per-event cost of `PartitionState::process` with ~20 features over a
//! realistic stream, and the cost of a checkpoint, with and without an
//! fsync of RocksDB's WAL (`sync-writes`).
//!
//! Run: `cargo bench -p verdict-state --bench state -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::{
    Aggregate, FeatureKind, FeatureSpec, HistoryFeature, Predicate, WindowFeature,
};
use verdict_state::{PartitionState, RocksOptions, RocksStore, StateConfig, StateStore};

// The allocator the engine binary runs on.
verdict_alloc::engine_allocator!();

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
const T0: i64 = 1_767_225_600_000;

struct Ev {
    user: String,
    card: String,
    merchant: String,
    country: &'static str,
    device: String,
    ip: String,
    amount: f64,
    time: i64,
}

/// An event seen `shift` ms later (replaying the stream in a loop).
struct At<'a> {
    ev: &'a Ev,
    shift: i64,
}

impl Transaction for At<'_> {
    fn text(&self, field: Field) -> Option<&str> {
        match field {
            Field::UserId => Some(&self.ev.user),
            Field::CardId => Some(&self.ev.card),
            Field::MerchantId => Some(&self.ev.merchant),
            Field::Country => Some(self.ev.country),
            Field::DeviceId => Some(&self.ev.device),
            Field::Ip => Some(&self.ev.ip),
            Field::Currency => Some("EUR"),
            _ => None,
        }
    }
    fn number(&self, field: Field) -> Option<f64> {
        match field {
            Field::Amount => Some(self.ev.amount),
            Field::EventTime => Some((self.ev.time + self.shift) as f64),
            _ => None,
        }
    }
}

fn w(
    name: &str,
    aggregate: Aggregate,
    key: Field,
    window_ms: i64,
    filter: Option<Predicate>,
) -> FeatureSpec {
    FeatureSpec {
        name: name.into(),
        kind: FeatureKind::Window(WindowFeature {
            aggregate,
            key,
            window_ms,
            filter,
        }),
    }
}

fn h(name: &str, f: HistoryFeature) -> FeatureSpec {
    FeatureSpec {
        name: name.into(),
        kind: FeatureKind::History(f),
    }
}

fn features() -> Vec<FeatureSpec> {
    let small = Predicate::new("amount < 5", |t: &dyn Transaction| {
        t.number(Field::Amount).is_some_and(|a| a < 5.0)
    });
    vec![
        w("card_count_1m", Aggregate::Count, Field::CardId, MIN, None),
        w(
            "card_count_10m",
            Aggregate::Count,
            Field::CardId,
            10 * MIN,
            None,
        ),
        w(
            "card_sum_1h",
            Aggregate::Sum(Field::Amount),
            Field::CardId,
            HOUR,
            None,
        ),
        w(
            "card_small_1h",
            Aggregate::Count,
            Field::CardId,
            HOUR,
            Some(small),
        ),
        w("card_count_24h", Aggregate::Count, Field::CardId, DAY, None),
        w(
            "user_sum_24h",
            Aggregate::Sum(Field::Amount),
            Field::UserId,
            DAY,
            None,
        ),
        w(
            "user_max_24h",
            Aggregate::Max(Field::Amount),
            Field::UserId,
            DAY,
            None,
        ),
        w(
            "user_avg_1h",
            Aggregate::Avg(Field::Amount),
            Field::UserId,
            HOUR,
            None,
        ),
        w(
            "user_merchants_1h",
            Aggregate::DistinctCount(Field::MerchantId),
            Field::UserId,
            HOUR,
            None,
        ),
        w(
            "user_countries_24h",
            Aggregate::DistinctCount(Field::Country),
            Field::UserId,
            DAY,
            None,
        ),
        w(
            "device_users_24h",
            Aggregate::DistinctCount(Field::UserId),
            Field::DeviceId,
            DAY,
            None,
        ),
        w("ip_count_10m", Aggregate::Count, Field::Ip, 10 * MIN, None),
        w(
            "merchant_count_1m",
            Aggregate::Count,
            Field::MerchantId,
            MIN,
            None,
        ),
        FeatureSpec {
            name: "prev_amount".into(),
            kind: FeatureKind::Previous {
                key: Field::CardId,
                field: Field::Amount,
            },
        },
        h("hist_avg_90", HistoryFeature::AvgAmount { days: 90 }),
        h("hist_max_365", HistoryFeature::MaxAmount { days: 365 }),
        h("hist_count_30", HistoryFeature::TxnCount { days: 30 }),
        h(
            "first_merchant",
            HistoryFeature::FirstTime(Field::MerchantId),
        ),
        h("first_device", HistoryFeature::FirstTime(Field::DeviceId)),
        h("days_since_first", HistoryFeature::DaysSinceFirst),
    ]
}

/// `n` events over `users` users spanning `span_ms`: skewed activity (a few
/// heavy users), 1–2 cards and 1–3 devices per user, 20k merchants with
/// popular ones, a few ms of disorder.
fn stream(n: usize, users: u32, span_ms: i64) -> Vec<Ev> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let step = span_ms / n as i64;
    let mut now = T0;
    (0..n)
        .map(|_| {
            now += rng.random_range(0..=2 * step);
            let r: f64 = rng.random();
            let u = ((r * r * r) * f64::from(users)) as u32;
            let m = if rng.random_bool(0.5) {
                rng.random_range(0..200)
            } else {
                rng.random_range(0..20_000)
            };
            let cents = (rng.random::<f64>().powi(3) * 200_000.0) as u32 + 50;
            Ev {
                user: format!("user-{u:07}"),
                card: format!("card-{u:07}-{}", u32::from(rng.random_bool(0.2))),
                merchant: format!("merchant-{m:05}"),
                country: ["FR", "FR", "FR", "DE", "US", "GB"][rng.random_range(0..6)],
                device: format!("dev-{u}-{}", rng.random_range(0..(1 + u % 3))),
                ip: format!(
                    "10.{}.{}.{}",
                    u % 256,
                    (u / 256) % 256,
                    rng.random_range(0..4)
                ),
                amount: f64::from(cents) / 100.0,
                time: now - rng.random_range(0..5_000),
            }
        })
        .collect()
}

/// Events per `process_batch` call (the engine's default batch size is
/// 512; a smaller batch is the harder case for prefetching).
const BATCH: usize = 64;

/// Processes the next `n` events of the looped stream from `*i` in batches
/// of [`BATCH`]; the `k`-th replay of the stream is shifted `k * span`
/// (plus `base` spans) later.
#[allow(clippy::too_many_arguments)]
fn run(
    st: &mut PartitionState,
    events: &[Ev],
    span: i64,
    base: i64,
    i: &mut usize,
    n: usize,
    width: usize,
    out: &mut Vec<f64>,
) {
    let mut done = 0;
    while done < n {
        let m = BATCH.min(n - done);
        let batch: Vec<At> = (*i..*i + m)
            .map(|j| At {
                ev: &events[j % events.len()],
                shift: span * (base + (j / events.len()) as i64),
            })
            .collect();
        out.resize(m * width, 0.0);
        st.process_batch(&batch, out, width);
        black_box(&out);
        *i += m;
        done += m;
    }
}

fn bench(c: &mut Criterion) {
    let features = features();
    let width = features.len();
    let cfg = StateConfig::default();
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn StateStore> =
        Arc::new(RocksStore::open(dir.path(), &RocksOptions::default()).expect("open"));
    // 30 days of traffic for 20k users (~25 events each) builds the state.
    let span = 30 * DAY;
    let events = stream(500_000, 20_000, span);
    let mut st = PartitionState::open(store.clone(), 0, &features, &cfg).expect("open partition");
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < events.len() {
        run(&mut st, &events, span, 0, &mut i, 50_000, width, &mut out);
        st.checkpoint(i as i64).expect("checkpoint");
    }
    let stats = st.stats();
    eprintln!("state after warm-up: {stats:?}");

    let mut offset = events.len() as i64;
    let mut group = c.benchmark_group("partition_state");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("process_20_features_batch_64", |b| {
        b.iter(|| run(&mut st, &events, span, 1, &mut i, BATCH, width, &mut out))
    });
    st.checkpoint(offset).expect("checkpoint");
    group.finish();
    per_event_distribution(&mut st, &events, span, &mut i, &mut offset, width, &mut out);
    // `iters` checkpoints, each after 10k more events; `time` takes one at
    // the given offset and returns the time that counts.
    let mut checkpoints = |iters: u64, time: &dyn Fn(&mut PartitionState, i64) -> Duration| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            run(&mut st, &events, span, 1, &mut i, 10_000, width, &mut out);
            offset += 10_000;
            total += time(&mut st, offset);
        }
        total
    };
    let mut group = c.benchmark_group("partition_state");
    group.bench_function("checkpoint_after_10k_events", |b| {
        b.iter_custom(|iters| {
            checkpoints(iters, &|st, offset| {
                let t = Instant::now();
                st.checkpoint(offset).expect("checkpoint");
                t.elapsed()
            })
        })
    });
    // The share of it that stops the partition in the engine: the worker
    // encodes the batch, and RocksDB's write runs beside it.
    group.bench_function("checkpoint_encode_after_10k_events", |b| {
        b.iter_custom(|iters| {
            checkpoints(iters, &|st, offset| {
                let t = Instant::now();
                let prepared = st.prepare_checkpoint(offset).expect("prepare");
                let encoding = t.elapsed();
                st.finish_checkpoint(prepared.write()).expect("write");
                encoding
            })
        })
    });
    group.finish();

    // Cold path: a cache far smaller than the key count, misses read RocksDB.
    let small = StateConfig {
        cache_capacity: 20_000,
        ..StateConfig::default()
    };
    let mut cold = PartitionState::open(store, 0, &features, &small).expect("open partition");
    let mut j = 0usize;
    let mut group = c.benchmark_group("partition_state_small_cache");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("process_20_features_cache_20k_entries_batch_64", |b| {
        b.iter(|| {
            run(&mut cold, &events, span, 8, &mut j, BATCH, width, &mut out);
            if j.is_multiple_of(10_000 / BATCH * BATCH) {
                offset += 10_000;
                cold.checkpoint(offset).expect("checkpoint");
            }
        })
    });
    group.finish();
}

/// Criterion reports the mean; the target is on the median. Times 200k
/// events as batches of [`BATCH`] on the hot state (checkpointing every
/// ~10k events outside the timed calls) and prints the distribution of
/// the per-event cost of a batch (its time over its events).
fn per_event_distribution(
    st: &mut PartitionState,
    events: &[Ev],
    span: i64,
    i: &mut usize,
    offset: &mut i64,
    width: usize,
    out: &mut Vec<f64>,
) {
    const N: usize = 200_000;
    let mut ns: Vec<f64> = Vec::with_capacity(N / BATCH);
    for k in 0..N / BATCH {
        let t = Instant::now();
        run(st, events, span, 1, i, BATCH, width, out);
        ns.push(t.elapsed().as_nanos() as f64 / BATCH as f64);
        if k % 160 == 159 {
            *offset += (160 * BATCH) as i64;
            st.checkpoint(*offset).expect("checkpoint");
        }
    }
    let mean = ns.iter().sum::<f64>() / ns.len() as f64;
    ns.sort_unstable_by(f64::total_cmp);
    let q = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)] / 1_000.0;
    eprintln!(
        "partition_state/process_20_features per event over {} batches of {BATCH}: \
         p50 {:.2} µs, p90 {:.2} µs, p99 {:.2} µs, mean {:.2} µs",
        ns.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        mean / 1_000.0
    );
}

/// What `[state.tuning.rocksdb] sync-writes` costs: the same checkpoints
/// (each after 10k more events of the stream) on two stores alike but for
/// the fsync of the WAL at each write. Timed: the batch's write (the part
/// the fsync is in, which the engine runs beside the worker), not its
/// encoding.
fn bench_sync_writes(c: &mut Criterion) {
    let features = features();
    let width = features.len();
    let span = 30 * DAY;
    let events = stream(100_000, 20_000, span);
    let mut group = c.benchmark_group("checkpoint_sync_writes");
    for sync_writes in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = RocksOptions {
            sync_writes,
            ..RocksOptions::default()
        };
        let store: Arc<dyn StateStore> =
            Arc::new(RocksStore::open(dir.path(), &opts).expect("open"));
        let mut st =
            PartitionState::open(Arc::clone(&store), 0, &features, &StateConfig::default())
                .expect("open partition");
        let (mut i, mut out) = (0usize, Vec::new());
        run(
            &mut st,
            &events,
            span,
            0,
            &mut i,
            events.len(),
            width,
            &mut out,
        );
        st.checkpoint(i as i64).expect("checkpoint");
        let name = if sync_writes { "sync_on" } else { "sync_off" };
        group.bench_function(format!("checkpoint_write_after_10k_events_{name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    run(&mut st, &events, span, 1, &mut i, 10_000, width, &mut out);
                    let prepared = st.prepare_checkpoint(i as i64).expect("prepare");
                    let t = Instant::now();
                    let written = prepared.write();
                    total += t.elapsed();
                    st.finish_checkpoint(written).expect("write");
                }
                total
            })
        });
        // The fixed cost alone: a write of one small record (the fsync, when
        // on, is most of it).
        group.bench_function(format!("write_one_record_{name}"), |b| {
            let mut n = 0u64;
            b.iter(|| {
                n += 1;
                let mut batch = verdict_state::WriteBatch::default();
                batch.put(b"bench-sync-key", n.to_le_bytes());
                store.write(batch).expect("write");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_sync_writes);
criterion_main!(benches);
