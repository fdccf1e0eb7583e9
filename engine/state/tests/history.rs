//! Per-user history semantics, expiry and backfill.

mod common;

use std::sync::Arc;

use common::*;
use verdict_rules::input::Field;
use verdict_rules::spec::{Aggregate, FeatureKind, FeatureSpec, HistoryFeature};
use verdict_state::backfill::{BackfillOptions, kafka_partition, load_history};
use verdict_state::{
    MemoryStore, PartitionState, RocksOptions, RocksStore, StateConfig, StateStore,
};

fn history_features() -> Vec<FeatureSpec> {
    feature_set()
        .into_iter()
        .filter(|f| matches!(f.kind, FeatureKind::History(_)))
        .collect()
}

/// Days-apart stream: a few events a day per user over ~5 months, in order
/// within a day but shuffled across minutes.
fn slow_stream(seed: u64, n: usize, users: u32) -> Vec<Txn> {
    stream(seed, n, users, 4 * HOUR, 2 * HOUR)
}

#[test]
fn history_features_match_reference() {
    let features = history_features();
    let cfg = StateConfig::default();
    let events = slow_stream(3, 2_500, 12);
    let mut st = PartitionState::open(Arc::new(MemoryStore::new()), 0, &features, &cfg).unwrap();
    let mut out = vec![0.0; features.len()];
    for (i, ev) in events.iter().enumerate() {
        st.process(ev, &mut out);
        for (j, spec) in features.iter().enumerate() {
            let want = reference(spec, &events[..i], ev, &cfg);
            assert!(
                close(out[j], want),
                "event {i} {}: got {} want {want}",
                spec.name,
                out[j]
            );
        }
    }
}

#[test]
fn history_reads_exclude_the_current_event_and_future_days() {
    let features = vec![
        history("n1", HistoryFeature::TxnCount { days: 1 }),
        history("n2", HistoryFeature::TxnCount { days: 2 }),
        history("max", HistoryFeature::MaxAmount { days: 365 }),
        history("first_m", HistoryFeature::FirstTime(Field::MerchantId)),
        history("since", HistoryFeature::DaysSinceFirst),
        history("avg", HistoryFeature::AvgAmount { days: 30 }),
    ];
    let mut st = PartitionState::open(
        Arc::new(MemoryStore::new()),
        0,
        &features,
        &StateConfig::default(),
    )
    .unwrap();
    let mut out = vec![0.0; features.len()];
    st.process(&Txn::new("u", T0 + 10 * DAY, 10.0).merchant("a"), &mut out);
    assert_eq!(out[0], 0.0);
    assert!(out[2].is_nan() && out[4].is_nan() && out[5].is_nan());
    assert_eq!(out[3], 1.0);
    // Yesterday relative to the first event: its day is in the future, not counted.
    st.process(&Txn::new("u", T0 + 9 * DAY, 20.0).merchant("a"), &mut out);
    assert_eq!((out[0], out[1]), (0.0, 0.0));
    assert!(out[2].is_nan());
    assert_eq!(out[3], 1.0, "merchant a only seen on a later day");
    st.process(
        &Txn::new("u", T0 + 10 * DAY + HOUR, 30.0).merchant("a"),
        &mut out,
    );
    assert_eq!(
        (out[0], out[1], out[2], out[3], out[4], out[5]),
        (1.0, 2.0, 20.0, 0.0, 1.0, 15.0)
    );
}

#[test]
fn missing_key_gives_nan_and_updates_nothing() {
    let features = vec![
        window("dev_count", Aggregate::Count, Field::DeviceId, HOUR, None),
        FeatureSpec {
            name: "prev".into(),
            kind: FeatureKind::Previous {
                key: Field::DeviceId,
                field: Field::Amount,
            },
        },
        history("hist", HistoryFeature::TxnCount { days: 30 }),
    ];
    let mut st = PartitionState::open(
        Arc::new(MemoryStore::new()),
        0,
        &features,
        &StateConfig::default(),
    )
    .unwrap();
    let mut out = vec![0.0; 3];
    st.process(&Txn::new("u", T0, 5.0).device(Some("d")), &mut out);
    let mut anon = Txn::new("u", T0 + 1, 6.0).device(None);
    anon.user = None;
    st.process(&anon, &mut out);
    assert!(out.iter().all(|v| v.is_nan()), "{out:?}");
    st.process(&Txn::new("u", T0 + 2, 7.0).device(Some("d")), &mut out);
    assert_eq!(out, vec![2.0, 5.0, 1.0]);
}

