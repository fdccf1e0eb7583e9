//! Dead-letter production: the Kafka record for a message that failed
//! decoding. Its payload is the original bytes with anything that looks like
//! a card number redacted; headers carry the reason code, the detail, the
//! origin (topic, partition, offset) and, when known, the field.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

use crate::contract::dlq::{DeadLetterRecord, Origin, Rejection};

/// A rejected message, ready to produce to the DLQ topic.
pub struct DeadLetter {
    payload: Vec<u8>,
    headers: Option<OwnedHeaders>,
}

impl DeadLetter {
    /// The dead letter of the message at `partition`/`offset` of `topic`:
    /// the contract's [`DeadLetterRecord`] (masked) as Kafka headers.
    pub fn new(
        rejection: &Rejection,
        original: &[u8],
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> DeadLetter {
        let origin = Origin {
            topic,
            partition,
            offset,
        };
        let record = DeadLetterRecord::new(rejection, origin, original);
        let headers = record
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value.as_str()),
                })
            });
        DeadLetter {
            payload: record.payload,
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
