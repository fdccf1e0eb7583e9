//! One partition's worker: batches, decides, produces, checkpoints.
//!
//! ```text
//! loop:
//!   wait for a message (or a tick, or stop)
//!   fill the batch until batch-size or batch-wait
//!   decode   ─(bad)─► DLQ record (original bytes, reason in headers)
//!   pipeline ─► decisions ─► producer (idempotent), delivery futures kept in order
//!     (a home with remote fields: requests out, then on with the next batches;
//!      each batch decided, in order, once its answers are in: worker/join.rs)
//!   every checkpoint-interval, and on stop:
//!       await the previous checkpoint's write
//!       ─► encode state + next offset into one batch (the worker's share)
//!       ─► beside the worker: await every delivery made before that
//!          offset, then write the batch on a blocking thread
//!       ─► once it lands: commit the offset
//! ```
//!
//! Only the encoding stops the partition. A checkpoint becomes durable only
//! once every decision and DLQ record before its offset is acknowledged, but
//! the partition does not wait for the acknowledgements (a broker round
//! trip) nor for RocksDB's write of the batch (about half of a checkpoint):
//! both run beside it, one checkpoint at a time. The offset is committed to
//! the group only after its batch has landed, and a failed write fails the
//! worker, so the partition reopens from the last checkpoint that landed.
//!
//! If a delivery fails after librdkafka's own retries, its checkpoint is
//! never written and the worker fails: everything after the last checkpoint
//! will be re-processed by the next run, from the same state, into the same
//! decisions.
//!
//! Errors act by whose fault they are ([`StageError::remedy`]): a message
//! that does not decode is the user's, and goes to the DLQ (`dlq.rs`); an
//! external error while preparing a checkpoint changed nothing and is
//! retried with a doubling backoff, a bounded number of times; an internal
//! error, a failed checkpoint write (whose batch is gone) and retries used up
//! fail the partition loudly, and the engine stops with the error.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};

use anyhow::Context;

use super::changelog::{self, ChangelogWriter};
use super::checkpointing::{beside, staggered};
use super::deps::WorkerDeps;
use super::dlq::DeadLetter;
use super::handle::{Routed, StopSignal, WorkerHandle};
use super::rekey::{HomeHop, Joining, OwnerHop, unit_parts};
use super::restore::{RESUME_TICKS, restore};
use crate::contract::decode::{DecodeConfig, TimeCheck, decode};
use crate::contract::dlq::Rejection;
use crate::feature_log::Rows;
use crate::metrics::Metrics;
use crate::pipeline::{
    Batch, CheckpointShape, CheckpointWrites, DecisionClock, DecisionEmitter, Pipeline,
    PreparedCheckpoints, Remedy, StageError,
};
use crate::rekey::{Request, Unit};

mod join;

/// Starts the worker of `partition` on a thread of its own, with a
/// single-threaded runtime for its awaits (the channel from the router,
/// timers, deliveries, the checkpoint write): the pipeline's work never runs
/// on, or waits for, the runtime that routes messages and serves the admin
/// API, nor another partition's.
pub fn spawn(partition: i32, deps: WorkerDeps) -> WorkerHandle {
    let (tx, rx) = mpsc::channel(deps.config.engine.partition_buffer);
    let stop = StopSignal::new();
    let (done_tx, done) = std::sync::mpsc::channel();
    let stop_w = Arc::clone(&stop);
    let on_thread = deps.clone();
    let started = std::thread::Builder::new()
        .name(format!("partition-{partition}"))
        .spawn(move || {
            let deps = on_thread;
            deps.status.restoring(partition);
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| {
                    rt.block_on(async {
                        // Opening restores the partition's state from the
                        // changelog if the store lacks it, then reads it.
                        let w = Worker::open(partition, deps.clone(), rx, stop_w).await?;
                        deps.status.running(partition, w.checkpointed);
                        w.run().await
                    })
                });
            if let Err(e) = result {
                report_failure(partition, &deps, e);
            }
            let _ = done_tx.send(());
        });
    if let Err(e) = started {
        report_failure(
            partition,
            &deps,
            anyhow::anyhow!("starting the thread of partition {partition}: {e}"),
        );
    }
    WorkerHandle::new(tx, stop, done)
}

