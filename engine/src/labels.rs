//! Fraud labels through Kafka: the `labels` topic carries one JSON record
//! per label, keyed by transaction id, as a chargeback or case-management
//! system sends them:
//!
//! ```json
//! {"transaction_id": "tx-1", "is_fraud": true, "scenario": "card_testing", "labelled_at": "2026-03-02T10:00:00Z"}
//! ```
//!
//! `labelled_at` is when the label became known (its event time; weeks
//! after the transaction for a chargeback). A later record for the same
//! transaction replaces an earlier one (a dispute reversed). [`pull`]
//! snapshots the topic into a JSON-lines file that `verdict train --labels`
//! reads; [`publish`] sends a labels file (the generator's, an export) to
//! the topic.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

/// The default topic.
pub const LABELS_TOPIC: &str = "labels";

/// One label record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRecord {
    pub transaction_id: String,
    pub is_fraud: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// RFC 3339.
    pub labelled_at: String,
}

/// What [`pull`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulled {
    pub records: u64,
    /// Distinct transactions written (the newest record of each).
    pub labels: u64,
    pub fraud: u64,
    /// Records that are not a label (each logged with its offset).
    pub malformed: u64,
}

/// Creates `topic` with `partitions` partitions (replication 1: a
/// development cluster; production creates it as its other topics) unless
/// it exists.
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&new], &opts).await? {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("creating topic {topic}: {code}"),
        }
    }
    Ok(())
}

/// Sends every label in `labels` (CSV or JSON lines, as `verdict train`
/// reads them) to `topic`, stamped `labelled_at` now. Returns how many.
pub async fn publish(brokers: &str, topic: &str, labels: &Path) -> anyhow::Result<u64> {
    let map = verdict_models::table::read_labels(labels)?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .context("creating the labels producer")?;
    let labelled_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // In id order, so a publish is reproducible.
    let sorted: BTreeMap<_, _> = map.into_iter().collect();
    let mut pending = Vec::with_capacity(sorted.len());
    for (transaction_id, label) in sorted {
        let record = LabelRecord {
            transaction_id,
            is_fraud: label.is_fraud,
            scenario: label.scenario,
            labelled_at: labelled_at.clone(),
        };
        let payload = serde_json::to_vec(&record)?;
        let delivery = producer
            .send_result(
                FutureRecord::to(topic)
                    .key(record.transaction_id.as_str())
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)
            .context("queueing a label")?;
        pending.push(delivery);
    }
    let sent = pending.len() as u64;
    for delivery in pending {
        delivery
            .await
            .context("the producer dropped a label")?
            .map_err(|(e, _)| e)
            .context("delivering a label")?;
    }
    Ok(sent)
}

/// The pull's client context: reaching a partition's end is how the pull
/// knows it is done, not an error to log.
struct EndIsNotAnError;

impl rdkafka::ClientContext for EndIsNotAnError {
    fn error(&self, error: KafkaError, reason: &str) {
        let end = matches!(
            error,
            KafkaError::PartitionEOF(_)
                | KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        );
        if !end {
            tracing::error!(%error, reason, "labels consumer");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EndIsNotAnError {}

/// Reads `topic` from its beginning to its end and writes the
/// newest label of each transaction to `output` (JSON lines, in
/// transaction-id order). Fails if the end is not reached within `limit`.
pub fn pull(brokers: &str, topic: &str, output: &Path, limit: Duration) -> anyhow::Result<Pulled> {
    let consumer: BaseConsumer<EndIsNotAnError> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "verdict-labels-pull")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        // The end is where the fetches say it is: a broker may report the
        // high watermark short (tansu answers its last batch's first
        // offset + 1), so it only tells which partitions hold anything.
        .set("enable.partition.eof", "true")
        .create_with_context(EndIsNotAnError)
        .context("creating the labels consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("metadata of topic {topic}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    anyhow::ensure!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    let mut left = std::collections::BTreeSet::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .with_context(|| format!("offsets of {topic}/{p}"))?;
        tracing::debug!(%topic, partition = p, low, high, "reading labels");
        if high > low {
            left.insert(p);
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
    }
    let mut pulled = Pulled::default();
    let mut newest: BTreeMap<String, LabelRecord> = BTreeMap::new();
    if !left.is_empty() {
        consumer.assign(&tpl)?;
    }
    let deadline = Instant::now() + limit;
    while !left.is_empty() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the end of {topic} was not reached within {limit:?} ({} partitions left)",
            left.len()
        );
        let message = match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                left.remove(&p);
                continue;
            }
            Some(message) => message.with_context(|| format!("reading {topic}"))?,
        };
        let (p, offset) = (message.partition(), message.offset());
        pulled.records += 1;
        match message.payload().map(serde_json::from_slice::<LabelRecord>) {
            Some(Ok(record)) => {
                newest.insert(record.transaction_id.clone(), record);
            }
            Some(Err(e)) => {
                pulled.malformed += 1;
                tracing::warn!(%topic, partition = p, offset, error = %e, "not a label; skipped");
            }
            None => {
                pulled.malformed += 1;
                tracing::warn!(%topic, partition = p, offset, "a record without a payload; skipped");
            }
        }
    }
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(output).with_context(|| format!("creating {}", output.display()))?,
    );
    for record in newest.values() {
        serde_json::to_writer(&mut out, record)?;
        out.write_all(b"\n")?;
        pulled.labels += 1;
        pulled.fraud += u64::from(record.is_fraud);
    }
    out.flush()?;
    Ok(pulled)
}
