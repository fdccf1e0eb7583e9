//! Dead-letter production: the Kafka record for a message that failed
//! decoding. Its payload is the original bytes with anything that looks like
//! a card number redacted; headers carry the reason code, the detail, the
//! origin (topic, partition, offset) and, when known, the field.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

use crate::contract::dlq::Rejection;
use crate::contract::pan;

/// A rejected message, ready to produce to the DLQ topic.
pub struct DeadLetter {
    payload: Vec<u8>,
    headers: Option<OwnedHeaders>,
}

impl DeadLetter {
    /// The dead letter of the message at `partition`/`offset` of `topic`.
    pub fn new(
        rejection: &Rejection,
        original: &[u8],
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> DeadLetter {
        let partition = partition.to_string();
        let offset = offset.to_string();
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: "verdict.dlq.reason",
                value: Some(rejection.reason.code()),
            })
            .insert(Header {
                key: "verdict.dlq.detail",
                value: Some(rejection.detail.as_str()),
            })
            .insert(Header {
                key: "verdict.dlq.topic",
                value: Some(topic),
            })
            .insert(Header {
                key: "verdict.dlq.partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "verdict.dlq.offset",
                value: Some(offset.as_str()),
            });
        if let Some(field) = rejection.field {
            headers = headers.insert(Header {
                key: "verdict.dlq.field",
                value: Some(field),
            });
        }
        DeadLetter {
            payload: pan::redact(original).into_owned(),
            headers: Some(headers),
        }
    }

    /// The record to produce to `dlq_topic`, keyed as the original was.
    /// Takes the headers: call once.
    pub fn record<'a>(
        &'a mut self,
        dlq_topic: &'a str,
        key: Option<&'a [u8]>,
    ) -> FutureRecord<'a, [u8], [u8]> {
        let mut record = FutureRecord::<[u8], [u8]>::to(dlq_topic).payload(&self.payload);
        if let Some(headers) = self.headers.take() {
            record = record.headers(headers);
        }
        if let Some(k) = key {
            record = record.key(k);
        }
        record
    }
}
