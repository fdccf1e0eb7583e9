//! Feature stage: keyed state (windows, history, previous values) then the
//! rule set's derived expressions.

use std::sync::Arc;

use verdict_rules::RuleSet;
use verdict_state::{PartitionState, PreparedCheckpoint, StateError};

use super::{Batch, Stage, StageError};
use crate::rekey::{Scope, scoped};

/// Computes the keyed features of its scope (all of them, or a home's or a
/// key owner's share; see `rekey.rs`) of every event, in order. The derived
/// ones are computed once every keyed value is in ([`super::Pipeline::decide`]).
pub struct FeatureStage {
    state: PartitionState,
    scope: Scope,
    rules_version: String,
}

impl FeatureStage {
    /// `state` must have been opened on `scoped(rules.features(), &scope)`.
    pub fn new(state: PartitionState, rules: &RuleSet, scope: Scope) -> Self {
        FeatureStage {
            state,
            scope,
            rules_version: rules.version().to_string(),
        }
    }

    /// Follows a rule-set reload: state of unchanged features is kept.
    pub fn sync_rules(&mut self, rules: &Arc<RuleSet>) {
        if rules.version() != self.rules_version {
            self.state
                .update_features(&scoped(rules.features(), &self.scope));
            self.rules_version = rules.version().to_string();
        }
    }

    pub fn state(&self) -> &PartitionState {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut PartitionState {
        &mut self.state
    }

    pub fn checkpointed_offset(&self) -> Option<i64> {
        self.state.checkpointed_offset()
    }
}

impl Stage for FeatureStage {
    fn name(&self) -> &'static str {
        "features"
    }

    fn process(&mut self, batch: &mut Batch) {
        // One call for the batch: keys are hashed once and the next events'
        // state is prefetched while each one is computed.
        self.state
            .process_batch(&batch.events, &mut batch.features, batch.width);
    }

    /// Encodes the dirty state and `next_offset` into one batch (see
    /// [`PartitionState::prepare_checkpoint`]); the state's error keeps its
    /// tag.
    fn prepare_checkpoint(
        &mut self,
        next_offset: i64,
    ) -> Result<Option<PreparedCheckpoint>, StageError> {
        Ok(Some(self.state.prepare_checkpoint(next_offset)?))
    }

    /// Records the outcome of the batch's write: on success the offset is
    /// the partition's; on failure the state refuses further checkpoints.
    fn finish_checkpoint(&mut self, written: Result<(), StateError>) -> Result<(), StageError> {
        Ok(self.state.finish_checkpoint(written)?)
    }
}
