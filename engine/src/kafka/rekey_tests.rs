//! A home's joins in flight, without a broker: answers fill the batch that
//! waits for them, whichever order they come in; a join that ends with
//! answers missing marks their events incomplete; an owner hands its
//! answer to a home on its own instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use verdict_rules::{Field, RuleSet};

use super::*;
use crate::contract::{DecodeConfig, decode};

const RULES: &str = r#"
feature user_txn_1h   = count over 1h by user_id
feature device_txn_1h = count over 1h by device_id
feature ip_txn_1h     = count over 1h by ip
"#;

fn rules() -> Arc<RuleSet> {
    let source = verdict_rules::SourceFile {
        path: "test.rules".into(),
        text: RULES.into(),
    };
    match RuleSet::compile_sources(&[source]) {
        Ok(rules) => Arc::new(rules),
        Err(e) => panic!("{e:?}"),
    }
}

fn home(rules: &RuleSet) -> HomeHop {
    let (_tx, answers) = mpsc::unbounded_channel();
    home_reading(rules, answers, Arc::new(Metrics::new()))
}

/// Home partition 3, its answers from `answers`.
fn home_reading(
    rules: &RuleSet,
    answers: mpsc::UnboundedReceiver<Answer>,
    metrics: Arc<Metrics>,
) -> HomeHop {
    let plan = RekeyPlan::new(rules.features(), &[], true);
    assert_eq!(plan.remote(), &[Field::DeviceId, Field::Ip]);
    HomeHop::new(&KafkaConfig::default(), 3, &plan, answers, metrics)
}

/// A batch of one event per offset, its columns sized for `rules`.
fn batch(rules: &Arc<RuleSet>, offsets: &[i64]) -> Batch {
    let mut b = Batch::default();
    for &o in offsets {
        let json = format!(
            r#"{{"transaction_id":"tx-{o}","event_time":"2026-12-01T00:00:00Z","user_id":"u{o}","card_id":"c{o}","amount":"5.00","currency":"EUR","merchant_id":"m1","mcc":"5732","country":"FR","channel":"ecommerce","device_id":"d1","ip":"10.0.0.1"}}"#
        );
        let event = decode(json.as_bytes(), &DecodeConfig::default()).expect("a valid event");
        b.push(event, o, Instant::now() + Duration::from_secs(1));
    }
    b.begin(rules);
    b
}

fn answer(rules: &RuleSet, field: Field, offset: i64, value: f64) -> Answer {
    Answer {
        field,
        offset,
        transaction_id: format!("tx-{offset}"),
        rules_version: rules.version().to_owned(),
        values: Some(vec![value]),
    }
}

#[test]
fn answers_fill_the_batch_that_waits_for_them_with_two_joins_in_flight() {
    let rules = rules();
    let mut hop = home(&rules);
    let until = tokio::time::Instant::now() + Duration::from_secs(1);
    let (mut first, sent) = hop.start(batch(&rules, &[10, 11]), 0, until);
    // One request per event and remote field, to that field's topic.
    let to = |suffix: &str| sent.iter().filter(|r| r.topic.ends_with(suffix)).count();
    assert_eq!((to(".by.device_id"), to(".by.ip"), sent.len()), (2, 2, 4));
    let (mut second, sent) = hop.start(batch(&rules, &[12]), 0, until);
    assert_eq!(sent.len(), 2);
    // The second batch's answers may come first.
    let mut wrong = answer(&rules, Field::Ip, 12, 9.0);
    wrong.transaction_id = "another".into();
    for a in [
        answer(&rules, Field::DeviceId, 12, 7.0),
        wrong,
        answer(&rules, Field::DeviceId, 10, 1.0),
        answer(&rules, Field::Ip, 10, 2.0),
        // Nobody waits for these: an earlier batch's, and a duplicate.
        answer(&rules, Field::DeviceId, 5, 99.0),
        answer(&rules, Field::DeviceId, 10, 99.0),
        answer(&rules, Field::DeviceId, 11, 3.0),
    ] {
        hop.fill([&mut first, &mut second], a);
    }
    assert!(!first.complete());
    assert!(second.complete());
    hop.fill(
        [&mut first, &mut second],
        answer(&rules, Field::Ip, 11, 4.0),
    );
    assert!(first.complete());

    let (first, joined) = hop.finish(first);
    assert_eq!((joined.answered, joined.missing), (4, 0));
    assert_eq!(first.features_of(0)[1..], [1.0, 2.0]);
    assert_eq!(first.features_of(1)[1..], [3.0, 4.0]);
    assert_eq!(first.incomplete, [false, false]);
    let (second, joined) = hop.finish(second);
    assert_eq!((joined.answered, joined.missing), (1, 1));
    assert_eq!(second.features_of(0)[1], 7.0);
    assert!(second.features_of(0)[2].is_nan());
    assert_eq!(second.incomplete, [true]);
}

