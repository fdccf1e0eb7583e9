//! Champion + optional challenger, hot-swappable.
//!
//! The engine holds one `ModelSlot`. Scoring threads call [`ModelSlot::current`]
//! (an `ArcSwap` load: no lock, no contention) and keep the returned
//! `Arc<dyn Scorer>` for the whole batch, so a swap never changes the model
//! under a batch in flight and never drops one. A swap replaces the whole
//! immutable scorer; a candidate whose features the engine cannot provide, or
//! whose artifact fails verification, is refused and the running model keeps
//! serving.

use std::path::Path;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::artifact::LoadError;
use crate::schema::SchemaMismatch;
use crate::scorer::{Scorer, load_model};

/// The serving models: a champion whose score drives decisions and an
/// optional shadow challenger scored alongside for comparison.
pub struct ModelSlot {
    numeric_available: Vec<String>,
    categorical_available: Vec<String>,
    champion: ArcSwap<Arc<dyn Scorer>>,
    challenger: ArcSwapOption<Arc<dyn Scorer>>,
}

impl ModelSlot {
    /// `numeric_available` / `categorical_available` are the features the
    /// engine can provide; every model placed in the slot must need no others.
    pub fn new(
        champion: Arc<dyn Scorer>,
        numeric_available: &[&str],
        categorical_available: &[&str],
    ) -> Result<Self, SchemaMismatch> {
        let slot = Self {
            numeric_available: numeric_available.iter().map(|s| s.to_string()).collect(),
            categorical_available: categorical_available
                .iter()
                .map(|s| s.to_string())
                .collect(),
            champion: ArcSwap::from_pointee(champion),
            challenger: ArcSwapOption::empty(),
        };
        slot.check(&slot.champion.load())?;
        Ok(slot)
    }

    fn check(&self, model: &Arc<dyn Scorer>) -> Result<(), SchemaMismatch> {
        let numeric: Vec<&str> = self.numeric_available.iter().map(String::as_str).collect();
        let categorical: Vec<&str> = self
            .categorical_available
            .iter()
            .map(String::as_str)
            .collect();
        model.manifest().check_compatible(&numeric, &categorical)
    }

    /// The champion; hold the `Arc` for the duration of a batch.
    pub fn current(&self) -> Arc<dyn Scorer> {
        Arc::clone(&self.champion.load())
    }

    pub fn challenger(&self) -> Option<Arc<dyn Scorer>> {
        self.challenger.load().as_ref().map(|a| Arc::clone(&**a))
    }

    /// Atomically replaces the champion; returns the previous one.
    pub fn swap_champion(&self, new: Arc<dyn Scorer>) -> Result<Arc<dyn Scorer>, SchemaMismatch> {
        self.check(&new)?;
        Ok(Arc::unwrap_or_clone(self.champion.swap(Arc::new(new))))
    }

    /// Sets (or clears, with `None`) the shadow challenger.
    pub fn set_challenger(&self, new: Option<Arc<dyn Scorer>>) -> Result<(), SchemaMismatch> {
        if let Some(model) = &new {
            self.check(model)?;
        }
        self.challenger.store(new.map(Arc::new));
        Ok(())
    }

    /// Loads `dir`, verifies it, and makes it the champion. On any error the
    /// running champion is untouched.
    pub fn load_champion(&self, dir: &Path) -> Result<Arc<dyn Scorer>, LoadError> {
        let model = load_model(dir)?;
        Ok(self.swap_champion(model)?)
    }

    /// Loads `dir` as the shadow challenger (same guarantees as `load_champion`).
    pub fn load_challenger(&self, dir: &Path) -> Result<(), LoadError> {
        let model = load_model(dir)?;
        Ok(self.set_challenger(Some(model))?)
    }

    /// Makes the challenger the champion; `false` when there is none.
    pub fn promote_challenger(&self) -> bool {
        match self.challenger.swap(None) {
            Some(challenger) => {
                self.champion.store(challenger);
                true
            }
            None => false,
        }
    }
}
