//! What a running engine knows about itself, for the admin API and the
//! lifecycle metrics: which partitions it owns, where each one is in its
//! life (opening its state, running, failed), how far each has got, and
//! whether the instance as a whole is ready and healthy.
//!
//! Writers are the consumer's rebalance hook (assignment), its statistics
//! callback (lag) and each partition's worker (state opened, offsets,
//! watermark, failure); readers are `/healthz`, `/readyz` and `/v1/status`.
//! Updates happen at most a few times a second per partition, so one mutex
//! over a small map is enough; nothing here is on an event's path.
//!
//! - **healthy**: no partition has failed. A failed partition makes the
//!   process exit non-zero (see `kafka/run.rs`); until it has, `/healthz`
//!   says so.
//! - **ready**: the instance has received its assignment from the group and
//!   every assigned partition has its state open (restored) and is
//!   consuming.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// Where one assigned partition is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Assigned; its worker is opening (restoring) the partition's state.
    Restoring,
    /// State open; deciding events.
    Running,
    /// The worker failed with this error; the process is stopping.
    Failed { error: String },
}

/// One partition as `/v1/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionStatus {
    pub partition: i32,
    #[serde(flatten)]
    pub phase: Phase,
    /// Seconds since the partition entered its phase.
    pub phase_seconds: f64,
    /// The next offset to decide (after the last processed message).
    pub next_offset: Option<i64>,
    /// The offset the last landed checkpoint covers.
    pub checkpointed_offset: Option<i64>,
    /// High watermark minus the next offset, from the consumer's statistics.
    pub lag_messages: Option<i64>,
    /// The partition's event-time watermark (epoch ms).
    pub watermark_ms: Option<i64>,
    /// While restoring from the changelog: records read so far and offsets
    /// still to read.
    pub restore: Option<RestoreProgress>,
    #[serde(skip)]
    since: Instant,
}

impl PartitionStatus {
    fn new(partition: i32) -> Self {
        PartitionStatus {
            partition,
            phase: Phase::Restoring,
            phase_seconds: 0.0,
            next_offset: None,
            checkpointed_offset: None,
            lag_messages: None,
            watermark_ms: None,
            restore: None,
            since: Instant::now(),
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.since = Instant::now();
    }
}

/// How far a partition's restore from the changelog is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RestoreProgress {
    pub records: u64,
    pub remaining_offsets: i64,
}

/// The instance's view of its partitions.
pub struct EngineStatus {
    inner: Mutex<Inner>,
    /// Raised when the assignment changes, so the router opens the newly
    /// assigned partitions without waiting for their first message.
    pub assignment_changed: Notify,
    metrics: std::sync::Arc<Metrics>,
}

#[derive(Default)]
struct Inner {
    /// Set by the first assignment from the group (even an empty one).
    assigned: bool,
    partitions: BTreeMap<i32, PartitionStatus>,
    /// Failures outlive their partition's removal from the map.
    failures: Vec<(i32, String)>,
}

/// A snapshot for `/v1/status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSnapshot {
    pub ready: bool,
    pub healthy: bool,
    pub assigned: bool,
    pub partitions: Vec<PartitionStatus>,
    pub partitions_restoring: usize,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub partition: i32,
    pub error: String,
}

