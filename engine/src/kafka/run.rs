//! The engine's main loop: consume, route to partition workers, shut down
//! cleanly.
//!
//! Failure semantics: a partition worker that fails (an internal error, or
//! an external one whose retries are used up) records itself as failed in
//! the [`EngineStatus`] (`/healthz` turns 503) and wakes the router, which
//! stops the other workers at a checkpoint and returns the error, so the
//! process exits non-zero and its orchestrator restarts it: no zombie that
//! holds partitions without consuming them. A signal is the other way out
//! ([`EngineRun::run_until`]): stop consuming, let every worker finish its
//! batch, checkpoint and commit, leave the group, within a grace period.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, Producer};
use tokio::sync::{Notify, watch};

use super::changelog;
use super::client::{Role, client_config};
use super::clock;
use super::context::{EngineContext, Workers};
use super::deps::WorkerDeps;
use super::handle::Routed;
use super::rekey::{self, AnswerRouter};
use super::worker;
use crate::config::Config;
use crate::dataflow::Dataflow;
use crate::recent::RecentDecisions;
use crate::rekey::{RekeyPlan, request_topic};
use crate::status::EngineStatus;
use verdict_rules::Field;

/// A running engine: ask it to stop, then await the result.
pub struct EngineRun {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    status: Arc<EngineStatus>,
    decisions: Arc<RecentDecisions>,
}

impl EngineRun {
    /// Stops consuming, lets every worker checkpoint, and returns the outcome.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await?
    }

    /// Waits until the engine stops by itself (a worker failure).
    pub async fn join(self) -> anyhow::Result<()> {
        self.task.await?
    }

    /// Runs until `signal` resolves, then stops within `grace`; or until the
    /// engine stops by itself, with its error. Past the grace the engine is
    /// abandoned with an error (the next owner of its partitions resumes
    /// from their last checkpoints).
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()>,
        grace: Duration,
    ) -> anyhow::Result<()> {
        let EngineRun { stop, mut task, .. } = self;
        tokio::select! {
            outcome = &mut task => outcome?,
            () = signal => {
                tracing::info!(grace_ms = grace.as_millis() as u64, "stopping: finishing in-flight batches, checkpointing, committing");
                let _ = stop.send(true);
                match tokio::time::timeout(grace, &mut task).await {
                    Ok(outcome) => outcome?,
                    Err(_) => {
                        task.abort();
                        anyhow::bail!("the engine did not stop within engine.shutdown-grace-ms ({} ms)", grace.as_millis())
                    }
                }
            }
        }
    }

    /// Partitions, readiness and health, for the admin API.
    pub fn status(&self) -> Arc<EngineStatus> {
        Arc::clone(&self.status)
    }

    /// The recent decisions the admin API looks up.
    pub fn decisions(&self) -> Arc<RecentDecisions> {
        Arc::clone(&self.decisions)
    }
}

