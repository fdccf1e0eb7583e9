//! The changelog: each checkpoint's state changes, copied to a compacted
//! topic, so that any instance can rebuild a partition's state (Kafka
//! Streams' changelog topics, with the checkpoint's input offset in the
//! same records). Local RocksDB stays the fast path.
//!
//! Topic `<group-id>.changelog`, one partition per input partition, created
//! at start with the input's partition count (`cleanup.policy=compact`).
//! A checkpoint of partition p appends to changelog partition p, in the
//! order its batch applies, each key it sets (the value) or deletes (a
//! tombstone), then its checkpoint record — next input offset, watermark,
//! write epoch — which is the copy's *marker*. Every record carries a
//! `verdict-checkpoint` header: a token unique to the worker that wrote it
//! and the checkpoint's sequence number under that token. The local batch
//! is written, and the input offset committed, only once the whole copy is
//! acknowledged; the batch also records the marker's changelog offset (the
//! store's *position*).
//!
//! Bringing a partition up to date ([`bring_up_to_date`], before its worker
//! processes a message):
//! - the store's position is the changelog's last record: current, start
//!   at once (a restart on the same disk);
//! - the changelog has more: read from the position (from the start, on a
//!   wiped partition, for a store without one) to the end, applying the
//!   copies in log order, each whole, each marker moving the position too,
//!   so a restore that stops half-way resumes from the last marker it
//!   applied;
//! - the changelog is empty while the store has
//!   state: the store is copied whole (*seeded*), e.g. after `verdict
//!   backfill` or on the first run with a changelog; a store whose seed
//!   never finished (its position says *seeding*) is seeded again, unless
//!   the changelog holds a confirmed copy since (the partition ran on
//!   another instance meanwhile), which it is then restored from.
//!
//! Each copy is one Kafka transaction (`state.changelog-transactions`, on
//! by default; it needs a broker with transactions). Every writer of a changelog
//! partition, on any instance, uses the same transactional id
//! (`<topic>.<partition>`), and a worker opens its writer before it reads
//! the partition: the broker then refuses whatever an earlier writer still
//! sends (a *zombie*: an instance that lost the partition, stalled or cut
//! off, without noticing), so nothing lands after what the new owner
//! restored, and aborts a copy an earlier writer left open, which a
//! restore (it reads committed records only) never sees.
//!
//! A writer that dies in the middle of a copy without a transaction
//! (`state.changelog-transactions = false`, or a log written before copies
//! were transactions) leaves it unfinished at the end of the log: the
//! restore that finds it there puts back what it changed and, before
//! anything else is written to the partition, re-publishes the committed
//! value of each of its keys, with a marker (a *repair*). Later restores
//! apply the unfinished copy and then the repair, which puts every key it
//! touched back; compaction, which keeps only the latest record of a key,
//! keeps the repair's. A restorer that dies while it repairs leaves two
//! unfinished copies: what follows the log's last marker is unfinished
//! however many copies it spans, and is repaired whole (`copies.rs`). So
//! the copy a restore applies never depends on markers that compaction
//! removed: only the last one matters.
//!
//! A copy is sent only once every decision and dead letter before its
//! offset is acknowledged: a restore that applies it resumes after their
//! events, so they must already be out.

mod copies;
mod writer;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use verdict_state::keys::{changelog_position_key, checkpoint_key, partition_range};
use verdict_state::{StateStore, WriteBatch, holds_state};

pub use copies::position_value;
use copies::{Copies, Record, Tag};
use writer::HEADER;
pub use writer::{ChangelogWriter, Copy, Fencing, shared_producer};

use super::client::{Role, client_config};
use crate::config::KafkaConfig;

/// Records younger than this are never compacted (a day: room for an
/// operator to inspect a changelog after an incident).
const MIN_COMPACTION_LAG_MS: &str = "86400000";

/// A restore that receives nothing for this long fails (the worker fails,
/// the process exits non-zero, its orchestrator restarts it).
const STALLED: Duration = Duration::from_secs(30);

/// The changelog topic of the application.
pub fn topic(k: &KafkaConfig) -> String {
    format!("{}.changelog", k.group_id)
}

/// The store's position: the changelog offset of the marker of the last
/// copy it holds from `topic` (a position in another topic, say before the
/// group id changed, is none).
fn position(store: &dyn StateStore, topic: &str, partition: i32) -> anyhow::Result<Option<i64>> {
    let Some(v) = store.get(&changelog_position_key(partition))? else {
        return Ok(None);
    };
    let (offset, named) = v
        .split_first_chunk::<8>()
        .ok_or_else(|| anyhow::anyhow!("partition {partition}: a bad changelog position"))?;
    Ok((named == topic.as_bytes()).then(|| i64::from_be_bytes(*offset)))
}

