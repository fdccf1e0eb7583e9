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
//! (RocksDB, bloom-filtered; [`PartitionState::process_batch`] reads all of
//! a batch's misses in one) and caches the result, empty states included,
//! so absent keys are not read twice.
//!
//! # Memory bound
//!
//! At most `cache-capacity` entities (keys of any group) stay hot. When a new
//! entity pushes the count over, the least recently used *clean* entities are
//! dropped down to 90% of capacity; they are reloaded from the store on their
//! next use. Dirty entities (changed since the last checkpoint) and those in
//! a checkpoint still being written are never evicted, so memory is bounded
//! by the capacity plus the keys touched within two checkpoint intervals,
//! never by the total number of keys.
//!
//! # Checkpoint protocol
//!
//! [`PartitionState::checkpoint`] writes, in ONE atomic [`WriteBatch`] in
//! key order: the expiry sweep (records whose expiry day is at or before the
//! partition's event-time day, found by a bounded scan of the expiry index);
//! every dirty entity's record and dirty history (a put, or a delete when it
//! became empty) with its expiry index entry; and the checkpoint record: the
//! next input offset, the partition watermark, the write epoch and the
//! registry of declared states. Until that batch lands nothing of the events
//! since the previous checkpoint is in the store, so after a crash the
//! engine reopens, reads [`PartitionState::checkpointed_offset`], and
//! replays from there: every aggregate then equals that of an uninterrupted
//! run.
//!
//! The checkpoint runs in halves so that the partition only waits for the
//! encoding: [`PartitionState::prepare_checkpoint`] builds the batch,
//! [`PreparedCheckpoint::write`] writes it on any thread while events go
//! on, and [`PartitionState::finish_checkpoint`] records the outcome. The
//! batch's entities are clean from `prepare` (later changes dirty them
//! again) but pinned hot until it lands, so no read reaches the store for a
//! record still being written.
//!
//! All window and previous-value states of one key are one entity record
//! (see [`crate::keys`]); the user history is its own record, so a backfill
//! writes it without touching window state. A section of an entity record is
//! read only for a state declared when the record was written (its intro
//! epoch at or before the record's write epoch): a feature dropped by a
//! rules reload and declared again starts empty, and dropped sections
//! vanish when the entity is next written. Values are stored as
//! `[expiry day u32 LE][record]`.
//!
//! A store read failure on the per-event path cannot be returned from
//! `process`; the partition records it, answers from empty state, and
//! refuses the next checkpoint, so the worker reopens from the last good one.

use std::collections::HashMap;
use std::sync::Arc;

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::{FeatureKind, FeatureSpec, HistoryFeature, Predicate};

use crate::codec::{Reader, Writer};
use crate::config::StateConfig;
use crate::error::StateError;
use crate::history::HistoryState;
use crate::hot::HotTable;
use crate::keys;
use crate::record::{
    PreviousState, Staging, decode_previous, decode_stored, encode_previous, previous_expiry_day,
    split_value,
};
use crate::store::{StateStore, WriteBatch};
use crate::window::{DAY_MS, WindowPlan, WindowState, WindowTuning};

/// Pulls the cache line holding `p` toward the core.
#[inline(always)]
pub(crate) fn prefetch_line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing architecturally and
    // never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Pulls every cache line of `s` toward the core.
pub(crate) fn prefetch_slice<T>(s: &[T]) {
    prefetch_span(s.as_ptr(), std::mem::size_of_val(s));
}

/// Pulls every cache line of the `len` bytes from `p` toward the core
/// (the bytes need not belong to one object: a prefetch never faults).
pub(crate) fn prefetch_span<T>(p: *const T, len: usize) {
    let start = p.cast::<u8>();
    let first = start as usize & !63;
    let end = (start as usize).wrapping_add(len);
    let mut line = first;
    while line < end {
        prefetch_line(start.wrapping_add(line.wrapping_sub(start as usize)));
        line += 64;
    }
}

/// Entities are found by the 128-bit hash of their key: comparing boxed
/// byte keys would cost a cache miss per probe. Two keys of one group
/// collide with probability about n²/2¹²⁹ (n keys); the key bytes live in
/// the entity for loads and checkpoints.
fn key_hash(key: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key)
}

/// Dirty records from which a checkpoint encodes on two threads.
const PARALLEL_CHECKPOINT_RECORDS: usize = 4_096;

/// Events ahead of the current one whose state [`PartitionState::process_batch`]
/// prefetches, one link of the chain per distance.
pub const HINT_DEPTH: usize = 6;

