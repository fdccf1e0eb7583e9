//! Re-keying: features kept per a key the input is not partitioned by.
//!
//! The input is keyed by `user_id`, so a partition sees each of its users'
//! whole history but only part of a device's, an IP's or a merchant's. A
//! feature computed `by device_id` is therefore kept where `device_id` is
//! owned (Feedzai's Railgun routes an event to each of its entities'
//! processors the same way):
//!
//! ```text
//! input p (by user) ──► home worker: user features, then for each remote key field f:
//!                          request ──► <group>.by.<f>, keyed by the event's f
//!                                        └─► owner of that key: f's features at the event
//!                          answer  ◄── <group>.features, partition p, keyed by the user
//!                       join (until the deadline) ─► derived features, score, rules
//! ```
//!
//! A field is *remote* when a declared window or previous-value feature is
//! keyed by it, re-keying is on, and the configuration does not declare it
//! co-partitioned with the input (`engine.co-partitioned`: every value of
//! the field belongs to one user, as a card does, so the user's partition
//! already sees all of its events).
//!
//! This module holds what the hop computes with, apart from Kafka: which
//! fields hop ([`RekeyPlan`]), which features each side keeps
//! ([`scoped`]), the records on the two topics ([`Request`], [`Answer`]),
//! the identity of a worker ([`Unit`]) and the key owner's ledger of what it
//! answered ([`Ledger`]), which makes a re-sent request get the answer it
//! first got instead of counting its event twice.

use std::collections::{BTreeMap, VecDeque};

use verdict_rules::input::{Field, FieldType, Transaction};
use verdict_rules::spec::{FeatureKind, FeatureSpec};

/// The key field of a keyed (window or previous-value) feature.
fn key_of(spec: &FeatureSpec) -> Option<Field> {
    match &spec.kind {
        FeatureKind::Window(w) => Some(w.key),
        FeatureKind::Previous { key, .. } => Some(*key),
        FeatureKind::History(_) | FeatureKind::Derived => None,
    }
}

/// Which key fields' features are kept by their key's owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RekeyPlan {
    remote: Vec<Field>,
}

impl RekeyPlan {
    /// The plan for `features`: every key field other than the user and the
    /// `co_partitioned` ones, in order of first use; none when `enabled` is
    /// false (each partition then counts only its own users' events).
    pub fn new(features: &[FeatureSpec], co_partitioned: &[Field], enabled: bool) -> RekeyPlan {
        let mut remote = Vec::new();
        if enabled {
            for key in features.iter().filter_map(key_of) {
                if key != Field::UserId && !co_partitioned.contains(&key) && !remote.contains(&key)
                {
                    remote.push(key);
                }
            }
        }
        RekeyPlan { remote }
    }

    /// The fields whose features hop, in a fixed order.
    pub fn remote(&self) -> &[Field] {
        &self.remote
    }

    pub fn is_empty(&self) -> bool {
        self.remote.is_empty()
    }
}

/// Whose features a partition state keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every feature (replay, backtest, and a live engine without hops).
    All,
    /// A home partition: all but the features keyed by these fields.
    Home(Vec<Field>),
    /// A key owner: only the features keyed by this field.
    Owner(Field),
}

impl Scope {
    fn keeps(&self, spec: &FeatureSpec) -> bool {
        match (self, key_of(spec)) {
            (Scope::All, _) => true,
            (Scope::Home(remote), key) => key.is_none_or(|k| !remote.contains(&k)),
            (Scope::Owner(field), key) => key == Some(*field),
        }
    }
}

/// `features` with every feature outside `scope` turned into a derived one
/// (which the state leaves alone): the feature indices, and so every row's
/// layout, stay those of the whole rule set.
pub fn scoped(features: &[FeatureSpec], scope: &Scope) -> Vec<FeatureSpec> {
    features
        .iter()
        .map(|spec| match scope.keeps(spec) {
            true => spec.clone(),
            false => FeatureSpec {
                name: spec.name.clone(),
                kind: FeatureKind::Derived,
            },
        })
        .collect()
}

/// The row positions of the features keyed by `field`, in order: what an
/// answer about `field` carries.
pub fn columns(features: &[FeatureSpec], field: Field) -> Vec<usize> {
    features
        .iter()
        .enumerate()
        .filter(|(_, spec)| key_of(spec) == Some(field))
        .map(|(i, _)| i)
        .collect()
}

/// The internal topic of requests keyed by `field`.
pub fn request_topic(group_id: &str, field: Field) -> String {
    format!("{group_id}.by.{}", field.name())
}

/// The internal topic of answers, partitioned like the input.
pub fn answer_topic(group_id: &str) -> String {
    format!("{group_id}.features")
}

/// What a worker works on: an input partition (its users' features and
/// decisions), or a partition of a request topic (the features of the keys
/// of one field that hash to it). Its [`Unit::id`] names its state in the
/// store and in the engine's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Home(i32),
    Owner { field: Field, partition: i32 },
}

