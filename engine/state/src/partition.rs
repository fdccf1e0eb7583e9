//! One Kafka partition's keyed state: windows, previous values and user
//! history, with a hot in-memory layer and write-behind checkpoints.
//!
//! # Ownership and the per-event path
//!
//! The partition's worker owns its [`PartitionState`] (`&mut self`): no lock
//! and no shared map on the per-event path. Feature states are grouped by the
//! field they are keyed by (card, user, device, IP, merchant, …): each group
//! has one hash map from entity key to an [`Entity`] holding *all* of that
//! key's states side by side (the user group also holds the user's history).
//! An event therefore costs one probe per key field, not one per feature, and
//! an entity's states share cache lines. A hit touches memory only; a miss
//! reads all of the entity's records from the store in one multi-get
//! (RocksDB, bloom-filtered) and caches the result, empty states included, so
//! absent keys are not read twice.
//!
//! # Memory bound
//!
//! At most `cache-capacity` entities (keys of any group) stay hot. When a new
//! entity pushes the count over, the least recently used *clean* entities are
//! dropped down to 90% of capacity; they are reloaded from the store on their
//! next use. Dirty entities (changed since the last checkpoint) are never
//! evicted, so memory is bounded by the capacity plus the keys touched within
//! one checkpoint interval, never by the total number of keys.
//!
//! # Checkpoint protocol
//!
//! [`PartitionState::checkpoint`] writes, in ONE atomic [`WriteBatch`]:
//! range deletes for feature states removed or reset by a rules reload; the
//! expiry sweep (records whose expiry day is at or before the partition's
//! event-time day, found by a bounded scan of the expiry index); every dirty
//! state (a put, or a delete when it became empty) with its expiry index
//! entry; and the next input offset with the partition watermark. Until that
//! batch lands nothing of the events since the previous checkpoint is in the
//! store, so after a crash the engine reopens, reads
//! [`PartitionState::checkpointed_offset`], and replays from there: every
//! aggregate then equals that of an uninterrupted run. Each feature state of
//! each key is its own record (see [`crate::keys`]), so a rules reload that
//! drops a feature deletes its records with one range delete, and a backfill
//! writes history records without touching window state. Values are stored
//! as `[expiry day u32 LE][record]`.
//!
//! A store read failure on the per-event path cannot be returned from
//! `process`; the partition records it, answers from empty state, and
//! refuses the next checkpoint, so the worker reopens from the last good one.

use std::sync::Arc;

use hashbrown::hash_map::Entry as MapEntry;
use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::{FeatureKind, FeatureSpec, HistoryFeature, Predicate};

use crate::config::StateConfig;
use crate::error::StateError;
use crate::history::HistoryState;
use crate::keys;
use crate::record::{
    PreviousState, decode_previous, decode_stored, encode_previous, previous_expiry_day,
    stage_record,
};
use crate::store::{StateStore, WriteBatch};
use crate::window::{DAY_MS, WindowPlan, WindowState, WindowTuning};

/// Hot map from the 128-bit hash of an entity key to its entity.
///
/// Keying by a hash keeps the probe inside the table: comparing boxed byte
/// keys costs a cache miss per probe. Two keys of one group collide with
/// probability about n²/2¹²⁹ (n keys); the key bytes live in the entity for
/// loads and checkpoints.
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

enum SlotKind {
    Window {
        plan: WindowPlan,
        filter: Option<Predicate>,
    },
    Previous {
        field: Field,
    },
}

/// One maintained feature state (a distinct `state_id()`).
struct KeyedSlot {
    state_id: String,
    sid_hash: u64,
    key: Field,
    kind: SlotKind,
    outputs: Vec<usize>,
    /// Started empty by a reload: the store may hold stale records of this
    /// state id, deleted at the next checkpoint and never read meanwhile.
    reset_pending: bool,
}

enum CellState {
    Window(WindowState),
    Previous(PreviousState),
    History(HistoryState),
}

/// One state of one entity.
struct Cell {
    state: CellState,
    /// Changed since the last checkpoint.
    dirty: bool,
    /// Expiry day of the record's index entry in the store, if any.
    indexed_day: Option<u32>,
}

