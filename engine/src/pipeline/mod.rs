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
//! per batch. Lifecycle hooks — watermark, the two-phase checkpoint, timer —
//! have defaults; [`Pipeline`] drives every stage through them.
//! One [`Pipeline`] is owned by one partition's worker: nothing here is shared
//! between partitions on the per-event path except immutable, swap-on-reload
//! things (the rule set, the model) read once per batch.

mod batch;
mod bounded;
mod emit;
mod features;
mod rules;
mod score;

use std::sync::Arc;

use verdict_state::{ErrorClass, PreparedCheckpoint, StateError};

pub use batch::Batch;
pub use emit::{DecisionClock, DecisionEmitter};
pub use features::FeatureStage;
pub use rules::RuleStage;
pub use score::{LoadedModel, ModelHandle, ScoreStage};

use crate::metrics::Metrics;

/// Errors a stage can raise, tagged with whose fault they are: that tag alone
/// decides what the runtime does (see `STYLE.md` and [`StageError::remedy`]).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Bad input: dead-letter it and go on.
    #[error("user: {0}")]
    User(String),
    /// A broker or disk problem: retry with backoff, keep state.
    #[error("external: {0}")]
    External(String),
    /// A bug or corrupt state: stop the partition loudly rather than emit
    /// wrong decisions.
    #[error("internal: {0}")]
    Internal(String),
}

/// What the runtime does about a [`StageError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Send the input that caused it to the dead-letter queue.
    DeadLetter,
    /// Try again after a backoff (a bounded number of times).
    Retry,
    /// Stop the partition with the error.
    Fail,
}

impl StageError {
    pub fn remedy(&self) -> Remedy {
        match self {
            StageError::User(_) => Remedy::DeadLetter,
            StageError::External(_) => Remedy::Retry,
            StageError::Internal(_) => Remedy::Fail,
        }
    }
}

/// A state error keeps its tag: [`StateError::class`] says whose fault it is.
impl From<StateError> for StageError {
    fn from(e: StateError) -> Self {
        match e.class() {
            ErrorClass::User => StageError::User(e.to_string()),
            ErrorClass::External => StageError::External(e.to_string()),
            ErrorClass::Internal => StageError::Internal(e.to_string()),
        }
    }
}

/// One step of the dataflow.
pub trait Stage: Send {
    fn name(&self) -> &'static str;

    /// Processes a batch in place.
    fn process(&mut self, batch: &mut Batch);

    /// The partition's event-time watermark advanced to `watermark_ms`.
    fn on_watermark(&mut self, _watermark_ms: i64) {}

    /// The first half of a checkpoint: encodes whatever the stage must
    /// persist to resume after `next_offset`, without writing it, so the
    /// write can run beside the partition. `None`: nothing to write (the
    /// default). A stage whose prepare fails has prepared nothing.
    fn prepare_checkpoint(
        &mut self,
        _next_offset: i64,
    ) -> Result<Option<PreparedCheckpoint>, StageError> {
        Ok(None)
    }

    /// The second half: `written` is the outcome of writing what
    /// [`Self::prepare_checkpoint`] returned. Called only after a prepare
    /// that returned a batch; the default has nothing to record.
    fn finish_checkpoint(&mut self, _written: Result<(), StateError>) -> Result<(), StageError> {
        Ok(())
    }

    /// Wall-clock tick, about once a second.
    fn on_timer(&mut self) {}
}

/// Every stage's prepared checkpoint, in stage order: written together (on
/// any thread), then handed back to [`Pipeline::finish_checkpoint`].
#[must_use = "a prepared checkpoint must be written and finished"]
pub struct PreparedCheckpoints(Vec<Option<PreparedCheckpoint>>);

impl PreparedCheckpoints {
    /// Writes each stage's batch (blocking; each batch is atomic). One
    /// outcome per stage that had something to write.
    pub fn write(self) -> CheckpointWrites {
        CheckpointWrites(
            self.0
                .into_iter()
                .map(|p| p.map(PreparedCheckpoint::write))
                .collect(),
        )
    }