/// Appends the hash of each group's key of `txn` to `out` (`None` where the
/// event has no such key).
fn event_keys(
    groups: &[Group],
    txn: &dyn Transaction,
    numkey: &mut String,
    out: &mut Vec<Option<u128>>,
) {
    out.extend(
        groups
            .iter()
            .map(|g| key_bytes(txn, g.key, numkey).map(key_hash)),
    );
}

/// A checkpoint's batch, encoded by [`PartitionState::prepare_checkpoint`]
/// and not yet written.
#[must_use = "a prepared checkpoint must be written and finished"]
pub struct PreparedCheckpoint {
    store: Arc<dyn StateStore>,
    batch: WriteBatch,
}

impl PreparedCheckpoint {
    /// Writes the batch atomically. Blocking: call it off the partition's
    /// worker (or inline, as [`PartitionState::checkpoint`] does), then
    /// hand the result to [`PartitionState::finish_checkpoint`].
    pub fn write(self) -> Result<(), StateError> {
        self.store.write(self.batch)
    }
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
    /// Write epoch at which this state started (empty). A stored entity
    /// record written at an earlier epoch may hold a section of an earlier
    /// state with the same id (removed, then declared again); it is ignored.
    intro: u32,
}

enum CellState {
    Window(WindowState),
    Previous(PreviousState),
    /// Boxed: one per user entity, and far larger than a window's header,
    /// which would otherwise size every cell.
    History(Box<HistoryState>),
}

/// One state of one entity.
struct Cell {
    state: CellState,
    /// Changed since the last checkpoint.
    dirty: bool,
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
    /// Sequence number of the last checkpoint whose batch carries this
    /// entity: it stays hot until that batch has landed (see
    /// [`PartitionState::prepare_checkpoint`]).
    pinned: u32,
    touched: u64,
    /// Expiry days of the index entries of the entity record and of the
    /// history record in the store, if any.
    indexed_day: Option<u32>,
    history_indexed_day: Option<u32>,
}

/// The slots keyed by one field, and their entities.
struct Group {
    key: Field,
    /// Indices into `PartitionState::slots`, the order of an entity's cells.
    slots: Vec<usize>,
    /// Entities of this group also carry the user history (the user group).
    history: bool,
    /// The hints' last links reach this group's states: the history's seen
    /// sets, bucketed distinct counts' values.
    deep: bool,
    /// Entities by the 128-bit hash of their key (see [`crate::hot`]).
    entries: HotTable<Entity>,
}

struct HistoryDef {
    enabled: bool,
    tracked: Vec<Field>,
    outputs: Vec<(usize, HistoryFeature)>,
}

/// The checkpoint record: `[next offset i64 BE][watermark i64 BE]`, then
/// `[epoch u32 BE][n u32 BE]` and `n × [state id hash u64 BE][intro u32 BE]`.
struct Meta {
    offset: i64,
    watermark: i64,
    epoch: u32,
    registry: Vec<(u64, u32)>,
}

