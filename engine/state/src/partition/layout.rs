//! The feature layout of a partition: which keyed states exist, how they
//! are grouped by the field they are keyed by, and how a rules reload moves
//! hot entities into a new layout.
//!
//! Feature states are grouped by key field (card, user, device, IP, …):
//! each [`Group`] has one hot table from the key's hash to an entity
//! holding *all* of that key's states side by side (the user group also
//! holds the user's history). An event therefore costs one probe per key
//! field, not one per feature. A reload keeps the states of unchanged
//! `state_id()`s (moving each hot entity's kept cells into their new
//! places), starts added ones empty at a fresh write epoch, and drops
//! removed ones.

use verdict_rules::input::{Field, Transaction};
use verdict_rules::spec::{FeatureKind, FeatureSpec, HistoryFeature};

use crate::hashing::key_hash;
use crate::keys;
use crate::partition::cell::{Cell, CellState, KeyedState, KeyedStateKind};
use crate::partition::entity::{Entity, GroupShape};
use crate::partition::hot_table::HotTable;
use crate::tuning::WindowTuning;
use crate::window::plan::WindowPlan;

/// The keyed states keyed by one field, and their entities.
pub(super) struct Group {
    pub(super) key: Field,
    /// Indices into [`Layout::keyed`], the order of an entity's cells.
    pub(super) states: Vec<usize>,
    /// Entities of this group also carry the user history (the user group).
    pub(super) history: bool,
    /// Some state of this group looks the event's values up (the history's
    /// seen sets, bucketed distinct counts' values): the look-ahead's value
    /// links reach it.
    pub(super) looks_up_values: bool,
    /// Entities by the 128-bit hash of their key.
    pub(super) entries: HotTable<Entity>,
}

/// The history features and what the user history tracks for them.
pub(super) struct HistoryDef {
    pub(super) enabled: bool,
    pub(super) tracked: Vec<Field>,
    pub(super) outputs: Vec<(usize, HistoryFeature)>,
}

/// The declared states, their groups and the history features.
pub(super) struct Layout {
    pub(super) keyed: Vec<KeyedState>,
    pub(super) groups: Vec<Group>,
    pub(super) history: HistoryDef,
}

/// What a (re)install needs beyond the features.
pub(super) struct Install<'a> {
    pub(super) tuning: WindowTuning,
    /// Fields the configuration tracks in the history.
    pub(super) tracked: Vec<Field>,
    /// State id hash → intro epoch from the checkpoint opened on, read on
    /// the first install only (`None` on a reload).
    pub(super) registry: Option<&'a [(u64, u32)]>,
}

/// The entity key of `field` in `txn`, as stored (numbers in their
/// shortest form).
pub(super) fn key_bytes<'a>(
    txn: &'a dyn Transaction,
    field: Field,
    buf: &'a mut String,
) -> Option<&'a [u8]> {
    if let Some(s) = txn.text(field) {
        return Some(s.as_bytes());
    }
    let v = txn.number(field).filter(|v| !v.is_nan())?;
    buf.clear();
    use std::fmt::Write;
    let _ = write!(buf, "{v}");
    Some(buf.as_bytes())
}

/// Appends the hash of each group's key of `txn` to `out` (`None` where the
/// event has no such key).
pub(super) fn event_keys(
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

impl Group {
    /// This group's layout, as a store read needs it.
    pub(super) fn shape(&self) -> GroupShape<'_> {
        GroupShape {
            field: self.key,
            states: &self.states,
            history: self.history,
        }
    }
}

impl Layout {
    pub(super) fn new(history: bool) -> Self {
        Layout {
            keyed: Vec::new(),
            groups: Vec::new(),
            history: HistoryDef {
                enabled: history,
                tracked: Vec::new(),
                outputs: Vec::new(),
            },
        }
    }

