//! One Kafka partition's keyed state: windows, previous values and user
//! history, with a hot in-memory layer and write-behind checkpoints.
//!
//! # Ownership and the per-event path
//!
//! The partition's worker owns its [`PartitionState`] (`&mut self`): no lock
//! and no shared map on the per-event path. Each maintained feature state
//! (one per distinct `state_id()`) has its own hash map from entity key to an
//! in-memory entry; user history has one more. A hit touches memory only; a
//! miss reads the store once (RocksDB point read, bloom-filtered) and caches
//! the result, an empty entry included, so absent keys are not read twice.
//!
//! # Memory bound
//!
//! At most `cache-capacity` entries stay hot. When a new entry pushes the
//! count over, the least recently used *clean* entries are dropped down to
//! 90% of capacity; they are reloaded from the store on their next use.
//! Dirty entries (changed since the last checkpoint) are never evicted, so
//! memory is bounded by the capacity plus the keys touched within one
//! checkpoint interval, never by the total number of keys.
//!
//! # Checkpoint protocol
//!
//! [`PartitionState::checkpoint`] writes, in ONE atomic [`WriteBatch`]:
//! range deletes for feature states removed or reset by a rules reload; the
//! expiry sweep (records whose expiry day is at or before the partition's
//! event-time day, found by a bounded scan of the expiry index); every dirty
//! entry (a put, or a delete when it became empty) with its expiry index
//! entry; and the next input offset with the partition watermark. Until that
//! batch lands nothing of the events since the previous checkpoint is in the
//! store, so after a crash the engine reopens, reads
//! [`PartitionState::checkpointed_offset`], and replays from there: every
//! aggregate then equals that of an uninterrupted run. Values are stored as
//! `[expiry day u32 LE][record]`.
//!
//! A store read failure on the per-event path cannot be returned from
//! `process`; the partition records it, answers from empty state, and
//! refuses the next checkpoint, so the worker reopens from the last good one.

use std::sync::Arc;

use hashbrown::hash_map::Entry as MapEntry;

/// Hot map from the 128-bit hash of an entity key to its entry.
///
/// Keying by a hash keeps the probe inside the table: comparing boxed byte
/// keys costs a cache miss per probe, which dominated the per-event path. Two
/// keys of one feature collide with probability about n²/2¹²⁹ (n keys); the
/// key bytes live in the entry for loads and checkpoints.
type HotMap<V> = hashbrown::HashMap<u128, V, BuildKeyHasher>;

/// The table's hasher: the key already is a uniform hash, so fold it.
#[derive(Default, Clone, Copy)]
struct BuildKeyHasher;

#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u128` keys are hashed; stay correct for anything else.
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn key_hash(key: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key)
}
use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::{FeatureKind, FeatureSpec, HistoryFeature, Predicate};

use crate::config::StateConfig;
use crate::error::StateError;
use crate::history::HistoryState;
use crate::keys;
use crate::record::{
    PreviousState, decode_previous, encode_previous, load, previous_expiry_day, stage_record,
};
use crate::store::{StateStore, WriteBatch};
use crate::window::{DAY_MS, WindowPlan, WindowState, WindowTuning};

/// Gauges for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateStats {
    pub partition: i32,
    /// Entries in the hot layer (all feature states and user histories).
    pub hot_entries: usize,
    /// Hot entries changed since the last checkpoint.
    pub dirty_entries: usize,
    /// Approximate heap bytes of the hot layer.
    pub hot_bytes: usize,
    /// Maintained feature states (distinct `state_id()`s).
    pub feature_states: usize,
    pub checkpointed_offset: Option<i64>,
}

struct Entry<S> {
    /// The entity key (for store reads and checkpoints, not for lookups).
    key: Box<[u8]>,
    state: S,
    dirty: bool,
    touched: u64,
    /// Expiry day of the index entry in the store, if any.
    indexed_day: Option<u32>,
}

enum SlotKind {
    Window {
        plan: WindowPlan,
        filter: Option<Predicate>,
    },
    Previous {
        field: Field,
    },
}

enum SlotState {
    Window(WindowState),
    Previous(PreviousState),
}

