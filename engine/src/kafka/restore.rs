//! Opening a partition's state: brought up to date with its changelog
//! before its worker processes a message (`changelog/`), the partition not
//! fetched meanwhile.

use std::sync::Arc;

use anyhow::Context;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer;

use super::changelog::{self, ChangelogWriter, Outcome};
use super::deps::WorkerDeps;
use crate::rekey::Unit;

/// Brings the partition's store up to date with its changelog (restore,
/// seed or nothing; see `changelog/`), reporting progress; returns the
/// writer of the partition's next copies, and whether the partition was
/// paused meanwhile.
pub(super) async fn restore(
    unit: Unit,
    (topic, changelog_topic): (&str, String),
    deps: &WorkerDeps,
) -> anyhow::Result<(ChangelogWriter, bool)> {
    let kafka = &deps.config.kafka;
    let partition = unit.id();
    // Opened first: it fences the partition's earlier writers, so nothing
    // they send lands after the restore has read the changelog.
    let mut writer = ChangelogWriter::open(
        kafka,
        deps.changelog.clone(),
        (changelog_topic, unit.partition()),
        partition,
        Arc::clone(&deps.dataflow.metrics),
    )
    .await?;
    let status = Arc::clone(&deps.status);
    let mut progress = |records, remaining| status.restore_progress(partition, records, remaining);
    // Not fetched while a seed or restore runs: a long one must not fill the
    // partition's channel and so block the router, and every other partition
    // with it. A current store is not paused: a pause and resume costs the
    // partition's fetcher about a second (the demo's first second, late).
    let mut own = TopicPartitionList::new();
    own.add_partition(topic, unit.partition());
    let paused = std::cell::Cell::new(false);
    let mut pause = || {
        if let Err(e) = deps.consumer.pause(&own) {
            tracing::warn!(partition, error = %e, "could not pause the partition while restoring");
        }
        paused.set(true);
    };
    let store = &*deps.dataflow.store;
    let done = changelog::bring_up_to_date(kafka, &mut writer, store, &mut progress, &mut pause)
        .await
        .with_context(|| format!("restoring partition {partition} from its changelog"));
    if paused.get()
        && let Err(e) = deps.consumer.resume(&own)
    {
        tracing::warn!(partition, error = %e, "could not resume the partition after restoring");
    }
    let done = done?;
    if done.outcome != Outcome::Current {
        tracing::info!(
            partition,
            outcome = ?done.outcome,
            records = done.records,
            bytes = done.bytes,
            checkpoints = done.checkpoints,
            discarded = done.discarded,
            seconds = done.seconds,
            "partition state brought up to date with its changelog"
        );
    }
    Ok((writer, paused.get()))
}

/// Ticks on which a partition paused while it restored is resumed again.
/// librdkafka applies a pause on its own thread, later, while a resume
/// that finds the partition not paused yet does nothing: a restore that
/// ends first (a short one, right after an assignment) would leave the
/// partition paused for good. A resume of a partition that is not paused
/// changes nothing.
pub(super) const RESUME_TICKS: u32 = 3;
