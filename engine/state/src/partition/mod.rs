//! One Kafka partition's keyed state: windows, previous values and user
//! history, with a hot in-memory layer and write-behind checkpoints.
//!
//! # Ownership and the per-event path
//!
//! The partition's worker owns its [`PartitionState`] (`&mut self`): no lock
//! and no shared map on the per-event path. Feature states are grouped by the
//! field they are keyed by (see `layout.rs`): each key field has one hot
//! table from entity key to an entity holding *all* of that key's states
//! side by side. An event therefore costs one probe per key field, not one
//! per feature, and an entity's states share cache lines. A hit touches
//! memory only; a miss reads all of the entity's records from the store in
//! one multi-get (RocksDB, bloom-filtered; [`PartitionState::process_batch`]
//! reads all of a batch's misses in one) and caches the result, empty
//! states included, so absent keys are not read twice.
//!
//! A batch also hashes each key once and drives the look-ahead protocol
//! ([`crate::lookahead`]) so that an event's loads hit the cache.
//!
//! A store read failure on the per-event path cannot be returned from
//! `process`; the partition records it, answers from empty state, and
//! refuses the next checkpoint, so the worker reopens from the last good one.
//!
//! # Files
//!
//! * `mod.rs`: [`PartitionState`]: open, `process`, `process_batch`, and
//!   the checkpoint entry points.
//! * `layout.rs`: key fields and their keyed states, rules reloads.
//! * `cell.rs`: a keyed state's declaration and the cell holding its value.
//! * `entity.rs`: an entity (every state of one key) and its records.
//! * `lookahead.rs`: the partition's side of the look-ahead.
//! * `hot_table.rs`: the open-addressing hot tables.
//! * `cache.rs`: the memory bound and eviction.
//! * `checkpoint.rs`: the two-phase checkpoint and its record.
//! * `record.rs`: the stored value envelope and checkpoint staging.

use std::sync::Arc;

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::FeatureSpec;

use crate::config::StateConfig;
use crate::error::StateError;
use crate::keys;
use crate::lookahead::Link;
use crate::partition::cache::HotBound;
use crate::partition::cell::{Cell, CellState};
pub use crate::partition::checkpoint::PreparedCheckpoint;
use crate::partition::checkpoint::{CheckpointRecord, Checkpoints, Source};
use crate::partition::entity::{Failure, GroupShape, fetch_entities};
use crate::partition::layout::{Install, Layout, event_keys, key_bytes};
use crate::partition::lookahead::prefetch_event;
use crate::store::StateStore;
use crate::tuning::WindowTuning;

mod cache;
mod cell;
mod checkpoint;
mod entity;
mod hot_table;
mod layout;
mod lookahead;
mod record;

/// Gauges for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateStats {
    pub partition: i32,
    /// Entities in the hot layer (keys of every key field).
    pub hot_entries: usize,
    /// Hot entities changed since the last checkpoint.
    pub dirty_entries: usize,
    /// Approximate heap bytes of the hot layer.
    pub hot_bytes: usize,
    /// Maintained feature states (distinct `state_id()`s).
    pub feature_states: usize,
    pub checkpointed_offset: Option<i64>,
}

/// One partition's windows, previous values and user history.
pub struct PartitionState {
    store: Arc<dyn StateStore>,
    partition: i32,
    cfg: StateConfig,
    tuning: WindowTuning,
    layout: Layout,
    clock: u64,
    cache: HotBound,
    watermark: i64,
    offset: Option<i64>,
    /// Current write epoch (see `KeyedState::intro`), persisted with the
    /// checkpoint.
    epoch: u32,
    /// State id → intro epoch from the checkpoint the partition opened on.
    registry: Vec<(u64, u32)>,
    failed: Failure,
    checkpoints: Checkpoints,
    scratch: Vec<u64>,
    numkey: String,
    /// Key hashes of the events being processed, one per group per event.
    keys: Vec<Option<u128>>,
    /// Table slots of their entities, where found (see `HotTable::find`).
    slots: Vec<usize>,
    /// The owner's meta record for the next checkpoint ([`Self::set_meta`]).
    meta: Option<Vec<u8>>,
    /// The store held no state of this partition when it opened (a fresh
    /// store: a replay's, a first start) and no checkpoint has been
    /// prepared since. Every entity not hot is then new, and reading the
    /// store for it could only miss: nothing is evicted before a
    /// checkpoint lands, and nothing else writes the partition's keys while
    /// it is open (a restore runs before, see `open`).
    unwritten: bool,
}

impl std::fmt::Debug for PartitionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionState")
            .field("stats", &self.stats())
            .finish()
    }
}

