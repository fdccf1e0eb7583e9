//! Score stage: the champion model scores the batch, unless an event's
//! deadline would pass first.
//!
//! The model's input columns are named in its manifest. Each name is resolved
//! once per (rule-set version, model version) to a source — a feature slot of
//! the rule set or a transaction field — so building a row is a few indexed
//! loads. A model that asks for something the engine cannot provide is refused
//! at load (see [`ModelHandle::swap`]); if a later rule-set reload removes a
//! feature the model needs, events are decided by rules alone and marked
//! `degraded` until a matching model or rule set is deployed.
//!
//! Deadlines: the stage keeps a moving estimate of the time a row costs. Events
//! whose remaining budget cannot cover the batch's scoring are not scored and
//! are marked `degraded`; the rules still decide them, on time. A live
//! partition also bounds the model call itself ([`ScoreStage::bound_by_deadlines`],
//! `bounded.rs`): a model slower than the estimate, or one that hangs, is
//! abandoned at the deadline and the events go to the rules the same way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use verdict_models::explain::{Attribution, Scratch};
use verdict_models::{FeatureSchema, Scorer};
use verdict_rules::input::{Field, FieldType, Transaction};
use verdict_rules::{Action, RuleSet};

use super::bounded::{Called, ModelCaller};
use super::{Batch, Stage};
use crate::contract::decision::{ReasonValue, ScoreReason};
use crate::drift::{self, ScoreDrift};
use crate::feature_drift::FeatureDrift;
use crate::metrics::Metrics;

/// A loaded model and the label decisions carry for it (`name@version`).
pub struct LoadedModel {
    pub scorer: Arc<dyn Scorer>,
    pub label: String,
}

/// The models a batch is scored with: the champion, whose score the rules
/// act on, and an optional challenger that scores beside it and never acts.
#[derive(Default)]
pub struct Models {
    pub champion: Option<Arc<LoadedModel>>,
    pub challenger: Option<Arc<LoadedModel>>,
}

/// The running [`Models`], swapped as one while the engine runs: a batch
/// is scored by one pair, so a promotion moves the challenger up between
/// two batches, never inside one.
#[derive(Clone, Default)]
pub struct ModelHandle {
    slots: Arc<ArcSwap<Models>>,
}

impl ModelHandle {
    pub fn new(champion: Option<Arc<dyn Scorer>>) -> Self {
        let handle = ModelHandle::default();
        handle.slots.store(Arc::new(Models {
            champion: champion.map(|s| Arc::new(LoadedModel::from(s))),
            challenger: None,
        }));
        handle
    }

    /// Both models, as one batch would see them.
    pub fn load(&self) -> Arc<Models> {
        self.slots.load_full()
    }

    pub fn champion(&self) -> Option<Arc<LoadedModel>> {
        self.slots.load().champion.clone()
    }

    pub fn challenger(&self) -> Option<Arc<LoadedModel>> {
        self.slots.load().challenger.clone()
    }

    /// Installs `scorer` as champion if its inputs can be built under `rules`;
    /// otherwise the running model stays and the reason is returned. The
    /// challenger stays. Returns the champion it replaced.
    pub fn swap(
        &self,
        scorer: Arc<dyn Scorer>,
        rules: &RuleSet,
    ) -> Result<Option<Arc<LoadedModel>>, String> {
        Columns::resolve(scorer.as_ref(), rules)?;
        let champion = Arc::new(LoadedModel::from(scorer));
        let previous = self.slots.rcu(|m| Models {
            champion: Some(Arc::clone(&champion)),
            challenger: m.challenger.clone(),
        });
        Ok(previous.champion.clone())
    }

    /// Installs `scorer` as the challenger (or none), if its inputs can be
    /// built under `rules`. Returns the challenger it replaced.
    pub fn set_challenger(
        &self,
        scorer: Option<Arc<dyn Scorer>>,
        rules: &RuleSet,
    ) -> Result<Option<Arc<LoadedModel>>, String> {
        if let Some(s) = &scorer {
            Columns::resolve(s.as_ref(), rules)?;
        }
        let challenger = scorer.map(|s| Arc::new(LoadedModel::from(s)));
        let previous = self.slots.rcu(|m| Models {
            champion: m.champion.clone(),
            challenger: challenger.clone(),
        });
        Ok(previous.challenger.clone())
    }

