//! The dataflow: the parts every partition's pipeline shares (rule-set cell,
//! model handle, metrics, state store and settings), and the one function
//! that wires a partition's stages ([`Dataflow::pipeline`]): read this to see
//! the whole dataflow.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use verdict_models::Device;
use verdict_rules::RuleSet;
use verdict_state::{
    MemoryStore, PartitionState, RocksOptions, RocksStore, StateConfig, StateStore,
};

use crate::config::EngineConfig;
use crate::drift::ScoreDrift;
use crate::feature_drift::FeatureDrift;
use crate::feature_sink::FeatureSink;
use crate::metrics::Metrics;
use crate::pipeline::{FeatureStage, LoadedModel, ModelHandle, Pipeline, RuleStage, ScoreStage};
use crate::rekey::{RekeyPlan, Scope, scoped};

/// The dataflow's shared parts, from which each partition's [`Pipeline`] is
/// wired: immutable-and-swappable (rules, model) or internally partitioned
/// (the store, whose keys carry the partition).
#[derive(Clone)]
pub struct Dataflow {
    pub rules: Arc<ArcSwap<RuleSet>>,
    pub models: ModelHandle,
    pub metrics: Arc<Metrics>,
    pub store: Arc<dyn StateStore>,
    pub state: StateConfig,
    /// The champion's serving drift (`verdict_score_psi`).
    pub drift: Arc<ScoreDrift>,
    /// Its inputs' drift (`verdict_feature_psi`).
    pub feature_drift: Arc<FeatureDrift>,
    /// Where a live partition hands its decided rows (`[feature-log]`).
    pub feature_sink: Option<FeatureSink>,
    /// Where every model this dataflow loads scores (`[model] device`).
    pub device: Device,
}

/// The drift window unless configured (`model.drift-window-minutes`), its
/// slots, and the scores it needs before the gauge means anything.
const DRIFT_WINDOW: Duration = Duration::from_secs(3_600);
const DRIFT_SLOTS: usize = 60;
const DRIFT_MIN_SCORES: u64 = 1_000;

impl Dataflow {
    /// [`Self::build_on`] with the models on the CPU.
    pub fn build(
        rules: Arc<ArcSwap<RuleSet>>,
        model_dir: Option<&Path>,
        metrics: Arc<Metrics>,
        state_dir: Option<&Path>,
        state: StateConfig,
    ) -> anyhow::Result<Dataflow> {
        Self::build_on(rules, model_dir, Device::Cpu, metrics, state_dir, state)
    }

    /// Assembles the shared parts: the rule-set cell (fixed or watched), the
    /// champion model from `model_dir` on `device` (checked against the
    /// rules), and the state store (RocksDB under `state_dir` with
    /// `state.rocksdb`'s options, or in memory).
    pub fn build_on(
        rules: Arc<ArcSwap<RuleSet>>,
        model_dir: Option<&Path>,
        device: Device,
        metrics: Arc<Metrics>,
        state_dir: Option<&Path>,
        state: StateConfig,
    ) -> anyhow::Result<Dataflow> {
        metrics
            .rules_info
            .with_label_values(&[rules.load().version()])
            .set(1);
        let drift = Arc::new(ScoreDrift::new(
            metrics.ops.score_psi.clone(),
            DRIFT_WINDOW,
            DRIFT_SLOTS,
            DRIFT_MIN_SCORES,
        ));
        let feature_drift = Arc::new(FeatureDrift::new(
            metrics.ops.feature_psi.clone(),
            DRIFT_WINDOW,
            DRIFT_SLOTS,
            DRIFT_MIN_SCORES,
        ));
        let dataflow = Dataflow {
            rules,
            models: ModelHandle::default(),
            metrics,
            store: Self::open_store(state_dir, &state.rocksdb)?,
            state,
            drift,
            feature_drift,
            feature_sink: None,
            device,
        };
        if let Some(dir) = model_dir {
            dataflow.promote(dir).map_err(anyhow::Error::msg)?;
        }
        Ok(dataflow)
    }

    /// Live partitions log every decided batch's rows to `sink`.
    pub fn with_feature_sink(mut self, sink: FeatureSink) -> Self {
        self.feature_sink = Some(sink);
        self
    }

