//! The checkpoint protocol.
//!
//! A checkpoint writes, in ONE atomic [`WriteBatch`] in key order: the
//! expiry sweep (records whose expiry day is at or before the partition's
//! event-time day, found by a bounded scan of the expiry index); every
//! dirty entity's record and dirty history (a put, or a delete when it
//! became empty) with its expiry index entry; and the [`CheckpointRecord`]:
//! the next input offset, the partition watermark, the write epoch and the
//! registry of declared states. Until that batch lands nothing of the
//! events since the previous checkpoint is in the store, so after a crash
//! the engine reopens, reads the checkpointed offset, and replays from
//! there: every aggregate then equals that of an uninterrupted run.
//!
//! It runs in halves so that the partition only waits for the encoding:
//! [`Checkpoints::prepare`] builds the batch, [`PreparedCheckpoint::write`]
//! writes it on any thread while events go on, and [`Checkpoints::finish`]
//! records the outcome. The batch's entities are clean from `prepare`
//! (later changes dirty them again) but pinned hot until it lands, so no
//! read reaches the store for a record still being written; a stored
//! record whose expiry day the batch's sweep passed reads as absent at
//! once; and a rules reload that drops a key field while its batch is in
//! flight keeps the expiry days that batch indexed for those keys
//! ([`Checkpoints::keep_dropped`]). One checkpoint is written at a time.

use std::sync::Arc;

use crate::error::StateError;
use crate::keys;
use crate::partition::cell::{Cell, CellState};
use crate::partition::entity::{
    DroppedInFlight, Entity, Failure, InFlight, encode_entity, entity_expiry,
};
use crate::partition::layout::{Group, Layout};
use crate::partition::record::Staging;
use crate::store::StateStore;
use crate::store::batch::{BatchOp, WriteBatch};
use crate::units::DAY_MS;

/// Dirty records from which a checkpoint encodes on two threads.
const PARALLEL_CHECKPOINT_RECORDS: usize = 4_096;

/// The checkpoint record: `[next offset i64 BE][watermark i64 BE]`, then
/// `[epoch u32 BE][n u32 BE]` and `n × [state id hash u64 BE][intro u32 BE]`.
pub(super) struct CheckpointRecord {
    pub(super) offset: i64,
    pub(super) watermark: i64,
    pub(super) epoch: u32,
    pub(super) registry: Vec<(u64, u32)>,
}

impl CheckpointRecord {
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

    pub(super) fn decode(v: &[u8]) -> Option<CheckpointRecord> {
        let i64_at = |i: usize| Some(i64::from_be_bytes(v.get(i..i + 8)?.try_into().ok()?));
        let u32_at = |i: usize| Some(u32::from_be_bytes(v.get(i..i + 4)?.try_into().ok()?));
        let (offset, watermark) = (i64_at(0)?, i64_at(8)?);
        if v.len() == 16 {
            // Written before entity records: its window records (tag 0x01)
            // are not read; histories are.
            return Some(CheckpointRecord {
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
        Some(CheckpointRecord {
            offset,
            watermark,
            epoch,
            registry,
        })
    }
}

/// A checkpoint's batch, encoded by `PartitionState::prepare_checkpoint`
/// and not yet written.
#[must_use = "a prepared checkpoint must be written and finished"]
pub struct PreparedCheckpoint {
    store: Arc<dyn StateStore>,
    partition: i32,
    batch: WriteBatch,
    /// The expiry-index keys the batch's range delete removes, one by one,
    /// for [`Self::changes`] (a changelog topic has no range delete).
    swept_index: WriteBatch,
}

impl PreparedCheckpoint {
    /// What the batch changes, key by key, in the order it applies: a value
    /// for each key it sets, `None` for each it deletes (the sweep's range
    /// delete as the index keys it covers). The last change is the
    /// checkpoint record. A store that applies these to the partition's
    /// state as of the previous checkpoint holds exactly what the batch
    /// leaves: this is what a changelog topic copies.
    pub fn changes(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        self.swept_index
            .ops()
            .chain(self.batch.ops())
            .filter_map(|op| match op {
                BatchOp::Put(k, v) => Some((k, Some(v))),
                BatchOp::Delete(k) => Some((k, None)),
                BatchOp::DeleteRange(..) => None,
            })
    }

    /// Records `position` (where the batch's changelog copy ends) under
    /// [`keys::changelog_position_key`], in the same atomic write.
    pub fn note_changelog(&mut self, position: &[u8]) {
        self.batch
            .put(keys::changelog_position_key(self.partition), position);
    }

    /// Writes the batch atomically. Blocking: call it off the partition's
    /// worker (or inline, as `PartitionState::checkpoint` does), then hand
    /// the result to `PartitionState::finish_checkpoint`.
    pub fn write(self) -> Result<(), StateError> {
        self.store.write(self.batch)
    }
}

/// The partition a checkpoint is prepared from, besides its layout.
pub(super) struct Source<'a> {
    pub(super) store: &'a Arc<dyn StateStore>,
    pub(super) partition: i32,
    pub(super) watermark: i64,
    pub(super) epoch: u32,
    /// A failure since the last checkpoint, which refuses this one.
    pub(super) failed: &'a Failure,
    /// The owner's meta record to write with this checkpoint, if it set one.
    pub(super) meta: Option<Vec<u8>>,
}

/// One record to write: an entity of a group, its history record or its
/// entity record.
type Job<'a> = (usize, &'a Entity, bool);

/// The checkpoints of one partition: which was prepared, which landed, and
/// what the one being written changes for reads from the store.
#[derive(Default)]
pub(super) struct Checkpoints {
    /// Checkpoints prepared; the last whose batch landed; the one being
    /// written, with its next offset.
    prepared: u32,
    pub(super) landed: u32,
    writing: Option<(u32, i64)>,
    /// The day through which the last prepared checkpoint swept expired
    /// records.
    swept: Option<u32>,
    /// Keys a reload dropped while their checkpoint was being written
    /// (see [`Self::keep_dropped`]); emptied when it lands.
    dropped_in_flight: DroppedInFlight,
}

impl Checkpoints {
    /// A checkpoint is being written (prepared, not finished).
    pub(super) fn in_progress(&self) -> bool {
        self.writing.is_some()
    }