    /// What the batches change, key by key, in the order they apply (see
    /// [`PreparedCheckpoint::changes`]): the copy for the changelog. The
    /// state's batch, the one with the checkpoint record, comes last.
    pub fn changes(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        self.0
            .iter()
            .flatten()
            .flat_map(PreparedCheckpoint::changes)
    }

    /// Records where the changelog copy ends, in the state's batch.
    pub fn note_changelog(&mut self, position: &[u8]) {
        if let Some(state) = self.0.iter_mut().flatten().next_back() {
            state.note_changelog(position);
        }
    }

    /// Which stages have something to write, to report a write that did
    /// not run to the end once the batches have moved to its thread.
    pub fn shape(&self) -> CheckpointShape {
        CheckpointShape(self.0.iter().map(Option::is_some).collect())
    }
}

/// Which stages of a [`PreparedCheckpoints`] have a batch to write.
#[derive(Debug, Clone)]
pub struct CheckpointShape(Vec<bool>);

impl CheckpointShape {
    /// Every stage that had something to write failed with `error`.
    pub fn failed(&self, error: &str) -> CheckpointWrites {
        CheckpointWrites(
            self.0
                .iter()
                .map(|&has| has.then(|| Err(StateError::Storage(error.to_string()))))
                .collect(),
        )
    }
}

