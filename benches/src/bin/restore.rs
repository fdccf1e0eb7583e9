//! Restore from the changelog, measured through a real broker. A state store
//! (one that `verdict backfill` loaded, or that a run left) is copied to a
//! changelog topic, partition by partition (the seed a first run with a
//! changelog makes); then each partition is restored from that topic into
//! an empty RocksDB store, as an instance does when the group gives it a
//! partition its disk lacks, and compared with the original. Prints, per
//! phase, records, bytes, seconds and records per second. Every partition is
//! restored at once, each on a thread of its own, as an instance's partition
//! workers do; the rate is the records over the wall time of the slowest.
//!
//! ```text
//! verdict generate --count 10000000 --users 1000000 --events-per-sec 0.317 --output year.jsonl
//! verdict backfill --input year.jsonl --state-dir /tmp/year-state --partitions 4
//! target/release/restore --state-dir /tmp/year-state --partitions 4
//! ```
//!
//! Without `--brokers` it starts a tansu broker (in-memory storage) on a
//! free loopback port.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Parser;
use verdict_engine::config::KafkaConfig;
use verdict_engine::kafka::changelog::{
    ChangelogWriter, Fencing, Outcome, Restored, bring_up_to_date, ensure_topic, shared_producer,
};
use verdict_engine::metrics::Metrics;
use verdict_state::keys::{changelog_position_key, partition_range};
use verdict_state::{RocksOptions, RocksStore, StateStore};
use verdict_tests::{Broker, MEMORY_STORAGE};

#[derive(Parser)]
#[command(
    about = "Seed a changelog from a state store, restore it into an empty one, and time both"
)]
struct Args {
    /// The state store to copy (a `verdict backfill` or `verdict run` state directory).
    #[arg(long)]
    state_dir: PathBuf,
    /// Partitions of the input topic the store was built for.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Use this broker instead of starting tansu.
    #[arg(long)]
    brokers: Option<String>,
    /// The storage engine of the tansu this starts (without `--brokers`):
    /// `memory://tansu/`, or `sqlite://tansu.db` with a tansu built
    /// with its `libsql` feature.
    #[arg(long, default_value = MEMORY_STORAGE)]
    storage: String,
    /// Where the restored stores go (a temporary directory if unset).
    #[arg(long)]
    into: Option<PathBuf>,
    /// Make each copy a transaction, as the engine does by default
    /// (`state.changelog-transactions`; needs a broker with transactions,
    /// which tansu 0.6 is not).
    #[arg(long)]
    transactions: bool,
}

/// One phase's totals.
#[derive(Default)]
struct Totals {
    records: u64,
    bytes: u64,
    seconds: f64,
}

impl Totals {
    fn row(&self, phase: &str) -> String {
        format!(
            "| {phase} | {} | {:.1} MB | {:.2} s | {:.0} records/s | {:.1} MB/s |",
            self.records,
            self.bytes as f64 / 1e6,
            self.seconds,
            self.records as f64 / self.seconds.max(1e-9),
            self.bytes as f64 / 1e6 / self.seconds.max(1e-9),
        )
    }
}