/// What bringing a partition up to date did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The store was current (or there is no state anywhere).
    Current,
    /// Copies were read from the changelog and applied.
    Restored,
    /// The changelog had nothing the store has: the store was copied to it.
    Seeded,
}

/// What [`bring_up_to_date`] did, for logs, metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Restored {
    pub outcome: Outcome,
    /// Changelog records read, and their key and value bytes.
    pub records: u64,
    pub bytes: u64,
    /// Copies applied.
    pub checkpoints: u64,
    /// Keys of the copies after the last marker (unfinished), put back and
    /// repaired.
    pub discarded: u64,
    /// The store's position afterwards.
    pub position: Option<i64>,
    pub seconds: f64,
}

/// Restores, seeds or leaves the partition's state so that the store and
/// the changelog agree, before its worker processes a message (see the
/// module doc). `progress` is told the records read so far and the offsets
/// still to read, about every second; `before_work` is called once before
/// a seed or a restore starts (not when the store is already current).
pub async fn bring_up_to_date(
    kafka: &KafkaConfig,
    writer: &mut ChangelogWriter,
    store: &dyn StateStore,
    progress: &mut dyn FnMut(u64, i64),
    before_work: &mut dyn FnMut(),
) -> anyhow::Result<Restored> {
    let started = Instant::now();
    let (topic, p, state) = (writer.topic.clone(), writer.partition, writer.state);
    let consumer: BaseConsumer = restore_config(kafka)
        .create()
        .context("creating the changelog reader")?;
    let (low, high) = consumer
        .fetch_watermarks(&topic, p, Duration::from_secs(10))
        .with_context(|| format!("reading the offsets of {topic}/{p}"))?;
    let mut local = position(store, &topic, state)?;
    let mut done = Restored {
        outcome: Outcome::Current,
        records: 0,
        bytes: 0,
        checkpoints: 0,
        discarded: 0,
        position: local,
        seconds: 0.0,
    };
    let mut begun = false;
    let mut begin = || {
        if !std::mem::replace(&mut begun, true) {
            before_work();
        }
    };
    if local == Some(SEEDING) {
        // A seed that never finished (the process died during it): unless
        // a copy was confirmed since (another instance ran the partition
        // meanwhile, and its state is what was decided on), the store is
        // still the partition's state and the changelog holds only part of
        // its copy, which a new seed supersedes.
        begin();
        let log = (topic.as_str(), p, state);
        if high > low && confirmed_in_log(&consumer, log, (low, high), &mut done, progress)? {
            local = None;
        }
    }
    if local == Some(SEEDING) || high <= low {
        if local == Some(SEEDING) || holds_state(store, state)? {
            begin();
            done.outcome = Outcome::Seeded;
            done.position = Some(seed(writer, store).await?);
        }
        done.seconds = started.elapsed().as_secs_f64();
        return Ok(done);
    }
    // `high` is only trusted this far: a broker may report the end of its
    // last batch short (tansu answers the last batch's first offset + 1);
    // reading goes to the end the fetches report, never to `high`. A
    // transaction's copy is followed by its commit marker, an offset that
    // no record fills; any other copy since is a record and a marker more.
    let after = if writer.transactional { 2 } else { 1 };
    if local.is_some_and(|at| at + after >= high) {
        return Ok(done);
    }
    begin();
    let start = match local {
        Some(at) => at + 1,
        None => {
            // Whatever the store holds is not a changelog copy: the
            // changelog is the partition's state.
            let (s, e) = partition_range(state);
            store.delete_range(&s, &e)?;
            low
        }
    };
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, p, Offset::Offset(start))?;
    consumer.assign(&tpl)?;
    done.outcome = Outcome::Restored;
    let tail = read_copies(
        &consumer,
        (&topic, p, state),
        (local, high),
        store,
        &mut done,
        progress,
    )?;
    if !tail.is_empty() {
        repair(writer, store, &tail).await?;
    }
    done.position = position(store, &topic, state)?;
    done.seconds = started.elapsed().as_secs_f64();
    let metrics = &writer.metrics;
    metrics.ops.restore_records.inc_by(done.records);
    metrics.ops.restore_bytes.inc_by(done.bytes);
    Ok(done)
}

