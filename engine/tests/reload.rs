//! Rule hot reload inside a running pipeline: a rule set that does not
//! compile never replaces the running one; a good one takes over at the next
//! batch, decisions carry its version, the state of features it keeps goes on
//! counting, and a feature it adds starts from empty.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use verdict_engine::contract::{DecodeConfig, decode};
use verdict_engine::dataflow::Dataflow;
use verdict_engine::metrics::Metrics;
use verdict_engine::pipeline::{Batch, Pipeline};
use verdict_rules::Action;
use verdict_rules::reload::{ReloadEvent, RuleSetReloader};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// One batch of `n` events on card `c1`, one second apart from `first`.
fn run_batch(pipeline: &mut Pipeline, first: usize, n: usize) -> Batch {
    let mut batch = Batch {
        budget: Duration::from_secs(3600),
        ..Batch::default()
    };
    let deadline = Instant::now() + batch.budget;
    for i in first..first + n {
        let json = format!(
            r#"{{"transaction_id":"t{i}","event_time":{},"user_id":"u1","card_id":"c1","amount":"10.00","currency":"USD","merchant_id":"m1"}}"#,
            T0 + i as i64 * 1_000
        );
        let event = decode(json.as_bytes(), &DecodeConfig::default()).expect("valid event");
        batch.push(event, i as i64, deadline);
    }
    pipeline.process(&mut batch);
    batch
}

fn feature(batch: &Batch, i: usize, name: &str) -> f64 {
    let rules = batch.rules.as_ref().expect("processed");
    let slot = rules.feature_slot(name).expect("declared feature");
    batch.features_of(i)[slot]
}

fn version(batch: &Batch) -> String {
    batch
        .rules
        .as_ref()
        .expect("processed")
        .version()
        .to_string()
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

#[test]
fn a_bad_rule_set_never_runs_and_a_good_one_takes_over_keeping_state() {
    let scratch = tempfile::tempdir().unwrap();
    let d = verdict_engine::defaults::extract(scratch.path()).unwrap();
    let reloader = RuleSetReloader::new(&d.rules_dir).expect("default rules compile");
    let shared = Dataflow::build(
        reloader.shared(),
        None,
        Arc::new(Metrics::new()),
        None,
        Default::default(),
    )
    .unwrap();
    let mut pipeline = shared.pipeline(0).unwrap();

    let b1 = run_batch(&mut pipeline, 0, 3);
    let v1 = version(&b1);
    assert_eq!(feature(&b1, 2, "card_txn_1h"), 3.0);
    assert!(
        b1.evaluations[..3]
            .iter()
            .all(|e| e.action == Action::Allow)
    );

    // A broken file is refused; the running set keeps deciding.
    write(
        &d.rules_dir,
        "extra.rules",
        "rule broken: review when no_such_feature > 1\n",
    );
    assert!(matches!(reloader.reload(), ReloadEvent::Failed { .. }));
    let b2 = run_batch(&mut pipeline, 3, 2);
    assert_eq!(version(&b2), v1);
    assert_eq!(feature(&b2, 1, "card_txn_1h"), 5.0);

    // A good change adds a feature and a rule on it; it takes over at the
    // next batch. Kept features go on counting, the new one starts empty.
    write(
        &d.rules_dir,
        "extra.rules",
        "feature card_txn_2m = count over 2m by card_id\n\
         rule card_repeat_2m: review when card_txn_2m >= 2\n",
    );
    let ReloadEvent::Swapped { new_version, .. } = reloader.reload() else {
        panic!("a compiling rule set replaces the running one");
    };
    assert_ne!(new_version, v1);
    let b3 = run_batch(&mut pipeline, 5, 2);
    assert_eq!(version(&b3), new_version);
    assert_eq!(feature(&b3, 1, "card_txn_1h"), 7.0, "kept state");
    assert_eq!(
        feature(&b3, 0, "card_txn_2m"),
        1.0,
        "new feature starts empty"
    );
    assert_eq!(feature(&b3, 1, "card_txn_2m"), 2.0);
    assert_eq!(b3.evaluations[0].action, Action::Allow);
    assert_eq!(b3.evaluations[1].action, Action::Review);
    assert_eq!(&*b3.evaluations[1].hits[0].name, "card_repeat_2m");
}
