//! The re-keying hop on Kafka (what it computes is in `crate::rekey`): its
//! internal topics, the home side (requests out, answers joined until the
//! deadline) and the answer router every home of an instance shares.
//!
//! Topics, all with the input's partition count and named after the
//! application: `<group-id>.by.<field>` (requests, keyed by the field's
//! value, so each value has one owner), `<group-id>.features` (answers,
//! sent to the home's partition and keyed by the user), and
//! `<group-id>.by.<field>.changelog` (each owner's state, like the homes').
//! Requests and answers are needed for seconds: both are kept a day.
//!
//! The answers of home partition p are read by whichever instance owns input
//! partition p, outside the group: when a home opens, the router assigns
//! itself `features/p` at its end, before the home sends a request, so every
//! answer to it is read; the home's own channel gets them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use verdict_rules::Field;
use verdict_rules::input::Transaction;

use super::client::{FETCH_WAIT, Role, client_config};
use crate::config::KafkaConfig;
use crate::metrics::Metrics;
use crate::pipeline::{Batch, FeatureStage};
use crate::rekey::{
    Answer, Forwarded, Ledger, RekeyPlan, Request, Scope, Seen, Unit, answer_topic, columns,
    request_topic,
};
use verdict_rules::RuleSet;
use verdict_state::PartitionState;

/// How long requests and answers are kept.
const RETENTION_MS: &str = "86400000";

/// The fetch wait of the engine's consumers while the hop runs (the
/// group's consumer and the answer reader), unless `kafka.properties` or
/// `kafka.consumer-properties` set one. A joined decision waits for three
/// fetches (its event's, its requests', its answers') instead of one, and
/// a broker that holds a fetch until this expires (tansu, librdkafka's
/// mock cluster) adds up to twice the wait to each. An idle consumer then
/// sends up to a thousand fetches a second; a Kafka broker answers a fetch
/// when data arrives, so there it costs only those requests.
const HOP_FETCH_WAIT_MS: &str = "1";

/// Every internal topic the hop needs: `(name, compacted)`.
pub fn topics(kafka: &KafkaConfig, plan: &RekeyPlan) -> Vec<(String, bool)> {
    let mut topics = Vec::new();
    if plan.is_empty() {
        return topics;
    }
    topics.push((answer_topic(&kafka.group_id), false));
    for &field in plan.remote() {
        let requests = request_topic(&kafka.group_id, field);
        topics.push((owner_changelog(&requests), true));
        topics.push((requests, false));
    }
    topics
}

/// What a unit consumes, where its state's changelog goes, and whose
/// features its state keeps.
pub fn unit_parts(unit: Unit, kafka: &KafkaConfig, plan: &RekeyPlan) -> (String, String, Scope) {
    match unit {
        Unit::Home(_) => (
            kafka.input_topic.clone(),
            super::changelog::topic(kafka),
            match plan.is_empty() {
                true => Scope::All,
                false => Scope::Home(plan.remote().to_vec()),
            },
        ),
        Unit::Owner { field, .. } => {
            let topic = request_topic(&kafka.group_id, field);
            let changelog = owner_changelog(&topic);
            (topic, changelog, Scope::Owner(field))
        }
    }
}

/// The changelog topic of the owners of a request topic.
pub fn owner_changelog(request_topic: &str) -> String {
    format!("{request_topic}.changelog")
}

/// The settings of a topic the hop creates.
pub fn topic_settings(compacted: bool) -> &'static [(&'static str, &'static str)] {
    match compacted {
        true => &super::changelog::COMPACTED,
        false => &[("cleanup.policy", "delete"), ("retention.ms", RETENTION_MS)],
    }
}

/// Creates every internal topic of the hop that does not exist yet.
pub async fn ensure_topics(kafka: &KafkaConfig, plan: &RekeyPlan) -> anyhow::Result<()> {
    for (topic, compacted) in topics(kafka, plan) {
        super::changelog::ensure_internal_topic(kafka, &topic, topic_settings(compacted)).await?;
    }
    Ok(())
}

/// The key of `field` in `txn` as the state stores it (numbers in their
/// shortest form): what requests are keyed and partitioned by.
fn key_text(txn: &dyn Transaction, field: Field) -> Option<String> {
    if let Some(s) = txn.text(field) {
        return Some(s.to_owned());
    }
    txn.number(field)
        .filter(|v| !v.is_nan())
        .map(|v| format!("{v}"))
}

/// One request to send: its topic, its key, its bytes.
pub struct Outgoing {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
}

/// A home partition's side of the hop.
pub struct HomeHop {
    partition: i32,
    fields: Vec<Field>,
    topics: Vec<String>,
    /// For each field, its features' row positions, for the rule set of
    /// `columns_version`.
    columns: Arc<[Vec<usize>]>,
    columns_version: String,
    answers: mpsc::UnboundedReceiver<Answer>,
    metrics: Arc<Metrics>,
}