    /// Makes the challenger the champion, leaving no challenger, in one
    /// swap, if its inputs can still be built under `rules`. Returns
    /// `(old champion, new champion)`.
    pub fn promote_challenger(
        &self,
        rules: &RuleSet,
    ) -> Result<(Option<Arc<LoadedModel>>, Arc<LoadedModel>), String> {
        let current = self.slots.load_full();
        let Some(challenger) = current.challenger.clone() else {
            return Err("no challenger is loaded".into());
        };
        Columns::resolve(challenger.scorer.as_ref(), rules)?;
        let next = Arc::new(Models {
            champion: Some(Arc::clone(&challenger)),
            challenger: None,
        });
        let previous = self.slots.compare_and_swap(&current, next);
        if !Arc::ptr_eq(&*previous, &current) {
            return Err("the models changed while promoting; nothing was promoted".into());
        }
        Ok((current.champion.clone(), challenger))
    }
}

impl From<Arc<dyn Scorer>> for LoadedModel {
    fn from(scorer: Arc<dyn Scorer>) -> Self {
        let m = scorer.manifest();
        LoadedModel {
            label: format!("{}@{}", m.name, m.version),
            scorer,
        }
    }
}

/// Where a model input comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Feature(usize),
    Number(Field),
    Category(usize, Field),
}

/// Model inputs resolved against a rule set.
struct Columns {
    sources: Vec<Source>,
}

impl Columns {
    /// Appends event `i`'s model row to `rows`.
    fn push_row(&self, schema: &FeatureSchema, batch: &Batch, i: usize, rows: &mut Vec<f32>) {
        let event = &batch.events[i];
        let features = batch.features_of(i);
        rows.extend(self.sources.iter().map(|src| match *src {
            Source::Feature(slot) => features[slot] as f32,
            Source::Number(f) => event.number(f).map_or(f32::NAN, |v| v as f32),
            Source::Category(col, f) => schema.category_index(col, event.text(f)) as f32,
        }));
    }

    fn resolve(scorer: &dyn Scorer, rules: &RuleSet) -> Result<Columns, String> {
        let schema = &scorer.manifest().schema;
        let mut sources = Vec::with_capacity(schema.width());
        let mut missing = Vec::new();
        for name in &schema.numeric {
            if let Some(i) = rules.features().iter().position(|f| &f.name == name) {
                sources.push(Source::Feature(i));
            } else if let Some(f) =
                Field::from_name(name).filter(|f| f.field_type() == FieldType::Number)
            {
                sources.push(Source::Number(f));
            } else {
                missing.push(name.clone());
            }
        }
        for (i, col) in schema.categorical.iter().enumerate() {
            match Field::from_name(&col.name).filter(|f| f.field_type() == FieldType::Text) {
                Some(f) => sources.push(Source::Category(i, f)),
                None => missing.push(col.name.clone()),
            }
        }
        if missing.is_empty() {
            Ok(Columns { sources })
        } else {
            Err(format!(
                "model {}@{} needs inputs the engine does not provide under rule set {}: {}",
                scorer.manifest().name,
                scorer.manifest().version,
                rules.version(),
                missing.join(", ")
            ))
        }
    }
}

/// Time left, after the model's answer, for the rules, the hand-off to the
/// producer and the decision's trip to the broker, with room for a busy
/// machine's scheduling: a bounded model call is abandoned this long before
/// the earliest deadline of its events.
pub const DECIDE_MARGIN: Duration = Duration::from_millis(10);

/// Which model a call is for (each has its own scoring thread when bounded).
#[derive(Clone, Copy)]
enum Slot {
    Champion,
    Challenger,
}

/// Scores batches with the current champion.
pub struct ScoreStage {
    models: ModelHandle,
    metrics: Arc<Metrics>,
    drift: Arc<ScoreDrift>,
    feature_drift: Arc<FeatureDrift>,
    /// This batch's champion scores by drift bin, added to `drift` at once.
    drift_counts: [u32; drift::BINS],
    /// (rules version, model label) the cached columns were resolved for.
    resolved_for: Option<(String, String)>,
    columns: Result<Columns, String>,
    /// The same for the challenger.
    challenger_resolved_for: Option<(String, String)>,
    challenger_columns: Result<Columns, String>,
    rows: Vec<f32>,
    out: Vec<f32>,
    /// How the champion and the challenger are called: inline, or on a
    /// scoring thread each, bounded by the deadlines.
    champion_calls: ModelCaller,
    challenger_calls: ModelCaller,
    /// Moving estimate of scoring cost per row, in nanoseconds.
    ns_per_row: f64,
    /// Fixed cost per model call, in nanoseconds.
    ns_per_call: f64,
    pub model_label: Option<String>,
    /// The champion that scored the batch, for [`ScoreStage::explain`].
    scored_by: Option<Arc<LoadedModel>>,
    explaining: Explaining,
}