    /// The drift window to use instead of the default.
    pub fn with_drift_window(mut self, window: Duration) -> Self {
        let label = self.models.champion();
        self.drift = Arc::new(ScoreDrift::new(
            self.metrics.ops.score_psi.clone(),
            window,
            DRIFT_SLOTS,
            DRIFT_MIN_SCORES,
        ));
        self.feature_drift = Arc::new(FeatureDrift::new(
            self.metrics.ops.feature_psi.clone(),
            window,
            DRIFT_SLOTS,
            DRIFT_MIN_SCORES,
        ));
        if let Some(m) = label {
            let reference = &m.scorer.manifest().score_distribution;
            self.drift
                .set_reference(&m.label, &reference.histogram_fractions);
            self.feature_drift
                .set_reference(&m.label, m.scorer.manifest());
        }
        self
    }

    /// Loads the model in `dir` and makes it the champion, if it loads and
    /// its inputs can be built under the running rule set; otherwise the
    /// running champion stays and the reason is returned. Partitions pick it
    /// up at their next batch. Returns the new champion's `name@version`.
    pub fn promote(&self, dir: &Path) -> Result<String, String> {
        let outcome = self.load(dir).and_then(|scorer| {
            let previous = self.models.swap(scorer, &self.rules.load())?;
            Ok(self.champion_installed(previous))
        });
        self.count_load("champion", &outcome);
        outcome
    }

    /// Makes the loaded challenger the champion (and leaves no challenger),
    /// if its inputs can still be built under the running rule set. Each
    /// partition switches between two batches: every decision before the
    /// switch names the old model, every one after it the new one.
    pub fn promote_challenger(&self) -> Result<String, String> {
        let outcome =
            self.models
                .promote_challenger(&self.rules.load())
                .map(|(previous, champion)| {
                    self.set_info("challenger", Some(&champion.label), None);
                    self.champion_installed(previous)
                });
        self.count_load("champion", &outcome);
        outcome
    }

    /// Loads the model in `dir` as the challenger: it scores every event
    /// beside the champion (its score is in each decision and the feature
    /// log) and never acts. A model that does not load, or whose inputs the
    /// running rule set cannot build, is refused and counted; the running
    /// challenger, if any, stays. Returns its `name@version`.
    pub fn load_challenger(&self, dir: &Path) -> Result<String, String> {
        let outcome = self.load(dir).and_then(|scorer| {
            let previous = self
                .models
                .set_challenger(Some(scorer), &self.rules.load())?;
            let challenger = self.models.challenger().expect("just set");
            self.set_info(
                "challenger",
                previous.as_ref().map(|m| m.label.as_str()),
                Some(&challenger.label),
            );
            Ok(challenger.label.clone())
        });
        self.count_load("challenger", &outcome);
        outcome
    }

    /// The model in `dir` on this dataflow's device; a device that cannot
    /// run it leaves it on the CPU, with a warning.
    fn load(&self, dir: &Path) -> Result<Arc<dyn verdict_models::Scorer>, String> {
        let placed = verdict_models::load_model_on(dir, self.device)
            .map_err(|e| format!("loading model from {}: {e:#}", dir.display()))?;
        if let Some(why) = &placed.fallback {
            tracing::warn!(model = %dir.display(), asked = %self.device, "{why}");
        }
        Ok(placed.scorer)
    }

    /// After the champion changed from `previous`: its model-info series
    /// and its drift references. Returns its `name@version`.
    fn champion_installed(&self, previous: Option<Arc<LoadedModel>>) -> String {
        let champion = self.models.champion().expect("just installed");
        self.set_info(
            "champion",
            previous.as_ref().map(|m| m.label.as_str()),
            Some(&champion.label),
        );
        let manifest = champion.scorer.manifest();
        self.drift.set_reference(
            &champion.label,
            &manifest.score_distribution.histogram_fractions,
        );
        self.feature_drift.set_reference(&champion.label, manifest);
        champion.label.clone()
    }

