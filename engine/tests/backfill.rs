//! `verdict backfill`: history loaded from a file of past transactions reads
//! exactly as history built online from the same transactions, and a line
//! that does not decode is reported with its line number, never loaded.

use std::io::Write;
use std::sync::Arc;

use verdict_engine::backfill::{BackfillRun, run};
use verdict_engine::contract::{DecodeConfig, decode};
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_rules::RuleSet;
use verdict_rules::spec::FeatureKind;
use verdict_state::{MemoryStore, PartitionState, RocksOptions, RocksStore, StateConfig};

const DAY: i64 = 86_400_000;

#[test]
fn backfilled_history_reads_like_online_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = verdict_engine::defaults::extract(&dir.path().join("defaults")).unwrap();
    let rules = RuleSet::compile_dir(&d.rules_dir).unwrap();
    let cfg = GeneratorConfig {
        seed: 5,
        users: 60,
        // 4,000 events over about 46 days.
        events_per_sec: 0.001,
        ..Default::default()
    };
    let payloads: Vec<Vec<u8>> = Generator::new(cfg).take(4_000).map(|g| g.payload).collect();
    let input = dir.path().join("past.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    for (i, p) in payloads.iter().enumerate() {
        f.write_all(p).unwrap();
        f.write_all(b"\n").unwrap();
        if i == 99 {
            f.write_all(b"{\"transaction_id\":\"broken\"\n").unwrap(); // line 101
        }
    }
    drop(f);

    let state = StateConfig::default();
    let state_dir = dir.path().join("state");
    let summary = run(
        &BackfillRun {
            input: input.clone(),
            state_dir: state_dir.clone(),
            partitions: 1,
        },
        &rules,
        &state,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(summary.progress.events, payloads.len() as u64);
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.first_rejections[0].0, 101);
    assert_eq!(summary.first_rejections[0].1, "malformed_json");
    assert!(summary.progress.users_written > 0 && summary.disk_bytes > 0);

    // The same transactions, processed online.
    let events: Vec<_> = payloads
        .iter()
        .map(|p| decode(p, &DecodeConfig::default()).unwrap())
        .collect();
    let mut online =
        PartitionState::open(Arc::new(MemoryStore::new()), 0, rules.features(), &state).unwrap();
    let width = rules.features().len();
    let mut out = vec![0.0; width];
    for e in &events {
        online.process(e, &mut out);
    }
    let store = Arc::new(RocksStore::open(&state_dir, &RocksOptions::default()).unwrap());
    let mut loaded = PartitionState::open(store, 0, rules.features(), &state).unwrap();

    let last = events.iter().map(|e| e.event_time_ms).max().unwrap();
    let history: Vec<usize> = (0..width)
        .filter(|&i| matches!(rules.features()[i].kind, FeatureKind::History(_)))
        .collect();
    assert!(history.len() >= 5, "the default rules read history");
    let mut users: Vec<&str> = events.iter().map(|e| e.user_id()).collect();
    users.sort_unstable();
    users.dedup();
    let (mut a, mut b) = (vec![0.0; width], vec![0.0; width]);
    for user in users {
        // A purchase a day after the history, at a merchant seen before.
        let probe = format!(
            r#"{{"transaction_id":"probe-{user}","event_time":{},"user_id":"{user}","card_id":"c-{user}","amount":"25.00","currency":"USD","merchant_id":"m1","country":"US"}}"#,
            last + DAY
        );
        let probe = decode(probe.as_bytes(), &DecodeConfig::default()).unwrap();
        online.process(&probe, &mut a);
        loaded.process(&probe, &mut b);
        for &i in &history {
            let name = &rules.features()[i].name;
            assert!(
                a[i] == b[i] || (a[i].is_nan() && b[i].is_nan()),
                "{user} {name}: online {} vs backfilled {}",
                a[i],
                b[i]
            );
        }
    }
}