struct KeyedSlot {
    state_id: String,
    sid_hash: u64,
    key: Field,
    kind: SlotKind,
    outputs: Vec<usize>,
    entries: HotMap<Entry<SlotState>>,
    /// Started empty by a reload: the store may hold stale records of this
    /// state id, deleted at the next checkpoint and never read meanwhile.
    reset_pending: bool,
}

struct HistorySlot {
    enabled: bool,
    tracked: Vec<Field>,
    outputs: Vec<(usize, HistoryFeature)>,
    entries: HotMap<Entry<HistoryState>>,
}

/// One partition's windows, previous values and user history.
pub struct PartitionState {
    store: Arc<dyn StateStore>,
    partition: i32,
    cfg: StateConfig,
    tuning: WindowTuning,
    slots: Vec<KeyedSlot>,
    history: HistorySlot,
    clock: u64,
    hot: usize,
    /// Hot count at which the next eviction runs: above capacity while dirty
    /// entries alone exceed it, so eviction stays amortized.
    evict_at: usize,
    watermark: i64,
    offset: Option<i64>,
    pending_deletes: Vec<(Vec<u8>, Vec<u8>)>,
    failed: Option<String>,
    scratch: Vec<u64>,
    keybuf: Vec<u8>,
}

impl std::fmt::Debug for PartitionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionState")
            .field("stats", &self.stats())
            .finish()
    }
}