    /// What reads from the store must know of the checkpoint in flight.
    pub(super) fn in_flight(&self) -> InFlight<'_> {
        InFlight {
            swept: self.swept,
            dropped: &self.dropped_in_flight,
        }
    }

    /// Notes the groups a rules reload dropped with every state of their
    /// key field. If one comes back before the checkpoint being written
    /// lands, a key read from the store then gets its old record (whose
    /// sections it ignores: re-declared states start at a newer epoch) but
    /// must get the expiry index entry the batch wrote, or a stale entry
    /// could later sweep a live record.
    pub(super) fn keep_dropped(&mut self, dropped: Vec<Group>) {
        if self.writing.is_none() {
            return;
        }
        let landed = self.landed;
        for old in dropped {
            for e in old.entries.values().filter(|e| e.pinned > landed) {
                self.dropped_in_flight
                    .insert((old.key, e.key.clone()), e.indexed_day);
            }
        }
    }

    /// The first half of a checkpoint: encodes every dirty record, the
    /// expiry sweep and `next_offset` into one batch, and marks the
    /// batch's entities clean and pinned until it lands.
    pub(super) fn prepare(
        &mut self,
        src: Source<'_>,
        layout: &mut Layout,
        next_offset: i64,
    ) -> Result<PreparedCheckpoint, StateError> {
        let p = src.partition;
        if let Some((class, cause)) = src.failed {
            return Err(StateError::Refused {
                partition: p,
                cause: cause.clone(),
                class: *class,
            });
        }
        if let Some((seq, _)) = self.writing {
            return Err(StateError::Internal(format!(
                "partition {p}: checkpoint {seq} is still being written"
            )));
        }
        // Assembled in key order, which RocksDB inserts into its memtable far
        // faster than random order: the sweep's range delete and record
        // deletes; user histories by key (tag 0x02); entity records by key
        // field then key (0x04); expiry index changes (0x03); the checkpoint
        // record.
        let mut batch = WriteBatch::new();
        let mut swept_index = WriteBatch::new();
        let today = (src.watermark != i64::MIN)
            .then(|| src.watermark.div_euclid(DAY_MS).clamp(0, u32::MAX as i64) as u32);
        if let Some(today) = today {
            sweep(&**src.store, p, today, &mut batch, &mut swept_index)?;
        }
        let jobs = dirty_records(&layout.groups);
        let stagings = encode_records(layout, p, today, src.epoch, &jobs)?;
        let mut index = WriteBatch::new();
        batch.reserve(2 * jobs.len() + 1);
        drop(jobs);
        for staging in stagings {
            batch.append(staging.records);
            index.append(staging.index);
        }
        index.sort_by_key();
        batch.append(index);
        let record = CheckpointRecord {
            offset: next_offset,
            watermark: src.watermark,
            epoch: src.epoch,
            registry: layout.keyed.iter().map(|s| (s.sid_hash, s.intro)).collect(),
        };
        if let Some(meta) = src.meta {
            batch.put(keys::meta_key(p), meta);
        }
        batch.put(keys::checkpoint_key(p), record.encode());

        // Everything in the batch is clean from here, and pinned hot until
        // the batch lands.
        self.prepared = self.prepared.wrapping_add(1);
        let seq = self.prepared;
        self.writing = Some((seq, next_offset));
        if today.is_some() {
            self.swept = today;
        }
        mark_clean(layout, seq, today);
        Ok(PreparedCheckpoint {
            store: Arc::clone(src.store),
            partition: p,
            batch,
            swept_index,
        })
    }