/// Marks the partition failed and wakes the router, which stops the engine
/// with the first failure.
fn report_failure(partition: i32, deps: &WorkerDeps, e: anyhow::Error) {
    let error = format!("{e:#}");
    tracing::error!(partition, %error, "partition worker failed");
    deps.status.failed(partition, &error);
    deps.failure.lock().expect("failure lock").get_or_insert(e);
    deps.fail_notify.notify_one();
}

/// Awaits one delivery; a failure after librdkafka's retries is counted.
async fn delivered(fut: DeliveryFuture, metrics: &Metrics) -> Result<(), String> {
    match fut.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => {
            metrics.kafka_errors.with_label_values(&["delivery"]).inc();
            Err(format!("delivery failed after retries: {e}"))
        }
        Err(_) => Err("the producer dropped a delivery".into()),
    }
}

/// A checkpoint's batches on their way to the store: on a thread of their
/// own ([`beside`]), the deliveries before its offset are awaited, the
/// changelog copy sent and acknowledged, then the batches written.
struct Writing {
    next: i64,
    started: Instant,
    /// Which stages have a batch in the write, to fail them all if its
    /// thread dies.
    shape: CheckpointShape,
    /// The outcome, and the changelog's writer, which the write borrowed.
    done: oneshot::Receiver<(CheckpointWrites, Option<ChangelogWriter>)>,
}

/// Resolves when the checkpoint being written (if any) has landed or failed.
async fn written(writing: &mut Option<Writing>) -> (CheckpointWrites, Option<ChangelogWriter>) {
    match writing {
        Some(w) => match (&mut w.done).await {
            Ok(result) => result,
            Err(_) => (w.shape.failed("checkpoint writer: its thread died"), None),
        },
        None => std::future::pending().await,
    }
}

/// Attempts at preparing a checkpoint when it fails with an external error,
/// and the backoff before the first retry (doubled for each next one).
const CHECKPOINT_ATTEMPTS: u32 = 4;
const CHECKPOINT_BACKOFF: Duration = Duration::from_millis(100);

/// What a join leaves of the earliest deadline: the model's own margin
/// (`DECIDE_MARGIN` in `pipeline/score.rs`) and its call.
const JOIN_MARGIN: Duration = Duration::from_millis(20);

struct Worker {
    /// The unit's id: its state partition, and its name in the status.
    partition: i32,
    unit: Unit,
    /// The topic the unit consumes: the input, or a request topic.
    topic: String,
    /// A home's side of the re-keying hop, when it has remote fields.
    hop: Option<HomeHop>,
    /// Its batches waiting for answers, oldest first (`worker/join.rs`),
    /// and emptied batches to reuse.
    joining: VecDeque<Joining>,
    spare: Vec<Batch>,
    /// A key owner's side.
    owner: Option<OwnerHop>,
    deps: WorkerDeps,
    rx: mpsc::Receiver<Routed>,
    stop: Arc<StopSignal>,
    pipeline: Pipeline,
    batch: Batch,
    emitter: DecisionEmitter,
    decode: DecodeConfig,
    /// Offsets below this are covered by the checkpoint: already decided.
    resume_from: Option<i64>,
    /// Next offset after the last processed message.
    next_offset: Option<i64>,
    /// The last message was delivered again (logged once per run of them).
    redelivered: bool,
    checkpointed: Option<i64>,
    /// The checkpoint whose batch is being written.
    writing: Option<Writing>,
    /// Copies each checkpoint to the changelog topic (`state.changelog`).
    changelog: Option<ChangelogWriter>,
    /// Resumes still to repeat after a paused restore ([`RESUME_TICKS`]).
    resumes_left: u32,
    inflight: VecDeque<DeliveryFuture>,
    /// Encoded decisions of the current batch, keyed by transaction id.
    outbox: Vec<(String, Vec<u8>)>,
    last_checkpoint: Instant,
    max_event_time: i64,
    last_event_at: Instant,
}