/// Request-topic partitions a unit id can carry.
const OWNER_PARTITION_BITS: u32 = 20;

impl Unit {
    /// A home unit's id is its partition; a key owner's sets the field's code
    /// (plus one) above the partition's bits, so the two never meet.
    pub fn id(self) -> i32 {
        match self {
            Unit::Home(p) => p,
            Unit::Owner { field, partition } => {
                let code = Field::ALL.iter().position(|&f| f == field).unwrap_or(0) as i32;
                ((code + 1) << OWNER_PARTITION_BITS) | partition
            }
        }
    }

    pub fn from_id(id: i32) -> Unit {
        let code = id >> OWNER_PARTITION_BITS;
        match code.checked_sub(1).and_then(|c| Field::ALL.get(c as usize)) {
            Some(&field) if id >= 0 => Unit::Owner {
                field,
                partition: id & ((1 << OWNER_PARTITION_BITS) - 1),
            },
            _ => Unit::Home(id),
        }
    }

    /// The Kafka partition the unit consumes.
    pub fn partition(self) -> i32 {
        match self {
            Unit::Home(p) | Unit::Owner { partition: p, .. } => p,
        }
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unit::Home(p) => write!(f, "{p}"),
            Unit::Owner { field, partition } => write!(f, "{}/{partition}", field.name()),
        }
    }
}

/// An event as the key owner sees it: every field the home's event had
/// (a window's filter may read any of them), without its card number.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    texts: Vec<(Field, String)>,
    numbers: Vec<(Field, f64)>,
}

impl Forwarded {
    pub fn capture(txn: &dyn Transaction) -> Forwarded {
        let mut fwd = Forwarded {
            texts: Vec::new(),
            numbers: Vec::new(),
        };
        for field in Field::ALL {
            match field.field_type() {
                FieldType::Text => {
                    if let Some(v) = txn.text(field) {
                        fwd.texts.push((field, v.to_owned()));
                    }
                }
                FieldType::Number => {
                    if let Some(v) = txn.number(field) {
                        fwd.numbers.push((field, v));
                    }
                }
            }
        }
        fwd
    }
}

impl Transaction for Forwarded {
    fn text(&self, field: Field) -> Option<&str> {
        self.texts
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, field: Field) -> Option<f64> {
        self.numbers.iter().find(|(f, _)| *f == field).map(|p| p.1)
    }
}

/// A reader of the big-endian records below.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_bits(self.i64()? as u64))
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
    fn values(&mut self) -> Option<Vec<f64>> {
        (0..self.u16()?).map(|_| self.f64()).collect()
    }
    fn field(&mut self) -> Option<Field> {
        Field::ALL.get(self.u8()? as usize).copied()
    }
    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// `[n u16][n × f64 bits]`.
fn put_values(out: &mut Vec<u8>, values: &[f64]) {
    out.extend_from_slice(&(values.len() as u16).to_be_bytes());
    for v in values {
        out.extend_from_slice(&v.to_bits().to_be_bytes());
    }
}

fn field_code(field: Field) -> u8 {
    Field::ALL.iter().position(|&f| f == field).unwrap_or(0) as u8
}

const VERSION: u8 = 1;

/// A home's request for the features of one of its events' keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub home: i32,
    /// The event's input offset: its identity within the home partition.
    pub offset: i64,
    /// The home's last checkpoint: it will never ask again for an offset
    /// below it, so the owner forgets those answers.
    pub floor: i64,
    pub event: Forwarded,
}

