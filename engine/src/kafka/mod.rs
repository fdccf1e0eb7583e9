//! Kafka source and sink, and the partition-affine runtime around them.
//!
//! A Kafka partition is the unit of parallelism and of state ownership, as in
//! Kafka Streams: one worker per assigned partition, on a thread of its own,
//! owns that partition's pipeline and keyed state; the consumer task (on the
//! async runtime, with the admin API) only routes messages to workers through
//! bounded channels (a slow worker blocks routing, routing stops
//! polling, librdkafka's bounded fetch queue fills, and memory stays flat).
//!
//! Files: `client.rs` (librdkafka settings per role), `run.rs` (the consumer
//! loop that routes messages), `clock.rs` (where each deadline starts),
//! `context.rs` (rebalance hooks, statistics), `checkpointing.rs` (when and
//! where a partition's checkpoints run), `deps.rs` (what every worker
//! shares), `handle.rs` (a worker's channel and stop signal, shared by the
//! router and the rebalance hook), `worker.rs` (one partition: batch,
//! decide, produce, checkpoint), `changelog/` (each checkpoint copied to a
//! compacted topic, and a partition's state restored from it), `restore.rs`
//! (a worker's store brought up to date before it starts), `rekey.rs` (the
//! re-keying hop: requests to key owners, answers joined by the home),
//! `dlq.rs` (the dead-letter record).
//!
//! Delivery guarantees (see `worker.rs`):
//! - offsets are never auto-committed; a worker checkpoints its state together
//!   with the next offset only after every decision and DLQ record before that
//!   offset has been acknowledged by the broker, then commits the offset;
//! - on restart or reassignment a worker skips what its checkpoint already
//!   covers, so no event is counted twice and, because decisions are
//!   deterministic, any re-emitted decision is identical to the first one;
//! - a checkpoint lands only once its copy in the changelog topic is
//!   acknowledged, so an instance whose disk lacks a partition's state
//!   restores it from there, to the same checkpoint.

pub mod changelog;
mod checkpointing;
mod client;
mod clock;
mod context;
mod deps;
mod dlq;
mod handle;
pub mod rekey;
mod restore;
mod run;
mod worker;

pub use changelog::topic as changelog_topic;
pub use client::{FETCH_WAIT, Role, client_config};
pub use run::{EngineRun, run_engine};

use crate::config::KafkaConfig;
use crate::rekey::RekeyPlan;

/// Every topic the engine reads or writes: input, output, dead letters, the
/// state changelog and the re-keying hop's topics for `plan` (for a mock
/// cluster, which cannot create topics through the admin API, to create up
/// front).
pub fn topics(k: &KafkaConfig, plan: &RekeyPlan) -> Vec<String> {
    let mut topics = vec![
        k.input_topic.clone(),
        k.output_topic.clone(),
        k.dlq_topic.clone(),
        changelog::topic(k),
    ];
    topics.extend(rekey::topics(k, plan).into_iter().map(|(t, _)| t));
    topics
}

/// Creates the input, output and DLQ topics if they do not exist (the
/// engine creates its changelog itself, compacted).
pub async fn ensure_topics(k: &KafkaConfig) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = client_config(k, Role::Admin).create()?;
    let topics: Vec<NewTopic> = [&k.input_topic, &k.output_topic, &k.dlq_topic]
        .into_iter()
        .map(|t| NewTopic::new(t, k.topic_partitions, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(std::time::Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &opts).await? {
        match result {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("creating topic {topic}: {code}"),
        }
    }
    Ok(())
}
