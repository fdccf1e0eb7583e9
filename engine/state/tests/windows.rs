//! Window aggregates against the brute-force reference under random streams,
//! keys, window lengths, filters and out-of-order arrival.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use verdict_rules::input::Field;
use verdict_rules::spec::{Aggregate, FeatureKind, FeatureSpec};
use verdict_state::{MemoryStore, PartitionState, StateConfig};

const WINDOWS: [i64; 9] = [
    1_000,
    30_000,
    MIN,
    10 * MIN,
    HOUR,
    2 * HOUR,
    DAY,
    7 * DAY,
    30 * DAY,
];

fn aggregate(i: usize) -> Aggregate {
    match i % 6 {
        0 => Aggregate::Count,
        1 => Aggregate::Sum(Field::Amount),
        2 => Aggregate::Min(Field::Amount),
        3 => Aggregate::Max(Field::Amount),
        4 => Aggregate::Avg(Field::Amount),
        _ => Aggregate::DistinctCount(Field::MerchantId),
    }
}

fn key(i: usize) -> Field {
    [
        Field::CardId,
        Field::UserId,
        Field::DeviceId,
        Field::MerchantId,
    ][i % 4]
}

/// Runs `events` through a partition and checks every window slot of every
/// event that is within the allowed lateness of its key against the reference.
fn check(
    features: &[FeatureSpec],
    events: &[Txn],
    cfg: &StateConfig,
) -> Result<usize, TestCaseError> {
    let mut st = PartitionState::open(Arc::new(MemoryStore::new()), 0, features, cfg).unwrap();
    let mut out = vec![0.0; features.len()];
    let mut max_seen: HashMap<(usize, String), i64> = HashMap::new();
    let mut checked = 0;
    for (i, ev) in events.iter().enumerate() {
        st.process(ev, &mut out);
        for (j, spec) in features.iter().enumerate() {
            let FeatureKind::Window(w) = &spec.kind else {
                continue;
            };
            let k = verdict_rules::input::Transaction::text(ev, w.key).map(str::to_string);
            let on_time = match &k {
                Some(k) => max_seen
                    .get(&(j, k.clone()))
                    .is_none_or(|&m| ev.time >= m - cfg.allowed_lateness_ms),
                None => true,
            };
            if on_time {
                let want = reference(spec, &events[..i], ev, cfg);
                prop_assert!(
                    close(out[j], want),
                    "event {i} feature {} ({}): got {} want {}",
                    spec.name,
                    spec.state_id(),
                    out[j],
                    want
                );
                checked += 1;
            }
            if let Some(k) = k {
                let m = max_seen.entry((j, k)).or_insert(i64::MIN);
                *m = (*m).max(ev.time);
            }
        }
    }
    Ok(checked)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn windows_match_reference(
        seed in any::<u64>(),
        n in 1usize..250,
        users in 1u32..6,
        step_ms in prop::sample::select(vec![200i64, 5_000, 60_000, 900_000, 3 * 3_600_000]),
        jitter_ms in prop::sample::select(vec![0i64, 1_000, 60_000, 600_000, 2 * 3_600_000]),
        picks in prop::collection::vec((0usize..6, 0usize..4, 0usize..9, any::<bool>()), 1..8),
    ) {
        let cfg = StateConfig::default();
        let features: Vec<FeatureSpec> = picks
            .iter()
            .enumerate()
            .map(|(i, &(a, k, w, f))| {
                window(&format!("f{i}"), aggregate(a), key(k), WINDOWS[w], f.then(small_amounts))
            })
            .collect();
        let events = stream(seed, n, users, step_ms, jitter_ms);
        check(&features, &events, &cfg)?;
    }
}

