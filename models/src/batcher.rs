//! Micro-batching of single-row requests, deadline-aware.
//!
//! Callers that score one transaction at a time submit a row with a deadline;
//! a worker thread collects requests until it has `max_batch` of them, or
//! `max_wait` has passed since the first, or the earliest deadline in the
//! batch is reached, then scores the batch with the slot's current champion.
//! A request whose deadline has passed — before scoring, after scoring, or
//! while the caller waits — gets [`BatchError::Timeout`], never a late score:
//! the engine then decides by rules alone and marks the decision degraded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::scorer::ScoreError;
use crate::slot::ModelSlot;

/// Batch cut-off: whichever of size or wait comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherConfig {
    pub max_batch: usize,
    pub max_wait: Duration,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_batch: 256,
            max_wait: Duration::from_millis(1),
        }
    }
}

/// Why a request got no score.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    #[error("scoring deadline passed")]
    Timeout,
    #[error("micro-batcher is shut down")]
    Closed,
    #[error(transparent)]
    Score(#[from] ScoreError),
}

/// Counters for metrics export.
#[derive(Debug, Default)]
pub struct BatcherStats {
    pub batches: AtomicU64,
    pub scored: AtomicU64,
    pub timeouts: AtomicU64,
}

struct Request {
    row: Vec<f32>,
    deadline: Instant,
    reply: SyncSender<Result<f32, BatchError>>,
}

/// A request in flight.
pub struct PendingScore {
    deadline: Instant,
    reply: Receiver<Result<f32, BatchError>>,
}

impl PendingScore {
    /// Blocks until the score arrives or the deadline passes.
    pub fn wait(self) -> Result<f32, BatchError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.reply.recv_timeout(left) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(BatchError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(BatchError::Closed),
        }
    }
}

/// A worker thread that batches single-row requests for the slot's champion.
pub struct MicroBatcher {
    sender: Option<SyncSender<Request>>,
    worker: Option<JoinHandle<()>>,
    stats: Arc<BatcherStats>,
}

impl MicroBatcher {
    pub fn start(slot: Arc<ModelSlot>, config: BatcherConfig) -> Self {
        let max_batch = config.max_batch.max(1);
        let (sender, receiver) = mpsc::sync_channel::<Request>(max_batch * 4);
        let stats = Arc::new(BatcherStats::default());
        let worker_stats = Arc::clone(&stats);
        let worker = std::thread::Builder::new()
            .name("verdict-scorer".into())
            .spawn(move || run(&slot, receiver, max_batch, config.max_wait, &worker_stats))
            .expect("spawn scorer thread");
        Self {
            sender: Some(sender),
            worker: Some(worker),
            stats,
        }
    }

    /// Queues `row` (the champion's schema width) to be scored by `deadline`.
    pub fn submit(&self, row: Vec<f32>, deadline: Instant) -> Result<PendingScore, BatchError> {
        if Instant::now() >= deadline {
            self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
            return Err(BatchError::Timeout);
        }
        let (reply, receiver) = mpsc::sync_channel(1);
        let sender = self.sender.as_ref().ok_or(BatchError::Closed)?;
        sender
            .send(Request {
                row,
                deadline,
                reply,
            })
            .map_err(|_| BatchError::Closed)?;
        Ok(PendingScore {
            deadline,
            reply: receiver,
        })
    }

    /// Scores one row, blocking until the score or the deadline.
    pub fn score(&self, row: Vec<f32>, deadline: Instant) -> Result<f32, BatchError> {
        self.submit(row, deadline)?.wait()
    }

    pub fn stats(&self) -> &BatcherStats {
        &self.stats
    }
}

impl Drop for MicroBatcher {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn run(
    slot: &ModelSlot,
    receiver: Receiver<Request>,
    max_batch: usize,
    max_wait: Duration,
    stats: &BatcherStats,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(max_batch);
    let mut rows: Vec<f32> = Vec::new();
    let mut scores: Vec<f32> = Vec::with_capacity(max_batch);
    while let Ok(first) = receiver.recv() {
        let mut cut = (Instant::now() + max_wait).min(first.deadline);
        batch.push(first);
        while batch.len() < max_batch {
            match receiver.recv_timeout(cut.saturating_duration_since(Instant::now())) {
                Ok(request) => {
                    cut = cut.min(request.deadline);
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        let model = slot.current();
        let width = model.manifest().schema.width();
        let now = Instant::now();
        rows.clear();
        let mut live = Vec::with_capacity(batch.len());
        for request in batch.drain(..) {
            if now >= request.deadline {
                stats.timeouts.fetch_add(1, Ordering::Relaxed);
                let _ = request.reply.send(Err(BatchError::Timeout));
            } else if request.row.len() != width {
                let _ = request.reply.send(Err(BatchError::Score(ScoreError::Shape {
                    rows: request.row.len(),
                    out: 1,
                    width,
                })));
            } else {
                rows.extend_from_slice(&request.row);
                live.push(request);
            }
        }
        if live.is_empty() {
            continue;
        }
        scores.clear();
        scores.resize(live.len(), 0.0);
        let result = model.score_batch(&rows, &mut scores);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        let done = Instant::now();
        for (request, &score) in live.into_iter().zip(&scores) {
            let reply = match &result {
                Err(e) => Err(BatchError::Score(e.clone())),
                Ok(()) if done > request.deadline => {
                    stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    Err(BatchError::Timeout)
                }
                Ok(()) => {
                    stats.scored.fetch_add(1, Ordering::Relaxed);
                    Ok(score)
                }
            };
            let _ = request.reply.send(reply);
        }
    }
}