impl Meta {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(24 + 12 * self.registry.len());
        v.extend_from_slice(&self.offset.to_be_bytes());
        v.extend_from_slice(&self.watermark.to_be_bytes());
        v.extend_from_slice(&self.epoch.to_be_bytes());
        v.extend_from_slice(&(self.registry.len() as u32).to_be_bytes());
        for (sid, intro) in &self.registry {
            v.extend_from_slice(&sid.to_be_bytes());
            v.extend_from_slice(&intro.to_be_bytes());
        }
        v
    }

    fn decode(v: &[u8]) -> Option<Meta> {
        let i64_at = |i: usize| Some(i64::from_be_bytes(v.get(i..i + 8)?.try_into().ok()?));
        let u32_at = |i: usize| Some(u32::from_be_bytes(v.get(i..i + 4)?.try_into().ok()?));
        let (offset, watermark) = (i64_at(0)?, i64_at(8)?);
        if v.len() == 16 {
            // Written before entity records: its window records (tag 0x01)
            // are not read; histories are.
            return Some(Meta {
                offset,
                watermark,
                epoch: 0,
                registry: Vec::new(),
            });
        }
        let (epoch, n) = (u32_at(16)?, u32_at(20)? as usize);
        if v.len() != 24 + 12 * n {
            return None;
        }
        let registry = (0..n)
            .map(|k| {
                let at = 24 + 12 * k;
                Some((i64_at(at)? as u64, u32_at(at + 8)?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Meta {
            offset,
            watermark,
            epoch,
            registry,
        })
    }
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
    /// Current write epoch (see [`KeyedSlot::intro`]), persisted with the
    /// checkpoint.
    epoch: u32,
    /// State id → intro epoch from the checkpoint the partition opened on.
    registry: Vec<(u64, u32)>,
    failed: Option<String>,
    /// Checkpoints prepared; the last whose batch landed; the one being
    /// written, with its next offset.
    prepared: u32,
    landed: u32,
    writing: Option<(u32, i64)>,
    /// The day through which the last prepared checkpoint swept expired
    /// records.
    swept: Option<u32>,
    /// Entities a rules reload dropped while their checkpoint was being
    /// written, with the expiry day of the index entry it writes (see
    /// [`Self::regroup`]); emptied when it lands.
    limbo: HashMap<(Field, Box<[u8]>), Option<u32>>,
    scratch: Vec<u64>,
    numkey: String,
    /// Key hashes of the events being processed, one per group per event.
    keys: Vec<Option<u128>>,
    /// Table slots of their entities, where found (see [`HotTable::find`]).
    at: Vec<usize>,
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
        }
    }

    /// `(empty, expiry day)` of this cell as a section of its entity record.
    fn persisted(&self, slot: &KeyedSlot) -> (bool, u32) {
        match (&self.state, &slot.kind) {
            (CellState::Window(st), SlotKind::Window { plan, .. }) => {
                (st.is_empty(), plan.expiry_day(st))
            }
            (CellState::Previous(pv), _) => (false, previous_expiry_day(pv)),
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

/// What a checkpoint being written changes for reads from the store (see
/// [`PartitionState::prepare_checkpoint`]).
#[derive(Clone, Copy)]
struct InFlight<'a> {
    /// The day through which the last prepared checkpoint swept expired
    /// records: a record expiring by then reads as absent.
    swept: Option<u32>,
    /// Keys a rules reload dropped while their checkpoint was being
    /// written, with the expiry day of the index entry that checkpoint
    /// writes for them.
    limbo: &'a HashMap<(Field, Box<[u8]>), Option<u32>>,
}

/// A group's layout, as [`fetch_entities`] needs it.
struct GroupShape<'a> {
    field: Field,
    slots: &'a [usize],
    history: bool,
}

impl<'a> From<&'a Group> for GroupShape<'a> {
    fn from(g: &'a Group) -> Self {
        GroupShape {
            field: g.key,
            slots: &g.slots,
            history: g.history,
        }
    }
}

