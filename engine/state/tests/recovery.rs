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

/// Rules reloads that add and drop whole key fields, under a tiny cache so
/// entities are evicted and reloaded around them, and a restart at the end:
/// a feature kept across a reload equals an uninterrupted run over every
/// event, a feature added by a reload equals a run that started at the reload.
#[test]
fn reloads_across_key_fields_keep_and_reset_the_right_states() {
    for cache_capacity in [16, 1_000_000] {
        reloads_across_key_fields(cache_capacity);
    }
}

fn reloads_across_key_fields(cache_capacity: usize) {
    let all = feature_set();
    let named = |names: &[&str]| -> Vec<FeatureSpec> {
        all.iter()
            .filter(|f| names.contains(&f.name.as_str()))
            .cloned()
            .collect()
    };
    // No device feature before the first reload; no card feature after the second.
    let first = named(&[
        "card_count_1m",
        "card_max_1h",
        "user_merchants_1h",
        "prev_amount",
        "hist_avg_30",
    ]);
    let last: Vec<FeatureSpec> = all
        .iter()
        .filter(|f| match &f.kind {
            verdict_rules::spec::FeatureKind::Window(w) => w.key != Field::CardId,
            verdict_rules::spec::FeatureKind::Previous { key, .. } => *key != Field::CardId,
            _ => true,
        })
        .cloned()
        .collect();
    let events = stream(13, 2_400, 30, 20_000, 60_000);
    // Reloads between checkpoints, while entities are dirty.
    let (cut1, cut2, cut3) = (925, 1_710, 2_050);
    let big = StateConfig {
        cache_capacity: 1_000_000,
        ..StateConfig::default()
    };
    let whole = uninterrupted(&all, &events, &big);
    let since_cut1 = uninterrupted(&all, &events[cut1..], &big);
    let position = |name: &str| all.iter().position(|f| f.name == name).unwrap();
    let tiny = StateConfig {
        cache_capacity,
        ..StateConfig::default()
    };
    // History features never reset (history is kept whatever the rules read).
    let kept_from_start = |f: &FeatureSpec| {
        first.iter().any(|k| k.name == f.name)
            || matches!(f.kind, verdict_rules::spec::FeatureKind::History(_))
    };
    let check = |set: &[FeatureSpec], i: usize, out: &[f64]| {
        for (j, f) in set.iter().enumerate() {
            if matches!(f.kind, verdict_rules::spec::FeatureKind::Derived) {
                continue;
            }
            let want = if kept_from_start(f) {
                whole[i][position(&f.name)]
            } else {
                since_cut1[i - cut1][position(&f.name)]
            };
            assert!(
                want.to_bits() == out[j].to_bits(),
                "event {i}, {}: {} != {want}",
                f.name,
                out[j]
            );
        }
    };

    let dir = tempfile::tempdir().unwrap();
    let mut st = PartitionState::open(rocks(dir.path()), 2, &first, &tiny).unwrap();
    for (i, e) in events.iter().enumerate().take(cut2) {
        if i == cut1 {
            st.update_features(&all);
        }
        let set = if i < cut1 { &first } else { &all };
        let mut out = vec![-1.0; set.len()];
        st.process(e, &mut out);
        if i >= cut1 {
            check(set, i, &out);
        }
        if i % 50 == 49 {
            st.checkpoint(i as i64 + 1).unwrap();
        }
    }
    st.checkpoint(cut2 as i64).unwrap();
    // Drop the card features, checkpoint, restart with the reduced set.
    st.update_features(&last);
    st.checkpoint(cut2 as i64).unwrap();
    drop(st);
    let mut st = PartitionState::open(rocks(dir.path()), 2, &last, &tiny).unwrap();
    assert_eq!(st.checkpointed_offset(), Some(cut2 as i64));
    for (i, e) in events.iter().enumerate().take(cut3).skip(cut2) {
        let mut out = vec![-1.0; last.len()];
        st.process(e, &mut out);
        check(&last, i, &out);
        if i % 50 == 49 {
            st.checkpoint(i as i64 + 1).unwrap();
        }
    }
    st.checkpoint(cut3 as i64).unwrap();
    drop(st);
    // The card features come back after a restart. The store still holds
    // card entity records with their sections from before the drop; the
    // features must start empty, not from those.
    let since_cut3 = uninterrupted(&all, &events[cut3..], &big);
    let mut st = PartitionState::open(rocks(dir.path()), 2, &all, &tiny).unwrap();
    for (i, e) in events.iter().enumerate().skip(cut3) {
        let mut out = vec![-1.0; all.len()];
        st.process(e, &mut out);
        for (j, f) in all.iter().enumerate() {
            if last.iter().any(|l| l.name == f.name) {
                continue; // checked above: these continue unchanged
            }
            let want = since_cut3[i - cut3][j];
            assert!(
                want.to_bits() == out[j].to_bits(),
                "event {i}, re-declared {}: {} != {want}",
                f.name,
                out[j]
            );
        }
        if i % 50 == 49 {
            st.checkpoint(i as i64 + 1).unwrap();
        }
    }
}

