//! A home's joins in flight. A batch's requests go out as soon as its home
//! features are in, and the worker goes on with the next batches while the
//! key owners answer: each batch's wait overlaps the next ones' instead of
//! delaying them. Batches are decided in input order, each once every
//! answer is in or its limit has passed.
//!
//! The state is then ahead of the decisions that are out, by the batches
//! still joining, so a checkpoint first lets every join end
//! ([`Worker::drain_joins`]): what a checkpoint covers is decided.

use rdkafka::producer::FutureRecord;

use super::{JOIN_MARGIN, Worker};
use crate::kafka::rekey::HomeHop;
use crate::pipeline::Batch;
use crate::rekey::Answer;

/// Batches a home keeps waiting for answers at once: the next batch forms
/// and sends its requests while the previous one waits. Past that,
/// messages wait in the partition's channel until the oldest batch is
/// decided, so under load batches grow rather than multiply (more batches
/// in flight cost CPU per event and gained nothing measurable: see the
/// README, "Features across partitions").
pub(super) const MAX_JOINING: usize = 2;

/// The next answer to one of the home's requests (never, without a hop).
pub(super) async fn next_answer(hop: &mut Option<HomeHop>) -> Answer {
    match hop {
        Some(hop) => hop.next_answer().await,
        None => std::future::pending().await,
    }
}

impl Worker {
    /// Sends the requests of the current batch, whose home features are
    /// in, and queues it for their answers (a batch without any is decided
    /// in its turn).
    pub(super) async fn start_join(&mut self) -> anyhow::Result<()> {
        let budget = self.batch.budget;
        let next = self.spare.pop().unwrap_or_else(|| Batch {
            budget,
            ..Batch::default()
        });
        let batch = std::mem::replace(&mut self.batch, next);
        let until = batch
            .deadlines
            .iter()
            .min()
            .and_then(|d| d.checked_sub(JOIN_MARGIN))
            .map_or_else(tokio::time::Instant::now, tokio::time::Instant::from_std);
        let floor = self.checkpointed.unwrap_or(0);
        let hop = self.hop.as_mut().expect("a home with remote fields");
        let (joining, requests) = hop.start(batch, floor, until);
        self.joining.push_back(joining);
        for r in &requests {
            let record = FutureRecord::<str, [u8]>::to(&r.topic)
                .key(r.key.as_str())
                .payload(&r.payload);
            self.send(record).await?;
        }
        self.finish_joins().await
    }

    /// Fills an answer into the batch waiting for it.
    pub(super) fn fill_answer(&mut self, answer: Answer) {
        if let Some(hop) = &self.hop {
            hop.fill(self.joining.iter_mut(), answer);
        }
    }

    /// When the oldest batch's join gives up, if a batch is joining.
    pub(super) fn join_limit(&self) -> Option<tokio::time::Instant> {
        self.joining.front().map(|j| j.until)
    }

    /// Decides the oldest batches whose joins are over: every answer in,
    /// or their limit passed (the answers missing then make their events
    /// `degraded`).
    pub(super) async fn finish_joins(&mut self) -> anyhow::Result<()> {
        let now = tokio::time::Instant::now();
        while self
            .joining
            .front()
            .is_some_and(|j| j.complete() || j.until <= now)
        {
            let joining = self.joining.pop_front().expect("checked above");
            let hop = self.hop.as_ref().expect("a joining batch has a hop");
            let (mut batch, _) = hop.finish(joining);
            self.pipeline.decide(&mut batch);
            let emitted = self.emit(&batch).await;
            self.spare.push(batch);
            emitted?;
        }
        Ok(())
    }

    /// Lets every join end: before a checkpoint, and at stop.
    pub(super) async fn drain_joins(&mut self) -> anyhow::Result<()> {
        while let Some(until) = self.join_limit() {
            tokio::select! {
                biased;
                answer = next_answer(&mut self.hop) => self.fill_answer(answer),
                _ = tokio::time::sleep_until(until) => {}
            }
            self.finish_joins().await?;
        }
        Ok(())
    }
}
