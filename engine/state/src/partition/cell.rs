//! What a partition maintains per key: the declared keyed states
//! ([`KeyedState`], one per distinct `FeatureSpec::state_id()`, so features
//! sharing a state share it) and the [`Cell`] holding one state's value for
//! one key. An entity's cells are read side by side on every event, so a
//! cell stays within a cache line (a history, far larger, is boxed).

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::Predicate;

use crate::history::HistoryState;
use crate::lookahead::{Link, Lookahead};
use crate::previous::PreviousState;
use crate::window::plan::WindowPlan;
use crate::window::state::WindowState;

pub(super) enum KeyedStateKind {
    Window {
        plan: WindowPlan,
        filter: Option<Predicate>,
    },
    Previous {
        field: Field,
    },
}

/// One maintained feature state (a distinct `state_id()`), keyed by `key`.
pub(super) struct KeyedState {
    pub(super) state_id: String,
    /// Persisted in entity records as the section's id.
    pub(super) sid_hash: u64,
    pub(super) key: Field,
    pub(super) kind: KeyedStateKind,
    /// The features (indices into the feature list) this state answers.
    pub(super) outputs: Vec<usize>,
    /// Write epoch at which this state started (empty). A stored entity
    /// record written at an earlier epoch may hold a section of an earlier
    /// state with the same id (removed, then declared again); it is ignored.
    pub(super) intro: u32,
}

pub(super) enum CellState {
    Window(WindowState),
    Previous(PreviousState),
    /// Boxed: one per user entity, and far larger than a window's header,
    /// which would otherwise size every cell.
    History(Box<HistoryState>),
}

/// One state of one entity.
pub(super) struct Cell {
    pub(super) state: CellState,
    /// Changed since the last checkpoint.
    pub(super) dirty: bool,
}

impl KeyedState {
    pub(super) fn empty_state(&self) -> CellState {
        match &self.kind {
            KeyedStateKind::Window { plan, .. } => CellState::Window(plan.empty()),
            KeyedStateKind::Previous { .. } => CellState::Previous(PreviousState::empty()),
        }
    }

    pub(super) fn decode(&self, data: &[u8]) -> Option<CellState> {
        match &self.kind {
            KeyedStateKind::Window { plan, .. } => plan.decode(data).map(CellState::Window),
            KeyedStateKind::Previous { .. } => PreviousState::decode(data).map(CellState::Previous),
        }
    }

    /// Appends the stored form of `cell`, one of this state's cells.
    pub(super) fn encode(&self, cell: &Cell, out: &mut Vec<u8>) {
        match (&cell.state, &self.kind) {
            (CellState::Window(st), KeyedStateKind::Window { plan, .. }) => plan.encode(st, out),
            (CellState::Previous(pv), _) => pv.encode(out),
            _ => unreachable!("a keyed state's cells always match its kind"),
        }
    }

    /// Applies the event to this state's cell of one key; returns the value.
    pub(super) fn apply(
        &self,
        cell: &mut Cell,
        txn: &dyn Transaction,
        t: i64,
        scratch: &mut Vec<u64>,
    ) -> f64 {
        match (&self.kind, &mut cell.state) {
            (KeyedStateKind::Window { plan, filter }, CellState::Window(st)) => {
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
            (KeyedStateKind::Previous { field }, CellState::Previous(p)) => {
                let prev = p.value;
                p.value = txn.number(*field).unwrap_or(f64::NAN);
                p.time = p.time.max(t);
                cell.dirty = true;
                prev
            }
            _ => unreachable!("a keyed state's cells always match its kind"),
        }
    }
}

impl Cell {
    pub(super) fn fresh(state: CellState) -> Self {
        Cell {
            state,
            dirty: false,
        }
    }

    /// `(empty, expiry day)` of this cell as a section of its entity record.
    pub(super) fn persisted(&self, keyed: &KeyedState) -> (bool, u32) {
        match (&self.state, &keyed.kind) {
            (CellState::Window(st), KeyedStateKind::Window { plan, .. }) => {
                (st.is_empty(), plan.expiry_day(st))
            }
            (CellState::Previous(pv), _) => (false, pv.expiry_day()),
            _ => unreachable!("a keyed state's cells always match its kind"),
        }
    }

    pub(super) fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Cell>()
            + match &self.state {
                CellState::Window(w) => w.approx_bytes(),
                CellState::Previous(_) => 0,
                CellState::History(h) => h.approx_bytes(),
            }
    }
}

impl Lookahead for CellState {
    #[inline]
    fn prefetch(&self, link: Link, txn: &dyn Transaction) {
        match self {
            CellState::Window(w) => w.prefetch(link, txn),
            CellState::History(h) => h.prefetch(link, txn),
            CellState::Previous(_) => {}
        }
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