/// A reader of one changelog partition: no group, nothing committed.
fn restore_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut c = client_config(kafka, Role::Admin);
    c.set("group.id", format!("{}.restore", kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("max.partition.fetch.bytes", "16777216")
        .set("queued.max.messages.kbytes", "262144");
    c
}

/// Reads copies to the end of the partition (`high` only estimates it, for
/// progress) and applies them in log order (`copies.rs`), from the store's
/// position `from`; returns the keys of what follows the last marker, put
/// back as it was and still to repair.
fn read_copies(
    consumer: &BaseConsumer,
    (topic, p, state): (&str, i32, i32),
    (from, high): (Option<i64>, i64),
    store: &dyn StateStore,
    done: &mut Restored,
    progress: &mut dyn FnMut(u64, i64),
) -> anyhow::Result<BTreeSet<Vec<u8>>> {
    let mut copies = Copies::new(store, topic, state, from);
    read_log(consumer, (topic, p), high, done, progress, &mut |r| {
        copies.read(r)?;
        Ok(true)
    })?;
    done.checkpoints = copies.checkpoints;
    let unfinished = copies.finish()?;
    done.discarded = unfinished.len() as u64;
    Ok(unfinished)
}

/// Whether the changelog partition holds a marker from `low` on, i.e. some
/// copy of it was confirmed; reads up to the first one.
fn confirmed_in_log(
    consumer: &BaseConsumer,
    (topic, p, state): (&str, i32, i32),
    (low, high): (i64, i64),
    done: &mut Restored,
    progress: &mut dyn FnMut(u64, i64),
) -> anyhow::Result<bool> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, p, Offset::Offset(low))?;
    consumer.assign(&tpl)?;
    let (marker, position) = (checkpoint_key(state), changelog_position_key(state));
    let mut found = false;
    read_log(consumer, (topic, p), high, done, progress, &mut |r| {
        found = r.key == marker.as_slice() || r.key == position.as_slice();
        Ok(!found)
    })?;
    Ok(found)
}

/// Reads the consumer's changelog partition to its end, or until `each`
/// returns false, handing `each` every record in log order and counting
/// them in `done`.
fn read_log(
    consumer: &BaseConsumer,
    (topic, p): (&str, i32),
    high: i64,
    done: &mut Restored,
    progress: &mut dyn FnMut(u64, i64),
    each: &mut dyn FnMut(Record<'_>) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let (mut heard, mut told) = (Instant::now(), Instant::now());
    let mut next = 0;
    loop {
        let m = match consumer.poll(Duration::from_millis(200)) {
            None if heard.elapsed() >= STALLED => anyhow::bail!(
                "restoring partition {p}: nothing from {topic} for {} s at offset {next} of {high}",
                STALLED.as_secs()
            ),
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(e).with_context(|| format!("reading {topic}/{p}")),
            Some(Ok(m)) => m,
        };
        heard = Instant::now();
        next = m.offset() + 1;
        let tag = m
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == HEADER))
            .and_then(|h| h.value)
            .and_then(Tag::decode)
            .with_context(|| {
                format!(
                    "{topic}/{p} at {}: a record without its {HEADER} header",
                    m.offset()
                )
            })?;
        let key = m.key().unwrap_or_default();
        done.records += 1;
        done.bytes += (key.len() + m.payload().map_or(0, <[u8]>::len)) as u64;
        let more = each(Record {
            offset: m.offset(),
            tag,
            key,
            value: m.payload(),
        })?;
        if !more {
            return Ok(());
        }
        if told.elapsed() >= Duration::from_secs(1) {
            told = Instant::now();
            progress(done.records, (high - next).max(0));
            tracing::info!(
                partition = p,
                records = done.records,
                offset = next,
                end = high,
                "restoring from the changelog"
            );
        }
    }
    progress(done.records, 0);
    Ok(())
}

/// The marker of a copy: the checkpoint record, or for a store without one
/// (loaded by `verdict backfill`, never run) an empty record under the
/// position key, which a restore does not apply.
fn marker_of(store: &dyn StateStore, p: i32) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    Ok(match store.get(&checkpoint_key(p))? {
        Some(record) => (checkpoint_key(p), record),
        None => (changelog_position_key(p), Vec::new()),
    })
}

/// Copies the whole partition to the changelog, marker last.
async fn seed(writer: &mut ChangelogWriter, store: &dyn StateStore) -> anyhow::Result<i64> {
    let p = writer.state;
    let (marker, skip) = (checkpoint_key(p), changelog_position_key(p));
    let (start, end) = partition_range(p);
    let mut changes = Vec::new();
    store.scan(&start, &end, &mut |k, v| {
        if k != marker.as_slice() && k != skip.as_slice() {
            changes.push((k.to_vec(), Some(v.to_vec())));
        }
        true
    })?;
    let (key, value) = marker_of(store, p)?;
    changes.push((key, Some(value)));
    tracing::info!(partition = p, records = changes.len(), topic = %writer.topic, "copying the partition's state to the changelog");
    // Until the copy lands, the store says it is being seeded: a restart
    // seeds it again rather than restoring from a partial copy of itself.
    let mut seeding = WriteBatch::new();
    seeding.put(
        changelog_position_key(p),
        position_value(&writer.topic, SEEDING),
    );
    store.write(seeding)?;
    writer.publish(store, &changes).await
}

