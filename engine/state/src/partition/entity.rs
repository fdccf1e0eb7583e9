//! Entities and their records: an [`Entity`] holds every state of one key
//! of one key field side by side (the user's also holds the history), and
//! is stored as ONE entity record (window and previous-value states) plus,
//! for a user, its history record. On a miss the entity's records are read
//! in one multi-get ([`fetch_entities`]) and the result cached, empty
//! states included, so absent keys are not read twice.
//!
//! Entity record body: `[write epoch uvar][sections uvar]` then per section
//! `[state id hash u64][length uvar][state]`. A section is read only for a
//! state declared when the record was written (its intro epoch at or before
//! the record's write epoch): a state dropped by a rules reload and declared
//! again starts empty, and dropped sections vanish when the entity is next
//! written.

use std::collections::HashMap;

use verdict_rules::input::Field;

use crate::codec::{Reader, Writer};
use crate::error::ErrorClass;
use crate::history::HistoryState;
use crate::keys;
use crate::partition::cell::{Cell, CellState, KeyedState};
use crate::partition::record::{decode_stored, split_value};
use crate::store::StateStore;

/// Every state of one key of one key field.
pub(super) struct Entity {
    /// The entity key (for store reads and checkpoints, not for lookups).
    pub(super) key: Box<[u8]>,
    /// One per keyed state of the key field, in its order, then the user
    /// history when the key field carries it.
    pub(super) cells: Vec<Cell>,
    /// Some cell is dirty.
    pub(super) dirty: bool,
    /// Sequence number of the last checkpoint whose batch carries this
    /// entity: it stays hot until that batch has landed.
    pub(super) pinned: u32,
    pub(super) touched: u64,
    /// Expiry days of the index entries of the entity record and of the
    /// history record in the store, if any.
    pub(super) indexed_day: Option<u32>,
    pub(super) history_indexed_day: Option<u32>,
}

/// Keys a rules reload dropped (with their whole key field) while a
/// checkpoint carrying them was being written, with the expiry day of the
/// index entry that checkpoint writes for them.
pub(super) type DroppedInFlight = HashMap<(Field, Box<[u8]>), Option<u32>>;

/// What a checkpoint being written changes for reads from the store.
#[derive(Clone, Copy)]
pub(super) struct InFlight<'a> {
    /// The day through which the last prepared checkpoint swept expired
    /// records: a record expiring by then reads as absent.
    pub(super) swept: Option<u32>,
    pub(super) dropped: &'a DroppedInFlight,
}

/// A key field's layout, as [`fetch_entities`] needs it.
pub(super) struct GroupShape<'a> {
    pub(super) field: Field,
    /// Indices of its keyed states.
    pub(super) states: &'a [usize],
    pub(super) history: bool,
}

/// A store read or record decode that failed on the per-event path, where
/// it cannot be returned: `(class, cause)`.
pub(super) type Failure = Option<(ErrorClass, String)>;

/// Reads new hot entities, given as `(group, key)`, in ONE multi-get of
/// their entity records and (for users) history records, and builds them.
/// A failure is remembered in `failed` and answered with empty state.
/// `store` is `None` where it is known to hold none of them: they are built
/// empty without a read.
pub(super) fn fetch_entities(
    store: Option<&dyn StateStore>,
    partition: i32,
    keyed: &[KeyedState],
    wanted: &[(GroupShape<'_>, &[u8])],
    clock: u64,
    in_flight: InFlight<'_>,
    failed: &mut Failure,
) -> Vec<Entity> {
    let mut record_keys: Vec<Vec<u8>> = Vec::new();
    // Without a read there are no keys to build: every record is absent.
    if store.is_some() {
        record_keys.reserve(2 * wanted.len());
        for (g, key) in wanted {
            if !g.states.is_empty() {
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
    }
    let refs: Vec<&[u8]> = record_keys.iter().map(Vec::as_slice).collect();
    let values = match store {
        Some(store) => store.multi_get(&refs).unwrap_or_else(|e| {
            failed.get_or_insert_with(|| (e.class(), e.to_string()));
            vec![None; refs.len()]
        }),
        None => Vec::new(),
    };
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
        failed.get_or_insert_with(|| {
            (
                ErrorClass::Internal,
                format!("corrupt record under key {rk:02x?}"),
            )
        });
    };
    wanted
        .iter()
        .map(|(g, key)| {
            let mut cells: Vec<Cell> = g
                .states
                .iter()
                .map(|&si| Cell::fresh(keyed[si].empty_state()))
                .chain(
                    g.history
                        .then(|| Cell::fresh(CellState::History(Box::default()))),
                )
                .collect();
            let (mut indexed_day, mut history_indexed_day) = (None, None);
            if !g.states.is_empty()
                && let Some((value, rk)) = values.next()
                && let Some(data) = value
            {
                let decoded = decode_stored(&data, |rec| {
                    decode_entity(rec, keyed, g.states, &mut cells).then_some(())
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
            if !in_flight.dropped.is_empty()
                && let Some(&day) = in_flight.dropped.get(&(g.field, Box::<[u8]>::from(*key)))
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

/// Decodes an entity record body (see the module docs) into `cells`.
/// Sections of states no longer declared, or declared again after the
/// record was written, are skipped. Returns false when the record is
/// corrupt.
fn decode_entity(rec: &[u8], keyed: &[KeyedState], states: &[usize], cells: &mut [Cell]) -> bool {
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
        let Some(ci) = states
            .iter()
            .position(|&si| keyed[si].sid_hash == sid && u64::from(keyed[si].intro) <= epoch)
        else {
            continue;
        };
        match keyed[states[ci]].decode(data) {
            Some(state) => cells[ci].state = state,
            None => return false,
        }
    }
    r.is_empty()
}

/// `(empty, expiry day)` of an entity record: empty when every keyed state
/// is, else expiring with its latest-expiring state.
pub(super) fn entity_expiry(keyed: &[KeyedState], states: &[usize], cells: &[Cell]) -> (bool, u32) {
    states
        .iter()
        .zip(cells)
        .map(|(&si, c)| c.persisted(&keyed[si]))
        .filter(|(empty, _)| !empty)
        .fold((true, 0), |(_, m), (_, exp)| (false, m.max(exp)))
}

/// Encodes an entity's non-empty keyed states as a record body (see the
/// module docs).
pub(super) fn encode_entity(
    out: &mut Vec<u8>,
    section: &mut Vec<u8>,
    epoch: u32,
    keyed: &[KeyedState],
    states: &[usize],
    cells: &[Cell],
) {
    let live: Vec<(&KeyedState, &Cell)> = states
        .iter()
        .zip(cells)
        .map(|(&si, c)| (&keyed[si], c))
        .filter(|(k, c)| !c.persisted(k).0)
        .collect();
    let mut w = Writer::new(out);
    w.uvar(u64::from(epoch));
    w.uvar(live.len() as u64);
    for (k, cell) in live {
        section.clear();
        k.encode(cell, section);
        w.u64_raw(k.sid_hash);
        w.uvar(section.len() as u64);
        w.bytes(section);
    }
}
