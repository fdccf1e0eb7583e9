//! A batch of events moving through the pipeline, with its columns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use verdict_rules::{Evaluation, RuleSet};

use crate::contract::Event;
use crate::contract::decision::ScoreReason;

/// Events plus the columns the stages fill in. Buffers are reused from batch
/// to batch: `clear` keeps capacity.
#[derive(Default)]
pub struct Batch {
    pub events: Vec<Event>,
    /// Source offset of each event (or line number in replay).
    pub offsets: Vec<i64>,
    /// When each event must be decided by (arrival + SLA budget).
    pub deadlines: Vec<Instant>,
    /// The SLA budget each deadline was computed with (deadline - budget = arrival).
    pub budget: Duration,
    /// Row-major feature values, `events.len() × width`.
    pub features: Vec<f64>,
    pub width: usize,
    pub scores: Vec<Option<f32>>,
    /// The challenger's score of each event (it never acts), when one is
    /// loaded and answered in time; see `challenger_model`.
    pub challenger_scores: Vec<Option<f32>>,
    /// `name@version` of the challenger that scored this batch, if any.
    pub challenger_model: Option<Arc<str>>,
    /// True when a model was configured but could not answer in time.
    pub degraded: Vec<bool>,
    /// True when a key owner's features did not arrive in time (or could
    /// not be given): the event is decided on what is known, `degraded`.
    pub incomplete: Vec<bool>,
    pub evaluations: Vec<Evaluation>,
    /// Per event, what pushed its score up (reviews and declines that were
    /// scored; empty otherwise). Like `evaluations`, at least `len()` long.
    pub score_reasons: Vec<Vec<ScoreReason>>,
    /// The rule set this batch was evaluated with.
    pub rules: Option<Arc<RuleSet>>,
}

impl Batch {
    pub fn clear(&mut self) {
        self.events.clear();
        self.offsets.clear();
        self.deadlines.clear();
        self.features.clear();
        self.scores.clear();
        self.challenger_scores.clear();
        self.challenger_model = None;
        self.degraded.clear();
        self.incomplete.clear();
        self.rules = None;
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn push(&mut self, event: Event, offset: i64, deadline: Instant) {
        self.events.push(event);
        self.offsets.push(offset);
        self.deadlines.push(deadline);
    }

    /// Sizes the columns for `rules` before the stages run.
    pub fn begin(&mut self, rules: &Arc<RuleSet>) {
        let n = self.events.len();
        self.width = rules.features().len();
        self.features.clear();
        self.features.resize(n * self.width, f64::NAN);
        self.scores.clear();
        self.scores.resize(n, None);
        self.challenger_scores.clear();
        self.challenger_scores.resize(n, None);
        self.challenger_model = None;
        self.degraded.clear();
        self.degraded.resize(n, false);
        self.incomplete.clear();
        self.incomplete.resize(n, false);
        if self.evaluations.len() < n {
            self.evaluations.resize_with(n, Evaluation::default);
        }
        if self.score_reasons.len() < n {
            self.score_reasons.resize_with(n, Vec::new);
        }
        self.score_reasons[..n].iter_mut().for_each(Vec::clear);
        self.rules = Some(Arc::clone(rules));
    }

    pub fn features_of(&self, i: usize) -> &[f64] {
        &self.features[i * self.width..(i + 1) * self.width]
    }
}