/// The position of a store whose copy to the changelog has not landed yet
/// (no changelog offset is negative).
const SEEDING: i64 = -1;

/// Re-publishes the committed value of each key of an unfinished copy
/// (a tombstone where it has none), then a marker, before anything else is
/// written after it: a later restore applies the unfinished copy and then
/// this one, which puts every key it touched back.
async fn repair(
    writer: &mut ChangelogWriter,
    store: &dyn StateStore,
    keys: &BTreeSet<Vec<u8>>,
) -> anyhow::Result<()> {
    let p = writer.state;
    let (marker, value) = marker_of(store, p)?;
    let mut changes = Vec::with_capacity(keys.len() + 1);
    for key in keys.iter().filter(|k| **k != marker) {
        changes.push((key.clone(), store.get(key)?));
    }
    changes.push((marker, Some(value)));
    tracing::warn!(
        partition = p,
        keys = keys.len(),
        "the changelog ends in an unfinished copy; republishing the committed values of its keys"
    );
    writer.publish(store, &changes).await?;
    Ok(())
}

/// Creates the changelog topic with the input's partition count if it does
/// not exist (compacted; replicated like the cluster allows, up to 3); an
/// existing one with fewer partitions than the input is an error.
pub async fn ensure_topic(kafka: &KafkaConfig) -> anyhow::Result<()> {
    ensure_internal_topic(kafka, &topic(kafka), &COMPACTED).await
}

/// The settings of a changelog topic.
pub const COMPACTED: [(&str, &str); 2] = [
    ("cleanup.policy", "compact"),
    ("min.compaction.lag.ms", MIN_COMPACTION_LAG_MS),
];

/// Creates an internal topic of the application with the input's partition
/// count and `settings` if it does not exist (replicated like the cluster
/// allows, up to 3); an existing one with fewer partitions than the input
/// is an error.
pub async fn ensure_internal_topic(
    kafka: &KafkaConfig,
    topic: &str,
    settings: &[(&str, &str)],
) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let topic = topic.to_owned();
    let reader: BaseConsumer = restore_config(kafka).create()?;
    let (inputs, existing, brokers) = {
        let (kafka, topic) = (kafka.clone(), topic.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let count = |name: &str| -> anyhow::Result<(Option<usize>, usize)> {
                let md = reader
                    .fetch_metadata(Some(name), Duration::from_secs(10))
                    .with_context(|| format!("reading the metadata of {name}"))?;
                let partitions = md
                    .topics()
                    .iter()
                    .find(|t| t.name() == name && t.error().is_none())
                    .map(|t| t.partitions().len())
                    .filter(|&n| n > 0);
                Ok((partitions, md.brokers().len()))
            };
            let (inputs, brokers) = count(&kafka.input_topic)?;
            let (existing, _) = count(&topic)?;
            Ok((inputs, existing, brokers))
        })
        .await??
    };
    let wanted = match inputs {
        Some(n) => n,
        None => {
            tracing::warn!(input = %kafka.input_topic, partitions = kafka.topic_partitions, %topic, "the input topic does not exist yet; sizing the internal topic by kafka.topic-partitions");
            kafka.topic_partitions.max(1) as usize
        }
    };
    match existing {
        Some(n) if n >= wanted => return Ok(()),
        Some(n) => anyhow::bail!(
            "the internal topic {topic} has {n} partitions but the input {} has {wanted}: \
             add partitions to it (kafka-topics --alter) before starting",
            kafka.input_topic
        ),
        None => {}
    }
    let admin: AdminClient<DefaultClientContext> = client_config(kafka, Role::Admin).create()?;
    let replication = brokers.clamp(1, 3) as i32;
    let mut new = NewTopic::new(&topic, wanted as i32, TopicReplication::Fixed(replication));
    for (k, v) in settings {
        new = new.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&new], &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!(
                "creating the internal topic {topic} ({wanted} partitions, {settings:?}): \
                 {code}; create it yourself or grant the engine CreateTopics"
            ),
        }
    }
    tracing::info!(%topic, partitions = wanted, replication, "created an internal topic");
    Ok(())
}
