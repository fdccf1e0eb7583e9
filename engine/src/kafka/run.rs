//! The engine's main loop: consume, route to partition workers, shut down cleanly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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

/// A running engine: ask it to stop, then await the result.
pub struct EngineRun {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
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
}

/// Starts the engine on the current tokio runtime.
pub fn run_engine(config: Arc<Config>, dataflow: Dataflow) -> anyhow::Result<EngineRun> {
    let workers: Workers = Arc::new(Mutex::new(HashMap::new()));
    let context = EngineContext {
        workers: Arc::clone(&workers),
        metrics: Arc::clone(&dataflow.metrics),
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
    };
    let task = tokio::spawn(async move {
        let metrics = Arc::clone(&deps.dataflow.metrics);
        loop {
            tokio::select! {
                biased;
                _ = stop_rx.changed() => break,
                _ = deps.fail_notify.notified() => break,
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
    Ok(EngineRun { stop, task })
}