impl PartitionState {
    /// Opens partition `partition` over `store`, resuming from its last
    /// checkpoint (hot state is loaded lazily, on first use of each key).
    pub fn open(
        store: Arc<dyn StateStore>,
        partition: i32,
        features: &[FeatureSpec],
        cfg: &StateConfig,
    ) -> Result<Self, StateError> {
        cfg.validate()
            .map_err(|errs| StateError::Config(errs.join("; ")))?;
        let record = match store.get(&keys::checkpoint_key(partition))? {
            Some(v) => Some(
                CheckpointRecord::decode(&v).ok_or_else(|| StateError::Corrupt {
                    key: keys::checkpoint_key(partition),
                    reason: "bad checkpoint record",
                })?,
            ),
            None => None,
        };
        let (offset, watermark, epoch, registry) = match record {
            Some(m) => (Some(m.offset), m.watermark, m.epoch, m.registry),
            None => (None, i64::MIN, 0, Vec::new()),
        };
        let unwritten = offset.is_none() && !holds_state(&*store, partition)?;
        let mut st = PartitionState {
            store,
            partition,
            cfg: cfg.clone(),
            tuning: cfg.window_tuning(),
            layout: Layout::new(cfg.history),
            clock: 0,
            cache: HotBound::new(cfg.cache_capacity),
            watermark,
            offset,
            epoch,
            registry,
            failed: None,
            checkpoints: Checkpoints::default(),
            scratch: Vec::new(),
            numkey: String::new(),
            keys: Vec::new(),
            slots: Vec::new(),
            meta: None,
            unwritten,
        };
        st.install_features(features, false);
        Ok(st)
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The meta record the last checkpoint wrote ([`Self::set_meta`]).
    pub fn meta(&self) -> Result<Option<Vec<u8>>, StateError> {
        self.store.get(&keys::meta_key(self.partition))
    }

    /// Writes `meta` with the next checkpoint, in its atomic batch: what the
    /// partition's owner must resume with besides the state itself (the
    /// re-keying hop's ledger of the requests it answered). Opaque here.
    pub fn set_meta(&mut self, meta: Vec<u8>) {
        self.meta = Some(meta);
    }

    /// The next input offset to consume, from the last checkpoint.
    pub fn checkpointed_offset(&self) -> Option<i64> {
        self.offset
    }

    /// Rules hot reload: states of unchanged `state_id()`s are kept, new ones
    /// start empty, removed ones are dropped from each entity's record when
    /// it is next written (or expires).
    pub fn update_features(&mut self, features: &[FeatureSpec]) {
        self.install_features(features, true);
    }

    fn install_features(&mut self, features: &[FeatureSpec], reload: bool) {
        let install = Install {
            tuning: self.tuning,
            tracked: self.cfg.tracked_fields(),
            registry: (!reload).then_some(&self.registry[..]),
        };
        let dropped = self.layout.install(features, install, &mut self.epoch);
        self.checkpoints.keep_dropped(dropped);
        self.cache.hot = self.layout.hot();
    }

    /// Writes every Window/History/Previous feature of the feature list into
    /// `out` (Derived features are left untouched) and applies this event.
    pub fn process(&mut self, txn: &dyn Transaction, out: &mut [f64]) {
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        event_keys(&self.layout.groups, txn, &mut self.numkey, &mut keys);
        let mut slots = std::mem::take(&mut self.slots);
        slots.clear();
        slots.resize(keys.len(), usize::MAX);
        self.process_keyed(txn, &keys, &slots, out);
        self.keys = keys;
        self.slots = slots;
    }

    /// [`Self::process`] for each event of a batch in order, writing event
    /// `i`'s features into `out[i * width..(i + 1) * width]`.
    ///
    /// Faster than one call per event: each key is hashed once, every
    /// entity the batch touches is made hot first, and while an event is
    /// computed the state of the next
    /// [`LOOKAHEAD_EVENTS`](crate::lookahead::LOOKAHEAD_EVENTS) events is
    /// pulled toward the cache, one [`Link`] of its chain per distance.
    pub fn process_batch<T: Transaction>(&mut self, txns: &[T], out: &mut [f64], width: usize) {
        let g = self.layout.groups.len();
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        for txn in txns {
            event_keys(&self.layout.groups, txn, &mut self.numkey, &mut keys);
        }
        // Where each event's entities are: found once, by the load (or 3
        // events ahead for the entities it inserted, which can move others),
        // and reused by the look-ahead and the event itself.
        let mut slots = std::mem::take(&mut self.slots);
        slots.clear();
        slots.resize(keys.len(), usize::MAX);
        self.load_missing(txns, &keys, &mut slots);
        for (i, txn) in txns.iter().enumerate() {
            for link in Link::NEAREST_FIRST {
                let ahead = link.ahead();
                let next = (i + ahead) * g..(i + ahead + 1) * g;
                if let (Some(k), Some(s), Some(t)) = (
                    keys.get(next.clone()),
                    slots.get_mut(next),
                    txns.get(i + ahead),
                ) {
                    prefetch_event(&self.layout.groups, t, k, s, link);
                }
            }
            let row = &mut out[i * width..(i + 1) * width];
            let this = i * g..(i + 1) * g;
            self.process_keyed(txn, &keys[this.clone()], &slots[this], row);
        }
        self.keys = keys;
        self.slots = slots;
    }

    /// Makes every entity a batch touches hot, reading the missing ones
    /// in ONE multi-get (RocksDB looks the keys of a batched read up
    /// together), and notes in `slots` where the present ones are. The
    /// probes are independent of each other, so the CPU overlaps their
    /// cache misses, and they leave the batch's table slots in the cache
    /// for the per-event loop.
    fn load_missing<T: Transaction>(
        &mut self,
        txns: &[T],
        keys: &[Option<u128>],
        slots: &mut [usize],
    ) {
        let groups = &mut self.layout.groups;
        let g = groups.len();
        if g == 0 {
            return;
        }
        // (group, key hash, an event carrying the key)
        let mut missing: Vec<(usize, u128, usize)> = Vec::new();
        for (i, (event_keys, event_slots)) in keys.chunks(g).zip(slots.chunks_mut(g)).enumerate() {
            for (gi, (key, slot)) in event_keys.iter().zip(event_slots).enumerate() {
                let Some(hash) = *key else { continue };
                match groups[gi].entries.find(hash) {
                    Some(found) => *slot = found,
                    None => missing.push((gi, hash, i)),
                }
            }
        }
        if missing.is_empty() {
            return;
        }
        missing.sort_unstable_by_key(|m| (m.0, m.1));
        missing.dedup_by_key(|m| (m.0, m.1));
        let owned: Vec<Box<[u8]>> = missing
            .iter()
            .map(|&(gi, _, i)| {
                key_bytes(&txns[i], groups[gi].key, &mut self.numkey)
                    .unwrap_or_default()
                    .into()
            })
            .collect();
        let wanted: Vec<(GroupShape<'_>, &[u8])> = missing
            .iter()
            .zip(&owned)
            .map(|(&(gi, ..), k)| (groups[gi].shape(), &**k))
            .collect();
        let entities = fetch_entities(
            (!self.unwritten).then_some(&*self.store),
            self.partition,
            &self.layout.keyed,
            &wanted,
            self.clock,
            self.checkpoints.in_flight(),
            &mut self.failed,
        );
        drop(wanted);
        for (&(gi, hash, _), entity) in missing.iter().zip(entities) {
            groups[gi].entries.get_or_insert_with(hash, || entity);
        }
        self.cache.hot += missing.len();
    }

    /// [`Self::process`], given the hash of each group's key of `txn` and
    /// where its entity was last seen in the group's table (a table slot
    /// handle, perhaps stale).
    fn process_keyed(
        &mut self,
        txn: &dyn Transaction,
        keys: &[Option<u128>],
        slots: &[usize],
        out: &mut [f64],
    ) {
        self.clock += 1;
        let clock = self.clock;
        let Some(t) = txn
            .number(Field::EventTime)
            .filter(|v| v.is_finite())
            .map(|v| v as i64)
        else {
            for state in &self.layout.keyed {
                state.outputs.iter().for_each(|&o| out[o] = f64::NAN);
            }
            self.layout
                .history
                .outputs
                .iter()
                .for_each(|&(o, _)| out[o] = f64::NAN);
            return;
        };
        self.watermark = self.watermark.max(t);
        let PartitionState {
            store,
            partition,
            layout,
            cache,
            failed,
            scratch,
            numkey,
            checkpoints,
            unwritten,
            ..
        } = self;
        let Layout {
            keyed,
            groups,
            history,
        } = layout;
        for ((group, key), &slot) in groups.iter_mut().zip(keys).zip(slots) {
            let Some(hash) = *key else {
                for &si in &group.states {
                    keyed[si].outputs.iter().for_each(|&o| out[o] = f64::NAN);
                }
                if group.history {
                    history.outputs.iter().for_each(|&(o, _)| out[o] = f64::NAN);
                }
                continue;
            };
            let entity = if group.entries.holds(slot, hash) {
                group.entries.at_mut(slot).expect("holds the entry")
            } else {
                group.entries.get_or_insert_with(hash, || {
                    let key = key_bytes(txn, group.key, numkey).unwrap_or_default();
                    cache.hot += 1;
                    let shape = GroupShape {
                        field: group.key,
                        states: &group.states,
                        history: group.history,
                    };
                    let wanted = [(shape, key)];
                    let mut e = fetch_entities(
                        (!*unwritten).then_some(&**store),
                        *partition,
                        keyed,
                        &wanted,
                        clock,
                        checkpoints.in_flight(),
                        failed,
                    );
                    e.pop().expect("one entity per key")
                })
            };
            entity.touched = clock;
            for (cell, &si) in entity.cells.iter_mut().zip(&group.states) {
                let state = &keyed[si];
                let v = state.apply(cell, txn, t, scratch);
                entity.dirty |= cell.dirty;
                state.outputs.iter().for_each(|&o| out[o] = v);
            }
            if group.history
                && let Some(Cell {
                    state: CellState::History(h),
                    dirty,
                    ..
                }) = entity.cells.last_mut()
            {
                for &(o, f) in &history.outputs {
                    out[o] = h.read(f, txn, t);
                }
                h.record(txn, t, &history.tracked);
                *dirty = true;
                entity.dirty = true;
            }
        }
        if self.cache.over() {
            self.cache
                .evict(&mut self.layout.groups, self.checkpoints.landed);
        }
    }

    /// Persists dirty state and `next_offset` in one atomic write batch:
    /// [`Self::prepare_checkpoint`], the write, [`Self::finish_checkpoint`].
    pub fn checkpoint(&mut self, next_offset: i64) -> Result<(), StateError> {
        let prepared = self.prepare_checkpoint(next_offset)?;
        let written = prepared.write();
        self.finish_checkpoint(written)
    }

    /// The first half of a checkpoint (see `checkpoint.rs`): encodes every
    /// dirty record, the expiry sweep and `next_offset` into one batch,
    /// which [`PreparedCheckpoint::write`] writes, on any thread, while
    /// this partition goes on processing events; [`Self::finish_checkpoint`]
    /// then records the outcome. Only the encoding blocks the partition.
    ///
    /// From here on the batch's entities count as clean (a change after
    /// this point makes them dirty again, for the next checkpoint) but stay
    /// hot until the batch lands, so no read goes to the store for a record
    /// the batch is still writing; a record the batch's sweep deletes reads
    /// as absent at once. One checkpoint is written at a time: preparing
    /// another before the last is finished is an error.
    pub fn prepare_checkpoint(
        &mut self,
        next_offset: i64,
    ) -> Result<PreparedCheckpoint, StateError> {
        // From here on the store may hold what this batch writes.
        self.unwritten = false;
        let src = Source {
            store: &self.store,
            partition: self.partition,
            watermark: self.watermark,
            epoch: self.epoch,
            failed: &self.failed,
            meta: self.meta.take(),
        };
        let prepared = self
            .checkpoints
            .prepare(src, &mut self.layout, next_offset)?;
        self.registry.clear();
        Ok(prepared)
    }

    /// The second half of a checkpoint: `written` is what
    /// [`PreparedCheckpoint::write`] returned. On success the checkpoint's
    /// offset is the partition's, and its entities may be evicted. On
    /// failure the partition refuses further checkpoints: its memory is
    /// ahead of the store, so the worker must reopen from the last good
    /// checkpoint and replay.
    pub fn finish_checkpoint(&mut self, written: Result<(), StateError>) -> Result<(), StateError> {
        let next_offset = self
            .checkpoints
            .finish(self.partition, written, &mut self.failed)?;
        self.offset = Some(next_offset);
        self.cache
            .checkpoint_landed(&mut self.layout.groups, self.checkpoints.landed);
        Ok(())
    }

    /// A checkpoint is being written (prepared, not finished).
    pub fn checkpoint_in_flight(&self) -> bool {
        self.checkpoints.in_progress()
    }

    /// Gauges for metrics (walks the hot layer: call at scrape time, not per event).
    pub fn stats(&self) -> StateStats {
        let mut s = StateStats {
            partition: self.partition,
            hot_entries: self.cache.hot,
            feature_states: self.layout.keyed.len(),
            checkpointed_offset: self.offset,
            ..StateStats::default()
        };
        for g in &self.layout.groups {
            for e in g.entries.values() {
                s.dirty_entries += usize::from(e.dirty);
                s.hot_bytes +=
                    64 + e.key.len() + e.cells.iter().map(Cell::approx_bytes).sum::<usize>();
            }
        }
        s
    }

    /// Approximate bytes of this partition in the store.
    pub fn stored_bytes(&self) -> Result<u64, StateError> {
        let (s, e) = keys::partition_range(self.partition);
        self.store.approximate_size(&s, &e)
    }
}

/// Whether the store holds any state of `partition` besides its changelog
/// position (its keys share one prefix; the scan stops at the first other).
pub fn holds_state(store: &dyn StateStore, partition: i32) -> Result<bool, StateError> {
    let skip = keys::changelog_position_key(partition);
    let (start, end) = keys::partition_range(partition);
    let mut any = false;
    store.scan(&start, &end, &mut |k, _| {
        any = k != skip.as_slice();
        !any
    })?;
    Ok(any)
}