impl EngineStatus {
    pub fn new(metrics: std::sync::Arc<Metrics>) -> Self {
        EngineStatus {
            inner: Mutex::new(Inner::default()),
            assignment_changed: Notify::new(),
            metrics,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().expect("status lock");
        let out = f(&mut inner);
        self.publish(&inner);
        out
    }

    /// Keeps the lifecycle gauges equal to the map.
    fn publish(&self, inner: &Inner) {
        let restoring = inner
            .partitions
            .values()
            .filter(|p| p.phase == Phase::Restoring)
            .count();
        self.metrics.ops.partitions_restoring.set(restoring as i64);
        self.metrics
            .ops
            .partitions_failed
            .set(inner.failures.len() as i64);
        self.metrics.ops.ready.set(i64::from(inner.is_ready()));
        self.metrics
            .partitions_assigned
            .set(inner.partitions.len() as i64);
    }

    /// The group assigned these partitions, in addition to those it has not
    /// revoked (the cooperative protocol hands out increments; the eager one
    /// revokes everything first). New ones start restoring.
    pub fn assigned(&self, partitions: &[i32]) {
        self.with(|inner| {
            inner.assigned = true;
            for &p in partitions {
                inner
                    .partitions
                    .entry(p)
                    .or_insert_with(|| PartitionStatus::new(p));
            }
        });
        self.assignment_changed.notify_one();
    }

    /// The group took these partitions away.
    pub fn revoked(&self, partitions: &[i32]) {
        self.with(|inner| inner.partitions.retain(|p, _| !partitions.contains(p)));
    }

    /// The assigned partitions, for the router to open.
    pub fn assignment(&self) -> Vec<i32> {
        let inner = self.inner.lock().expect("status lock");
        inner.partitions.keys().copied().collect()
    }

    /// A worker starts opening its partition's state.
    pub fn restoring(&self, partition: i32) {
        self.with(|inner| {
            inner
                .partitions
                .entry(partition)
                .or_insert_with(|| PartitionStatus::new(partition))
                .enter(Phase::Restoring);
        });
    }

    /// A restoring partition's progress through its changelog.
    pub fn restore_progress(&self, partition: i32, records: u64, remaining_offsets: i64) {
        self.with(|inner| {
            if let Some(p) = inner.partitions.get_mut(&partition) {
                p.restore = Some(RestoreProgress {
                    records,
                    remaining_offsets,
                });
            }
        });
    }

    /// A worker has its state open at `checkpointed` and is consuming.
    pub fn running(&self, partition: i32, checkpointed: Option<i64>) {
        self.with(|inner| {
            let p = inner
                .partitions
                .entry(partition)
                .or_insert_with(|| PartitionStatus::new(partition));
            p.enter(Phase::Running);
            p.checkpointed_offset = checkpointed;
        });
    }

    /// A worker failed.
    pub fn failed(&self, partition: i32, error: &str) {
        self.with(|inner| {
            if let Some(p) = inner.partitions.get_mut(&partition) {
                p.enter(Phase::Failed {
                    error: error.to_string(),
                });
            }
            inner.failures.push((partition, error.to_string()));
        });
    }

    /// A worker's progress, once a second.
    pub fn progress(&self, partition: i32, next_offset: Option<i64>, watermark_ms: Option<i64>) {
        let mut inner = self.inner.lock().expect("status lock");
        if let Some(p) = inner.partitions.get_mut(&partition) {
            p.next_offset = next_offset.or(p.next_offset);
            p.watermark_ms = watermark_ms.or(p.watermark_ms);
        }
    }

    /// A checkpoint covering offsets below `next` landed.
    pub fn checkpointed(&self, partition: i32, next: i64) {
        let mut inner = self.inner.lock().expect("status lock");
        if let Some(p) = inner.partitions.get_mut(&partition) {
            p.checkpointed_offset = Some(next);
        }
    }

    /// The consumer's statistics: lag per partition.
    pub fn lag(&self, partition: i32, lag: i64) {
        let mut inner = self.inner.lock().expect("status lock");
        if let Some(p) = inner.partitions.get_mut(&partition) {
            p.lag_messages = Some(lag);
        }
    }

    pub fn is_ready(&self) -> bool {
        self.inner.lock().expect("status lock").is_ready()
    }

    pub fn is_healthy(&self) -> bool {
        self.inner.lock().expect("status lock").failures.is_empty()
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        let inner = self.inner.lock().expect("status lock");
        let partitions: Vec<PartitionStatus> = inner
            .partitions
            .values()
            .map(|p| PartitionStatus {
                phase_seconds: p.since.elapsed().as_secs_f64(),
                ..p.clone()
            })
            .collect();
        StatusSnapshot {
            ready: inner.is_ready(),
            healthy: inner.failures.is_empty(),
            assigned: inner.assigned,
            partitions_restoring: partitions
                .iter()
                .filter(|p| p.phase == Phase::Restoring)
                .count(),
            partitions,
            failures: inner
                .failures
                .iter()
                .map(|(partition, error)| Failure {
                    partition: *partition,
                    error: error.clone(),
                })
                .collect(),
        }
    }
}

impl Inner {
    fn is_ready(&self) -> bool {
        self.assigned
            && self.failures.is_empty()
            && self.partitions.values().all(|p| p.phase == Phase::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_after_assignment_once_every_partition_runs() {
        let metrics = std::sync::Arc::new(Metrics::new());
        let status = EngineStatus::new(std::sync::Arc::clone(&metrics));
        assert!(!status.is_ready(), "not ready before the group assigns");
        status.assigned(&[0, 1]);
        assert!(!status.is_ready(), "assigned partitions are restoring");
        assert_eq!(metrics.ops.partitions_restoring.get(), 2);
        status.running(0, Some(10));
        assert!(!status.is_ready());
        status.running(1, None);
        assert!(status.is_ready());
        assert_eq!(metrics.ops.ready.get(), 1);
        assert_eq!(metrics.ops.partitions_restoring.get(), 0);

        // A cooperative rebalance: partition 0 moves away, 2 comes in, 1
        // stays and keeps running. Not ready until 2 runs.
        status.revoked(&[0]);
        status.assigned(&[2]);
        assert!(!status.is_ready());
        assert_eq!(status.assignment(), vec![1, 2]);
        assert_eq!(metrics.partitions_assigned.get(), 2);
        status.running(2, None);
        assert!(status.is_ready());

        // An empty assignment (more instances than partitions) is ready.
        status.revoked(&[1, 2]);
        status.assigned(&[]);
        assert!(status.is_ready());
        assert_eq!(metrics.partitions_assigned.get(), 0);
    }

    #[test]
    fn a_failure_makes_the_instance_unhealthy_and_not_ready() {
        let metrics = std::sync::Arc::new(Metrics::new());
        let status = EngineStatus::new(std::sync::Arc::clone(&metrics));
        status.assigned(&[3]);
        status.running(3, None);
        assert!(status.is_healthy() && status.is_ready());
        status.failed(3, "checkpoint of partition 3: disk full");
        assert!(!status.is_healthy());
        assert!(!status.is_ready());
        assert_eq!(metrics.ops.partitions_failed.get(), 1);
        status.revoked(&[3]);
        let snap = status.snapshot();
        assert!(!snap.healthy, "the failure outlives the partition");
        assert_eq!(snap.failures[0].partition, 3);
    }
}