impl Request {
    /// The event's time (ms since the epoch), or `i64::MIN` without one.
    pub fn event_time_ms(&self) -> i64 {
        self.event
            .number(Field::EventTime)
            .filter(|t| t.is_finite())
            .map_or(i64::MIN, |t| t as i64)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.push(VERSION);
        out.extend_from_slice(&self.home.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.floor.to_be_bytes());
        out.push(self.event.texts.len() as u8);
        for (field, v) in &self.event.texts {
            out.push(field_code(*field));
            put_str(&mut out, v);
        }
        out.push(self.event.numbers.len() as u8);
        for (field, v) in &self.event.numbers {
            out.push(field_code(*field));
            out.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Request> {
        let mut r = Reader(b);
        (r.u8()? == VERSION).then_some(())?;
        let (home, offset, floor) = (r.u32()? as i32, r.i64()?, r.i64()?);
        let texts = (0..r.u8()?)
            .map(|_| Some((r.field()?, r.str()?.to_owned())))
            .collect::<Option<Vec<_>>>()?;
        let numbers = (0..r.u8()?)
            .map(|_| Some((r.field()?, r.f64()?)))
            .collect::<Option<Vec<_>>>()?;
        r.end()?;
        Some(Request {
            home,
            offset,
            floor,
            event: Forwarded { texts, numbers },
        })
    }
}

/// A key owner's answer: the values of the field's features at the event
/// (in [`columns`] order), or `None` when it can no longer say (a re-sent
/// request whose first answer it has forgotten): the decision is then
/// degraded, never made on a count that includes its event twice.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub field: Field,
    pub offset: i64,
    pub transaction_id: String,
    /// The rule set the values were computed with: a home deciding with
    /// another version treats the answer as missing.
    pub rules_version: String,
    pub values: Option<Vec<f64>>,
}

impl Answer {
    pub fn encode(&self) -> Vec<u8> {
        let n = self.values.as_ref().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(48 + 8 * n + self.transaction_id.len());
        out.push(VERSION);
        out.push(field_code(self.field));
        out.extend_from_slice(&self.offset.to_be_bytes());
        put_str(&mut out, &self.transaction_id);
        put_str(&mut out, &self.rules_version);
        match &self.values {
            None => out.push(0),
            Some(values) => {
                out.push(1);
                put_values(&mut out, values);
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Answer> {
        let mut r = Reader(b);
        (r.u8()? == VERSION).then_some(())?;
        let (field, offset) = (r.field()?, r.i64()?);
        let (transaction_id, rules_version) = (r.str()?.to_owned(), r.str()?.to_owned());
        let values = match r.u8()? {
            0 => None,
            _ => Some(r.values()?),
        };
        r.end()?;
        Some(Answer {
            field,
            offset,
            transaction_id,
            rules_version,
            values,
        })
    }
}

impl Default for HomeLedger {
    fn default() -> Self {
        HomeLedger {
            applied: -1,
            floor: 0,
            answers: VecDeque::new(),
        }
    }
}

/// What the owner knows of a request it is handed.
#[derive(Debug, PartialEq)]
pub enum Seen<'a> {
    /// Not answered before: apply its event and answer.
    New,
    /// Answered before with these values: answer the same again.
    Answered(&'a [f64]),
    /// Answered before, and the answer is forgotten (below the home's floor:
    /// the home no longer waits for it).
    Forgotten,
}

/// A key owner's ledger, per home partition: the highest offset whose event
/// it applied, and the answers the home may still ask for again (from the
/// home's last checkpoint on). Written with each checkpoint of the owner's
/// state, so a restarted owner knows what it applied as of its state.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ledger {
    homes: BTreeMap<i32, HomeLedger>,
}

#[derive(Debug, Clone, PartialEq)]
struct HomeLedger {
    applied: i64,
    floor: i64,
    /// (offset, values), offsets increasing.
    answers: VecDeque<(i64, Vec<f64>)>,
}

impl Ledger {
    /// What the ledger says of `request` (and it learns the home's floor).
    pub fn check(&mut self, request: &Request) -> Seen<'_> {
        let home = self.homes.entry(request.home).or_default();
        if request.floor > home.floor {
            home.floor = request.floor;
            while home.answers.front().is_some_and(|a| a.0 < home.floor) {
                home.answers.pop_front();
            }
        }
        if request.offset > home.applied {
            return Seen::New;
        }
        let answers = &home.answers;
        match answers.binary_search_by_key(&request.offset, |a| a.0) {
            Ok(i) => Seen::Answered(&answers[i].1),
            Err(_) => Seen::Forgotten,
        }
    }

    /// Records that the event of `offset` from `home` was applied and
    /// answered with `values`.
    pub fn record(&mut self, home: i32, offset: i64, values: Vec<f64>) {
        let h = self.homes.entry(home).or_default();
        h.applied = h.applied.max(offset);
        if offset >= h.floor {
            h.answers.push_back((offset, values));
        }
    }

    /// Answers kept, over every home.
    pub fn answers(&self) -> usize {
        self.homes.values().map(|h| h.answers.len()).sum()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        out.extend_from_slice(&(self.homes.len() as u32).to_be_bytes());
        for (home, h) in &self.homes {
            out.extend_from_slice(&home.to_be_bytes());
            out.extend_from_slice(&h.applied.to_be_bytes());
            out.extend_from_slice(&h.floor.to_be_bytes());
            out.extend_from_slice(&(h.answers.len() as u32).to_be_bytes());
            for (offset, values) in &h.answers {
                out.extend_from_slice(&offset.to_be_bytes());
                put_values(&mut out, values);
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Ledger> {
        let mut r = Reader(b);
        (r.u8()? == VERSION).then_some(())?;
        let mut homes = BTreeMap::new();
        for _ in 0..r.u32()? {
            let (home, applied, floor) = (r.u32()? as i32, r.i64()?, r.i64()?);
            let answers = (0..r.u32()?)
                .map(|_| Some((r.i64()?, r.values()?)))
                .collect::<Option<VecDeque<_>>>()?;
            homes.insert(
                home,
                HomeLedger {
                    applied,
                    floor,
                    answers,
                },
            );
        }
        r.end()?;
        Some(Ledger { homes })
    }
}

#[cfg(test)]
#[path = "rekey_tests.rs"]
mod tests;