/// Every state of one key of one group.
struct Entity {
    /// The entity key (for store reads and checkpoints, not for lookups).
    key: Box<[u8]>,
    /// One per slot of the group, in the group's order, then the user
    /// history when the group carries it.
    cells: Vec<Cell>,
    /// Some cell is dirty.
    dirty: bool,
    touched: u64,
}

/// The slots keyed by one field, and their entities.
struct Group {
    key: Field,
    /// Indices into `PartitionState::slots`, the order of an entity's cells.
    slots: Vec<usize>,
    /// Entities of this group also carry the user history (the user group).
    history: bool,
    entries: HotMap<Entity>,
}

struct HistoryDef {
    enabled: bool,
    tracked: Vec<Field>,
    outputs: Vec<(usize, HistoryFeature)>,
}

/// One partition's windows, previous values and user history.
pub struct PartitionState {
    store: Arc<dyn StateStore>,
    partition: i32,
    cfg: StateConfig,
    tuning: WindowTuning,
    slots: Vec<KeyedSlot>,
    groups: Vec<Group>,
    history: HistoryDef,
    clock: u64,
    hot: usize,
    /// Hot count at which the next eviction runs: above capacity while dirty
    /// entities alone exceed it, so eviction stays amortized.
    evict_at: usize,
    watermark: i64,
    offset: Option<i64>,
    pending_deletes: Vec<(Vec<u8>, Vec<u8>)>,
    failed: Option<String>,
    scratch: Vec<u64>,
    numkey: String,
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

impl KeyedSlot {
    fn empty_state(&self) -> CellState {
        match &self.kind {
            SlotKind::Window { plan, .. } => CellState::Window(plan.empty()),
            SlotKind::Previous { .. } => CellState::Previous(PreviousState {
                value: f64::NAN,
                time: i64::MIN,
            }),
        }
    }

    fn decode(&self, data: &[u8]) -> Option<CellState> {
        match &self.kind {
            SlotKind::Window { plan, .. } => plan.decode(data).map(CellState::Window),
            SlotKind::Previous { .. } => decode_previous(data).map(CellState::Previous),
        }
    }

    /// Applies the event to this slot's state of one key; returns the value.
    fn apply(&self, cell: &mut Cell, txn: &dyn Transaction, t: i64, scratch: &mut Vec<u64>) -> f64 {
        match (&self.kind, &mut cell.state) {
            (SlotKind::Window { plan, filter }, CellState::Window(st)) => {
                let contributes = filter.as_ref().is_none_or(|p| p.matches(txn));
                match contributes.then(|| plan.value(txn)).flatten() {
                    Some(value) => {
                        cell.dirty = true;
                        plan.update(st, t, value, scratch)
                    }
                    None if st.is_empty() => plan.empty_result(),
                    None => plan.query(st, t, scratch),
                }
            }
            (SlotKind::Previous { field }, CellState::Previous(p)) => {
                let prev = p.value;
                p.value = txn.number(*field).unwrap_or(f64::NAN);
                p.time = p.time.max(t);
                cell.dirty = true;
                prev
            }
            _ => unreachable!("a slot's cells always match its kind"),
        }
    }
}

impl Cell {
    fn fresh(state: CellState) -> Self {
        Cell {
            state,
            dirty: false,
            indexed_day: None,
        }
    }

    /// `(empty, expiry day)` of the record this cell persists to.
    fn persisted(&self, slot: Option<&KeyedSlot>) -> (bool, u32) {
        match (&self.state, slot.map(|s| &s.kind)) {
            (CellState::Window(st), Some(SlotKind::Window { plan, .. })) => {
                (st.is_empty(), plan.expiry_day(st))
            }
            (CellState::Previous(pv), _) => (false, previous_expiry_day(pv)),
            (CellState::History(h), _) => (h.is_empty(), h.expiry_day()),
            _ => unreachable!("a slot's cells always match its kind"),
        }
    }

    fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Cell>()
            + match &self.state {
                CellState::Window(w) => w.approx_bytes(),
                CellState::Previous(_) => 0,
                CellState::History(h) => h.approx_bytes(),
            }
    }
}

