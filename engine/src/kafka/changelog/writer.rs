//! A partition's writer of checkpoint copies to the changelog: its
//! producer (transactional, with the partition's own id, or the instance's
//! shared one), the records of a copy with their `verdict-checkpoint`
//! header, and the wait for their acknowledgement (see `mod.rs`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use verdict_state::keys::changelog_position_key;
use verdict_state::{StateStore, WriteBatch};

use super::copies::{Tag, position_value};
use crate::config::KafkaConfig;
use crate::kafka::client::{Role, client_config};
use crate::metrics::Metrics;

/// The header naming the checkpoint a record belongs to.
pub(super) const HEADER: &str = "verdict-checkpoint";

/// How long opening a writer (`init_transactions`) and committing a copy
/// wait for the broker before the partition fails.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A token no other opening of this partition uses: the wall clock in
/// nanoseconds, the process, the partition and a count of the openings in
/// this process, through a randomly keyed hash.
fn fresh_token(partition: i32) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static OPENINGS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(nanos);
    h.write_u32(std::process::id());
    h.write_i32(partition);
    h.write_u64(OPENINGS.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// How a changelog writer sends its copies, and so whether it keeps the
/// partition's earlier writers out.
#[derive(Clone)]
pub enum Fencing {
    /// Each copy a transaction of a producer of the writer's own, with the
    /// partition's transactional id: opening the writer fences every
    /// earlier one (see [`ChangelogWriter::open`];
    /// `state.changelog-transactions`, the default).
    Transactions,
    /// Through the instance's shared producer ([`shared_producer`]),
    /// without transactions, for brokers that have none (tansu 0.6): a
    /// zombie's copy can land after a new owner's restore.
    Off(FutureProducer),
}

/// One partition's writer of checkpoint copies.
pub struct ChangelogWriter {
    pub(super) topic: String,
    /// The changelog topic's partition.
    pub(super) partition: i32,
    /// The store partition whose state it copies (a unit id: the same as
    /// `partition` for a home, see `crate::rekey::Unit`).
    pub(super) state: i32,
    token: u64,
    seq: u64,
    producer: FutureProducer,
    /// Whether each copy is a transaction of `producer`, its own.
    pub(super) transactional: bool,
    pub(super) metrics: Arc<Metrics>,
}

/// A copy on its way to the broker: its acknowledgements in order, the
/// marker's last, and the producer whose transaction it is, if it is one.
pub struct Copy {
    deliveries: VecDeque<DeliveryFuture>,
    transaction: Option<FutureProducer>,
}

impl Copy {
    /// Waits for every record of the copy, then commits its transaction;
    /// returns the marker's offset, the store's position once the
    /// checkpoint lands. Fails if another writer has opened the partition
    /// since (the broker fenced this one out).
    pub async fn acknowledged(self, metrics: &Metrics) -> Result<i64, String> {
        let mut last = None;
        for delivery in self.deliveries {
            last = Some(delivered_at(delivery, metrics).await?);
        }
        let at = last.ok_or_else(|| "a changelog copy without records".to_string())?;
        let Some(producer) = self.transaction else {
            return Ok(at);
        };
        let committed = tokio::task::spawn_blocking(move || {
            let mut tries = 0;
            loop {
                match producer.commit_transaction(TRANSACTION_TIMEOUT) {
                    Err(KafkaError::Transaction(e)) if e.is_retriable() && tries < 3 => tries += 1,
                    done => return done,
                }
            }
        })
        .await
        .map_err(|e| format!("committing a changelog copy: {e}"))?;
        committed.map_err(|e| {
            metrics
                .kafka_errors
                .with_label_values(&["transaction"])
                .inc();
            let why = match e.rdkafka_error_code() {
                Some(RDKafkaErrorCode::UnsupportedFeature) => {
                    "the broker has no transactions: set state.changelog-transactions = false"
                }
                _ => "fenced if another instance has opened the partition since",
            };
            format!("committing a changelog copy ({why}): {e}")
        })?;
        Ok(at)
    }
}

async fn delivered_at(delivery: DeliveryFuture, metrics: &Metrics) -> Result<i64, String> {
    match delivery.await {
        Ok(Ok(d)) => Ok(d.offset),
        Ok(Err((e, _))) => {
            metrics.kafka_errors.with_label_values(&["delivery"]).inc();
            Err(format!("changelog delivery failed after retries: {e}"))
        }
        Err(_) => Err("the producer dropped a changelog delivery".into()),
    }
}

impl ChangelogWriter {
    /// Opens the writer of changelog partition `partition`, which copies
    /// store partition `state`. With [`Fencing::Transactions`] its producer
    /// is its own and transactional, with the id every writer of this
    /// partition uses, on any instance (`<topic>.<partition>`): opening it
    /// fences every earlier writer, so the broker refuses a zombie's copy
    /// (an instance that lost the partition but has not noticed) from then
    /// on, and a copy one of them left open is aborted, never read. Open it
    /// before the restore reads the partition: nothing an earlier owner
    /// sends can land after that.
    pub async fn open(
        kafka: &KafkaConfig,
        fencing: Fencing,
        (topic, partition): (String, i32),
        state: i32,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let transactional = matches!(fencing, Fencing::Transactions);
        let producer = match fencing {
            Fencing::Off(shared) => shared,
            Fencing::Transactions => {
                let producer: FutureProducer = producer_config(kafka)
                    .set("transactional.id", format!("{topic}.{partition}"))
                    .create()
                    .context("creating the changelog's producer")?;
                let p = producer.clone();
                tokio::task::spawn_blocking(move || p.init_transactions(TRANSACTION_TIMEOUT))
                    .await?
                    .inspect_err(|_| {
                        let errors = metrics.kafka_errors.with_label_values(&["transaction"]);
                        errors.inc();
                    })
                    .with_context(|| {
                        format!("opening {topic}/{partition} for writing (state.changelog-transactions needs a broker with transactions)")
                    })?;
                producer
            }
        };
        Ok(ChangelogWriter {
            topic,
            partition,
            state,
            token: fresh_token(partition),
            seq: 0,
            producer,
            transactional,
            metrics,
        })
    }

    /// The topic the copies go to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends `changes` as the copy of one checkpoint, in a transaction that
    /// [`Copy::acknowledged`] commits; the last change must be its
    /// checkpoint record. When the producer's queue is full, waits for the
    /// copy's oldest acknowledgement.
    pub async fn send<'a>(
        &mut self,
        changes: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> anyhow::Result<Copy> {
        let transaction = self.transactional.then(|| self.producer.clone());
        if let Some(p) = &transaction {
            p.begin_transaction()
                .with_context(|| format!("starting a copy to {}", self.topic))?;
        }
        self.seq += 1;
        let tag = Tag {
            token: self.token,
            seq: self.seq,
        }
        .encode();
        let mut copy = Copy {
            deliveries: VecDeque::new(),
            transaction,
        };
        let (mut records, mut bytes) = (0u64, 0u64);
        for (key, value) in changes {
            let headers = OwnedHeaders::new().insert(Header {
                key: HEADER,
                value: Some(&tag[..]),
            });
            let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
                .partition(self.partition)
                .key(key)
                .headers(headers);
            if let Some(v) = value {
                record = record.payload(v);
            }
            records += 1;
            bytes += (key.len() + value.map_or(0, <[u8]>::len)) as u64;
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        copy.deliveries.push_back(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        match copy.deliveries.pop_front() {
                            Some(oldest) => {
                                delivered_at(oldest, &self.metrics)
                                    .await
                                    .map_err(anyhow::Error::msg)?;
                            }
                            None => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                    Err((e, _)) => {
                        self.metrics
                            .kafka_errors
                            .with_label_values(&["produce"])
                            .inc();
                        anyhow::bail!("producing to {}: {e}", self.topic);
                    }
                }
            }
        }
        self.metrics.ops.changelog_records.inc_by(records);
        self.metrics.ops.changelog_bytes.inc_by(bytes);
        Ok(copy)
    }

    /// Sends `changes` and waits until they are acknowledged; then records
    /// the new position in the store.
    pub(super) async fn publish(
        &mut self,
        store: &dyn StateStore,
        changes: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> anyhow::Result<i64> {
        let copy = self
            .send(changes.iter().map(|(k, v)| (k.as_slice(), v.as_deref())))
            .await?;
        let at = copy
            .acknowledged(&self.metrics)
            .await
            .map_err(anyhow::Error::msg)?;
        let mut batch = WriteBatch::new();
        batch.put(
            changelog_position_key(self.state),
            position_value(&self.topic, at),
        );
        store.write(batch)?;
        Ok(at)
    }
}

/// The instance's changelog producer, shared by its writers when copies are
/// not transactions ([`Fencing::Off`]).
pub fn shared_producer(kafka: &KafkaConfig) -> anyhow::Result<FutureProducer> {
    producer_config(kafka)
        .create()
        .context("creating the changelog's producer")
}

/// A changelog producer: apart from the decisions' (a checkpoint sends
/// thousands of records at once, which must not delay a decision), tuned
/// for throughput: batches of up to 20 ms, lz4, a queue for the largest
/// checkpoints.
fn producer_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut c = client_config(kafka, Role::Producer);
    c.set("linger.ms", "20")
        .set("compression.type", "lz4")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000");
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_tokens_differ() {
        let tag = Tag {
            token: fresh_token(3),
            seq: 41,
        };
        assert_eq!(Tag::decode(&tag.encode()), Some(tag));
        assert_eq!(Tag::decode(&[0; 15]), None);
        assert_ne!(fresh_token(3), fresh_token(3), "two openings, two tokens");
    }
}