impl Worker {
    async fn open(
        partition: i32,
        deps: WorkerDeps,
        rx: mpsc::Receiver<Routed>,
        stop: Arc<StopSignal>,
    ) -> anyhow::Result<Self> {
        let unit = Unit::from_id(partition);
        let kafka = &deps.config.kafka;
        let (topic, changelog_topic, scope) = unit_parts(unit, kafka, &deps.plan);
        let (changelog, paused) = match deps.config.state.changelog {
            true => {
                let (writer, paused) = restore(unit, (&topic, changelog_topic), &deps).await?;
                (Some(writer), paused)
            }
            false => (None, false),
        };
        let mut pipeline = deps.dataflow.scoped_pipeline(partition, scope)?;
        let metrics = Arc::clone(&deps.dataflow.metrics);
        let (mut hop, mut owner) = (None, None);
        match unit {
            Unit::Home(p) => {
                pipeline.score.bound_by_deadlines(partition)?;
                if let Some(router) = deps.answers.clone() {
                    let answers = tokio::task::spawn_blocking(move || router.register(p))
                        .await?
                        .with_context(|| format!("reading the answers of partition {p}"))?;
                    hop = Some(HomeHop::new(kafka, p, &deps.plan, answers, metrics));
                }
            }
            Unit::Owner { field, .. } => {
                owner = Some(OwnerHop::open(field, pipeline.features.state(), metrics)?);
            }
        }
        let resume_from = pipeline.features.checkpointed_offset();
        tracing::info!(partition, %unit, checkpoint = ?resume_from, "partition worker started");
        let batch = Batch {
            budget: Duration::from_millis(deps.config.engine.sla_ms),
            ..Batch::default()
        };
        let decode = deps.config.decode_config(true);
        Ok(Worker {
            partition,
            unit,
            topic,
            hop,
            joining: VecDeque::new(),
            spare: Vec::new(),
            owner,
            rx,
            stop,
            pipeline,
            batch,
            emitter: DecisionEmitter::new(),
            decode,
            resume_from,
            next_offset: None,
            redelivered: false,
            checkpointed: resume_from,
            writing: None,
            changelog,
            resumes_left: if paused { RESUME_TICKS } else { 0 },
            inflight: VecDeque::new(),
            outbox: Vec::new(),
            last_checkpoint: staggered(partition, deps.config.engine.checkpoint_interval_ms),
            max_event_time: i64::MIN,
            last_event_at: Instant::now(),
            deps,
        })
    }