    /// The second half of a checkpoint: `written` is what
    /// [`PreparedCheckpoint::write`] returned. Returns the checkpoint's next
    /// offset once it landed; a failed write is remembered in `failed`.
    pub(super) fn finish(
        &mut self,
        partition: i32,
        written: Result<(), StateError>,
        failed: &mut Failure,
    ) -> Result<i64, StateError> {
        let Some((seq, next_offset)) = self.writing.take() else {
            return Err(StateError::Internal(format!(
                "partition {partition}: no checkpoint is being written"
            )));
        };
        if let Err(e) = written {
            failed.get_or_insert_with(|| (e.class(), e.to_string()));
            return Err(e);
        }
        self.landed = seq;
        self.dropped_in_flight.clear();
        Ok(next_offset)
    }
}

/// Stages the expiry sweep through `today` into `batch`: one range delete
/// of the index entries and a delete of each record they point to; the
/// index entries the range covers go to `index`, one delete each.
fn sweep(
    store: &dyn StateStore,
    p: i32,
    today: u32,
    batch: &mut WriteBatch,
    index: &mut WriteBatch,
) -> Result<(), StateError> {
    let (s, e) = keys::expiry_range_through(p, today);
    let mut swept = WriteBatch::new();
    store.scan(&s, &e, &mut |k, _| {
        if let Some(rk) = keys::record_key_of_expiry(p, k) {
            swept.delete(rk);
        }
        index.delete(k);
        true
    })?;
    batch.delete_range(s, e);
    swept.sort_by_key();
    batch.append(swept);
    Ok(())
}

/// Every record to write, in key order: user histories (tag 0x02), then
/// entity records by key field (0x04), each by key.
fn dirty_records(groups: &[Group]) -> Vec<Job<'_>> {
    // Each group's dirty entities by key.
    let dirty: Vec<Vec<&Entity>> = groups
        .iter()
        .map(|g| {
            let mut d: Vec<&Entity> = g.entries.values().filter(|e| e.dirty).collect();
            d.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            d
        })
        .collect();
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for (gi, (g, entities)) in groups.iter().zip(&dirty).enumerate() {
        if g.history {
            jobs.extend(
                entities
                    .iter()
                    .filter(|e| e.cells.last().is_some_and(|c| c.dirty))
                    .map(|&e| (gi, e, true)),
            );
        }
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_unstable_by_key(|&gi| keys::field_code(groups[gi].key));
    for gi in order {
        let n = groups[gi].states.len();
        jobs.extend(
            dirty[gi]
                .iter()
                .filter(|e| e.cells[..n].iter().any(|c| c.dirty))
                .map(|&e| (gi, e, false)),
        );
    }
    jobs
}

/// Encodes the records of `jobs`, in order. Encoding is most of a large
/// checkpoint's cost and each record is independent: past a few thousand,
/// two threads encode a half each (on the engine's two cores, the final
/// checkpoint of a replay or a partition catching up), and the halves are
/// appended in order.
fn encode_records(
    layout: &Layout,
    p: i32,
    today: Option<u32>,
    epoch: u32,
    jobs: &[Job<'_>],
) -> Result<Vec<Staging>, StateError> {
    let stage = |jobs: &[Job<'_>]| stage_records(layout, p, today, epoch, jobs);
    if jobs.len() < PARALLEL_CHECKPOINT_RECORDS {
        return Ok(vec![stage(jobs)]);
    }
    let (first, second) = jobs.split_at(jobs.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| stage(second));
        let mine = stage(first);
        other.join().map(|theirs| vec![mine, theirs])
    })
    .map_err(|_| {
        StateError::Internal(format!(
            "partition {p}: a checkpoint encoder thread panicked"
        ))
    })
}

/// Stages the records of `jobs` with their expiry index changes.
fn stage_records(
    layout: &Layout,
    p: i32,
    today: Option<u32>,
    epoch: u32,
    jobs: &[Job<'_>],
) -> Staging {
    let mut staging = Staging::new(p, today, jobs.len());
    let (mut section, mut rec_key) = (Vec::new(), Vec::new());
    for &(gi, entity, history) in jobs {
        let g = &layout.groups[gi];
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
        let cells = &entity.cells[..g.states.len()];
        keys::entity_key(&mut rec_key, p, g.key, &entity.key);
        staging.record(&rec_key, entity.indexed_day, |value| {
            encode_entity(value, &mut section, epoch, &layout.keyed, &g.states, cells);
            entity_expiry(&layout.keyed, &g.states, cells)
        });
    }
    staging
}

/// Marks every dirty entity clean and pinned by checkpoint `seq`, noting
/// the expiry days its records are now indexed under.
fn mark_clean(layout: &mut Layout, seq: u32, today: Option<u32>) {
    let live = |empty: bool, exp: u32| (!empty && today.is_none_or(|d| exp > d)).then_some(exp);
    let keyed = &layout.keyed;
    for g in &mut layout.groups {
        let n = g.states.len();
        for e in g.entries.values_mut().filter(|e| e.dirty) {
            e.dirty = false;
            e.pinned = seq;
            if e.cells[..n].iter().any(|c| c.dirty) {
                let (empty, exp) = entity_expiry(keyed, &g.states, &e.cells[..n]);
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
}
