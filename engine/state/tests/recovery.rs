//! Checkpoint/restore, crash semantics, cache eviction and rules reload.

mod common;

use std::sync::Arc;

use common::*;
use verdict_rules::input::Field;
use verdict_rules::spec::{Aggregate, FeatureSpec};
use verdict_state::{
    MemoryStore, PartitionState, RocksOptions, RocksStore, StateConfig, StateStore,
};

/// Outputs of every event, run without interruption on a fresh store.
fn uninterrupted(features: &[FeatureSpec], events: &[Txn], cfg: &StateConfig) -> Vec<Vec<f64>> {
    let mut st = PartitionState::open(Arc::new(MemoryStore::new()), 3, features, cfg).unwrap();
    events
        .iter()
        .map(|e| {
            let mut out = vec![-1.0; features.len()];
            st.process(e, &mut out);
            out
        })
        .collect()
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn rocks(dir: &std::path::Path) -> Arc<dyn StateStore> {
    Arc::new(RocksStore::open(dir, &RocksOptions::default()).unwrap())
}

#[test]
fn checkpoint_restore_equals_uninterrupted_run() {
    let features = feature_set();
    let cfg = StateConfig::default();
    let events = stream(21, 4_000, 40, 30_000, 120_000);
    let want = uninterrupted(&features, &events, &cfg);

    let dir = tempfile::tempdir().unwrap();
    let mut got = Vec::new();
    let mut next = 0usize;
    // Three restarts at uneven points, checkpointing at each.
    for stop in [700usize, 1_900, 3_100, events.len()] {
        let mut st = PartitionState::open(rocks(dir.path()), 3, &features, &cfg).unwrap();
        assert_eq!(st.checkpointed_offset(), (next > 0).then_some(next as i64));
        for e in &events[next..stop] {
            let mut out = vec![-1.0; features.len()];
            st.process(e, &mut out);
            got.push(out);
        }
        st.checkpoint(stop as i64).unwrap();
        next = stop;
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(same(g, w), "event {i}: {g:?} != {w:?}");
    }
}

#[test]
fn uncheckpointed_updates_vanish_and_replay_reproduces_them() {
    let features = feature_set();
    let cfg = StateConfig::default();
    let events = stream(5, 2_000, 25, 20_000, 60_000);
    let dir = tempfile::tempdir().unwrap();

    let mut first_run = Vec::new();
    {
        let mut st = PartitionState::open(rocks(dir.path()), 1, &features, &cfg).unwrap();
        for e in &events[..1_000] {
            let mut out = vec![-1.0; features.len()];
            st.process(e, &mut out);
        }
        st.checkpoint(1_000).unwrap();
        for e in &events[1_000..1_600] {
            let mut out = vec![-1.0; features.len()];
            st.process(e, &mut out);
            first_run.push(out);
        }
        // Dropped without a checkpoint: a crash.
    }
    let mut st = PartitionState::open(rocks(dir.path()), 1, &features, &cfg).unwrap();
    assert_eq!(st.checkpointed_offset(), Some(1_000));
    for (i, e) in events[1_000..1_600].iter().enumerate() {
        let mut out = vec![-1.0; features.len()];
        st.process(e, &mut out);
        assert!(
            same(&out, &first_run[i]),
            "replayed event {}: {out:?} != {:?}",
            1_000 + i,
            first_run[i]
        );
    }
}

#[test]
fn uncheckpointed_updates_are_not_in_the_store() {
    let features = vec![window("c", Aggregate::Count, Field::UserId, HOUR, None)];
    let cfg = StateConfig::default();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let mut st = PartitionState::open(store.clone(), 0, &features, &cfg).unwrap();
    let mut out = [0.0];
    st.process(&Txn::new("u", T0, 1.0), &mut out);
    st.checkpoint(1).unwrap();
    st.process(&Txn::new("u", T0 + 1, 1.0), &mut out);
    assert_eq!(out[0], 2.0);
    drop(st);
    let mut st = PartitionState::open(store, 0, &features, &cfg).unwrap();
    st.process(&Txn::new("u", T0 + 2, 1.0), &mut out);
    assert_eq!(out[0], 2.0, "the uncheckpointed second event is gone");
}

#[test]
fn tiny_cache_gives_the_same_results_as_an_unbounded_one() {
    let features = feature_set();
    let events = stream(9, 3_000, 60, 15_000, 30_000);
    let big = StateConfig {
        cache_capacity: 1_000_000,
        ..StateConfig::default()
    };
    let want = uninterrupted(&features, &events, &big);

    let tiny = StateConfig {
        cache_capacity: 8,
        ..StateConfig::default()
    };
    let mut st = PartitionState::open(Arc::new(MemoryStore::new()), 3, &features, &tiny).unwrap();
    for (i, e) in events.iter().enumerate() {
        let mut out = vec![-1.0; features.len()];
        st.process(e, &mut out);
        assert!(same(&out, &want[i]), "event {i}: {out:?} != {:?}", want[i]);
        if i % 10 == 9 {
            st.checkpoint(i as i64 + 1).unwrap();
            let s = st.stats();
            assert_eq!(s.dirty_entries, 0);
            assert!(
                s.hot_entries <= tiny.cache_capacity,
                "{} hot after checkpoint",
                s.hot_entries
            );
        }
    }
}

#[test]
fn reload_keeps_unchanged_state_and_starts_new_state_empty() {
    let count_1h = window("c1h", Aggregate::Count, Field::UserId, HOUR, None);
    let sum_1h = window(
        "s1h",
        Aggregate::Sum(Field::Amount),
        Field::UserId,
        HOUR,
        None,
    );
    let cfg = StateConfig::default();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let mut st =
        PartitionState::open(store.clone(), 0, std::slice::from_ref(&count_1h), &cfg).unwrap();
    let mut out = vec![0.0; 2];
    for i in 0..3 {
        st.process(&Txn::new("u", T0 + i, 2.0), &mut out[..1]);
    }
    st.checkpoint(3).unwrap();
    // The sum appears and the count moves to slot 1: the count keeps its state.
    st.update_features(&[sum_1h.clone(), count_1h.clone()]);
    st.process(&Txn::new("u", T0 + 10, 2.0), &mut out);
    assert_eq!(out, vec![2.0, 4.0]);
    // The count goes away and comes back: it starts empty, also after a restart.
    st.update_features(std::slice::from_ref(&sum_1h));
    st.checkpoint(4).unwrap();
    st.update_features(&[sum_1h.clone(), count_1h.clone()]);
    st.process(&Txn::new("u", T0 + 11, 2.0), &mut out);
    assert_eq!(out, vec![4.0, 1.0]);
    st.checkpoint(5).unwrap();
    let mut st = PartitionState::open(store, 0, &[sum_1h, count_1h], &cfg).unwrap();
    st.process(&Txn::new("u", T0 + 12, 2.0), &mut out);
    assert_eq!(out, vec![6.0, 2.0]);
}

#[test]
fn partitions_do_not_share_state() {
    let features = vec![window("c", Aggregate::Count, Field::UserId, HOUR, None)];
    let cfg = StateConfig::default();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let mut a = PartitionState::open(store.clone(), 0, &features, &cfg).unwrap();
    let mut out = [0.0];
    a.process(&Txn::new("u", T0, 1.0), &mut out);
    a.checkpoint(1).unwrap();
    let mut b = PartitionState::open(store.clone(), 1, &features, &cfg).unwrap();
    assert_eq!(b.checkpointed_offset(), None);
    b.process(&Txn::new("u", T0 + 1, 1.0), &mut out);
    assert_eq!(out[0], 1.0);
    let (s, e) = verdict_state::keys::partition_range(0);
    let mut n = 0;
    store
        .scan(&s, &e, &mut |_, _| {
            n += 1;
            true
        })
        .unwrap();
    assert!(
        n >= 3,
        "partition 0 holds its meta, window, history and index records ({n})"
    );
}