    /// Installs `features`, keeping the states of unchanged `state_id()`s;
    /// `epoch` is bumped once when a state starts anew. Returns the groups
    /// dropped with every state of their key field.
    pub(super) fn install(
        &mut self,
        features: &[FeatureSpec],
        install: Install<'_>,
        epoch: &mut u32,
    ) -> Vec<Group> {
        let mut old: Vec<Option<KeyedState>> = std::mem::take(&mut self.keyed)
            .into_iter()
            .map(Some)
            .collect();
        // For each new keyed state, the index it had before the reload.
        let mut origin: Vec<Option<usize>> = Vec::new();
        let mut bumped = false;
        let mut tracked = install.tracked;
        self.history.outputs.clear();
        for (i, spec) in features.iter().enumerate() {
            let (key, kind) = match &spec.kind {
                FeatureKind::Window(w) => (
                    w.key,
                    KeyedStateKind::Window {
                        plan: WindowPlan::new(w, install.tuning),
                        filter: w.filter.clone(),
                    },
                ),
                FeatureKind::Previous { key, field } => {
                    (*key, KeyedStateKind::Previous { field: *field })
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
            if let Some(s) = self.keyed.iter_mut().find(|s| s.state_id == state_id) {
                s.outputs.push(i);
                continue;
            }
            let kept = old
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.state_id == state_id));
            let state = match kept {
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
                    let known = install
                        .registry
                        .and_then(|r| r.iter().find(|r| r.0 == sid_hash))
                        .map(|r| r.1);
                    let intro = known.unwrap_or_else(|| {
                        if !bumped {
                            *epoch = epoch.saturating_add(1);
                            bumped = true;
                        }
                        *epoch
                    });
                    KeyedState {
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
            self.keyed.push(state);
        }
        // States no longer declared (what is left in `old`) go; their
        // sections leave entity records as those are next written.
        drop(old);
        self.history.tracked = tracked;
        self.regroup(&origin)
    }

    /// The groups of `self.keyed`, empty.
    fn empty_groups(&self) -> Vec<Group> {
        let group = |key, states, history| Group {
            key,
            states,
            history,
            looks_up_values: false,
            entries: HotTable::default(),
        };
        let mut groups: Vec<Group> = Vec::new();
        for (i, state) in self.keyed.iter().enumerate() {
            match groups.iter_mut().find(|g| g.key == state.key) {
                Some(g) => g.states.push(i),
                None => groups.push(group(state.key, vec![i], false)),
            }
        }
        if self.history.enabled {
            match groups.iter_mut().find(|g| g.key == Field::UserId) {
                Some(g) => g.history = true,
                None => groups.push(group(Field::UserId, Vec::new(), true)),
            }
        }
        for g in &mut groups {
            g.looks_up_values = g.history
                || g.states.iter().any(|&si| {
                    matches!(&self.keyed[si].kind, KeyedStateKind::Window { plan, .. } if plan.keeps_values())
                });
        }
        groups
    }

    /// Rebuilds the groups from `self.keyed` and moves every hot entity's
    /// kept states into its new layout (`origin[i]`: keyed state `i`'s
    /// index before). Returns the old groups whose key field is gone.
    fn regroup(&mut self, origin: &[Option<usize>]) -> Vec<Group> {
        let old_groups = std::mem::take(&mut self.groups);
        let mut groups = self.empty_groups();
        let mut dropped = Vec::new();
        for mut old in old_groups {
            let Some(g) = groups.iter_mut().find(|g| g.key == old.key) else {
                dropped.push(old);
                continue;
            };
            // Each new cell's position among the old cells, if it was kept.
            let mut from: Vec<Option<usize>> = g
                .states
                .iter()
                .map(|&i| origin[i].and_then(|o| old.states.iter().position(|&s| s == o)))
                .collect();
            if g.history {
                from.push(old.history.then_some(old.states.len()));
            }
            let keyed = &self.keyed;
            let states = &g.states;
            for e in old.entries.values_mut() {
                let mut prev: Vec<Option<Cell>> =
                    std::mem::take(&mut e.cells).into_iter().map(Some).collect();
                e.cells = from
                    .iter()
                    .enumerate()
                    .map(|(ci, src)| {
                        src.and_then(|p| prev[p].take()).unwrap_or_else(|| {
                            Cell::fresh(match states.get(ci) {
                                Some(&si) => keyed[si].empty_state(),
                                None => CellState::History(Box::default()),
                            })
                        })
                    })
                    .collect();
                e.dirty = e.cells.iter().any(|c| c.dirty);
            }
            g.entries = old.entries;
        }
        self.groups = groups;
        dropped
    }

    /// Entities in the hot layer.
    pub(super) fn hot(&self) -> usize {
        self.groups.iter().map(|g| g.entries.len()).sum()
    }
}