/// `process_batch` (keys hashed once, a batch's misses read in one
/// multi-get, state prefetched ahead) answers exactly like one `process`
/// per event: batches of uneven sizes over RocksDB with a cache small
/// enough to evict within a batch, and a restart from a checkpoint midway.
#[test]
fn batches_give_the_same_results_as_single_events() {
    let features = feature_set();
    let width = features.len();
    let events = stream(17, 4_000, 80, 15_000, 45_000);
    let want = uninterrupted(&features, &events, &StateConfig::default());
    let small = StateConfig {
        cache_capacity: 40,
        ..StateConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut got: Vec<f64> = Vec::new();
    let mut next = 0usize;
    for (stop, sizes) in [(2_300usize, [1usize, 7, 64]), (events.len(), [13, 200, 2])] {
        let mut st = PartitionState::open(rocks(dir.path()), 3, &features, &small).unwrap();
        let mut k = 0;
        while next < stop {
            let n = sizes[k % sizes.len()].min(stop - next);
            let mut out = vec![-1.0; n * width];
            st.process_batch(&events[next..next + n], &mut out, width);
            got.extend(out);
            next += n;
            k += 1;
            if k % 5 == 0 {
                st.checkpoint(next as i64).unwrap();
            }
        }
        st.checkpoint(stop as i64).unwrap();
    }
    for (i, (g, w)) in got.chunks(width).zip(&want).enumerate() {
        assert!(same(g, w), "event {i}: {g:?} != {w:?}");
    }
}

/// A checkpoint of more dirty records than one thread encodes (thousands
/// of users, their cards and histories) restores like an uninterrupted run.
#[test]
fn a_large_checkpoint_encoded_on_two_threads_restores_exactly() {
    let features = feature_set();
    let cfg = StateConfig::default();
    let events = stream(29, 12_000, 6_000, 2_000, 10_000);
    let want = uninterrupted(&features, &events, &cfg);
    let dir = tempfile::tempdir().unwrap();
    let mut got = Vec::new();
    let mut next = 0usize;
    for stop in [9_000usize, events.len()] {
        let mut st = PartitionState::open(rocks(dir.path()), 3, &features, &cfg).unwrap();
        for e in &events[next..stop] {
            let mut out = vec![-1.0; features.len()];
            st.process(e, &mut out);
            got.push(out);
        }
        assert!(st.stats().dirty_entries > 4_096, "{:?}", st.stats());
        st.checkpoint(stop as i64).unwrap();
        next = stop;
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(same(g, w), "event {i}: {g:?} != {w:?}");
    }
}

/// A checkpoint whose batch reaches the store only after the partition has
/// processed more events (and, with a tiny cache, evicted entities) gives
/// the same results as an uninterrupted run, and restores exactly: entities
/// in the batch stay hot until it lands, so no read sees the store without
/// it.
#[test]
fn checkpoints_written_beside_the_partition_restore_exactly() {
    let features = feature_set();
    let events = stream(5, 3_000, 60, 15_000, 30_000);
    let want = uninterrupted(&features, &events, &StateConfig::default());
    let tiny = StateConfig {
        cache_capacity: 8,
        ..StateConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let stop = 2_200;
    {
        let mut st = PartitionState::open(rocks(dir.path()), 3, &features, &tiny).unwrap();
        let mut writing = None;
        for (i, e) in events[..stop].iter().enumerate() {
            let mut out = vec![-1.0; features.len()];
            st.process(e, &mut out);
            assert!(same(&out, &want[i]), "event {i}: {out:?} != {:?}", want[i]);
            if i % 50 == 29 {
                // Twenty events after it was prepared, the batch is written
                // on another thread.
                let prepared: verdict_state::PreparedCheckpoint =
                    writing.take().expect("prepared 20 events ago");
                let written = std::thread::spawn(move || prepared.write()).join().unwrap();
                st.finish_checkpoint(written).unwrap();
                assert!(!st.checkpoint_in_flight());
            }
            if i % 50 == 9 {
                writing = Some(st.prepare_checkpoint(i as i64 + 1).unwrap());
                assert!(st.checkpoint_in_flight());
                assert!(
                    st.prepare_checkpoint(i as i64 + 1).is_err(),
                    "one checkpoint is written at a time"
                );
            }
        }
        if let Some(prepared) = writing.take() {
            st.finish_checkpoint(prepared.write()).unwrap();
        }
        st.checkpoint(stop as i64).unwrap();
    }
    let mut st = PartitionState::open(rocks(dir.path()), 3, &features, &tiny).unwrap();
    assert_eq!(st.checkpointed_offset(), Some(stop as i64));
    for (i, e) in events.iter().enumerate().skip(stop) {
        let mut out = vec![-1.0; features.len()];
        st.process(e, &mut out);
        assert!(same(&out, &want[i]), "event {i} after the restart");
    }
}

/// A store whose writes fail once `fail` is set.
struct FailingWrites {
    inner: MemoryStore,
    fail: std::sync::atomic::AtomicBool,
}

impl StateStore for FailingWrites {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, verdict_state::StateError> {
        self.inner.get(key)
    }
    fn write(&self, batch: verdict_state::WriteBatch) -> Result<(), verdict_state::StateError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(verdict_state::StateError::Storage("disk full".into()));
        }
        self.inner.write(batch)
    }
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut verdict_state::ScanVisitor<'_>,
    ) -> Result<(), verdict_state::StateError> {
        self.inner.scan(start, end, visit)
    }
    fn approximate_size(&self, start: &[u8], end: &[u8]) -> Result<u64, verdict_state::StateError> {
        self.inner.approximate_size(start, end)
    }
}