#[test]
fn history_older_than_a_year_expires_from_memory_and_store() {
    let features = vec![
        history("n", HistoryFeature::TxnCount { days: 365 }),
        history("first_m", HistoryFeature::FirstTime(Field::MerchantId)),
        history("since", HistoryFeature::DaysSinceFirst),
    ];
    let cfg = StateConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RocksStore::open(dir.path(), &RocksOptions::default()).unwrap());
    let mut st = PartitionState::open(store.clone(), 0, &features, &cfg).unwrap();
    let mut out = vec![0.0; 3];
    st.process(&Txn::new("old", T0, 1.0).merchant("m"), &mut out);
    st.process(
        &Txn::new("keep", T0 + 200 * DAY, 1.0).merchant("m"),
        &mut out,
    );
    st.checkpoint(2).unwrap();
    let count_history = |store: &dyn StateStore| {
        let (s, e) = verdict_state::keys::partition_range(0);
        let mut users = Vec::new();
        store
            .scan(&s, &e, &mut |k, _| {
                if k[4] == 0x02 {
                    users.push(String::from_utf8_lossy(&k[5..]).into_owned());
                }
                true
            })
            .unwrap();
        users
    };
    assert_eq!(
        count_history(&*store),
        vec!["keep".to_string(), "old".to_string()]
    );
    // The partition's event time moves 366 days past "old"'s only day.
    st.process(&Txn::new("other", T0 + 366 * DAY, 1.0), &mut out);
    st.checkpoint(3).unwrap();
    assert_eq!(
        count_history(&*store),
        vec!["keep".to_string(), "other".to_string()]
    );
    // Within one user, days past a year no longer count.
    st.process(
        &Txn::new("keep", T0 + 566 * DAY, 1.0).merchant("m"),
        &mut out,
    );
    assert_eq!((out[0], out[1]), (0.0, 1.0));
    assert!(out[2].is_nan());
    drop(st);
    let mut st = PartitionState::open(store, 0, &features, &cfg).unwrap();
    st.process(
        &Txn::new("old", T0 + 367 * DAY, 1.0).merchant("m"),
        &mut out,
    );
    assert_eq!((out[0], out[1]), (0.0, 1.0));
}

#[test]
fn backfilled_history_equals_online_history() {
    let features = history_features();
    let cfg = StateConfig::default();
    let partitions = 4;
    let past = slow_stream(17, 3_000, 30);
    let store = Arc::new(MemoryStore::new());
    let mut reports = 0;
    let opts = BackfillOptions {
        // A few users' worth: many chunks, each merged with the last.
        chunk_bytes: 4_000,
        progress_every: 500,
        ..BackfillOptions::new(partitions, &cfg)
    };
    let done = load_history(&*store, past.iter().cloned(), &opts, &mut |_| reports += 1).unwrap();
    assert_eq!(done.events, past.len() as u64);
    assert!(done.chunks > 1 && reports >= done.chunks);

    let last = past.iter().map(|e| e.time).max().unwrap();
    let mut states: Vec<PartitionState> = (0..partitions)
        .map(|p| PartitionState::open(store.clone(), p, &features, &cfg).unwrap())
        .collect();
    let mut out = vec![0.0; features.len()];
    for u in 0..30 {
        let ev = Txn::new(&format!("u{u}"), last + DAY, 42.0)
            .merchant("m3")
            .country("DE");
        let p = kafka_partition(ev.user.as_deref().unwrap().as_bytes(), partitions);
        states[p as usize].process(&ev, &mut out);
        for (j, spec) in features.iter().enumerate() {
            let want = reference(spec, &past, &ev, &cfg);
            assert!(
                close(out[j], want),
                "user u{u} {}: got {} want {want}",
                spec.name,
                out[j]
            );
        }
    }
}
