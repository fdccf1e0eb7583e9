use verdict_rules::RuleSet;

use super::*;

const RULES: &str = r#"
feature card_txn_1h      = count over 1h by card_id
feature user_txn_1h      = count over 1h by user_id
feature device_users_24h = distinct(user_id) over 24h by device_id
feature ip_txn_1h        = count over 1h by ip
feature device_prev_amt  = previous(amount) by device_id
feature user_avg_1y      = history avg_amount over 365d
feature twice            = device_users_24h * 2
rule many_users: decline when device_users_24h > 50
  reason "ring of {device_users_24h}"
"#;

fn features() -> Vec<FeatureSpec> {
    let source = verdict_rules::SourceFile {
        path: "test.rules".into(),
        text: RULES.into(),
    };
    match RuleSet::compile_sources(&[source]) {
        Ok(rules) => rules.features().to_vec(),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn the_plan_hops_every_key_field_but_the_user_and_the_co_partitioned() {
    let f = features();
    let plan = RekeyPlan::new(&f, &[Field::CardId], true);
    assert_eq!(plan.remote(), [Field::DeviceId, Field::Ip]);
    let all = RekeyPlan::new(&f, &[], true);
    assert_eq!(all.remote(), [Field::CardId, Field::DeviceId, Field::Ip]);
    assert!(RekeyPlan::new(&f, &[], false).is_empty());
}

#[test]
fn scopes_split_the_keyed_features_and_keep_every_index() {
    let f = features();
    let keyed = |specs: &[FeatureSpec]| -> Vec<String> {
        specs
            .iter()
            .filter(|s| !matches!(s.kind, FeatureKind::Derived))
            .map(|s| s.name.clone())
            .collect()
    };
    let home = scoped(&f, &Scope::Home(vec![Field::DeviceId, Field::Ip]));
    assert_eq!(home.len(), f.len());
    assert_eq!(keyed(&home), ["card_txn_1h", "user_txn_1h", "user_avg_1y"]);
    let device = scoped(&f, &Scope::Owner(Field::DeviceId));
    assert_eq!(keyed(&device), ["device_users_24h", "device_prev_amt"]);
    assert_eq!(columns(&f, Field::DeviceId), [2, 4]);
    assert_eq!(keyed(&scoped(&f, &Scope::All)).len(), 6);
}

#[test]
fn unit_ids_round_trip_and_never_meet() {
    for unit in [
        Unit::Home(0),
        Unit::Home(7),
        Unit::Owner {
            field: Field::DeviceId,
            partition: 0,
        },
        Unit::Owner {
            field: Field::Ip,
            partition: 63,
        },
    ] {
        assert_eq!(Unit::from_id(unit.id()), unit);
        assert!(unit.id() >= 0);
    }
    assert_ne!(
        Unit::Owner {
            field: Field::TransactionId,
            partition: 0
        }
        .id(),
        Unit::Home(0).id()
    );
    assert_eq!(
        Unit::Owner {
            field: Field::Ip,
            partition: 3
        }
        .to_string(),
        "ip/3"
    );
}

struct Txn;

impl Transaction for Txn {
    fn text(&self, field: Field) -> Option<&str> {
        match field {
            Field::UserId => Some("u1"),
            Field::DeviceId => Some("d-é"),
            _ => None,
        }
    }
    fn number(&self, field: Field) -> Option<f64> {
        match field {
            Field::Amount => Some(12.5),
            Field::EventTime => Some(1.7e12),
            _ => None,
        }
    }
}

#[test]
fn requests_and_answers_round_trip_and_refuse_garbage() {
    let request = Request {
        home: 5,
        offset: 1234,
        floor: 1200,
        event: Forwarded::capture(&Txn),
    };
    let decoded = Request::decode(&request.encode()).unwrap();
    assert_eq!(decoded, request);
    assert_eq!(decoded.event.text(Field::DeviceId), Some("d-é"));
    assert_eq!(decoded.event.number(Field::Amount), Some(12.5));
    assert_eq!(decoded.event.text(Field::Ip), None);
    for values in [None, Some(vec![3.0, f64::NAN])] {
        let answer = Answer {
            field: Field::DeviceId,
            offset: 1234,
            transaction_id: "tx-1".into(),
            rules_version: "abc".into(),
            values,
        };
        let back = Answer::decode(&answer.encode()).unwrap();
        assert_eq!(back.transaction_id, "tx-1");
        assert_eq!(
            back.values.as_ref().map(Vec::len),
            answer.values.as_ref().map(Vec::len)
        );
    }
    let bytes = request.encode();
    assert_eq!(Request::decode(&bytes[..bytes.len() - 1]), None);
    assert_eq!(Answer::decode(b"\x01junk"), None);
}

fn request(home: i32, offset: i64, floor: i64) -> Request {
    Request {
        home,
        offset,
        floor,
        event: Forwarded::capture(&Txn),
    }
}

#[test]
fn a_resent_request_gets_its_first_answer_and_a_forgotten_one_none() {
    let mut ledger = Ledger::default();
    assert_eq!(ledger.check(&request(1, 10, 0)), Seen::New);
    ledger.record(1, 10, vec![1.0]);
    assert_eq!(ledger.check(&request(1, 11, 0)), Seen::New);
    ledger.record(1, 11, vec![2.0]);
    // Another home's offsets are its own.
    assert_eq!(ledger.check(&request(2, 10, 0)), Seen::New);
    // The home restarted from 10 and asks again.
    assert_eq!(ledger.check(&request(1, 10, 10)), Seen::Answered(&[1.0]));
    assert_eq!(ledger.check(&request(1, 11, 10)), Seen::Answered(&[2.0]));
    // Its next checkpoint is past 10: that answer goes.
    assert_eq!(ledger.check(&request(1, 11, 11)), Seen::Answered(&[2.0]));
    assert_eq!(ledger.answers(), 1);
    assert_eq!(ledger.check(&request(1, 10, 11)), Seen::Forgotten);
    // What a checkpoint writes is what a restart reads.
    let back = Ledger::decode(&ledger.encode()).unwrap();
    assert_eq!(back, ledger);
    assert_eq!(Ledger::decode(&[9]), None);
}