/// A partition's records and their key and value bytes, without the
/// changelog position (each store's own).
fn contents(store: &dyn StateStore, partition: i32) -> anyhow::Result<(u64, u64, u64)> {
    let (start, end) = partition_range(partition);
    let skip = changelog_position_key(partition);
    let (mut records, mut bytes, mut digest) = (0u64, 0u64, 0u64);
    store.scan(&start, &end, &mut |k, v| {
        if k != skip.as_slice() {
            records += 1;
            bytes += (k.len() + v.len()) as u64;
            // Order-sensitive: the scan is in key order in both stores.
            digest = digest.rotate_left(7) ^ fnv(k) ^ fnv(v).rotate_left(32);
        }
        true
    })?;
    Ok((records, bytes, digest))
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let broker = match &args.brokers {
        Some(_) => None,
        None => Some(Broker::start_on(&args.storage)?),
    };
    let brokers = match (&args.brokers, &broker) {
        (Some(b), _) => b.clone(),
        (None, Some(b)) => b.bootstrap.clone(),
        (None, None) => unreachable!("a broker was started"),
    };
    let kafka = KafkaConfig {
        brokers,
        group_id: format!("restore-bench-{}", std::process::id()),
        topic_partitions: args.partitions,
        ..KafkaConfig::default()
    };
    let scratch = tempfile::tempdir()?;
    let into = args
        .into
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let source: Arc<dyn StateStore> = Arc::new(
        RocksStore::open(&args.state_dir, &RocksOptions::default())
            .with_context(|| format!("opening {}", args.state_dir.display()))?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let topic = verdict_engine::kafka::changelog_topic(&kafka);
    rt.block_on(ensure_topic(&kafka))?;
    let fencing = if args.transactions {
        Fencing::Transactions
    } else {
        Fencing::Off(shared_producer(&kafka)?)
    };
    let metrics = Arc::new(Metrics::new());
    let mut seeded = Totals::default();
    let mut originals = Vec::new();
    for p in 0..args.partitions {
        let (records, bytes, digest) = contents(&*source, p)?;
        let started = Instant::now();
        let mut writer = rt.block_on(ChangelogWriter::open(
            &kafka,
            fencing.clone(),
            (topic.clone(), p),
            p,
            Arc::clone(&metrics),
        ))?;
        let seed = rt.block_on(bring_up_to_date(
            &kafka,
            &mut writer,
            &*source,
            &mut |_, _| {},
            &mut || {},
        ))?;
        seeded.seconds += started.elapsed().as_secs_f64();
        ensure!(
            records == 0 || seed.outcome == Outcome::Seeded,
            "partition {p}: expected a seed, got {:?}",
            seed.outcome
        );
        seeded.records += records;
        seeded.bytes += bytes;
        originals.push((records, bytes, digest));
    }

    let partitions = restore_all((&kafka, &fencing), &topic, &metrics, &into, &originals);
    let mut restored = Totals::default();
    for (p, result) in partitions.into_iter().enumerate() {
        let (done, finished_at) = result?;
        restored.records += done.records;
        restored.bytes += done.bytes;
        restored.seconds = restored.seconds.max(finished_at);
        eprintln!(
            "partition {p}: {} records, {:.1} MB; restored in {:.2} s ({:.0} records/s on its own), done {finished_at:.2} s after the start",
            done.records,
            done.bytes as f64 / 1e6,
            done.seconds,
            done.records as f64 / done.seconds.max(1e-9)
        );
    }
    println!("| phase | records | bytes | time | rate | throughput |");
    println!("|---|---|---|---|---|---|");
    println!(
        "{}",
        seeded.row("seed (store → changelog, one partition after another)")
    );
    println!(
        "{}",
        restored.row("restore (changelog → empty stores, every partition at once)")
    );
    drop(broker);
    Ok(())
}

/// Restores every partition at once, each on a thread of its own with a
/// current-thread runtime, as an instance's partition workers restore the
/// partitions the group gives it; checks each against its original and
/// returns what each read and when it finished, in seconds from the start.
/// The clock starts once every store is open: an instance opens its store
/// when it starts, not when the group gives it a partition.
fn restore_all(
    (kafka, fencing): (&KafkaConfig, &Fencing),
    topic: &str,
    metrics: &Arc<Metrics>,
    into: &std::path::Path,
    originals: &[(u64, u64, u64)],
) -> Vec<anyhow::Result<(Restored, f64)>> {
    let opened = std::sync::Barrier::new(kafka.topic_partitions.max(1) as usize);
    let opened = &opened;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..kafka.topic_partitions)
            .map(|p| {
                let (topic, metrics) = (topic.to_string(), Arc::clone(metrics));
                scope.spawn(move || -> anyhow::Result<(Restored, f64)> {
                    let target: Arc<dyn StateStore> = Arc::new(RocksStore::open(
                        into.join(format!("partition-{p}")),
                        &RocksOptions::default(),
                    )?);
                    opened.wait();
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let started = Instant::now();
                    let mut writer = rt.block_on(ChangelogWriter::open(
                        kafka,
                        fencing.clone(),
                        (topic, p),
                        p,
                        metrics,
                    ))?;
                    let done = rt.block_on(bring_up_to_date(
                        kafka,
                        &mut writer,
                        &*target,
                        &mut |_, _| {},
                        &mut || {},
                    ))?;
                    let finished_at = started.elapsed().as_secs_f64();
                    let copy = contents(&*target, p)?;
                    let original = originals[p as usize];
                    ensure!(
                        copy == original,
                        "partition {p}: the restored store differs ({copy:?} against {original:?})"
                    );
                    Ok((done, finished_at))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a restore thread panicked")))
            })
            .collect()
    })
}
