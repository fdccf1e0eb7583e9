//! What several commands share: the `--rules`, `--model`/`--no-model` and
//! `--state-dir` arguments, the scratch directory the embedded default rules
//! and model are extracted into, and the one place that loads rules, then
//! the model, then builds the dataflow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use clap::Args;
use verdict_engine::config::{Config, Mode};
use verdict_engine::dataflow::Dataflow;
use verdict_engine::defaults;
use verdict_engine::metrics::Metrics;
use verdict_rules::RuleSet;
use verdict_state::StateConfig;

/// `--rules`: which rule set a command runs.
#[derive(Args, Debug, Clone, Default)]
pub struct RulesArgs {
    /// Rule directory (default: the embedded default set).
    #[arg(long)]
    pub rules: Option<PathBuf>,
}

/// `--model` / `--no-model`: which model scores, if any.
#[derive(Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Model directory (default: the embedded default model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Decide by rules alone.
    #[arg(long)]
    pub no_model: bool,
    /// Where the model scores: cpu, or cuda (a binary built with
    /// `--features cuda`; falls back to the CPU with a warning).
    #[arg(long, default_value = "cpu")]
    pub device: verdict_models::Device,
}

/// `--state-dir`: where keyed state lives.
#[derive(Args, Debug, Clone, Default)]
pub struct StateArgs {
    /// Keep state in RocksDB here (default: in memory).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// `--label-maturity-days` / `--labels-as-of`: which rows of a feature log
/// are old enough for their fraud labels (training and evaluation).
#[derive(Args, Debug, Clone, Default)]
pub struct MaturityArgs {
    /// Leave out transactions younger than this many days (at
    /// --labels-as-of): their chargebacks may not have arrived, and
    /// counting them legitimate would be wrong.
    #[arg(long)]
    pub label_maturity_days: Option<f64>,
    /// When the labels were collected (RFC 3339 or a date; default: the
    /// newest event in the data).
    #[arg(long, value_parser = parse_time, requires = "label_maturity_days")]
    pub labels_as_of: Option<i64>,
}

impl MaturityArgs {
    pub fn maturity(&self) -> Option<verdict_models::table::LabelMaturity> {
        self.label_maturity_days
            .map(|days| verdict_models::table::LabelMaturity::days(days, self.labels_as_of))
    }
}

/// A time argument (`--from`, `--to`, `--labels-as-of`), in epoch milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| {
            d.and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp_millis()
        })
        .map_err(|_| {
            format!(
                "{s:?} is neither an RFC 3339 time (2026-09-01T00:00:00Z) nor a date (2026-09-01)"
            )
        })
}

/// A command's scratch directory (removed on drop) and the embedded
/// defaults extracted into it on demand.
pub struct Assets {
    scratch: tempfile::TempDir,
}

impl Assets {
    pub fn new() -> anyhow::Result<Assets> {
        Ok(Assets {
            scratch: tempfile::Builder::new().prefix("verdict-").tempdir()?,
        })
    }

    /// The scratch directory, for a command's own temporary files.
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// The rule directory to use: the given one or the embedded default.
    pub fn rules_dir(&self, dir: Option<&Path>) -> anyhow::Result<PathBuf> {
        Ok(match dir {
            Some(d) => d.to_path_buf(),
            None => defaults::extract(self.scratch())?.rules_dir,
        })
    }

    /// The model directory to use: none when disabled, else the given one or
    /// the embedded default.
    pub fn model_dir(&self, model: &ModelArgs) -> anyhow::Result<Option<PathBuf>> {
        Ok(match (model.no_model, &model.model) {
            (true, _) => None,
            (false, Some(d)) => Some(d.clone()),
            (false, None) => Some(defaults::extract(self.scratch())?.model_dir),
        })
    }

    /// A fixed (unwatched) rule set from `--rules` or the embedded default.
    pub fn fixed_rules(&self, rules: &RulesArgs) -> anyhow::Result<Arc<ArcSwap<RuleSet>>> {
        Dataflow::fixed_rules(&self.rules_dir(rules.rules.as_deref())?)
    }

    /// Rules, then the model (checked against them), then the dataflow on
    /// the state under `state` with `tuning`.
    pub fn dataflow(
        &self,
        rules: Arc<ArcSwap<RuleSet>>,
        model: &ModelArgs,
        state: &StateArgs,
        tuning: StateConfig,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Dataflow> {
        let dir = self.model_dir(model)?;
        Dataflow::build_on(
            rules,
            dir.as_deref(),
            model.device,
            metrics,
            state.state_dir.as_deref(),
            tuning,
        )
    }

    /// [`Self::dataflow`] on a fixed rule set, fresh metrics and default tuning.
    pub fn fixed_dataflow(
        &self,
        rules: &RulesArgs,
        model: &ModelArgs,
        state: &StateArgs,
    ) -> anyhow::Result<Dataflow> {
        let rules = self.fixed_rules(rules)?;
        self.dataflow(
            rules,
            model,
            state,
            StateConfig::default(),
            Arc::new(Metrics::new()),
        )
    }
}

/// The configuration of an offline command (demo, replay, backtest): the
/// `VERDICT_*` environment over the defaults, checked for [`Mode::Offline`]
/// (the built-in PAN key is allowed, with a warning on stderr).
pub fn offline_config() -> anyhow::Result<Config> {
    let cfg = Config::load_checked(None, Mode::Offline)?;
    for w in cfg.warnings(Mode::Offline) {
        eprintln!("warning: {w}");
    }
    Ok(cfg)
}

/// The multi-threaded tokio runtime the Kafka commands run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
