//! The partition's side of the look-ahead protocol ([`crate::lookahead`]):
//! for one event ahead, the link of its chain in every key field. The
//! table slots and the cells are the partition's own links; the later ones
//! go to each cell's state ([`Lookahead`]), and the value links only to key
//! fields whose states look values up.

use verdict_rules::input::Transaction;

use crate::lookahead::{Link, Lookahead};
use crate::partition::cell::{Cell, CellState};
use crate::partition::layout::Group;
use crate::prefetch::prefetch_slice;

/// Pulls `link` of the event `txn`, whose key hashes per group are `keys`,
/// toward the cache, changing nothing but `slots`: where its entities are
/// in their groups' tables, found once (and refreshed when an insert moved
/// them) for the later links and the event itself.
pub(super) fn prefetch_event(
    groups: &[Group],
    txn: &dyn Transaction,
    keys: &[Option<u128>],
    slots: &mut [usize],
    link: Link,
) {
    for ((group, key), slot) in groups.iter().zip(keys).zip(slots) {
        let Some(hash) = *key else { continue };
        if link == Link::TableSlots {
            group.entries.prefetch(hash);
            continue;
        }
        if link.looks_up_values() && !group.looks_up_values {
            continue;
        }
        if !group.entries.holds(*slot, hash) {
            *slot = group.entries.find(hash).unwrap_or(usize::MAX);
        }
        let Some(entity) = group.entries.at(*slot) else {
            continue;
        };
        match link {
            Link::Cells => prefetch_slice(&entity.cells),
            // Only the history's chain is this long.
            Link::FoundValues => {
                if let Some(Cell {
                    state: state @ CellState::History(_),
                    ..
                }) = entity.cells.last()
                {
                    state.prefetch(link, txn);
                }
            }
            _ => entity
                .cells
                .iter()
                .for_each(|c| c.state.prefetch(link, txn)),
        }
    }
}
