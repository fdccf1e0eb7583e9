//! librdkafka client settings: what the engine manages for each role, then
//! the pass-through properties from the configuration.
//!
//! The defaults are chosen for latency, because every decision has a 70–80 ms
//! budget from the moment its record reached the broker:
//! - `fetch.wait.max.ms` 5 (librdkafka: 500). A broker may hold a fetch until
//!   this expires even when data is there (tansu and librdkafka's mock
//!   cluster do), which at the default alone would break the SLA; a real
//!   Kafka broker answers as soon as data arrives, so the only cost is more
//!   empty fetches while the topic is idle. While the re-keying hop runs,
//!   the group's consumer and the answer reader wait 1 ms
//!   (`HOP_FETCH_WAIT_MS` in `rekey.rs`): a joined decision waits for two
//!   fetches more.
//! - `fetch.queue.backoff.ms` 10 (1000): after the local fetch queue was
//!   full (the engine behind), fetching resumes within 10 ms, not a second.
//! - `socket.nagle.disable` on both roles: small requests leave at once.
//! - producer `linger.ms` 1: decisions are batched for at most a millisecond.
//!
//! Group membership: partitions move between instances with the
//! `cooperative-sticky` assignor, so a rebalance revokes only the
//! partitions that move and the others keep deciding. With
//! `kafka.group-instance-id` set (static membership), the session timeout
//! is 30 s instead of 6 s: a restarted instance that is back within it gets
//! its own partitions again at once, with no rebalance at all.
//!
//! Any of them can be overridden in `[kafka.properties]`,
//! `[kafka.consumer-properties]` or `[kafka.producer-properties]`.

use rdkafka::ClientConfig;

/// The librdkafka property that bounds how long a broker may hold a fetch.
pub const FETCH_WAIT: &str = "fetch.wait.max.ms";

use crate::config::KafkaConfig;

/// Builds a client config: engine-managed settings, then pass-through
/// properties (TLS, SASL, tuning) from the configuration.
pub fn client_config(k: &KafkaConfig, role: Role) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers);
    match role {
        Role::Consumer => {
            c.set("group.id", &k.group_id)
                .set("partition.assignment.strategy", "cooperative-sticky")
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("auto.offset.reset", "earliest")
                .set("session.timeout.ms", "6000")
                .set("statistics.interval.ms", "1000")
                .set("queued.max.messages.kbytes", "16384")
                .set(FETCH_WAIT, "5")
                .set("fetch.queue.backoff.ms", "10")
                .set("socket.nagle.disable", "true");
            if let Some(id) = &k.group_instance_id {
                c.set("group.instance.id", id)
                    .set("session.timeout.ms", "30000");
            }
        }
        Role::Producer => {
            c.set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "1")
                .set("message.timeout.ms", "30000")
                .set("socket.nagle.disable", "true");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_defaults_apply_and_configured_properties_override_them() {
        let mut k = KafkaConfig::default();
        let consumer = client_config(&k, Role::Consumer);
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("5"));
        assert_eq!(consumer.get("socket.nagle.disable"), Some("true"));
        let producer = client_config(&k, Role::Producer);
        assert_eq!(producer.get("linger.ms"), Some("1"));
        assert_eq!(producer.get("fetch.wait.max.ms"), None);
        assert_eq!(
            consumer.get("partition.assignment.strategy"),
            Some("cooperative-sticky")
        );
        assert_eq!(consumer.get("group.instance.id"), None);
        assert_eq!(consumer.get("session.timeout.ms"), Some("6000"));
        k.group_instance_id = Some("verdict-0".into());
        let consumer = client_config(&k, Role::Consumer);
        assert_eq!(consumer.get("group.instance.id"), Some("verdict-0"));
        assert_eq!(consumer.get("session.timeout.ms"), Some("30000"));

        k.properties
            .insert("socket.nagle.disable".into(), "false".into());
        k.consumer_properties
            .insert("fetch.wait.max.ms".into(), "50".into());
        k.producer_properties.insert("linger.ms".into(), "5".into());
        let consumer = client_config(&k, Role::Consumer);
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("50"));
        assert_eq!(consumer.get("socket.nagle.disable"), Some("false"));
        assert_eq!(
            client_config(&k, Role::Producer).get("linger.ms"),
            Some("5")
        );
    }
}