#[test]
fn a_join_that_ends_before_its_answers_marks_their_events_incomplete() {
    let rules = rules();
    let mut hop = home(&rules);
    let (mut joining, _) = hop.start(batch(&rules, &[20, 21]), 0, tokio::time::Instant::now());
    hop.fill([&mut joining], answer(&rules, Field::DeviceId, 20, 1.0));
    hop.fill([&mut joining], answer(&rules, Field::Ip, 20, 1.0));
    assert!(!joining.complete());
    let (batch, joined) = hop.finish(joining);
    assert_eq!((joined.answered, joined.missing), (2, 2));
    assert_eq!(batch.incomplete, [false, true]);
}

#[test]
fn the_hops_consumers_wait_a_millisecond_per_fetch_unless_configured() {
    let mut kafka = KafkaConfig::default();
    let hop = RekeyPlan::new(rules().features(), &[], true);
    let none = RekeyPlan::new(rules().features(), &[], false);
    assert!(!hop.is_empty() && none.is_empty());
    let reader = reader_config(&kafka);
    assert_eq!(reader.get("fetch.wait.max.ms"), Some(HOP_FETCH_WAIT_MS));
    assert_eq!(reader.get("group.instance.id"), None);
    assert!(
        reader
            .get("group.id")
            .unwrap()
            .ends_with(".features-reader")
    );
    // The group's consumer too while the hop runs; without it, the engine's.
    let group = group_consumer_config(&kafka, &hop);
    assert_eq!(group.get("fetch.wait.max.ms"), Some(HOP_FETCH_WAIT_MS));
    assert_eq!(group.get("group.id"), Some(kafka.group_id.as_str()));
    assert_eq!(
        group_consumer_config(&kafka, &none).get("fetch.wait.max.ms"),
        Some("5")
    );
    kafka
        .consumer_properties
        .insert("fetch.wait.max.ms".into(), "50".into());
    assert_eq!(reader_config(&kafka).get("fetch.wait.max.ms"), Some("50"));
    assert_eq!(
        group_consumer_config(&kafka, &hop).get("fetch.wait.max.ms"),
        Some("50")
    );
    kafka.consumer_properties.clear();
    kafka
        .properties
        .insert("fetch.wait.max.ms".into(), "20".into());
    assert_eq!(reader_config(&kafka).get("fetch.wait.max.ms"), Some("20"));
    assert_eq!(
        group_consumer_config(&kafka, &hop).get("fetch.wait.max.ms"),
        Some("20")
    );
}

#[tokio::test]
async fn an_owner_hands_its_answer_to_a_home_on_its_instance() {
    let rules = rules();
    let metrics = Arc::new(Metrics::new());
    // No broker: the router's consumer is never polled here.
    let router =
        AnswerRouter::new(&KafkaConfig::default(), Arc::clone(&metrics)).expect("a router");
    let (tx, answers) = mpsc::unbounded_channel();
    router.routes.insert(3, tx); // what `register(3)` does once it has the end offset
    let mut hop = home_reading(&rules, answers, Arc::clone(&metrics));
    let until = tokio::time::Instant::now() + Duration::from_secs(1);
    let (mut joining, sent) = hop.start(batch(&rules, &[10]), 0, until);
    assert_eq!(sent.len(), 2);

    let device = answer(&rules, Field::DeviceId, 10, 4.0);
    assert_eq!(router.hand_over(3, device.clone()), Ok(()));
    // Home 4 is not on this instance: the answer comes back, to be sent.
    let ip = answer(&rules, Field::Ip, 10, 2.0);
    assert_eq!(router.hand_over(4, ip.clone()), Err(ip.clone()));
    let handed = hop.next_answer().await;
    assert_eq!(handed, device);
    hop.fill([&mut joining], handed);
    assert!(!joining.complete());
    hop.fill([&mut joining], ip.clone()); // through the topic
    assert!(joining.complete());
    let (batch, joined) = hop.finish(joining);
    assert_eq!((joined.answered, joined.missing), (2, 0));
    assert_eq!(batch.features_of(0)[1..], [4.0, 2.0]);

    // A home that has closed (its receiver dropped) gives the answer back too.
    drop(hop);
    assert_eq!(router.hand_over(3, ip.clone()), Err(ip));
    let count = |result: &str| metrics.rekey.answers.with_label_values(&[result]).get();
    assert_eq!((count("handed-over"), count("joined")), (1, 2));
}