#[test]
fn long_stream_with_every_aggregate_is_exact_where_promised() {
    let cfg = StateConfig::default();
    let mut features = Vec::new();
    for (i, w) in WINDOWS.iter().enumerate() {
        for a in 0..6 {
            features.push(window(
                &format!("w{i}a{a}"),
                aggregate(a),
                key(a + i),
                *w,
                (a % 2 == 0).then(small_amounts),
            ));
        }
    }
    let events = stream(7, 3_000, 4, 120_000, 300_000);
    let checked = check(&features, &events, &cfg).unwrap();
    assert_eq!(checked, events.len() * features.len());
}

#[test]
fn bucketed_windows_stay_within_one_bucket_of_exact() {
    // In order: the bucket-aligned count lies between the exact counts over
    // (t - w + B, t] and (t - w, t].
    let cfg = StateConfig::default();
    let w = DAY;
    let b = cfg.bucket_ms_for(w).expect("24 h is bucketed");
    assert_eq!(b, MIN);
    let features = vec![window("c", Aggregate::Count, Field::UserId, w, None)];
    let events = stream(11, 2_000, 2, 300_000, 0);
    let mut st = PartitionState::open(Arc::new(MemoryStore::new()), 0, &features, &cfg).unwrap();
    let mut out = [0.0];
    for (i, ev) in events.iter().enumerate() {
        st.process(ev, &mut out);
        let same = events[..=i].iter().filter(|e| e.user == ev.user);
        let hi = same.clone().filter(|e| e.time > ev.time - w).count() as f64;
        let lo = same.filter(|e| e.time > ev.time - w + b).count() as f64;
        assert!(
            lo <= out[0] && out[0] <= hi,
            "event {i}: {lo} <= {} <= {hi}",
            out[0]
        );
    }
}

#[test]
fn distinct_count_switches_to_a_sketch_within_five_percent() {
    let cfg = StateConfig {
        distinct_exact_limit: 64,
        ..StateConfig::default()
    };
    let features = vec![
        window(
            "d24h",
            Aggregate::DistinctCount(Field::MerchantId),
            Field::UserId,
            DAY,
            None,
        ),
        window(
            "d1h",
            Aggregate::DistinctCount(Field::MerchantId),
            Field::UserId,
            HOUR,
            None,
        ),
    ];
    let mut st = PartitionState::open(Arc::new(MemoryStore::new()), 0, &features, &cfg).unwrap();
    let mut out = [0.0; 2];
    let n = 20_000;
    for i in 0..n {
        let ev = Txn::new("u", T0 + i * 100, 1.0).merchant(&format!("m{i}"));
        st.process(&ev, &mut out);
    }
    let err = (out[0] - n as f64).abs() / n as f64;
    assert!(err < 0.05, "24 h estimate {} for {n} distinct", out[0]);
    assert_eq!(out[1], n as f64, "1 h windows are exact");
}

#[test]
fn events_beyond_lateness_are_ignored_for_windows() {
    let cfg = StateConfig {
        allowed_lateness_ms: MIN,
        ..StateConfig::default()
    };
    let features = vec![window("c", Aggregate::Count, Field::UserId, 10 * MIN, None)];
    let mut st = PartitionState::open(Arc::new(MemoryStore::new()), 0, &features, &cfg).unwrap();
    let mut out = [0.0];
    st.process(&Txn::new("u", T0 + HOUR, 1.0), &mut out);
    assert_eq!(out[0], 1.0);
    // 50 minutes late: older than window + lateness, counts only itself and is dropped.
    st.process(&Txn::new("u", T0 + 10 * MIN, 1.0), &mut out);
    assert_eq!(out[0], 1.0);
    st.process(&Txn::new("u", T0 + HOUR + MIN, 1.0), &mut out);
    assert_eq!(out[0], 2.0);
    // 30 s late: within lateness, enters the window.
    st.process(&Txn::new("u", T0 + HOUR + 30_000, 1.0), &mut out);
    assert_eq!(
        out[0], 2.0,
        "counts itself and the event at +1h, not the later one"
    );
    st.process(&Txn::new("u", T0 + HOUR + 2 * MIN, 1.0), &mut out);
    assert_eq!(out[0], 4.0);
}