/// The outcome of [`PreparedCheckpoints::write`], per stage.
#[must_use = "the outcome of a checkpoint write must be finished"]
pub struct CheckpointWrites(Vec<Option<Result<(), StateError>>>);

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

    /// Every stage, in dataflow order.
    fn stages(&mut self) -> [&mut dyn Stage; 3] {
        [&mut self.features, &mut self.score, &mut self.rules]
    }

    /// Runs every stage over the batch; afterwards `batch.evaluations[i]` and
    /// `batch.scores[i]` hold the decision inputs of `batch.events[i]`.
    pub fn process(&mut self, batch: &mut Batch) {
        self.features(batch);
        self.decide(batch);
    }

    /// The first half of [`Self::process`]: the keyed features of the
    /// feature stage's scope. A home partition fills in its key owners'
    /// answers before [`Self::decide`].
    pub fn features(&mut self, batch: &mut Batch) {
        keyed_features(&mut self.features, &self.rules, &self.metrics, batch);
    }

    /// The second half: derived features, score and rules, with the rule
    /// set the batch began with.
    pub fn decide(&mut self, batch: &mut Batch) {
        decide(&mut self.score, &mut self.rules, &self.metrics, batch);
    }

    /// The pipeline cut in two after its keyed features, for two threads
    /// (a replay's): [`Keyed::features`] then [`Deciding::decide`] on a
    /// batch is [`Self::process`]. The keyed half keeps the state, and with
    /// it every checkpoint: the stages after it keep none.
    pub fn split(self) -> (Keyed, Deciding) {
        let Pipeline {
            features,
            score,
            rules,
            metrics,
        } = self;
        let keyed = Keyed {
            features,
            rules: rules.clone(),
            metrics: Arc::clone(&metrics),
        };
        let deciding = Deciding {
            score,
            rules,
            metrics,
        };
        (keyed, deciding)
    }

    pub fn on_watermark(&mut self, watermark_ms: i64) {
        for stage in self.stages() {
            stage.on_watermark(watermark_ms);
        }
    }

    /// Every stage's [`Stage::prepare_checkpoint`] for `next_offset`. If one
    /// fails, the stages prepared before it are finished as failed (their
    /// batches are dropped unwritten) and the error is returned.
    pub fn prepare_checkpoint(
        &mut self,
        next_offset: i64,
    ) -> Result<PreparedCheckpoints, StageError> {
        let mut prepared = Vec::with_capacity(3);
        let mut failure = None;
        for stage in self.stages() {
            match stage.prepare_checkpoint(next_offset) {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let prepared = PreparedCheckpoints(prepared);
        let Some(e) = failure else {
            return Ok(prepared);
        };
        let abandoned = prepared
            .shape()
            .failed(&format!("checkpoint abandoned: {e}"));
        // The first error is the one to report.
        let _ = self.finish_checkpoint(abandoned);
        Err(e)
    }

    /// Hands each stage that prepared a batch the outcome of its write; the
    /// first stage error is returned (every stage is still told).
    pub fn finish_checkpoint(&mut self, written: CheckpointWrites) -> Result<(), StageError> {
        let mut result = Ok(());
        for (stage, outcome) in self.stages().into_iter().zip(written.0) {
            if let Some(outcome) = outcome {
                let finished = stage.finish_checkpoint(outcome);
                if result.is_ok() {
                    result = finished;
                }
            }
        }
        result
    }

    /// A whole checkpoint inline: prepare, write on this thread, finish.
    pub fn checkpoint(&mut self, next_offset: i64) -> Result<(), StageError> {
        let prepared = self.prepare_checkpoint(next_offset)?;
        self.finish_checkpoint(prepared.write())
    }

    pub fn on_timer(&mut self) {
        for stage in self.stages() {
            stage.on_timer();
        }
    }
}

/// The keyed half of a [`Pipeline::split`]: the feature stage, and the
/// partition's checkpoints.
pub struct Keyed {
    pub features: FeatureStage,
    rules: RuleStage,
    metrics: Arc<Metrics>,
}

impl Keyed {
    /// [`Pipeline::features`].
    pub fn features(&mut self, batch: &mut Batch) {
        keyed_features(&mut self.features, &self.rules, &self.metrics, batch);
    }

    /// [`Pipeline::checkpoint`]: of the stages, only the feature stage has
    /// anything to persist.
    pub fn checkpoint(&mut self, next_offset: i64) -> Result<(), StageError> {
        match self.features.prepare_checkpoint(next_offset)? {
            Some(prepared) => self.features.finish_checkpoint(prepared.write()),
            None => Ok(()),
        }
    }
}

/// The other half of a [`Pipeline::split`]: derived features, score and
/// rules.
pub struct Deciding {
    pub score: ScoreStage,
    rules: RuleStage,
    metrics: Arc<Metrics>,
}

impl Deciding {
    /// [`Pipeline::decide`].
    pub fn decide(&mut self, batch: &mut Batch) {
        decide(&mut self.score, &mut self.rules, &self.metrics, batch);
    }
}

/// [`Pipeline::features`], on the stages it reads.
fn keyed_features(
    features: &mut FeatureStage,
    rules: &RuleStage,
    metrics: &Metrics,
    batch: &mut Batch,
) {
    // The rule set is read once per batch; the feature layout follows it.
    let current = rules.current();
    batch.begin(&current);
    features.sync_rules(&current);
    timed(metrics, features, batch);
}

/// [`Pipeline::decide`], on the stages it runs.
fn decide(score: &mut ScoreStage, rules: &mut RuleStage, metrics: &Metrics, batch: &mut Batch) {
    let set = Arc::clone(batch.rules.as_ref().expect("batch begun"));
    let width = batch.width.max(1);
    for (event, row) in batch.events.iter().zip(batch.features.chunks_mut(width)) {
        set.derive(event, row);
    }
    timed(metrics, score, batch);
    timed(metrics, rules, batch);
    let started = std::time::Instant::now();
    score.explain(batch);
    metrics
        .stage_duration
        .with_label_values(&["explain"])
        .observe(started.elapsed().as_secs_f64());
}

/// Runs one stage over the batch, timed under its name.
fn timed(metrics: &Metrics, stage: &mut dyn Stage, batch: &mut Batch) {
    let started = std::time::Instant::now();
    stage.process(batch);
    metrics
        .stage_duration
        .with_label_values(&[stage.name()])
        .observe(started.elapsed().as_secs_f64());
}