/// Reads new hot entities, given as `(group, key)`, in ONE multi-get of
/// their entity records and (for users) history records, and builds them.
/// A failure is remembered in `failed` and answered with empty state.
fn fetch_entities(
    store: &dyn StateStore,
    partition: i32,
    slots: &[KeyedSlot],
    wanted: &[(GroupShape<'_>, &[u8])],
    clock: u64,
    in_flight: InFlight<'_>,
    failed: &mut Option<String>,
) -> Vec<Entity> {
    let mut record_keys: Vec<Vec<u8>> = Vec::with_capacity(2 * wanted.len());
    for (g, key) in wanted {
        if !g.slots.is_empty() {
            let mut k = Vec::new();
            keys::entity_key(&mut k, partition, g.field, key);
            record_keys.push(k);
        }
        if g.history {
            let mut k = Vec::new();
            keys::history_key(&mut k, partition, key);
            record_keys.push(k);
        }
    }
    let refs: Vec<&[u8]> = record_keys.iter().map(Vec::as_slice).collect();
    let values = store.multi_get(&refs).unwrap_or_else(|e| {
        failed.get_or_insert_with(|| e.to_string());
        vec![None; refs.len()]
    });
    // A record whose expiry day a checkpoint's sweep has passed is gone
    // once that checkpoint lands: read it as absent even while the batch
    // deleting it is still being written.
    let live = |data: &[u8]| {
        split_value(data).is_some_and(|(day, _)| in_flight.swept.is_none_or(|d| day > d))
    };
    let mut values = values
        .into_iter()
        .map(|v| v.filter(|data| live(data)))
        .zip(&record_keys);
    let mut corrupt = |rk: &[u8]| {
        failed.get_or_insert_with(|| format!("corrupt record under key {rk:02x?}"));
    };
    wanted
        .iter()
        .map(|(g, key)| {
            let mut cells: Vec<Cell> = g
                .slots
                .iter()
                .map(|&si| Cell::fresh(slots[si].empty_state()))
                .chain(
                    g.history
                        .then(|| Cell::fresh(CellState::History(Box::default()))),
                )
                .collect();
            let (mut indexed_day, mut history_indexed_day) = (None, None);
            if !g.slots.is_empty()
                && let Some((value, rk)) = values.next()
                && let Some(data) = value
            {
                let decoded = decode_stored(&data, |rec| {
                    decode_entity(rec, slots, g.slots, &mut cells).then_some(())
                });
                match decoded {
                    Some(((), day)) => indexed_day = Some(day),
                    None => corrupt(rk),
                }
            }
            if g.history
                && let Some((value, rk)) = values.next()
                && let Some(data) = value
            {
                match decode_stored(&data, HistoryState::decode) {
                    Some((h, day)) => {
                        if let Some(c) = cells.last_mut() {
                            c.state = CellState::History(Box::new(h));
                        }
                        history_indexed_day = Some(day);
                    }
                    None => corrupt(rk),
                }
            }
            // A key dropped by a reload while its batch was in flight: its
            // index entry is the one that batch writes.
            if !in_flight.limbo.is_empty()
                && let Some(&day) = in_flight.limbo.get(&(g.field, Box::<[u8]>::from(*key)))
            {
                indexed_day = day;
            }
            Entity {
                key: (*key).into(),
                cells,
                dirty: false,
                pinned: 0,
                touched: clock,
                indexed_day,
                history_indexed_day,
            }
        })
        .collect()
}

/// Entity record body: `[write epoch uvar][sections uvar]` then per
/// section `[state id hash u64][length uvar][state]`. Sections of states no
/// longer declared, or declared again after the record was written, are
/// skipped. Returns false when the record is corrupt.
fn decode_entity(
    rec: &[u8],
    slots: &[KeyedSlot],
    group_slots: &[usize],
    cells: &mut [Cell],
) -> bool {
    let mut r = Reader::new(rec);
    let (Some(epoch), Some(n)) = (r.uvar(), r.len()) else {
        return false;
    };
    for _ in 0..n {
        let (Some(sid), Some(len)) = (r.u64_raw(), r.len()) else {
            return false;
        };
        let Some(data) = r.take(len) else {
            return false;
        };
        let Some(ci) = group_slots
            .iter()
            .position(|&si| slots[si].sid_hash == sid && u64::from(slots[si].intro) <= epoch)
        else {
            continue;
        };
        match slots[group_slots[ci]].decode(data) {
            Some(state) => cells[ci].state = state,
            None => return false,
        }
    }
    r.is_empty()
}

/// `(empty, expiry day)` of an entity record: empty when every keyed state
/// is, else expiring with its latest-expiring state.
fn entity_expiry(slots: &[KeyedSlot], group_slots: &[usize], cells: &[Cell]) -> (bool, u32) {
    group_slots
        .iter()
        .zip(cells)
        .map(|(&si, c)| c.persisted(&slots[si]))
        .filter(|(empty, _)| !empty)
        .fold((true, 0), |(_, m), (_, exp)| (false, m.max(exp)))
}

/// Encodes an entity's non-empty keyed states as a record body (see
/// [`decode_entity`]).
fn encode_entity(
    out: &mut Vec<u8>,
    section: &mut Vec<u8>,
    epoch: u32,
    slots: &[KeyedSlot],
    group_slots: &[usize],
    cells: &[Cell],
) {
    let live: Vec<(&KeyedSlot, &Cell)> = group_slots
        .iter()
        .zip(cells)
        .map(|(&si, c)| (&slots[si], c))
        .filter(|(slot, c)| !c.persisted(slot).0)
        .collect();
    let mut w = Writer::new(out);
    w.uvar(u64::from(epoch));
    w.uvar(live.len() as u64);
    for (slot, cell) in live {
        section.clear();
        match (&cell.state, &slot.kind) {
            (CellState::Window(st), SlotKind::Window { plan, .. }) => plan.encode(st, section),
            (CellState::Previous(pv), _) => encode_previous(pv, section),
            _ => unreachable!("a slot's cells always match its kind"),
        }
        w.u64_raw(slot.sid_hash);
        w.uvar(section.len() as u64);
        w.bytes(section);
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
        let meta = match store.get(&keys::meta_key(partition))? {
            Some(v) => Some(Meta::decode(&v).ok_or_else(|| StateError::Corrupt {
                key: keys::meta_key(partition),
                reason: "bad checkpoint record",
            })?),
            None => None,
        };
        let (offset, watermark, epoch, registry) = match meta {
            Some(m) => (Some(m.offset), m.watermark, m.epoch, m.registry),
            None => (None, i64::MIN, 0, Vec::new()),
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
            epoch,
            registry,
            failed: None,
            prepared: 0,
            landed: 0,
            writing: None,
            swept: None,
            limbo: HashMap::new(),
            scratch: Vec::new(),
            numkey: String::new(),
            keys: Vec::new(),
            at: Vec::new(),
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
    /// start empty, removed ones are dropped from each entity's record when
    /// it is next written (or expires).
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
        let mut bumped = false;
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
                    // Resumed from the checkpoint's registry, or new: new
                    // states start empty at a fresh epoch, so no stored
                    // section of an earlier state with this id is read.
                    let known = (!reload)
                        .then(|| self.registry.iter().find(|r| r.0 == sid_hash))
                        .flatten()
                        .map(|r| r.1);
                    let intro = known.unwrap_or_else(|| {
                        if !bumped {
                            self.epoch = self.epoch.saturating_add(1);
                            bumped = true;
                        }
                        self.epoch
                    });
                    KeyedSlot {
                        state_id,
                        sid_hash,
                        key,
                        kind,
                        outputs: vec![i],
                        intro,
                    }
                }
            };
            origin.push(kept);
            self.slots.push(slot);
        }
        // States no longer declared (what is left in `old`) go; their
        // sections leave entity records as those are next written.
        drop(old);
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
                    deep: false,
                    entries: HotTable::default(),
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
                    deep: false,
                    entries: HotTable::default(),
                }),
            }
        }
        for g in &mut groups {
            g.deep = g.history
                || g.slots.iter().any(|&si| {
                    matches!(&self.slots[si].kind, SlotKind::Window { plan, .. } if plan.keeps_values())
                });
        }
        self.hot = 0;
        for mut old in old_groups {
            let Some(g) = groups.iter_mut().find(|g| g.key == old.key) else {
                // Dropped with every state of its key field. If one comes
                // back before the checkpoint being written lands, a key
                // read from the store then gets its old record (whose
                // sections it ignores: re-declared states start at a newer
                // epoch) but must get the expiry index entry the batch
                // wrote, or a stale entry could later sweep a live record.
                if self.writing.is_some() {
                    let landed = self.landed;
                    for e in old.entries.values().filter(|e| e.pinned > landed) {
                        self.limbo.insert((old.key, e.key.clone()), e.indexed_day);
                    }
                }
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
                                None => CellState::History(Box::default()),
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
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        event_keys(&self.groups, txn, &mut self.numkey, &mut keys);
        let mut at = std::mem::take(&mut self.at);
        at.clear();
        at.resize(keys.len(), usize::MAX);
        self.process_keyed(txn, &keys, &at, out);
        self.keys = keys;
        self.at = at;
    }

    /// [`Self::process`] for each event of a batch in order, writing event
    /// `i`'s features into `out[i * width..(i + 1) * width]`.
    ///
    /// Faster than one call per event: each key is hashed once, and while
    /// an event is computed the state of the next [`HINT_DEPTH`] events is
    /// pulled toward the cache. The state of one event is a chain of loads
    /// (table slot, cells, each state's buffers, the history's arrays, the
    /// seen values the event looks up), so each distance prefetches one
    /// link: 6 events ahead the table slots, 5 the cells, 4 the ends of the
    /// buffers the cells point to and the history, 3 the history's arrays
    /// and distinct counts' value indexes, 2 where the event's values are
    /// searched in the history's seen sets, 1 the days of the values found.
    /// By the time an event is processed its loads hit the cache.
    pub fn process_batch<T: Transaction>(&mut self, txns: &[T], out: &mut [f64], width: usize) {
        let g = self.groups.len();
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        for txn in txns {
            event_keys(&self.groups, txn, &mut self.numkey, &mut keys);
        }
        // Where each event's entities are: found once, by the load (or 3
        // events ahead for the entities it inserted, which can move others),
        // and reused by the hints and the event itself.
        let mut at = std::mem::take(&mut self.at);
        at.clear();
        at.resize(keys.len(), usize::MAX);
        self.load_missing(txns, &keys, &mut at);
        for (i, txn) in txns.iter().enumerate() {
            for ahead in 1..=HINT_DEPTH {
                let next = (i + ahead) * g..(i + ahead + 1) * g;
                if let (Some(k), Some(a), Some(t)) = (
                    keys.get(next.clone()),
                    at.get_mut(next),
                    txns.get(i + ahead),
                ) {
                    self.prefetch(t, k, a, ahead);
                }
            }
            let row = &mut out[i * width..(i + 1) * width];
            let this = i * g..(i + 1) * g;
            self.process_keyed(txn, &keys[this.clone()], &at[this], row);
        }
        self.keys = keys;
        self.at = at;
    }

    /// Makes every entity a batch touches hot, reading the missing ones
    /// in ONE multi-get (RocksDB looks the keys of a batched read up
    /// together), and notes in `at` where the present ones are. The probes
    /// are independent of each other, so the CPU overlaps their cache
    /// misses, and they leave the batch's table slots in the cache for the
    /// per-event loop.
    fn load_missing<T: Transaction>(
        &mut self,
        txns: &[T],
        keys: &[Option<u128>],
        at: &mut [usize],
    ) {
        let g = self.groups.len();
        if g == 0 {
            return;
        }
        // (group, key hash, an event carrying the key)
        let mut missing: Vec<(usize, u128, usize)> = Vec::new();
        for (i, (event_keys, event_at)) in keys.chunks(g).zip(at.chunks_mut(g)).enumerate() {
            for (gi, (key, slot)) in event_keys.iter().zip(event_at).enumerate() {
                let Some(hash) = *key else { continue };
                match self.groups[gi].entries.find(hash) {
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
                key_bytes(&txns[i], self.groups[gi].key, &mut self.numkey)
                    .unwrap_or_default()
                    .into()
            })
            .collect();
        let wanted: Vec<(GroupShape<'_>, &[u8])> = missing
            .iter()
            .zip(&owned)
            .map(|(&(gi, ..), k)| (GroupShape::from(&self.groups[gi]), &**k))
            .collect();
        let entities = fetch_entities(
            &*self.store,
            self.partition,
            &self.slots,
            &wanted,
            self.clock,
            InFlight {
                swept: self.swept,
                limbo: &self.limbo,
            },
            &mut self.failed,
        );
        drop(wanted);
        for (&(gi, hash, _), entity) in missing.iter().zip(entities) {
            self.groups[gi].entries.get_or_insert_with(hash, || entity);
        }
        self.hot += missing.len();
    }

    /// [`Self::process`], given the hash of each group's key of `txn` and
    /// where its entity was last seen in the group's table (a hint).
    fn process_keyed(
        &mut self,
        txn: &dyn Transaction,
        keys: &[Option<u128>],
        at: &[usize],
        out: &mut [f64],
    ) {
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
            swept,
            limbo,
            ..
        } = self;
        for ((group, key), &slot) in groups.iter_mut().zip(keys).zip(at) {
            let Some(hash) = *key else {
                for &si in &group.slots {
                    slots[si].outputs.iter().for_each(|&o| out[o] = f64::NAN);
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
                    *hot += 1;
                    let shape = GroupShape {
                        field: group.key,
                        slots: &group.slots,
                        history: group.history,
                    };
                    let wanted = [(shape, key)];
                    let in_flight = InFlight {
                        swept: *swept,
                        limbo,
                    };
                    let mut e = fetch_entities(
                        &**store, *partition, slots, &wanted, clock, in_flight, failed,
                    );
                    e.pop().expect("one entity per key")
                })
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

    /// A hint that the event with these group keys is processed `ahead`
    /// events from now (see [`Self::process_batch`]): pulls one link of its
    /// state's chain toward the cache, changing nothing but `at`, where its
    /// entities are found.
    fn prefetch(
        &self,
        txn: &dyn Transaction,
        keys: &[Option<u128>],
        at: &mut [usize],
        ahead: usize,
    ) {
        for ((group, key), slot) in self.groups.iter().zip(keys).zip(at) {
            let Some(hash) = *key else { continue };
            if ahead == HINT_DEPTH {
                group.entries.prefetch(hash);
                continue;
            }
            // The last links are the history's seen sets and distinct
            // counts' values.
            if ahead <= 2 && !group.deep {
                continue;
            }
            if !group.entries.holds(*slot, hash) {
                *slot = group.entries.find(hash).unwrap_or(usize::MAX);
            }
            let Some(entity) = group.entries.at(*slot) else {
                continue;
            };
            match ahead {
                5 => prefetch_slice(&entity.cells),
                4 => entity.cells.iter().for_each(|c| match &c.state {
                    CellState::Window(w) => w.prefetch(),
                    CellState::History(h) => prefetch_span(&**h, size_of::<HistoryState>()),
                    CellState::Previous(_) => {}
                }),
                3 => entity.cells.iter().for_each(|c| match &c.state {
                    CellState::Window(w) => w.prefetch_index(),
                    CellState::History(h) => h.prefetch(),
                    CellState::Previous(_) => {}
                }),
                2 => entity.cells.iter().for_each(|c| match &c.state {
                    CellState::Window(w) => w.prefetch_values(),
                    CellState::History(h) => h.prefetch_seen(txn, ahead),
                    CellState::Previous(_) => {}
                }),
                _ => {
                    if let Some(Cell {
                        state: CellState::History(h),
                        ..
                    }) = entity.cells.last()
                    {
                        h.prefetch_seen(txn, ahead);
                    }
                }
            }
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
            ages.extend(
                g.entries
                    .values()
                    .filter(|e| !e.dirty && e.pinned <= self.landed)
                    .map(|e| e.touched),
            );
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
        let landed = self.landed;
        for g in &mut self.groups {
            g.entries
                .retain(|e| e.dirty || e.pinned > landed || e.touched > cutoff);
        }
        self.hot = self.groups.iter().map(|g| g.entries.len()).sum();
        self.evict_at = self
            .cfg
            .cache_capacity
            .max(self.hot + self.cfg.cache_capacity / 10 + 1);
    }

    /// Persists dirty state and `next_offset` in one atomic write batch:
    /// [`Self::prepare_checkpoint`], the write, [`Self::finish_checkpoint`].
    pub fn checkpoint(&mut self, next_offset: i64) -> Result<(), StateError> {
        let prepared = self.prepare_checkpoint(next_offset)?;
        let written = prepared.write();
        self.finish_checkpoint(written)
    }

    /// The first half of a checkpoint: encodes every dirty record, the
    /// expiry sweep and `next_offset` into one batch, which
    /// [`PreparedCheckpoint::write`] writes, on any thread, while this
    /// partition goes on processing events; [`Self::finish_checkpoint`]
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
        if let Some(e) = &self.failed {
            return Err(StateError::Storage(format!(
                "partition {}: a store read or checkpoint write failed since the last checkpoint ({e}); reopen and replay",
                self.partition
            )));
        }
        if let Some((seq, _)) = self.writing {
            return Err(StateError::Storage(format!(
                "partition {}: checkpoint {seq} is still being written",
                self.partition
            )));
        }
        let p = self.partition;
        // Assembled in key order, which RocksDB inserts into its memtable far
        // faster than random order: the sweep's range delete and record
        // deletes; user histories by key (tag 0x02); entity records by key
        // field then key (0x04); expiry index changes (0x03); the meta record.
        let mut batch = WriteBatch::new();
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
        // Each group's dirty entities by key.
        let dirty: Vec<Vec<&Entity>> = self
            .groups
            .iter()
            .map(|g| {
                let mut d: Vec<&Entity> = g.entries.values().filter(|e| e.dirty).collect();
                d.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                d
            })
            .collect();
        // Every record to write, in key order: user histories (tag 0x02),
        // then entity records by key field (0x04).
        let mut jobs: Vec<(usize, &Entity, bool)> = Vec::new();
        for (gi, (g, entities)) in self.groups.iter().zip(&dirty).enumerate() {
            if g.history {
                jobs.extend(
                    entities
                        .iter()
                        .filter(|e| e.cells.last().is_some_and(|c| c.dirty))
                        .map(|&e| (gi, e, true)),
                );
            }
        }
        let mut order: Vec<usize> = (0..self.groups.len()).collect();
        order.sort_unstable_by_key(|&gi| keys::field_code(self.groups[gi].key));
        for gi in order {
            let n = self.groups[gi].slots.len();
            jobs.extend(
                dirty[gi]
                    .iter()
                    .filter(|e| e.cells[..n].iter().any(|c| c.dirty))
                    .map(|&e| (gi, e, false)),
            );
        }
        // Encoding is most of a large checkpoint's cost and each record is
        // independent: past a few thousand, two threads encode a half each
        // (on the engine's two cores, the final checkpoint of a replay or a
        // partition catching up), and the halves are appended in order.
        let stage = |jobs: &[(usize, &Entity, bool)]| {
            let mut staging = Staging::new(p, today, jobs.len());
            let (mut section, mut rec_key) = (Vec::new(), Vec::new());
            for &(gi, entity, history) in jobs {
                let g = &self.groups[gi];
                if history {
                    let Some(CellState::History(h)) = entity.cells.last().map(|c| &c.state) else {
                        continue;
                    };
                    keys::history_key(&mut rec_key, p, &entity.key);
                    staging.record(&rec_key, entity.history_indexed_day, |value| {
                        h.encode(value);
                        (h.is_empty(), h.expiry_day())
                    });
                    continue;
                }
                let cells = &entity.cells[..g.slots.len()];
                keys::entity_key(&mut rec_key, p, g.key, &entity.key);
                staging.record(&rec_key, entity.indexed_day, |value| {
                    encode_entity(
                        value,
                        &mut section,
                        self.epoch,
                        &self.slots,
                        &g.slots,
                        cells,
                    );
                    entity_expiry(&self.slots, &g.slots, cells)
                });
            }
            staging
        };
        let stagings = if jobs.len() >= PARALLEL_CHECKPOINT_RECORDS {
            let (first, second) = jobs.split_at(jobs.len() / 2);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| stage(second));
                let mine = stage(first);
                other.join().map(|theirs| vec![mine, theirs])
            })
            .map_err(|_| {
                StateError::Storage(format!(
                    "partition {p}: a checkpoint encoder thread panicked"
                ))
            })?
        } else {
            vec![stage(&jobs)]
        };
        drop(dirty);
        let mut index = WriteBatch::new();
        batch.reserve(2 * jobs.len() + 1);
        for staging in stagings {
            batch.append(staging.records);
            index.append(staging.index);
        }
        index.sort_by_key();
        batch.append(index);
        let meta = Meta {
            offset: next_offset,
            watermark: self.watermark,
            epoch: self.epoch,
            registry: self.slots.iter().map(|s| (s.sid_hash, s.intro)).collect(),
        };
        batch.put(keys::meta_key(p), meta.encode());

        // Everything in the batch is clean from here, and pinned hot until
        // the batch lands.
        self.prepared = self.prepared.wrapping_add(1);
        let seq = self.prepared;
        self.writing = Some((seq, next_offset));
        if today.is_some() {
            self.swept = today;
        }
        let live = |empty: bool, exp: u32| (!empty && today.is_none_or(|d| exp > d)).then_some(exp);
        for g in &mut self.groups {
            let slots = &self.slots;
            let n = g.slots.len();
            for e in g.entries.values_mut().filter(|e| e.dirty) {
                e.dirty = false;
                e.pinned = seq;
                if e.cells[..n].iter().any(|c| c.dirty) {
                    let (empty, exp) = entity_expiry(slots, &g.slots, &e.cells[..n]);
                    e.indexed_day = live(empty, exp);
                }
                if let Some(Cell {
                    state: CellState::History(h),
                    dirty: true,
                }) = e.cells.get(n)
                {
                    e.history_indexed_day = live(h.is_empty(), h.expiry_day());
                }
                e.cells.iter_mut().for_each(|c| c.dirty = false);
            }
        }
        self.registry.clear();
        Ok(PreparedCheckpoint {
            store: Arc::clone(&self.store),
            batch,
        })
    }

    /// The second half of a checkpoint: `written` is what
    /// [`PreparedCheckpoint::write`] returned. On success the checkpoint's
    /// offset is the partition's, and its entities may be evicted. On
    /// failure the partition refuses further checkpoints: its memory is
    /// ahead of the store, so the worker must reopen from the last good
    /// checkpoint and replay.
    pub fn finish_checkpoint(&mut self, written: Result<(), StateError>) -> Result<(), StateError> {
        let Some((seq, next_offset)) = self.writing.take() else {
            return Err(StateError::Storage(format!(
                "partition {}: no checkpoint is being written",
                self.partition
            )));
        };
        if let Err(e) = written {
            self.failed.get_or_insert_with(|| e.to_string());
            return Err(e);
        }
        self.landed = seq;
        self.limbo.clear();
        self.offset = Some(next_offset);
        self.evict_at = self.cfg.cache_capacity;
        if self.hot > self.cfg.cache_capacity {
            self.evict();
        }
        Ok(())
    }

    /// A checkpoint is being written (prepared, not finished).
    pub fn checkpoint_in_flight(&self) -> bool {
        self.writing.is_some()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_fits_a_cache_line() {
        // An entity's cells are read side by side on every event: a cell
        // past 64 bytes spreads them over more lines.
        assert!(std::mem::size_of::<Cell>() <= 64);
    }
}