/// The slot of each cell of a group's entities (`None` for the history cell).
fn cell_slots<'s>(
    slots: &'s [KeyedSlot],
    group_slots: &'s [usize],
    history: bool,
) -> impl Iterator<Item = Option<&'s KeyedSlot>> + 's {
    group_slots
        .iter()
        .map(|&i| Some(&slots[i]))
        .chain(history.then_some(None))
}

/// Store key of a cell's record.
fn record_key(buf: &mut Vec<u8>, partition: i32, slot: Option<&KeyedSlot>, key: &[u8]) {
    match slot {
        Some(s) => keys::keyed_key(buf, partition, s.sid_hash, key),
        None => keys::history_key(buf, partition, key),
    }
}

/// Reads every state of a new hot entity in one multi-get; a failure is
/// remembered in `failed` and answered with empty state.
fn fetch_entity(
    store: &dyn StateStore,
    partition: i32,
    slots: &[KeyedSlot],
    group_slots: &[usize],
    history: bool,
    key: &[u8],
    failed: &mut Option<String>,
) -> Vec<Cell> {
    let mut cells: Vec<Cell> = cell_slots(slots, group_slots, history)
        .map(|s| match s {
            Some(s) => Cell::fresh(s.empty_state()),
            None => Cell::fresh(CellState::History(HistoryState::default())),
        })
        .collect();
    let wanted: Vec<(usize, Option<&KeyedSlot>)> = cell_slots(slots, group_slots, history)
        .enumerate()
        .filter(|(_, s)| s.is_none_or(|s| !s.reset_pending))
        .collect();
    if wanted.is_empty() {
        return cells;
    }
    let record_keys: Vec<Vec<u8>> = wanted
        .iter()
        .map(|&(_, s)| {
            let mut k = Vec::new();
            record_key(&mut k, partition, s, key);
            k
        })
        .collect();
    let refs: Vec<&[u8]> = record_keys.iter().map(Vec::as_slice).collect();
    let values = match store.multi_get(&refs) {
        Ok(v) => v,
        Err(e) => {
            failed.get_or_insert_with(|| e.to_string());
            return cells;
        }
    };
    for ((ci, slot), (value, rk)) in wanted.into_iter().zip(values.into_iter().zip(&record_keys)) {
        let Some(data) = value else { continue };
        let decoded = decode_stored(&data, |rec| match slot {
            Some(s) => s.decode(rec),
            None => HistoryState::decode(rec).map(CellState::History),
        });
        match decoded {
            Some((state, day)) => {
                cells[ci].state = state;
                cells[ci].indexed_day = Some(day);
            }
            None => {
                failed.get_or_insert_with(|| format!("corrupt record under key {rk:02x?}"));
            }
        }
    }
    cells
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
            groups: Vec::new(),
            history: HistoryDef {
                enabled: cfg.history,
                tracked: Vec::new(),
                outputs: Vec::new(),
            },
            clock: 0,
            hot: 0,
            evict_at: cfg.cache_capacity,
            watermark,
            offset,
            pending_deletes: Vec::new(),
            failed: None,
            scratch: Vec::new(),
            numkey: String::new(),
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
        let mut old: Vec<Option<KeyedSlot>> = std::mem::take(&mut self.slots)
            .into_iter()
            .map(Some)
            .collect();
        // For each new slot, the index it had before the reload.
        let mut origin: Vec<Option<usize>> = Vec::new();
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
            let kept = old
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.state_id == state_id));
            let slot = match kept {
                Some(p) => {
                    let mut s = old[p].take().expect("just found");
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
                        reset_pending: reload,
                    }
                }
            };
            origin.push(kept);
            self.slots.push(slot);
        }
        for gone in old.into_iter().flatten() {
            self.pending_deletes
                .push(keys::state_id_range(self.partition, gone.sid_hash));
        }
        self.history.tracked = tracked;
        self.regroup(&origin);
    }

    /// Rebuilds the groups from `self.slots` and moves every hot entity's
    /// kept states into its new layout (`origin[i]`: slot `i`'s index before).
    fn regroup(&mut self, origin: &[Option<usize>]) {
        let old_groups = std::mem::take(&mut self.groups);
        let mut groups: Vec<Group> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            match groups.iter_mut().find(|g| g.key == slot.key) {
                Some(g) => g.slots.push(i),
                None => groups.push(Group {
                    key: slot.key,
                    slots: vec![i],
                    history: false,
                    entries: HotMap::default(),
                }),
            }
        }
        if self.history.enabled {
            match groups.iter_mut().find(|g| g.key == Field::UserId) {
                Some(g) => g.history = true,
                None => groups.push(Group {
                    key: Field::UserId,
                    slots: Vec::new(),
                    history: true,
                    entries: HotMap::default(),
                }),
            }
        }
        self.hot = 0;
        for mut old in old_groups {
            let Some(g) = groups.iter_mut().find(|g| g.key == old.key) else {
                continue;
            };
            // Each new cell's position among the old cells, if it was kept.
            let mut from: Vec<Option<usize>> = g
                .slots
                .iter()
                .map(|&i| origin[i].and_then(|o| old.slots.iter().position(|&s| s == o)))
                .collect();
            if g.history {
                from.push(old.history.then_some(old.slots.len()));
            }
            let slots = &self.slots;
            let group_slots = &g.slots;
            for e in old.entries.values_mut() {
                let mut prev: Vec<Option<Cell>> =
                    std::mem::take(&mut e.cells).into_iter().map(Some).collect();
                e.cells = from
                    .iter()
                    .enumerate()
                    .map(|(ci, src)| {
                        src.and_then(|p| prev[p].take()).unwrap_or_else(|| {
                            Cell::fresh(match group_slots.get(ci) {
                                Some(&si) => slots[si].empty_state(),
                                None => CellState::History(HistoryState::default()),
                            })
                        })
                    })
                    .collect();
                e.dirty = e.cells.iter().any(|c| c.dirty);
            }
            g.entries = old.entries;
        }
        self.hot = groups.iter().map(|g| g.entries.len()).sum();
        self.groups = groups;
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
        let PartitionState {
            store,
            partition,
            slots,
            groups,
            history,
            hot,
            failed,
            scratch,
            numkey,
            ..
        } = self;
        for group in groups.iter_mut() {
            let Some(key) = key_bytes(txn, group.key, numkey) else {
                for &si in &group.slots {
                    slots[si].outputs.iter().for_each(|&o| out[o] = f64::NAN);
                }
                if group.history {
                    history.outputs.iter().for_each(|&(o, _)| out[o] = f64::NAN);
                }
                continue;
            };
            let entity = match group.entries.entry(key_hash(key)) {
                MapEntry::Occupied(o) => o.into_mut(),
                MapEntry::Vacant(v) => {
                    let cells = fetch_entity(
                        &**store,
                        *partition,
                        slots,
                        &group.slots,
                        group.history,
                        key,
                        failed,
                    );
                    *hot += 1;
                    v.insert(Entity {
                        key: key.into(),
                        cells,
                        dirty: false,
                        touched: clock,
                    })
                }
            };
            entity.touched = clock;
            for (cell, &si) in entity.cells.iter_mut().zip(&group.slots) {
                let slot = &slots[si];
                let v = slot.apply(cell, txn, t, scratch);
                entity.dirty |= cell.dirty;
                slot.outputs.iter().for_each(|&o| out[o] = v);
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
        if self.hot > self.evict_at {
            self.evict();
        }
    }

    /// Drops least recently used clean entities down to 90% of capacity.
    fn evict(&mut self) {
        let target = self.cfg.cache_capacity - self.cfg.cache_capacity / 10;
        let excess = self.hot.saturating_sub(target);
        if excess == 0 {
            self.evict_at = self.cfg.cache_capacity;
            return;
        }
        let mut ages: Vec<u64> = Vec::with_capacity(self.hot);
        for g in &self.groups {
            ages.extend(g.entries.values().filter(|e| !e.dirty).map(|e| e.touched));
        }
        if ages.is_empty() {
            self.evict_at = self
                .cfg
                .cache_capacity
                .max(self.hot + self.cfg.cache_capacity / 10 + 1);
            return;
        }
        let n = excess.min(ages.len());
        let cutoff = *ages.select_nth_unstable(n - 1).1;
        for g in &mut self.groups {
            g.entries.retain(|_, e| e.dirty || e.touched > cutoff);
        }
        self.hot = self.groups.iter().map(|g| g.entries.len()).sum();
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
        // Assembled in key order, which RocksDB inserts into its memtable far
        // faster than random order: range deletes; the sweep's record
        // deletes; records by state id then key (tag 0x01), user histories
        // by key (0x02); expiry index changes (0x03); the meta record.
        let mut batch = WriteBatch::new();
        for (s, e) in &self.pending_deletes {
            batch.delete_range(s.clone(), e.clone());
        }
        let today = (self.watermark != i64::MIN)
            .then(|| self.watermark.div_euclid(DAY_MS).clamp(0, u32::MAX as i64) as u32);
        if let Some(today) = today {
            let (s, e) = keys::expiry_range_through(p, today);
            let mut swept = WriteBatch::new();
            self.store.scan(&s, &e, &mut |k, _| {
                if let Some(rk) = keys::record_key_of_expiry(p, k) {
                    swept.delete(rk);
                }
                true
            })?;
            batch.delete_range(s, e);
            swept.sort_by_key();
            batch.append(swept);
        }
        // Each group's dirty entities by key; its cells by state id.
        let dirty: Vec<Vec<&Entity>> = self
            .groups
            .iter()
            .map(|g| {
                let mut d: Vec<&Entity> = g.entries.values().filter(|e| e.dirty).collect();
                d.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                d
            })
            .collect();
        let mut cells: Vec<(u64, usize, usize)> = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            cells.extend(
                g.slots
                    .iter()
                    .enumerate()
                    .map(|(ci, &si)| (self.slots[si].sid_hash, gi, ci)),
            );
        }
        cells.sort_unstable();
        for (gi, g) in self.groups.iter().enumerate() {
            if g.history {
                cells.push((0, gi, g.slots.len()));
            }
        }
        let mut index = WriteBatch::new();
        let mut value = Vec::new();
        let mut rec_key = Vec::new();
        for &(_, gi, ci) in &cells {
            let slot = self.groups[gi].slots.get(ci).map(|&si| &self.slots[si]);
            for entity in &dirty[gi] {
                let cell = &entity.cells[ci];
                if !cell.dirty {
                    continue;
                }
                record_key(&mut rec_key, p, slot, &entity.key);
                value.clear();
                value.extend_from_slice(&[0; 4]);
                match (&cell.state, slot.map(|s| &s.kind)) {
                    (CellState::Window(st), Some(SlotKind::Window { plan, .. })) => {
                        plan.encode(st, &mut value)
                    }
                    (CellState::Previous(pv), _) => encode_previous(pv, &mut value),
                    (CellState::History(h), _) => h.encode(&mut value),
                    _ => unreachable!("a slot's cells always match its kind"),
                }
                let (empty, exp) = cell.persisted(slot);
                stage_record(
                    &mut batch,
                    &mut index,
                    p,
                    today,
                    &rec_key,
                    &mut value,
                    empty,
                    exp,
                    cell.indexed_day,
                );
            }
        }
        drop(dirty);
        index.sort_by_key();
        batch.append(index);
        let mut meta = next_offset.to_be_bytes().to_vec();
        meta.extend_from_slice(&self.watermark.to_be_bytes());
        batch.put(keys::meta_key(p), meta);
        self.store.write(batch)?;

        // The batch landed: everything written is now clean.
        let live = |empty: bool, exp: u32| (!empty && today.is_none_or(|d| exp > d)).then_some(exp);
        for slot in &mut self.slots {
            slot.reset_pending = false;
        }
        for g in &mut self.groups {
            let slots = &self.slots;
            let per_cell: Vec<Option<&KeyedSlot>> =
                cell_slots(slots, &g.slots, g.history).collect();
            for e in g.entries.values_mut().filter(|e| e.dirty) {
                e.dirty = false;
                for (cell, slot) in e.cells.iter_mut().zip(&per_cell) {
                    if cell.dirty {
                        cell.dirty = false;
                        let (empty, exp) = cell.persisted(*slot);
                        cell.indexed_day = live(empty, exp);
                    }
                }
            }
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
        for g in &self.groups {
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
