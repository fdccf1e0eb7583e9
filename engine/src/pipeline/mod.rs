//! The decision pipeline: stages over batches of decoded events.
//!
//! ```text
//! Batch ─► FeatureStage (keyed state, derived features)
//!       ─► ScoreStage   (champion model, deadline-aware)
//!       ─► RuleStage    (compiled rule set)
//!       ─► decisions    (encoded by the caller: Kafka sink or replay file)
//! ```
//!
//! A [`Stage`] has one required method, [`Stage::process`], which takes a whole
//! batch so per-call costs (locks, model calls, rule-set loads) are paid once
//! per batch. Lifecycle hooks — watermark, checkpoint, timer — have defaults.
//! One [`Pipeline`] is owned by one partition's worker: nothing here is shared
//! between partitions on the per-event path except immutable, swap-on-reload
//! things (the rule set, the model) read once per batch.

mod batch;
mod emit;
mod features;
mod rules;
mod score;

use std::sync::Arc;

pub use batch::Batch;
pub use emit::{DecisionClock, DecisionEmitter};
pub use features::FeatureStage;
pub use rules::RuleStage;
pub use score::{ModelHandle, ScoreStage};

use crate::metrics::Metrics;

/// Errors a stage can raise, tagged with whose fault they are: that tag alone
/// decides what the runtime does (see `STYLE.md`).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A broker or disk problem: retry with backoff, keep state.
    #[error("external: {0}")]
    External(String),
    /// A bug: stop the partition loudly rather than emit wrong decisions.
    #[error("internal: {0}")]
    Internal(String),
}

/// One step of the dataflow.
pub trait Stage: Send {
    fn name(&self) -> &'static str;

    /// Processes a batch in place.
    fn process(&mut self, batch: &mut Batch);

    /// The partition's event-time watermark advanced to `watermark_ms`.
    fn on_watermark(&mut self, _watermark_ms: i64) {}

    /// Persist whatever the stage must to resume after `next_offset`.
    fn on_checkpoint(&mut self, _next_offset: i64) -> Result<(), StageError> {
        Ok(())
    }

    /// Wall-clock tick, about once a second.
    fn on_timer(&mut self) {}
}

/// The stages of one partition, wired in order.
pub struct Pipeline {
    pub features: FeatureStage,
    pub score: ScoreStage,
    pub rules: RuleStage,
    metrics: Arc<Metrics>,
}

impl Pipeline {
    pub fn new(
        features: FeatureStage,
        score: ScoreStage,
        rules: RuleStage,
        metrics: Arc<Metrics>,
    ) -> Self {
        Pipeline {
            features,
            score,
            rules,
            metrics,
        }
    }

    /// Runs every stage over the batch; afterwards `batch.evaluations[i]` and
    /// `batch.scores[i]` hold the decision inputs of `batch.events[i]`.
    pub fn process(&mut self, batch: &mut Batch) {
        // The rule set is read once per batch; the feature layout follows it.
        let rules = self.rules.current();
        batch.begin(&rules);
        self.features.sync_rules(&rules);
        for stage in [
            &mut self.features as &mut dyn Stage,
            &mut self.score,
            &mut self.rules,
        ] {
            let started = std::time::Instant::now();
            stage.process(batch);
            self.metrics
                .stage_duration
                .with_label_values(&[stage.name()])
                .observe(started.elapsed().as_secs_f64());
        }
    }

    pub fn on_watermark(&mut self, watermark_ms: i64) {
        self.features.on_watermark(watermark_ms);
        self.score.on_watermark(watermark_ms);
        self.rules.on_watermark(watermark_ms);
    }

    pub fn on_checkpoint(&mut self, next_offset: i64) -> Result<(), StageError> {
        self.features.on_checkpoint(next_offset)?;
        self.score.on_checkpoint(next_offset)?;
        self.rules.on_checkpoint(next_offset)
    }

    /// [`Self::on_checkpoint`] with the state's write left to the caller,
    /// to run beside the partition: the other stages checkpoint at once,
    /// the feature stage's batch is returned encoded. Finish it with
    /// [`Self::finish_checkpoint`].
    pub fn prepare_checkpoint(
        &mut self,
        next_offset: i64,
    ) -> Result<verdict_state::PreparedCheckpoint, StageError> {
        self.score.on_checkpoint(next_offset)?;
        self.rules.on_checkpoint(next_offset)?;
        self.features.prepare_checkpoint(next_offset)
    }

    pub fn finish_checkpoint(
        &mut self,
        written: Result<(), verdict_state::StateError>,
    ) -> Result<(), StageError> {
        self.features.finish_checkpoint(written)
    }

    pub fn on_timer(&mut self) {
        self.features.on_timer();
        self.score.on_timer();
        self.rules.on_timer();
    }
}