/// What a join got.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Joined {
    pub answered: usize,
    /// Answers that did not come in time or could not be used.
    pub missing: usize,
}

/// A batch whose home features are in and whose requests are out, waiting
/// for their answers. A home keeps several in flight, in input order (see
/// the worker's `joining`): each batch's wait overlaps the next ones'.
pub struct Joining {
    pub batch: Batch,
    /// (offset, field index) → the event's row in the batch.
    pending: HashMap<(i64, usize), usize>,
    /// Each remote field's feature columns, for the rule set the batch
    /// was begun with (a reload may change the home's before the answers
    /// come).
    columns: Arc<[Vec<usize>]>,
    /// When the join gives up on the answers still missing (the batch's
    /// earliest deadline, less the margin its decision needs).
    pub until: tokio::time::Instant,
    started: std::time::Instant,
    joined: Joined,
}

impl Joining {
    /// Every answer is in.
    pub fn complete(&self) -> bool {
        self.pending.is_empty()
    }
}

impl HomeHop {
    pub fn new(
        kafka: &KafkaConfig,
        partition: i32,
        plan: &RekeyPlan,
        answers: mpsc::UnboundedReceiver<Answer>,
        metrics: Arc<Metrics>,
    ) -> HomeHop {
        HomeHop {
            partition,
            fields: plan.remote().to_vec(),
            topics: plan
                .remote()
                .iter()
                .map(|&f| request_topic(&kafka.group_id, f))
                .collect(),
            columns: Arc::from([]),
            columns_version: String::new(),
            answers,
            metrics,
        }
    }

    /// Starts the join of a batch whose home features are in: its
    /// requests, one per event and remote field the event has a key for,
    /// for the caller to send. `floor` is the home's last checkpoint.
    pub fn start(
        &mut self,
        batch: Batch,
        floor: i64,
        until: tokio::time::Instant,
    ) -> (Joining, Vec<Outgoing>) {
        let rules = batch.rules.as_ref().expect("batch begun");
        if self.columns_version != rules.version() {
            self.columns = self
                .fields
                .iter()
                .map(|&f| columns(rules.features(), f))
                .collect();
            self.columns_version = rules.version().to_owned();
        }
        let mut pending = HashMap::new();
        let mut out = Vec::new();
        for (i, event) in batch.events.iter().enumerate() {
            // The same request goes to every remote field's owner: encoded once.
            let mut payload = None;
            for (fi, &field) in self.fields.iter().enumerate() {
                let Some(key) = key_text(event, field) else {
                    continue; // no key: its features are NaN, as in replay
                };
                let payload = payload.get_or_insert_with(|| {
                    Request {
                        home: self.partition,
                        offset: batch.offsets[i],
                        floor,
                        event: Forwarded::capture(event),
                    }
                    .encode()
                });
                pending.insert((batch.offsets[i], fi), i);
                out.push(Outgoing {
                    topic: self.topics[fi].clone(),
                    key,
                    payload: payload.clone(),
                });
            }
        }
        let joining = Joining {
            batch,
            pending,
            columns: Arc::clone(&self.columns),
            until,
            started: std::time::Instant::now(),
            joined: Joined::default(),
        };
        (joining, out)
    }

    /// The next answer to any of this home's requests. Never ready once
    /// the router has stopped: the joins then end at their limits.
    pub async fn next_answer(&mut self) -> Answer {
        match self.answers.recv().await {
            Some(answer) => answer,
            None => std::future::pending().await,
        }
    }

    /// Fills `answer` into the batch of `joining` that waits for it, if
    /// any: an answer no batch waits for (late after its join gave up, or
    /// a duplicate) is dropped.
    pub fn fill<'a>(&self, joining: impl IntoIterator<Item = &'a mut Joining>, answer: Answer) {
        let Some(fi) = self.fields.iter().position(|&f| f == answer.field) else {
            return;
        };
        let Some((j, i)) = joining
            .into_iter()
            .find_map(|j| j.pending.remove(&(answer.offset, fi)).map(|i| (j, i)))
        else {
            return;
        };
        let columns = &j.columns[fi];
        let batch = &mut j.batch;
        let rules = batch.rules.as_ref().expect("batch begun");
        let usable = answer.transaction_id == batch.events[i].transaction_id()
            && answer.rules_version == rules.version();
        match answer.values.filter(|v| usable && v.len() == columns.len()) {
            Some(values) => {
                let width = batch.width;
                let row = &mut batch.features[i * width..(i + 1) * width];
                for (&c, v) in columns.iter().zip(values) {
                    row[c] = v;
                }
                j.joined.answered += 1;
            }
            None => {
                batch.incomplete[i] = true;
                j.joined.missing += 1;
            }
        }
    }

    /// Ends a join: an event with an answer still missing is marked
    /// incomplete (decided on what is known, `degraded`). Returns the
    /// batch, ready to decide, and what the join got.
    pub fn finish(&self, joining: Joining) -> (Batch, Joined) {
        let Joining {
            mut batch,
            mut pending,
            started,
            mut joined,
            ..
        } = joining;
        for (_, i) in pending.drain() {
            batch.incomplete[i] = true;
            joined.missing += 1;
        }
        let rekey = &self.metrics.rekey;
        rekey.join.observe(started.elapsed().as_secs_f64());
        rekey
            .answers
            .with_label_values(&["joined"])
            .inc_by(joined.answered as u64);
        rekey
            .answers
            .with_label_values(&["missing"])
            .inc_by(joined.missing as u64);
        (batch, joined)
    }
}