/// Starts the engine on the current tokio runtime.
pub fn run_engine(config: Arc<Config>, dataflow: Dataflow) -> anyhow::Result<EngineRun> {
    let workers: Workers = Arc::new(Mutex::new(HashMap::new()));
    let status = Arc::new(EngineStatus::new(Arc::clone(&dataflow.metrics)));
    let decisions = Arc::new(RecentDecisions::new(config.admin.recent_decisions));
    let (plan, request_topics, answers) = hop(&config, &dataflow)?;
    let context = EngineContext {
        workers: Arc::clone(&workers),
        metrics: Arc::clone(&dataflow.metrics),
        status: Arc::clone(&status),
        input_topic: config.kafka.input_topic.clone(),
        request_topics: request_topics.clone(),
    };
    let consumer: Arc<StreamConsumer<EngineContext>> =
        Arc::new(rekey::group_consumer_config(&config.kafka, &plan).create_with_context(context)?);
    let producer: FutureProducer = client_config(&config.kafka, Role::Producer).create()?;
    let fencing = if config.state.changelog_transactions {
        changelog::Fencing::Transactions
    } else {
        changelog::Fencing::Off(changelog::shared_producer(&config.kafka)?)
    };
    let (stop, mut stop_rx) = watch::channel(false);
    let deps = WorkerDeps {
        dataflow,
        config: Arc::clone(&config),
        consumer: Arc::clone(&consumer),
        producer,
        changelog: fencing,
        failure: Arc::new(std::sync::Mutex::new(None)),
        fail_notify: Arc::new(Notify::new()),
        status: Arc::clone(&status),
        decisions: Arc::clone(&decisions),
        plan,
        answers,
    };
    let deadline_clock = config.engine.deadline_clock;
    let task = tokio::spawn(async move {
        let metrics = Arc::clone(&deps.dataflow.metrics);
        if deps.config.state.changelog {
            changelog::ensure_topic(&deps.config.kafka).await?;
        }
        let routing = start_hop(&deps).await?;
        // Only a warm instance joins the group: its first decisions pay for
        // nothing the later ones do not.
        warm_up(&deps).await;
        let mut subscribed = vec![deps.config.kafka.input_topic.as_str()];
        subscribed.extend(request_topics.iter().map(|(t, _)| t.as_str()));
        consumer.subscribe(&subscribed)?;
        loop {
            tokio::select! {
                biased;
                _ = stop_rx.changed() => break,
                _ = deps.fail_notify.notified() => break,
                _ = deps.status.assignment_changed.notified() => {
                    let mut map = workers.lock().expect("workers lock");
                    for partition in deps.status.assignment() {
                        map.entry(partition).or_insert_with(|| worker::spawn(partition, deps.clone()));
                    }
                }
                msg = consumer.recv() => match msg {
                    Ok(m) => {
                        let arrival = clock::started_at(
                            deadline_clock,
                            m.timestamp(),
                            Instant::now(),
                            chrono::Utc::now().timestamp_millis(),
                        );
                        let routed = Routed {
                            offset: m.offset(),
                            key: m.key().map(<[u8]>::to_vec),
                            payload: m.payload().map(<[u8]>::to_vec),
                            arrival,
                        };
                        let Some(unit) = consumer.context().unit(m.topic(), m.partition()) else {
                            continue;
                        };
                        let partition = unit.id();
                        drop(m);
                        let tx = {
                            let mut map = workers.lock().expect("workers lock");
                            map.entry(partition).or_insert_with(|| worker::spawn(partition, deps.clone())).tx.clone()
                        };
                        // Bounded: a busy worker makes the router wait (backpressure).
                        if tx.send(routed).await.is_err() {
                            workers.lock().expect("workers lock").remove(&partition);
                        }
                    }
                    Err(e) => {
                        metrics.kafka_errors.with_label_values(&["consume"]).inc();
                        tracing::warn!(error = %e, "consume error");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
            }
        }
        let handles: Vec<_> = workers
            .lock()
            .expect("workers lock")
            .drain()
            .map(|(_, h)| h)
            .collect();
        for h in handles {
            h.stopped().await;
        }
        consumer.unsubscribe();
        if let Some(routing) = routing {
            routing.abort();
        }
        let failure = deps.failure.lock().expect("failure lock").take();
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    });
    Ok(EngineRun {
        stop,
        task,
        status,
        decisions,
    })
}

/// The re-keying hop's parts: which fields hop, their request topics, and
/// the router of answers when there is any.
#[allow(clippy::type_complexity)]
fn hop(
    config: &Config,
    dataflow: &Dataflow,
) -> anyhow::Result<(RekeyPlan, Vec<(String, Field)>, Option<Arc<AnswerRouter>>)> {
    let plan = dataflow.rekey_plan(&config.engine);
    let topics = plan
        .remote()
        .iter()
        .map(|&f| (request_topic(&config.kafka.group_id, f), f))
        .collect();
    let answers = match plan.is_empty() {
        true => None,
        false => Some(AnswerRouter::new(
            &config.kafka,
            Arc::clone(&dataflow.metrics),
        )?),
    };
    Ok((plan, topics, answers))
}

/// Creates the hop's topics and starts routing its answers.
async fn start_hop(deps: &WorkerDeps) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    rekey::ensure_topics(&deps.config.kafka, &deps.plan).await?;
    if !deps.plan.is_empty() {
        let fields: Vec<&str> = deps.plan.remote().iter().map(|f| f.name()).collect();
        tracing::info!(
            ?fields,
            "features by these fields are kept by their key's owner (re-keyed)"
        );
    }
    Ok(deps
        .answers
        .clone()
        .map(|router| tokio::spawn(router.run())))
}

/// Readies, before the group hands this instance a partition, what its first
/// decisions would otherwise pay for: the producer's connection and its
/// metadata for the output and dead-letter topics (a first send to a topic
/// the producer does not know waits for a metadata round trip), and each
/// model's first calls (allocations, thread pools), at one row and at a full
/// batch. Nothing here is required: a failure is logged and the engine
/// starts anyway, only its first decisions slower.
async fn warm_up(deps: &WorkerDeps) {
    let producer = deps.producer.clone();
    let topics = [
        deps.config.kafka.output_topic.clone(),
        deps.config.kafka.dlq_topic.clone(),
    ];
    let models = deps.dataflow.models.clone();
    let batch = deps.config.engine.batch_size.max(1);
    let started = Instant::now();
    let warming = tokio::task::spawn_blocking(move || {
        for topic in &topics {
            if let Err(e) = producer
                .client()
                .fetch_metadata(Some(topic.as_str()), Duration::from_secs(5))
            {
                tracing::warn!(%topic, error = %e, "warm-up: no metadata for the topic yet");
            }
        }
        let slots = [models.champion(), models.challenger()];
        for model in slots.into_iter().flatten() {
            let width = model.scorer.manifest().schema.width();
            for rows in [1, batch] {
                let input = vec![0.0; rows * width];
                let mut out = vec![0.0; rows];
                if let Err(e) = model.scorer.score_batch(&input, &mut out) {
                    tracing::warn!(model = %model.label, error = %e, "warm-up: the model failed");
                }
            }
        }
    });
    if let Err(e) = warming.await {
        tracing::warn!(error = %e, "warm-up did not finish");
    }
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "warmed up; joining the consumer group"
    );
}