    /// `verdict_model_info{role}`: the old model's series removed, the new one's set.
    fn set_info(&self, role: &str, old: Option<&str>, new: Option<&str>) {
        if let Some(old) = old {
            let _ = self.metrics.model_info.remove_label_values(&[role, old]);
        }
        if let Some(new) = new {
            self.metrics
                .model_info
                .with_label_values(&[role, new])
                .set(1);
        }
    }

    fn count_load<T>(&self, slot: &str, outcome: &Result<T, String>) {
        let result = if outcome.is_ok() { "ok" } else { "error" };
        self.metrics
            .ops
            .model_reloads
            .with_label_values(&[slot, result])
            .inc();
    }

    /// A fixed rule set compiled from `dir` (no watching), for replays and tests.
    pub fn fixed_rules(dir: &Path) -> anyhow::Result<Arc<ArcSwap<RuleSet>>> {
        let rules = RuleSet::compile_dir(dir).map_err(|d| {
            anyhow::anyhow!(
                "rule set in {} does not compile:\n{}",
                dir.display(),
                d.render()
            )
        })?;
        Ok(Arc::new(ArcSwap::from_pointee(rules)))
    }

    /// Opens the state store: RocksDB under `dir` tuned by `rocksdb`
    /// (`[state.tuning.rocksdb]`, `sync-writes` included), or in memory when
    /// `None`.
    pub fn open_store(
        dir: Option<&Path>,
        rocksdb: &RocksOptions,
    ) -> anyhow::Result<Arc<dyn StateStore>> {
        Ok(match dir {
            Some(dir) => Arc::new(
                RocksStore::open(dir, rocksdb)
                    .with_context(|| format!("opening state store at {}", dir.display()))?,
            ),
            None => Arc::new(MemoryStore::new()),
        })
    }

    /// The pipeline of one partition: features → score → rules.
    pub fn pipeline(&self, partition: i32) -> anyhow::Result<Pipeline> {
        self.scoped_pipeline(partition, Scope::All)
    }

    /// Which key fields' features hop to their owners (see `rekey.rs`),
    /// for the rule set running now and `engine`'s settings.
    pub fn rekey_plan(&self, engine: &EngineConfig) -> RekeyPlan {
        RekeyPlan::new(
            self.rules.load().features(),
            &engine.co_partitioned_fields(),
            engine.rekey,
        )
    }

    /// The pipeline of one unit: its state keeps the features of `scope`
    /// only, under the store's partition `state_id` (a [`Unit::id`]; for
    /// [`Scope::All`] the input partition).
    ///
    /// [`Unit::id`]: crate::rekey::Unit::id
    pub fn scoped_pipeline(&self, state_id: i32, scope: Scope) -> anyhow::Result<Pipeline> {
        let rules = self.rules.load_full();
        let mut config = self.state.clone();
        // A key owner keeps no user history.
        config.history &= !matches!(scope, Scope::Owner(_));
        let features = scoped(rules.features(), &scope);
        let state = PartitionState::open(Arc::clone(&self.store), state_id, &features, &config)
            .with_context(|| format!("opening state of partition {state_id}"))?;
        Ok(Pipeline::new(
            FeatureStage::new(state, &rules, scope),
            ScoreStage::new(
                self.models.clone(),
                Arc::clone(&self.metrics),
                Arc::clone(&self.drift),
                Arc::clone(&self.feature_drift),
            ),
            RuleStage::new(Arc::clone(&self.rules), Arc::clone(&self.metrics)),
            Arc::clone(&self.metrics),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_rocksdb_options_reach_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let nonsense = RocksOptions {
            max_background_jobs: 0,
            ..RocksOptions::default()
        };
        let err = Dataflow::open_store(Some(dir.path()), &nonsense)
            .err()
            .expect("RocksStore::open checks the options it is given");
        assert!(
            format!("{err:#}").contains("rocksdb.max-background-jobs must be 1..=256"),
            "{err:#}"
        );
        let durable = RocksOptions {
            sync_writes: true,
            ..RocksOptions::default()
        };
        let store = Dataflow::open_store(Some(dir.path()), &durable).unwrap();
        let mut batch = verdict_state::WriteBatch::default();
        batch.put(b"k", b"v");
        store.write(batch).unwrap();
        assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }
}
