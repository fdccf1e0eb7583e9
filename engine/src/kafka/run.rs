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
use rdkafka::producer::FutureProducer;
use tokio::sync::{Notify, watch};

use super::client::{Role, client_config};
use super::context::{EngineContext, Workers};
use super::handle::Routed;
use super::worker::{self, WorkerDeps};
use crate::config::Config;
use crate::dataflow::Dataflow;
use crate::recent::RecentDecisions;
use crate::status::EngineStatus;

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
    let context = EngineContext {
        workers: Arc::clone(&workers),
        metrics: Arc::clone(&dataflow.metrics),
        status: Arc::clone(&status),
        input_topic: config.kafka.input_topic.clone(),
    };
    let consumer: Arc<StreamConsumer<EngineContext>> =
        Arc::new(client_config(&config.kafka, Role::Consumer).create_with_context(context)?);
    consumer.subscribe(&[config.kafka.input_topic.as_str()])?;
    let producer: FutureProducer = client_config(&config.kafka, Role::Producer).create()?;
    let (stop, mut stop_rx) = watch::channel(false);
    let deps = WorkerDeps {
        dataflow,
        config: Arc::clone(&config),
        consumer: Arc::clone(&consumer),
        producer,
        failure: Arc::new(tokio::sync::Mutex::new(None)),
        fail_notify: Arc::new(Notify::new()),
        status: Arc::clone(&status),
        decisions: Arc::clone(&decisions),
    };
    let task = tokio::spawn(async move {
        let metrics = Arc::clone(&deps.dataflow.metrics);
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
                        let routed = Routed {
                            offset: m.offset(),
                            key: m.key().map(<[u8]>::to_vec),
                            payload: m.payload().map(<[u8]>::to_vec),
                            arrival: Instant::now(),
                        };
                        let partition = m.partition();
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
        match deps.failure.lock().await.take() {
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
