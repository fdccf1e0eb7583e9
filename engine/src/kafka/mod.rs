//! Kafka source and sink, and the partition-affine runtime around them.
//!
//! A Kafka partition is the unit of parallelism and of state ownership, as in
//! Kafka Streams: one worker task per assigned partition owns that partition's
//! pipeline and keyed state; the consumer task only routes messages to workers
//! through bounded channels (a slow worker blocks routing, routing stops
//! polling, librdkafka's bounded fetch queue fills, and memory stays flat).
//!
//! Delivery guarantees (see `worker.rs`):
//! - offsets are never auto-committed; a worker checkpoints its state together
//!   with the next offset only after every decision and DLQ record before that
//!   offset has been acknowledged by the broker, then commits the offset;
//! - on restart or reassignment a worker skips what its checkpoint already
//!   covers, so no event is counted twice and, because decisions are
//!   deterministic, any re-emitted decision is identical to the first one.

mod context;
mod run;
mod worker;

use rdkafka::ClientConfig;

pub use run::{EngineRun, run_engine};

use crate::config::KafkaConfig;

/// Builds a client config: engine-managed settings, then pass-through
/// properties (TLS, SASL, tuning) from the configuration.
pub fn client_config(k: &KafkaConfig, role: Role) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers);
    match role {
        Role::Consumer => {
            c.set("group.id", &k.group_id)
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("auto.offset.reset", "earliest")
                .set("session.timeout.ms", "6000")
                .set("statistics.interval.ms", "1000")
                .set("queued.max.messages.kbytes", "16384");
        }
        Role::Producer => {
            c.set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "1")
                .set("message.timeout.ms", "30000");
        }
        Role::Admin => {}
    }
    for (key, value) in &k.properties {
        c.set(key, value);
    }
    let specific = match role {
        Role::Consumer => &k.consumer_properties,
        Role::Producer => &k.producer_properties,
        Role::Admin => return c,
    };
    for (key, value) in specific {
        c.set(key, value);
    }
    c
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Consumer,
    Producer,
    Admin,
}

/// Creates the input, output and DLQ topics if they do not exist.
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
