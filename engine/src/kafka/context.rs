//! The consumer's context: rebalance hooks and statistics.
//!
//! On revocation the context stops the workers of the revoked partitions and
//! waits (off the async scheduler, with `block_in_place`) until each has
//! checkpointed and committed, so a partition never has two owners and its
//! next owner starts exactly where this one stopped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;

use super::handle::WorkerHandle;
use crate::metrics::Metrics;
use crate::rekey::Unit;
use crate::status::EngineStatus;
use verdict_rules::Field;

/// Live workers by partition, shared by the router and the rebalance hook.
pub type Workers = Arc<Mutex<HashMap<i32, WorkerHandle>>>;

pub struct EngineContext {
    pub workers: Workers,
    pub metrics: Arc<Metrics>,
    pub status: Arc<EngineStatus>,
    pub input_topic: String,
    /// The re-keying hop's request topics and their fields.
    pub request_topics: Vec<(String, Field)>,
}

impl EngineContext {
    /// The unit a partition of a consumed topic is worked by.
    pub fn unit(&self, topic: &str, partition: i32) -> Option<Unit> {
        if topic == self.input_topic {
            return Some(Unit::Home(partition));
        }
        self.request_topics
            .iter()
            .find(|(t, _)| t == topic)
            .map(|&(_, field)| Unit::Owner { field, partition })
    }

    /// The ids of the units of `list`'s partitions.
    fn units(&self, list: &rdkafka::TopicPartitionList) -> Vec<i32> {
        list.elements()
            .iter()
            .filter_map(|e| self.unit(e.topic(), e.partition()))
            .map(Unit::id)
            .collect()
    }
}

impl ClientContext for EngineContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(topic) = statistics.topics.get(&self.input_topic) {
            for (id, p) in &topic.partitions {
                if *id >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[&id.to_string()])
                        .set(p.consumer_lag);
                    self.status.lag(*id, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for EngineContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let revoked = self.units(list);
        self.status.revoked(&revoked);
        let handles: Vec<(i32, WorkerHandle)> = {
            let mut workers = self.workers.lock().expect("workers lock");
            revoked
                .iter()
                .filter_map(|p| workers.remove(p).map(|h| (*p, h)))
                .collect()
        };
        if handles.is_empty() {
            return;
        }
        tracing::info!(partitions = ?revoked, "partitions revoked; checkpointing their workers");
        let wait = || {
            for (p, handle) in handles {
                if !handle.stop_and_wait(Duration::from_secs(30)) {
                    tracing::error!(
                        partition = p,
                        "worker did not checkpoint within 30 s of revocation"
                    );
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let assigned = self.units(list);
            tracing::info!(partitions = ?assigned, "partitions assigned");
            // The router opens each one's state now, not at its first message.
            self.status.assigned(&assigned);
        }
    }
}