/// The group consumer's settings: the engine's, with the hop's fetch wait
/// when the hop runs ([`HOP_FETCH_WAIT_MS`]).
pub fn group_consumer_config(kafka: &KafkaConfig, plan: &RekeyPlan) -> ClientConfig {
    let mut config = client_config(kafka, Role::Consumer);
    if !plan.is_empty() {
        hop_fetch_wait(kafka, &mut config);
    }
    config
}

/// The answer reader's client settings: the engine's consumer, outside the
/// group, with the hop's fetch wait.
fn reader_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = client_config(kafka, Role::Consumer);
    config
        .set("group.id", format!("{}.features-reader", kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .remove("group.instance.id");
    hop_fetch_wait(kafka, &mut config);
    config
}

/// [`HOP_FETCH_WAIT_MS`] on `config`, unless the configuration sets a wait.
fn hop_fetch_wait(kafka: &KafkaConfig, config: &mut ClientConfig) {
    let configured = [&kafka.properties, &kafka.consumer_properties]
        .iter()
        .any(|props| props.contains_key(FETCH_WAIT));
    if !configured {
        config.set(FETCH_WAIT, HOP_FETCH_WAIT_MS);
    }
}

/// Reads `<group-id>.features` for the homes of this instance and hands each
/// answer to its home: one consumer, outside the group, shared by every
/// home worker (the map is the one thing they share).
pub struct AnswerRouter {
    consumer: StreamConsumer,
    topic: String,
    routes: DashMap<i32, mpsc::UnboundedSender<Answer>>,
    metrics: Arc<Metrics>,
}

impl AnswerRouter {
    pub fn new(kafka: &KafkaConfig, metrics: Arc<Metrics>) -> anyhow::Result<Arc<AnswerRouter>> {
        Ok(Arc::new(AnswerRouter {
            consumer: reader_config(kafka).create()?,
            topic: answer_topic(&kafka.group_id),
            routes: DashMap::new(),
            metrics,
        }))
    }

    /// Starts reading the answers of home `partition` at the end of its
    /// partition (blocking: a metadata round trip); its channel gets every
    /// answer appended from now on.
    pub fn register(&self, partition: i32) -> anyhow::Result<mpsc::UnboundedReceiver<Answer>> {
        let (_, high) =
            self.consumer
                .fetch_watermarks(&self.topic, partition, Duration::from_secs(10))?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes.insert(partition, tx);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(high))?;
        self.consumer.incremental_assign(&tpl)?;
        Ok(rx)
    }

    /// Stops reading home `partition`'s answers.
    pub fn unregister(&self, partition: i32) {
        self.routes.remove(&partition);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        if let Err(e) = self.consumer.incremental_unassign(&tpl) {
            tracing::warn!(partition, error = %e, "could not stop reading the partition's answers");
        }
    }

    /// Hands an owner's answer straight to `home` when that home partition
    /// runs on this instance, instead of sending it through
    /// `<group-id>.features`. Nothing else would read that copy: a home
    /// reads the topic from where it was when it registered, and one that
    /// opens again (here or elsewhere) sends its requests again. Gives the
    /// answer back when the home is not here (or has just closed), for the
    /// caller to send.
    pub fn hand_over(&self, home: i32, answer: Answer) -> Result<(), Answer> {
        let route = self.routes.get(&home).ok_or_else(|| answer.clone())?;
        route.send(answer).map_err(|returned| returned.0)?;
        self.metrics
            .rekey
            .answers
            .with_label_values(&["handed-over"])
            .inc();
        Ok(())
    }

    /// Routes answers until the engine stops.
    pub async fn run(self: Arc<Self>) {
        loop {
            match self.consumer.recv().await {
                Ok(m) => {
                    let Some(answer) = m.payload().and_then(Answer::decode) else {
                        self.metrics
                            .rekey
                            .answers
                            .with_label_values(&["undecodable"])
                            .inc();
                        continue;
                    };
                    if let Some(route) = self.routes.get(&m.partition()) {
                        let _ = route.send(answer);
                    }
                }
                Err(e) => {
                    self.metrics
                        .kafka_errors
                        .with_label_values(&["consume"])
                        .inc();
                    tracing::warn!(error = %e, "answer consume error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// One answer to send: to the home's partition, keyed by the user.
pub struct Reply {
    pub home: i32,
    pub user: String,
    pub answer: Answer,
}

/// A key owner's side of the hop: applies each new request's event to the
/// field's features and answers with their values; a re-sent request gets
/// the answer its first sending got ([`Ledger`]).
pub struct OwnerHop {
    field: Field,
    columns: Vec<usize>,
    version: String,
    ledger: Ledger,
    rows: Vec<f64>,
    metrics: Arc<Metrics>,
}

impl OwnerHop {
    /// The owner of `field`'s keys in the partition whose state is `state`,
    /// resuming with the ledger its last checkpoint wrote.
    pub fn open(
        field: Field,
        state: &PartitionState,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<OwnerHop> {
        let ledger = match state.meta()? {
            Some(bytes) => Ledger::decode(&bytes).ok_or_else(|| {
                anyhow::anyhow!(
                    "partition {}: a corrupt re-keying ledger",
                    state.partition()
                )
            })?,
            None => Ledger::default(),
        };
        Ok(OwnerHop {
            field,
            columns: Vec::new(),
            version: String::new(),
            ledger,
            rows: Vec::new(),
            metrics,
        })
    }

    /// The answers to `requests`, in their order.
    pub fn answer(
        &mut self,
        requests: Vec<Request>,
        features: &mut FeatureStage,
        rules: &Arc<RuleSet>,
    ) -> Vec<Reply> {
        features.sync_rules(rules);
        if self.version != rules.version() {
            self.columns = columns(rules.features(), self.field);
            self.version = rules.version().to_owned();
        }
        let count = |outcome: &str, n: usize| {
            self.metrics
                .rekey
                .requests
                .with_label_values(&[outcome])
                .inc_by(n as u64);
        };
        // What each request gets: a new event's row, or an earlier answer.
        enum Source {
            Row(usize),
            Known(Vec<f64>),
            Forgotten,
        }
        let mut fresh: Vec<Forwarded> = Vec::new();
        let mut first: HashMap<(i32, i64), usize> = HashMap::new();
        let mut plan = Vec::with_capacity(requests.len());
        let mut heads = Vec::with_capacity(requests.len());
        for r in requests {
            let source = match first.get(&(r.home, r.offset)) {
                Some(&row) => Source::Row(row),
                None => match self.ledger.check(&r) {
                    Seen::New => {
                        first.insert((r.home, r.offset), fresh.len());
                        Source::Row(fresh.len())
                    }
                    Seen::Answered(v) => Source::Known(v.to_vec()),
                    Seen::Forgotten => Source::Forgotten,
                },
            };
            let user = r.event.text(Field::UserId).unwrap_or_default().to_owned();
            let txn = r
                .event
                .text(Field::TransactionId)
                .unwrap_or_default()
                .to_owned();
            heads.push((r.home, r.offset, user, txn));
            if matches!(source, Source::Row(row) if row == fresh.len()) {
                fresh.push(r.event);
            }
            plan.push(source);
        }
        let width = rules.features().len();
        self.rows.clear();
        self.rows.resize(fresh.len() * width, f64::NAN);
        features
            .state_mut()
            .process_batch(&fresh, &mut self.rows, width);
        let value_of = |row: usize| -> Vec<f64> {
            self.columns
                .iter()
                .map(|&c| self.rows[row * width + c])
                .collect()
        };
        let mut replies = Vec::with_capacity(plan.len());
        let (mut new, mut resent, mut forgotten) = (0, 0, 0);
        for (source, (home, offset, user, txn)) in plan.into_iter().zip(heads) {
            let values = match source {
                Source::Row(row) => {
                    let values = value_of(row);
                    if first.remove(&(home, offset)).is_some() {
                        self.ledger.record(home, offset, values.clone());
                        new += 1;
                    } else {
                        resent += 1;
                    }
                    Some(values)
                }
                Source::Known(values) => {
                    resent += 1;
                    Some(values)
                }
                Source::Forgotten => {
                    forgotten += 1;
                    None
                }
            };
            let answer = Answer {
                field: self.field,
                offset,
                transaction_id: txn,
                rules_version: self.version.clone(),
                values,
            };
            replies.push(Reply { home, user, answer });
        }
        count("new", new);
        count("resent", resent);
        count("forgotten", forgotten);
        replies
    }

    /// Puts the ledger into the next checkpoint of the owner's state.
    pub fn stage_ledger(&self, state: &mut PartitionState) {
        state.set_meta(self.ledger.encode());
    }
}

#[cfg(test)]
#[path = "rekey_tests.rs"]
mod tests;
