//! librdkafka client settings: what the engine manages for each role, then
//! the pass-through properties from the configuration.

use rdkafka::ClientConfig;

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