/// Explanation buffers, and the names of the model's columns and categories.
#[derive(Default)]
struct Explaining {
    /// The model label the names are for.
    names_for: String,
    columns: Vec<Arc<str>>,
    categories: Vec<Vec<Arc<str>>>,
    /// The events explained, and their model rows.
    explained: Vec<usize>,
    rows: Vec<f32>,
    scratch: Scratch,
    attributions: Vec<Vec<Attribution>>,
}

/// Score reasons a review or a decline carries.
pub const SCORE_REASONS: usize = 3;

impl ScoreStage {
    pub fn new(
        models: ModelHandle,
        metrics: Arc<Metrics>,
        drift: Arc<ScoreDrift>,
        feature_drift: Arc<FeatureDrift>,
    ) -> Self {
        ScoreStage {
            models,
            metrics,
            drift,
            feature_drift,
            drift_counts: [0; drift::BINS],
            resolved_for: None,
            columns: Err("not resolved".into()),
            challenger_resolved_for: None,
            challenger_columns: Err("not resolved".into()),
            rows: Vec::new(),
            out: Vec::new(),
            champion_calls: ModelCaller::inline(),
            challenger_calls: ModelCaller::inline(),
            ns_per_row: 1_000.0,
            ns_per_call: 20_000.0,
            model_label: None,
            scored_by: None,
            explaining: Explaining::default(),
        }
    }

    /// Live: each model slot is called on a scoring thread of its own and
    /// abandoned at the earliest deadline of the events it scores (less
    /// [`DECIDE_MARGIN`]), so no model can make a decision late.
    pub fn bound_by_deadlines(&mut self, partition: i32) -> std::io::Result<()> {
        self.champion_calls = ModelCaller::bounded(format!("champion-{partition}"))?;
        self.challenger_calls = ModelCaller::bounded(format!("challenger-{partition}"))?;
        Ok(())
    }

    /// What pushed the score of each scored review and decline up, once
    /// the rules have decided the batch: the champion's top
    /// [`SCORE_REASONS`] inputs by gradient × input against its training
    /// baseline (`verdict_models::explain`), named as the model names them.
    pub fn explain(&mut self, batch: &mut Batch) {
        let Some(model) = self.scored_by.take() else {
            return;
        };
        let (Ok(columns), Some(explainer)) = (&self.columns, model.scorer.explainer()) else {
            return;
        };
        let schema = &model.scorer.manifest().schema;
        let x = &mut self.explaining;
        if x.names_for != model.label {
            x.columns = (schema.numeric.iter())
                .chain(schema.categorical.iter().map(|c| &c.name))
                .map(|n| Arc::from(n.as_str()))
                .collect();
            x.categories = (schema.categorical.iter())
                .map(|c| c.vocabulary.iter().map(|v| Arc::from(v.as_str())).collect())
                .collect();
            x.names_for.clone_from(&model.label);
        }
        let numeric = schema.numeric.len();
        x.explained.clear();
        x.rows.clear();
        for i in 0..batch.len() {
            if batch.scores[i].is_some() && batch.evaluations[i].action != Action::Allow {
                x.explained.push(i);
                columns.push_row(schema, batch, i, &mut x.rows);
            }
        }
        if x.explained.is_empty() {
            return;
        }
        explainer.explain(&x.rows, SCORE_REASONS, &mut x.scratch, &mut x.attributions);
        for (&i, attributions) in x.explained.iter().zip(&x.attributions) {
            let reasons = &mut batch.score_reasons[i];
            reasons.extend(attributions.iter().map(|a| ScoreReason {
                feature: Arc::clone(&x.columns[a.column]),
                value: match a.column.checked_sub(numeric) {
                    None => ReasonValue::Number(a.value),
                    Some(c) => {
                        let vocabulary = &x.categories[c];
                        let index = (a.value as usize).min(vocabulary.len().saturating_sub(1));
                        ReasonValue::Category(Arc::clone(&vocabulary[index]))
                    }
                },
                contribution: a.contribution,
            }));
        }
    }