    async fn run(mut self) -> anyhow::Result<()> {
        let engine = self.deps.config.engine.clone();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending: Vec<Routed> = Vec::with_capacity(engine.batch_size);
        // A key owner answers with what has come in: its batch wait would be
        // paid by every joining home.
        let batch_wait = match self.owner {
            Some(_) => Duration::ZERO,
            None => Duration::from_millis(engine.batch_wait_ms),
        };
        loop {
            if self.stop.is_raised() {
                break;
            }
            // Under steady traffic the biased select below always finds a
            // message first: notice a landed write here, so its offset is
            // committed and its entities can be evicted without waiting
            // for the next checkpoint (a write whose thread died is found
            // there).
            if self.writing.as_ref().is_some_and(|w| !w.done.is_empty()) {
                self.land().await?;
            }
            let join_limit = self.join_limit();
            tokio::select! {
                biased;
                _ = self.stop.raised() => break,
                answer = join::next_answer(&mut self.hop), if join_limit.is_some() => {
                    self.fill_answer(answer);
                    self.finish_joins().await?;
                }
                _ = tokio::time::sleep_until(join_limit.unwrap_or_else(tokio::time::Instant::now)),
                    if join_limit.is_some() => self.finish_joins().await?,
                msg = self.rx.recv(), if self.joining.len() < join::MAX_JOINING => {
                    let Some(first) = msg else { break };
                    pending.push(first);
                    let until = tokio::time::Instant::now() + batch_wait;
                    while pending.len() < engine.batch_size {
                        match self.rx.try_recv() {
                            Ok(m) => pending.push(m),
                            Err(mpsc::error::TryRecvError::Empty) => {
                                match tokio::time::timeout_at(until, self.rx.recv()).await {
                                    Ok(Some(m)) => pending.push(m),
                                    _ => break,
                                }
                            }
                            Err(mpsc::error::TryRecvError::Disconnected) => break,
                        }
                    }
                    self.process(&mut pending).await?;
                }
                _ = tick.tick() => self.on_tick(),
                result = written(&mut self.writing) => self.landed(result)?,
            }
            if self.last_checkpoint.elapsed()
                >= Duration::from_millis(engine.checkpoint_interval_ms)
            {
                self.drain_joins().await?;
                self.checkpoint().await?;
            }
        }
        self.drain_joins().await?;
        self.checkpoint().await?;
        self.land().await?;
        self.commit_final().await;
        if let (Some(router), Unit::Home(p)) = (&self.deps.answers, self.unit) {
            router.unregister(p);
        }
        tracing::info!(partition = self.partition, next_offset = ?self.next_offset, "partition worker stopped at a checkpoint");
        Ok(())
    }

