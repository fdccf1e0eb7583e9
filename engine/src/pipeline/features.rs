//! Feature stage: keyed state (windows, history, previous values) then the
//! rule set's derived expressions.

use std::sync::Arc;

use verdict_rules::RuleSet;
use verdict_state::{PartitionState, PreparedCheckpoint, StateError};

use super::{Batch, Stage, StageError};

/// Computes every declared feature of every event, in order.
pub struct FeatureStage {
    state: PartitionState,
    rules_version: String,
}

impl FeatureStage {
    pub fn new(state: PartitionState, rules: &RuleSet) -> Self {
        FeatureStage {
            state,
            rules_version: rules.version().to_string(),
        }
    }

    /// Follows a rule-set reload: state of unchanged features is kept.
    pub fn sync_rules(&mut self, rules: &Arc<RuleSet>) {
        if rules.version() != self.rules_version {
            self.state.update_features(rules.features());
            self.rules_version = rules.version().to_string();
        }
    }

    pub fn state(&self) -> &PartitionState {
        &self.state
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
        let rules = Arc::clone(batch.rules.as_ref().expect("batch begun"));
        let width = batch.width;
        // One call for the batch: keys are hashed once and the next events'
        // state is prefetched while each one is computed.
        self.state
            .process_batch(&batch.events, &mut batch.features, width);
        for (event, row) in batch
            .events
            .iter()
            .zip(batch.features.chunks_mut(width.max(1)))
        {
            rules.derive(event, row);
        }
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