    /// The challenger scores the events the champion could score in time
    /// (`selected`), under the same deadlines; its scores are recorded
    /// (`batch.challenger_scores`) and never act.
    fn challenge(
        &mut self,
        challenger: &LoadedModel,
        batch: &mut Batch,
        rules: &RuleSet,
        selected: &[usize],
    ) {
        let key = (rules.version().to_string(), challenger.label.clone());
        if self.challenger_resolved_for.as_ref() != Some(&key) {
            self.challenger_columns = Columns::resolve(challenger.scorer.as_ref(), rules);
            if let Err(e) = &self.challenger_columns {
                tracing::error!(challenger = %challenger.label, "{e}; the challenger does not score");
            }
            self.challenger_resolved_for = Some(key);
        }
        if batch.is_empty() {
            return;
        }
        batch.challenger_model = Some(Arc::from(challenger.label.as_str()));
        if selected.is_empty() {
            return;
        }
        std::mem::swap(&mut self.columns, &mut self.challenger_columns);
        let scored = self.score_with(challenger, batch, selected, Slot::Challenger);
        std::mem::swap(&mut self.columns, &mut self.challenger_columns);
        if scored {
            for (&i, &s) in selected.iter().zip(&self.out) {
                batch.challenger_scores[i] = Some(s);
                self.metrics.challenger_score.observe(f64::from(s));
            }
        }
    }

    fn score_with(
        &mut self,
        model: &LoadedModel,
        batch: &Batch,
        selected: &[usize],
        slot: Slot,
    ) -> bool {
        let Ok(columns) = &self.columns else {
            return false;
        };
        let schema = &model.scorer.manifest().schema;
        self.rows.clear();
        self.rows.reserve(selected.len() * schema.width());
        for &i in selected {
            columns.push_row(schema, batch, i, &mut self.rows);
        }
        self.out.clear();
        self.out.resize(selected.len(), f32::NAN);
        let earliest = selected
            .iter()
            .map(|&i| batch.deadlines[i])
            .min()
            .expect("called with events");
        let until = earliest.checked_sub(DECIDE_MARGIN).unwrap_or(earliest);
        let caller = match slot {
            Slot::Champion => &mut self.champion_calls,
            Slot::Challenger => &mut self.challenger_calls,
        };
        match caller.call(&model.scorer, &mut self.rows, &mut self.out, until) {
            Called::Scored => true,
            Called::Failed(e) => {
                tracing::error!(model = %model.label, error = %e, "scoring failed; deciding by rules alone");
                self.metrics.model_errors.inc();
                false
            }
            Called::Late => {
                tracing::warn!(model = %model.label, events = selected.len(), "the model did not answer before the deadline; deciding by rules alone");
                self.metrics
                    .ops
                    .model_abandoned
                    .with_label_values(&["late"])
                    .inc();
                false
            }
            Called::Busy => {
                self.metrics
                    .ops
                    .model_abandoned
                    .with_label_values(&["busy"])
                    .inc();
                false
            }
        }
    }
}

impl Stage for ScoreStage {
    fn name(&self) -> &'static str {
        "score"
    }

    fn process(&mut self, batch: &mut Batch) {
        self.scored_by = None;
        let models = self.models.load();
        let Some(model) = models.champion.clone() else {
            self.model_label = None;
            return;
        };
        let rules = Arc::clone(batch.rules.as_ref().expect("batch begun"));
        let key = (rules.version().to_string(), model.label.clone());
        if self.resolved_for.as_ref() != Some(&key) {
            self.columns = Columns::resolve(model.scorer.as_ref(), &rules);
            if let Err(e) = &self.columns {
                tracing::error!("{e}; deciding by rules alone");
            }
            self.resolved_for = Some(key);
        }
        self.model_label = Some(model.label.clone());

        // Events that can still be scored before their deadline.
        let now = Instant::now();
        let expected =
            Duration::from_nanos((self.ns_per_call + self.ns_per_row * batch.len() as f64) as u64);
        let selected: Vec<usize> = (0..batch.len())
            .filter(|&i| batch.deadlines[i] > now + expected)
            .collect();
        let started = Instant::now();
        let scored =
            !selected.is_empty() && self.score_with(&model, batch, &selected, Slot::Champion);
        if scored {
            self.scored_by = Some(Arc::clone(&model));
            let per_row = started.elapsed().as_nanos() as f64 / selected.len() as f64;
            self.ns_per_row = 0.9 * self.ns_per_row + 0.1 * per_row;
            self.drift_counts = [0; drift::BINS];
            for (k, &i) in selected.iter().enumerate() {
                batch.scores[i] = Some(self.out[k]);
                self.metrics.score.observe(f64::from(self.out[k]));
                self.drift_counts[drift::bin_of(self.out[k])] += 1;
            }
            self.drift.record(&model.label, &self.drift_counts);
            let width = model.scorer.manifest().schema.width();
            self.feature_drift.record(&model.label, &self.rows, width);
        }
        for i in 0..batch.len() {
            if batch.scores[i].is_none() {
                batch.degraded[i] = true;
            }
        }
        if let Some(challenger) = &models.challenger {
            self.challenge(challenger, batch, &rules, &selected);
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        self.drift.tick(now);
        self.feature_drift.tick(now);
    }
}