fn key_bytes<'a>(txn: &'a dyn Transaction, field: Field, buf: &'a mut String) -> Option<&'a [u8]> {
    if let Some(s) = txn.text(field) {
        return Some(s.as_bytes());
    }
    let v = txn.number(field).filter(|v| !v.is_nan())?;
    buf.clear();
    use std::fmt::Write;
    let _ = write!(buf, "{v}");
    Some(buf.as_bytes())
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
        let (offset, watermark) = match store.get(&keys::meta_key(partition))? {
            Some(v) if v.len() == 16 => {
                let o = i64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
                let w = i64::from_be_bytes(v[8..].try_into().expect("8 bytes"));
                (Some(o), w)
            }
            Some(_) => {
                return Err(StateError::Corrupt {
                    key: keys::meta_key(partition),
                    reason: "bad checkpoint record",
                });
            }
            None => (None, i64::MIN),
        };
        let mut st = PartitionState {
            store,
            partition,
            cfg: cfg.clone(),
            tuning: cfg.window_tuning(),
            slots: Vec::new(),
            history: HistorySlot {
                enabled: cfg.history,
                tracked: Vec::new(),
                outputs: Vec::new(),
                entries: HotMap::default(),
            },
            clock: 0,
            hot: 0,
            evict_at: cfg.cache_capacity,
            watermark,
            offset,
            pending_deletes: Vec::new(),
            failed: None,
            scratch: Vec::new(),
            keybuf: Vec::new(),
        };
        st.install_features(features, false);
        Ok(st)
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The next input offset to consume, from the last checkpoint.
    pub fn checkpointed_offset(&self) -> Option<i64> {
        self.offset
    }

    /// Rules hot reload: states of unchanged `state_id()`s are kept, new ones
    /// start empty, removed ones are deleted from the store at the next
    /// checkpoint.
    pub fn update_features(&mut self, features: &[FeatureSpec]) {
        self.install_features(features, true);
    }

    fn install_features(&mut self, features: &[FeatureSpec], reload: bool) {
        let mut old: Vec<KeyedSlot> = std::mem::take(&mut self.slots);
        let mut tracked = self.cfg.tracked_fields();
        self.history.outputs.clear();
        for (i, spec) in features.iter().enumerate() {
            let (key, kind) = match &spec.kind {
                FeatureKind::Window(w) => (
                    w.key,
                    SlotKind::Window {
                        plan: WindowPlan::new(w, self.tuning),
                        filter: w.filter.clone(),
                    },
                ),
                FeatureKind::Previous { key, field } => {
                    (*key, SlotKind::Previous { field: *field })
                }
                FeatureKind::History(h) => {
                    if let HistoryFeature::FirstTime(f) = h
                        && !tracked.contains(f)
                    {
                        tracked.push(*f);
                    }
                    self.history.outputs.push((i, *h));
                    continue;
                }
                FeatureKind::Derived => continue,
            };
            let state_id = spec.state_id();
            if let Some(s) = self.slots.iter_mut().find(|s| s.state_id == state_id) {
                s.outputs.push(i);
                continue;
            }
            let slot = match old.iter().position(|s| s.state_id == state_id) {
                Some(p) => {
                    let mut s = old.swap_remove(p);
                    s.outputs.clear();
                    s.outputs.push(i);
                    s
                }
                None => {
                    let sid_hash = keys::state_id_hash(&state_id);
                    if reload {
                        self.pending_deletes
                            .push(keys::state_id_range(self.partition, sid_hash));
                    }
                    KeyedSlot {
                        state_id,
                        sid_hash,
                        key,
                        kind,
                        outputs: vec![i],
                        entries: HotMap::default(),
                        reset_pending: reload,
                    }
                }
            };
            self.slots.push(slot);
        }
        for gone in old {
            self.hot -= gone.entries.len();
            self.pending_deletes
                .push(keys::state_id_range(self.partition, gone.sid_hash));
        }
        self.history.tracked = tracked;
    }

    /// Writes every Window/History/Previous slot of the feature list into
    /// `out` (Derived slots are left untouched) and applies this event.
    pub fn process(&mut self, txn: &dyn Transaction, out: &mut [f64]) {
        self.clock += 1;
        let clock = self.clock;
        let Some(t) = txn
            .number(Field::EventTime)
            .filter(|v| v.is_finite())
            .map(|v| v as i64)
        else {
            for slot in &self.slots {
                slot.outputs.iter().for_each(|&o| out[o] = f64::NAN);
            }
            self.history
                .outputs
                .iter()
                .for_each(|&(o, _)| out[o] = f64::NAN);
            return;
        };
        self.watermark = self.watermark.max(t);
        let mut numkey = String::new();
        for slot in &mut self.slots {
            let Some(key) = key_bytes(txn, slot.key, &mut numkey) else {
                slot.outputs.iter().for_each(|&o| out[o] = f64::NAN);
                continue;
            };
            let entry = match slot.entries.entry(key_hash(key)) {
                MapEntry::Occupied(o) => o.into_mut(),
                MapEntry::Vacant(v) => {
                    let loaded = if slot.reset_pending {
                        None
                    } else {
                        keys::keyed_key(&mut self.keybuf, self.partition, slot.sid_hash, key);
                        load(
                            &*self.store,
                            &self.keybuf,
                            &mut self.failed,
                            |data| match &slot.kind {
                                SlotKind::Window { plan, .. } => {
                                    plan.decode(data).map(SlotState::Window)
                                }
                                SlotKind::Previous { .. } => {
                                    decode_previous(data).map(SlotState::Previous)
                                }
                            },
                        )
                    };
                    let (state, indexed_day) = loaded.unwrap_or_else(|| {
                        let s = match &slot.kind {
                            SlotKind::Window { plan, .. } => SlotState::Window(plan.empty()),
                            SlotKind::Previous { .. } => SlotState::Previous(PreviousState {
                                value: f64::NAN,
                                time: i64::MIN,
                            }),
                        };
                        (s, None)
                    });
                    self.hot += 1;
                    v.insert(Entry {
                        key: key.into(),
                        state,
                        dirty: false,
                        touched: clock,
                        indexed_day,
                    })
                }
            };
            entry.touched = clock;
            let v = match (&slot.kind, &mut entry.state) {
                (SlotKind::Window { plan, filter }, SlotState::Window(st)) => {
                    let contributes = filter.as_ref().is_none_or(|p| p.matches(txn));
                    match contributes.then(|| plan.value(txn)).flatten() {
                        Some(value) => {
                            entry.dirty = true;
                            plan.update(st, t, value, &mut self.scratch)
                        }
                        None if st.is_empty() => plan.empty_result(),
                        None => plan.query(st, t, &mut self.scratch),
                    }
                }
                (SlotKind::Previous { field }, SlotState::Previous(p)) => {
                    let prev = p.value;
                    p.value = txn.number(*field).unwrap_or(f64::NAN);
                    p.time = p.time.max(t);
                    entry.dirty = true;
                    prev
                }
                _ => unreachable!("a slot's entries always match its kind"),
            };
            slot.outputs.iter().for_each(|&o| out[o] = v);
        }
        if self.history.enabled {
            self.process_history(txn, t, clock, out);
        }
        if self.hot > self.evict_at {
            self.evict();
        }
    }

    fn process_history(&mut self, txn: &dyn Transaction, t: i64, clock: u64, out: &mut [f64]) {
        let h = &mut self.history;
        let Some(user) = txn.text(Field::UserId) else {
            h.outputs.iter().for_each(|&(o, _)| out[o] = f64::NAN);
            return;
        };
        let key = user.as_bytes();
        let entry = match h.entries.entry(key_hash(key)) {
            MapEntry::Occupied(o) => o.into_mut(),
            MapEntry::Vacant(v) => {
                keys::history_key(&mut self.keybuf, self.partition, key);
                let (state, indexed_day) = load(
                    &*self.store,
                    &self.keybuf,
                    &mut self.failed,
                    HistoryState::decode,
                )
                .unwrap_or_else(|| (HistoryState::default(), None));
                self.hot += 1;
                v.insert(Entry {
                    key: key.into(),
                    state,
                    dirty: false,
                    touched: clock,
                    indexed_day,
                })
            }
        };
        entry.touched = clock;
        for &(o, f) in &h.outputs {
            out[o] = entry.state.read(f, txn, t);
        }
        entry.state.record(txn, t, &h.tracked);
        entry.dirty = true;
    }

    /// Drops least recently used clean entries down to 90% of capacity.
    fn evict(&mut self) {
        let target = self.cfg.cache_capacity - self.cfg.cache_capacity / 10;
        let excess = self.hot.saturating_sub(target);
        if excess == 0 {
            self.evict_at = self.cfg.cache_capacity;
            return;
        }
        let mut ages: Vec<u64> = Vec::with_capacity(self.hot);
        for s in &self.slots {
            ages.extend(s.entries.values().filter(|e| !e.dirty).map(|e| e.touched));
        }
        ages.extend(
            self.history
                .entries
                .values()
                .filter(|e| !e.dirty)
                .map(|e| e.touched),
        );
        if ages.is_empty() {
            self.evict_at = self
                .cfg
                .cache_capacity
                .max(self.hot + self.cfg.cache_capacity / 10 + 1);
            return;
        }
        let n = excess.min(ages.len());
        let cutoff = *ages.select_nth_unstable(n - 1).1;
        let keep = |dirty: bool, touched: u64| dirty || touched > cutoff;
        for s in &mut self.slots {
            s.entries.retain(|_, e| keep(e.dirty, e.touched));
        }
        self.history.entries.retain(|_, e| keep(e.dirty, e.touched));
        self.hot =
            self.slots.iter().map(|s| s.entries.len()).sum::<usize>() + self.history.entries.len();
        self.evict_at = self
            .cfg
            .cache_capacity
            .max(self.hot + self.cfg.cache_capacity / 10 + 1);
    }

    /// Persists dirty state and `next_offset` in one atomic write batch.
    pub fn checkpoint(&mut self, next_offset: i64) -> Result<(), StateError> {
        if let Some(e) = &self.failed {
            return Err(StateError::Storage(format!(
                "partition {} read from the store failed since the last checkpoint ({e}); reopen and replay",
                self.partition
            )));
        }
        let p = self.partition;
        let mut batch = WriteBatch::new();
        for (s, e) in &self.pending_deletes {
            batch.delete_range(s.clone(), e.clone());
        }
        let today = (self.watermark != i64::MIN)
            .then(|| self.watermark.div_euclid(DAY_MS).clamp(0, u32::MAX as i64) as u32);
        if let Some(today) = today {
            let (s, e) = keys::expiry_range_through(p, today);
            self.store.scan(&s, &e, &mut |k, _| {
                if let Some(rk) = keys::record_key_of_expiry(p, k) {
                    batch.delete(rk);
                }
                true
            })?;
            batch.delete_range(s, e);
        }
        let mut value = Vec::new();
        let mut rec_key = Vec::new();
        for slot in &self.slots {
            for entry in slot.entries.values().filter(|e| e.dirty) {
                keys::keyed_key(&mut rec_key, p, slot.sid_hash, &entry.key);
                value.clear();
                value.extend_from_slice(&[0; 4]);
                let (empty, exp) = match (&slot.kind, &entry.state) {
                    (SlotKind::Window { plan, .. }, SlotState::Window(st)) => {
                        plan.encode(st, &mut value);
                        (st.is_empty(), plan.expiry_day(st))
                    }
                    (_, SlotState::Previous(pv)) => {
                        encode_previous(pv, &mut value);
                        (false, previous_expiry_day(pv))
                    }
                    _ => unreachable!("a slot's entries always match its kind"),
                };
                stage_record(
                    &mut batch,
                    p,
                    today,
                    &rec_key,
                    &mut value,
                    empty,
                    exp,
                    entry.indexed_day,
                );
            }
        }
        for entry in self.history.entries.values().filter(|e| e.dirty) {
            keys::history_key(&mut rec_key, p, &entry.key);
            value.clear();
            value.extend_from_slice(&[0; 4]);
            entry.state.encode(&mut value);
            let (empty, exp) = (entry.state.is_empty(), entry.state.expiry_day());
            stage_record(
                &mut batch,
                p,
                today,
                &rec_key,
                &mut value,
                empty,
                exp,
                entry.indexed_day,
            );
        }
        let mut meta = next_offset.to_be_bytes().to_vec();
        meta.extend_from_slice(&self.watermark.to_be_bytes());
        batch.put(keys::meta_key(p), meta);
        self.store.write(batch)?;

        // The batch landed: everything written is now clean.
        let live = |empty: bool, exp: u32| (!empty && today.is_none_or(|d| exp > d)).then_some(exp);
        for slot in &mut self.slots {
            slot.reset_pending = false;
            for e in slot.entries.values_mut().filter(|e| e.dirty) {
                e.dirty = false;
                e.indexed_day = match (&slot.kind, &e.state) {
                    (SlotKind::Window { plan, .. }, SlotState::Window(st)) => {
                        live(st.is_empty(), plan.expiry_day(st))
                    }
                    (_, SlotState::Previous(pv)) => live(false, previous_expiry_day(pv)),
                    _ => None,
                };
            }
        }
        for e in self.history.entries.values_mut().filter(|e| e.dirty) {
            e.dirty = false;
            e.indexed_day = live(e.state.is_empty(), e.state.expiry_day());
        }
        self.pending_deletes.clear();
        self.offset = Some(next_offset);
        self.evict_at = self.cfg.cache_capacity;
        if self.hot > self.cfg.cache_capacity {
            self.evict();
        }
        Ok(())
    }

    /// Gauges for metrics (walks the hot layer: call at scrape time, not per event).
    pub fn stats(&self) -> StateStats {
        let mut s = StateStats {
            partition: self.partition,
            hot_entries: self.hot,
            feature_states: self.slots.len(),
            checkpointed_offset: self.offset,
            ..StateStats::default()
        };
        for slot in &self.slots {
            for e in slot.entries.values() {
                s.dirty_entries += usize::from(e.dirty);
                s.hot_bytes += 64
                    + match &e.state {
                        SlotState::Window(w) => w.approx_bytes(),
                        SlotState::Previous(_) => 16,
                    };
            }
        }
        for e in self.history.entries.values() {
            s.dirty_entries += usize::from(e.dirty);
            s.hot_bytes += 64 + e.state.approx_bytes();
        }
        s
    }

    /// Approximate bytes of this partition in the store.
    pub fn stored_bytes(&self) -> Result<u64, StateError> {
        let (s, e) = keys::partition_range(self.partition);
        self.store.approximate_size(&s, &e)
    }
}