/// A checkpoint write that fails leaves the store at the previous
/// checkpoint and the partition refusing further checkpoints (its memory is
/// ahead of the store): the worker must reopen and replay.
#[test]
fn a_failed_checkpoint_write_refuses_later_checkpoints() {
    let features = feature_set();
    let events = stream(8, 400, 20, 15_000, 30_000);
    let store = Arc::new(FailingWrites {
        inner: MemoryStore::new(),
        fail: false.into(),
    });
    let cfg = StateConfig::default();
    let mut st = PartitionState::open(store.clone(), 3, &features, &cfg).unwrap();
    let mut out = vec![0.0; features.len()];
    for e in &events[..200] {
        st.process(e, &mut out);
    }
    st.checkpoint(200).unwrap();
    for e in &events[200..] {
        st.process(e, &mut out);
    }
    store.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let prepared = st.prepare_checkpoint(400).unwrap();
    assert!(st.finish_checkpoint(prepared.write()).is_err());
    store.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(
        st.checkpoint(400).is_err(),
        "a failed partition refuses checkpoints"
    );
    assert_eq!(st.checkpointed_offset(), Some(200));
    let reopened = PartitionState::open(store, 3, &features, &cfg).unwrap();
    assert_eq!(reopened.checkpointed_offset(), Some(200));
}