    /// The last checkpoint's offset, committed synchronously: the group
    /// knows where this owner stopped before the partition moves. (The
    /// checkpoint stays the source of truth; a failed commit only makes the
    /// next owner skip a little more.)
    async fn commit_final(&self) {
        let Some(next) = self.checkpointed else {
            return;
        };
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(&self.topic, self.unit.partition(), Offset::Offset(next))
            .is_err()
        {
            return;
        }
        let consumer = Arc::clone(&self.deps.consumer);
        let committed =
            tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync)).await;
        if !matches!(committed, Ok(Ok(()))) {
            self.deps
                .dataflow
                .metrics
                .kafka_errors
                .with_label_values(&["commit"])
                .inc();
            tracing::warn!(partition = self.partition, "final offset commit failed");
        }
    }

    fn on_tick(&mut self) {
        if self.resumes_left > 0 {
            self.resumes_left -= 1;
            let mut own = TopicPartitionList::new();
            own.add_partition(&self.topic, self.unit.partition());
            if let Err(e) = self.deps.consumer.resume(&own) {
                tracing::warn!(partition = self.partition, error = %e, "could not resume the partition after restoring");
            }
        }
        let engine = &self.deps.config.engine;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut watermark = self
            .max_event_time
            .saturating_sub(engine.allowed_lateness_ms);
        if self.last_event_at.elapsed() >= Duration::from_millis(engine.idle_partition_ms) {
            // Idle: let the watermark follow the wall clock.
            watermark = watermark.max(now_ms - engine.allowed_lateness_ms);
        }
        let published = (watermark > i64::MIN / 2).then_some(watermark);
        self.deps
            .status
            .progress(self.partition, self.next_offset, published);
        if watermark > i64::MIN / 2 {
            self.pipeline.on_watermark(watermark);
            let lag = (now_ms - watermark).max(0) / 1000;
            self.deps
                .dataflow
                .metrics
                .watermark_lag
                .with_label_values(&[&self.partition.to_string()])
                .set(lag);
        }
        self.pipeline.on_timer();
        let stats = self.pipeline.features.state().stats();
        let p = self.partition.to_string();
        self.deps
            .dataflow
            .metrics
            .state_keys
            .with_label_values(&[&p])
            .set(stats.hot_entries as i64);
        self.deps
            .dataflow
            .metrics
            .state_size
            .with_label_values(&[&p])
            .set(stats.hot_bytes as i64);
    }

    async fn process(&mut self, pending: &mut Vec<Routed>) -> anyhow::Result<()> {
        if self.owner.is_some() {
            return self.answer(pending).await;
        }
        let metrics = Arc::clone(&self.deps.dataflow.metrics);
        let now_ms = chrono::Utc::now().timestamp_millis();
        if let TimeCheck::Clock { now_ms: n, .. } = &mut self.decode.time {
            *n = now_ms;
        }
        self.batch.clear();
        for m in pending.drain(..) {
            if self.already_processed(m.offset) {
                continue;
            }
            metrics.events_consumed.inc();
            self.next_offset = Some(m.offset + 1);
            let payload = m.payload.as_deref().unwrap_or_default();
            match decode(payload, &self.decode) {
                Ok(event) => {
                    self.max_event_time = self.max_event_time.max(event.event_time_ms);
                    self.batch
                        .push(event, m.offset, m.arrival + self.batch.budget);
                }
                Err(rejection) => self.dead_letter(&m, payload, &rejection).await?,
            }
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        self.last_event_at = Instant::now();
        metrics.batch_size.observe(self.batch.len() as f64);
        self.pipeline.features(&mut self.batch);
        if self.hop.is_some() {
            return self.start_join().await;
        }
        self.pipeline.decide(&mut self.batch);
        let batch = std::mem::take(&mut self.batch);
        let emitted = self.emit(&batch).await;
        self.batch = batch;
        emitted
    }

    /// Sends a decided batch's decisions (and its feature log rows).
    async fn emit(&mut self, batch: &Batch) -> anyhow::Result<()> {
        let metrics = Arc::clone(&self.deps.dataflow.metrics);
        let cfg = Arc::clone(&self.deps.config);
        let model = self.pipeline.score.model_label.clone();
        let outbox = &mut self.outbox;
        outbox.clear();
        self.emitter.emit(
            batch,
            DecisionClock::Wall,
            model.as_deref(),
            &metrics,
            |event, _, json| {
                outbox.push((event.transaction_id().to_owned(), json.to_vec()));
            },
        );
        if let Some(sink) = &self.deps.dataflow.feature_sink {
            sink.send(Rows::of(batch, model.as_deref()));
        }
        let mut outbox = std::mem::take(&mut self.outbox);
        for (id, json) in &outbox {
            let record = FutureRecord::<str, [u8]>::to(&cfg.kafka.output_topic)
                .key(id.as_str())
                .payload(json);
            self.send(record).await?;
        }
        // Handed to the producer: now the admin API may show them.
        self.deps.decisions.insert_batch(outbox.drain(..));
        self.outbox = outbox;
        Ok(())
    }

    /// Whether the message at `offset` is in the state already: covered by
    /// the checkpoint the worker opened at, or processed since. A consumer
    /// that delivers an offset again (a fetch restarted from an earlier
    /// position) must not count its event twice; that is logged.
    fn already_processed(&mut self, offset: i64) -> bool {
        if let Some(next) = self.next_offset
            && offset < next
        {
            if !self.redelivered {
                tracing::warn!(
                    partition = self.partition,
                    offset,
                    next,
                    "the consumer delivered offsets this worker has processed; skipped"
                );
            }
            self.redelivered = true;
            return true;
        }
        self.redelivered = false;
        self.resume_from.is_some_and(|r| offset < r)
    }

    /// A key owner's batch: each request's event applied to the field's
    /// features (once, see `Ledger`), and the answers sent to their homes.
    async fn answer(&mut self, pending: &mut Vec<Routed>) -> anyhow::Result<()> {
        let metrics = Arc::clone(&self.deps.dataflow.metrics);
        let mut requests = Vec::with_capacity(pending.len());
        for m in pending.drain(..) {
            if self.already_processed(m.offset) {
                continue;
            }
            self.next_offset = Some(m.offset + 1);
            let Some(r) = m.payload.as_deref().and_then(Request::decode) else {
                let undecodable = metrics.rekey.requests.with_label_values(&["undecodable"]);
                undecodable.inc();
                tracing::warn!(unit = %self.unit, offset = m.offset, "an undecodable re-keying request; skipped");
                continue;
            };
            self.max_event_time = self.max_event_time.max(r.event_time_ms());
            requests.push(r);
        }
        if requests.is_empty() {
            return Ok(());
        }
        self.last_event_at = Instant::now();
        let rules = self.deps.dataflow.rules.load_full();
        let owner = self.owner.as_mut().expect("an owner's worker");
        let replies = owner.answer(requests, &mut self.pipeline.features, &rules);
        let topic = crate::rekey::answer_topic(&self.deps.config.kafka.group_id);
        for reply in replies {
            // A home on this instance gets its answer without a trip.
            let answer = match &self.deps.answers {
                Some(router) => match router.hand_over(reply.home, reply.answer) {
                    Ok(()) => continue,
                    Err(answer) => answer,
                },
                None => reply.answer,
            };
            let payload = answer.encode();
            let record = FutureRecord::<str, [u8]>::to(&topic)
                .partition(reply.home)
                .key(reply.user.as_str())
                .payload(&payload);
            self.send(record).await?;
        }
        Ok(())
    }

    /// Sends a message that failed decoding to the DLQ topic (a user error:
    /// the partition goes on).
    async fn dead_letter(
        &mut self,
        m: &Routed,
        payload: &[u8],
        rejection: &Rejection,
    ) -> anyhow::Result<()> {
        let metrics = &self.deps.dataflow.metrics;
        metrics
            .dlq
            .with_label_values(&[rejection.reason.code()])
            .inc();
        let cfg = Arc::clone(&self.deps.config);
        let mut letter = DeadLetter::new(
            rejection,
            payload,
            &cfg.kafka.input_topic,
            self.partition,
            m.offset,
        );
        self.send(letter.record(&cfg.kafka.dlq_topic, m.key.as_deref()))
            .await
    }

    /// Enqueues a record; when the producer queue is full, waits for the
    /// oldest delivery (backpressure) and tries again.
    async fn send<K: rdkafka::message::ToBytes + ?Sized>(
        &mut self,
        mut record: FutureRecord<'_, K, [u8]>,
    ) -> anyhow::Result<()> {
        loop {
            match self.deps.producer.send_result(record) {
                Ok(fut) => {
                    self.inflight.push_back(fut);
                    return Ok(());
                }
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) => {
                    record = r;
                    match self.inflight.pop_front() {
                        Some(fut) => self.settle(fut).await?,
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
                Err((e, _)) => {
                    self.deps
                        .dataflow
                        .metrics
                        .kafka_errors
                        .with_label_values(&["produce"])
                        .inc();
                    anyhow::bail!("producing to Kafka: {e}");
                }
            }
        }
    }

    async fn settle(&mut self, fut: DeliveryFuture) -> anyhow::Result<()> {
        delivered(fut, &self.deps.dataflow.metrics)
            .await
            .map_err(anyhow::Error::msg)
    }

    /// Waits for the previous checkpoint's write, encodes state and offset
    /// into one batch, and hands it, with the deliveries it must wait for,
    /// to a task beside the worker; [`Self::landed`] commits the offset once
    /// it lands.
    async fn checkpoint(&mut self) -> anyhow::Result<()> {
        self.last_checkpoint = Instant::now();
        self.land().await?;
        let Some(next) = self.next_offset else {
            return Ok(());
        };
        if self.checkpointed == Some(next) {
            return Ok(());
        }
        let started = Instant::now();
        let mut prepared = self.prepare_checkpoint(next).await?;
        self.deps
            .dataflow
            .metrics
            .checkpoint_duration
            .with_label_values(&["encode"])
            .observe(started.elapsed().as_secs_f64());
        let shape = prepared.shape();
        let deliveries: Vec<DeliveryFuture> = self.inflight.drain(..).collect();
        let metrics = Arc::clone(&self.deps.dataflow.metrics);
        let failed = shape.clone();
        // The writer travels with the write and comes back when it lands
        // (one checkpoint is written at a time).
        let mut writer = self.changelog.take();
        let done = beside(self.partition, async move {
            for delivery in deliveries {
                if let Err(error) = delivered(delivery, &metrics).await {
                    return (failed.failed(&error), writer);
                }
            }
            // Only now the copy: a restore that applies it resumes after
            // these decisions, which are out by then.
            if let Some(w) = &mut writer {
                let at = match w.send(prepared.changes()).await {
                    Ok(copy) => copy.acknowledged(&metrics).await,
                    Err(e) => Err(format!("{e:#}")),
                };
                match at {
                    Ok(at) => prepared.note_changelog(&changelog::position_value(w.topic(), at)),
                    Err(error) => return (failed.failed(&error), writer),
                }
            }
            (prepared.write(), writer)
        });
        self.writing = Some(Writing {
            next,
            started: Instant::now(),
            shape,
            done,
        });
        Ok(())
    }

    /// Every stage's half of the checkpoint, acting on the error's tag: an
    /// external error (a store read of the sweep) changed nothing, so it is
    /// retried with backoff a few times; anything else fails the partition.
    /// (A user error at a checkpoint names no message to dead-letter.)
    async fn prepare_checkpoint(&mut self, next: i64) -> anyhow::Result<PreparedCheckpoints> {
        let (mut attempt, mut backoff) = (1, CHECKPOINT_BACKOFF);
        loop {
            if let Some(owner) = &self.owner {
                owner.stage_ledger(self.pipeline.features.state_mut());
            }
            let e = match self.pipeline.prepare_checkpoint(next) {
                Ok(prepared) => return Ok(prepared),
                Err(e) => e,
            };
            if e.remedy() != Remedy::Retry || attempt >= CHECKPOINT_ATTEMPTS {
                return Err(self.checkpoint_failed(e));
            }
            tracing::warn!(partition = self.partition, attempt, error = %e, "checkpoint failed; retrying");
            tokio::time::sleep(backoff).await;
            (attempt, backoff) = (attempt + 1, backoff * 2);
        }
    }

    fn checkpoint_failed(&self, e: StageError) -> anyhow::Error {
        anyhow::anyhow!("checkpoint of partition {}: {e}", self.partition)
    }

    /// Waits for the checkpoint being written, if any, and records it.
    async fn land(&mut self) -> anyhow::Result<()> {
        if self.writing.is_none() {
            return Ok(());
        }
        let result = written(&mut self.writing).await;
        self.landed(result)
    }

    /// The checkpoint being written landed (or failed): records it and
    /// commits its offset to the group.
    ///
    /// A failed write cannot be retried here, whatever its tag: the batch is
    /// gone and the state, ahead of the store, refuses further checkpoints.
    /// The partition fails; its next owner resumes from the last checkpoint
    /// that landed and re-decides the rest identically.
    fn landed(
        &mut self,
        (result, writer): (CheckpointWrites, Option<ChangelogWriter>),
    ) -> anyhow::Result<()> {
        let Some(w) = self.writing.take() else {
            return Ok(());
        };
        if writer.is_some() {
            self.changelog = writer;
        }
        self.pipeline
            .finish_checkpoint(result)
            .map_err(|e| self.checkpoint_failed(e))?;
        let next = w.next;
        self.checkpointed = Some(next);
        self.deps.status.checkpointed(self.partition, next);
        let metrics = &self.deps.dataflow.metrics;
        metrics.checkpoints.inc();
        metrics
            .checkpoint_duration
            .with_label_values(&["write"])
            .observe(w.started.elapsed().as_secs_f64());
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, self.unit.partition(), Offset::Offset(next))?;
        if let Err(e) = self.deps.consumer.commit(&tpl, CommitMode::Async) {
            // The checkpoint is the source of truth; a failed commit only means
            // a later owner re-reads (and skips) a little more.
            metrics.kafka_errors.with_label_values(&["commit"]).inc();
            tracing::warn!(partition = self.partition, error = %e, "offset commit failed");
        }
        Ok(())
    }
}
