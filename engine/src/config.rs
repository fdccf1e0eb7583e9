//! Configuration in layers, merged by figment: built-in defaults (each
//! section's `Default`), then a TOML file, then `VERDICT_*` environment
//! variables (`VERDICT_KAFKA__BROKERS=...`: sections separated by a double
//! underscore, `-` written as `_`; each variable is merged as its own
//! `(key.path, value)` layer, so [`Config::load_with_env`] can be handed any
//! environment). Keys are kebab-case and unknown keys are rejected, so a typo
//! is an error, not a silent default.
//!
//! Every problem is reported at once, each with its key path: the loader
//! (`load`) keeps extracting after a bad key, and [`Config::validate_for`]
//! collects every rule a value breaks. Some rules depend on the command
//! ([`Mode`]): `verdict run` needs a secret PAN key and durable state, a
//! replay does not. `verdict config check` and `verdict run` print them all.

mod load;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::contract::pan;

/// Everything the engine can be told.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub engine: EngineConfig,
    pub rules: RulesConfig,
    pub model: ModelConfig,
    pub state: StateSection,
    pub admin: AdminConfig,
    pub validation: ValidationConfig,
    pub feature_log: FeatureLogConfig,
}

/// `[feature-log]`: the live feature log `verdict run` writes for training.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FeatureLogConfig {
    /// Directory of rotated Parquet files (`verdict train --data DIR`).
    /// Empty: no log.
    pub dir: Option<PathBuf>,
    /// A file is closed and the next one started past this size...
    pub rotate_mb: u64,
    /// ...or this age.
    pub rotate_minutes: u64,
}

impl Default for FeatureLogConfig {
    fn default() -> Self {
        FeatureLogConfig {
            dir: None,
            rotate_mb: 256,
            rotate_minutes: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct KafkaConfig {
    pub brokers: String,
    pub group_id: String,
    /// Static group membership (`group.instance.id`): unique and stable per
    /// instance (a pod name, a host name). A restart within the session
    /// timeout then gets its partitions back without a rebalance.
    pub group_instance_id: Option<String>,
    pub input_topic: String,
    pub output_topic: String,
    pub dlq_topic: String,
    /// librdkafka properties applied to consumer and producer (TLS, SASL, ...).
    pub properties: BTreeMap<String, String>,
    pub consumer_properties: BTreeMap<String, String>,
    pub producer_properties: BTreeMap<String, String>,
    /// Create the three topics at start if missing (demo, tests).
    pub create_topics: bool,
    pub topic_partitions: i32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "localhost:9092".into(),
            group_id: "verdict".into(),
            group_instance_id: None,
            input_topic: "transactions".into(),
            output_topic: "decisions".into(),
            dlq_topic: "transactions.dlq".into(),
            properties: BTreeMap::new(),
            consumer_properties: BTreeMap::new(),
            producer_properties: BTreeMap::new(),
            create_topics: false,
            topic_partitions: 4,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Largest batch a partition worker processes at once.
    pub batch_size: usize,
    /// How long a worker waits to fill a batch after its first event.
    pub batch_wait_ms: u64,
    /// Decision deadline after arrival (the service level).
    pub sla_ms: u64,
    /// Where the deadline clock starts: the record's timestamp or receipt.
    pub deadline_clock: DeadlineClock,
    /// How often each partition checkpoints its state and offset (the
    /// partitions of an instance each at a moment of their own).
    pub checkpoint_interval_ms: u64,
    /// Messages buffered per partition between consumer and worker
    /// (backpressure bound: a slow worker stops consumption, memory stays flat).
    pub partition_buffer: usize,
    /// Event-time watermark lag behind the largest event time seen.
    pub allowed_lateness_ms: i64,
    /// After this long without events, an idle partition's watermark follows
    /// the wall clock so it does not hold back anything that waits on it.
    pub idle_partition_ms: u64,
    /// On SIGTERM or SIGINT: how long the engine may take to finish its
    /// in-flight batches, checkpoint, commit and leave the group before it
    /// gives up and exits non-zero. Keep it below the orchestrator's grace
    /// (Kubernetes `terminationGracePeriodSeconds`, compose `stop_grace_period`).
    pub shutdown_grace_ms: u64,
    /// Keep each feature computed `by` a field other than the user where
    /// that field's values are owned, through the internal topics
    /// `<group-id>.by.<field>` and `<group-id>.features` (see `rekey.rs`):
    /// with several partitions, a device's window then counts every user's
    /// events, as a one-partition replay does. Off (the default until the
    /// hop's latency is measured through a broker and a key owner's failure
    /// no longer degrades its keys' decisions for a session timeout): each
    /// partition counts only its own users' events.
    pub rekey: bool,
    /// Key fields whose every value belongs to one user (a card belongs to
    /// one account): the user's partition already sees all of a value's
    /// events, so their features need no hop. Declaring a field that is not
    /// makes its features count per partition.
    pub co_partitioned: Vec<String>,
}

/// Where an event's deadline clock starts (`engine.deadline-clock`): the SLA
/// counts from when the transaction reached Kafka, so time spent in the
/// broker and the fetch is inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeadlineClock {
    /// The record's timestamp: the producer's send time (CreateTime), or the
    /// broker's append time on a topic with
    /// `message.timestamp.type=LogAppendTime`.
    #[default]
    CreateTime,
    /// Only the broker's append time, which producers' clocks cannot skew;
    /// records carrying a CreateTime start at receipt.
    LogAppendTime,
    /// When the engine reads the record (broker and fetch time not counted).
    Receipt,
}

impl EngineConfig {
    /// The declared co-partitioned fields (names validated by
    /// [`Config::validate`]; an unknown one is skipped here).
    pub fn co_partitioned_fields(&self) -> Vec<verdict_rules::Field> {
        self.co_partitioned
            .iter()
            .filter_map(|n| verdict_rules::Field::from_name(n))
            .collect()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch_size: 512,
            batch_wait_ms: 1,
            sla_ms: 75,
            deadline_clock: DeadlineClock::default(),
            checkpoint_interval_ms: 1_000,
            partition_buffer: 4_096,
            allowed_lateness_ms: 5_000,
            idle_partition_ms: 10_000,
            shutdown_grace_ms: 20_000,
            rekey: false,
            co_partitioned: vec!["card_id".into()],
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Directory of `*.rules` files, watched for changes. Empty: the embedded default set.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Champion model directory. Empty: the embedded default model.
    pub dir: Option<PathBuf>,
    /// A challenger model directory: loaded at start to score every event
    /// beside the champion (its score is in each decision and the feature
    /// log); it never acts. `POST /v1/models/promote` makes it the champion.
    pub challenger: Option<PathBuf>,
    /// Score nothing: decisions by rules alone.
    pub disabled: bool,
    /// The sliding window `verdict_score_psi` is computed over.
    pub drift_window_minutes: u64,
    /// Where the models score: `cpu` (the fused scorer) or `cuda` (burn-cuda,
    /// in a binary built with `--features cuda`). CUDA that is not there —
    /// no feature, no usable GPU — falls back to the CPU with a warning.
    pub device: verdict_models::Device,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            dir: None,
            challenger: None,
            disabled: false,
            drift_window_minutes: 60,
            device: verdict_models::Device::Cpu,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StateSection {
    /// RocksDB directory. Empty: in-memory state, not durable: `verdict run`
    /// refuses it unless given `--ephemeral`.
    pub dir: Option<PathBuf>,
    /// Copy every checkpoint to the compacted topic `<group-id>.changelog`
    /// and restore a partition from it when this instance's store lacks
    /// its state (on by default; see `engine/src/kafka/changelog/mod.rs`).
    pub changelog: bool,
    /// Make each copy to the changelog a Kafka transaction, with an id per
    /// changelog partition: an instance that opens a partition fences out
    /// every earlier writer of it (a *zombie*: an instance that lost the
    /// partition without noticing), so nothing they send lands after its
    /// restore. On by default; needs a broker with transactions (Kafka
    /// 0.11 or later; tansu 0.6 has no EndTxn, so its users set it false,
    /// and zombies are then not fenced).
    pub changelog_transactions: bool,
    /// Cache and storage tuning (`[state.tuning]`, RocksDB's in
    /// `[state.tuning.rocksdb]`).
    pub tuning: verdict_state::StateConfig,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            dir: None,
            changelog: true,
            changelog_transactions: true,
            tuning: verdict_state::StateConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin HTTP server. Loopback unless configured: the
    /// API can reload rules and promote models. Empty: off.
    pub listen: Option<String>,
    /// Bearer token the mutating endpoints (`POST /v1/...`) require. Set it
    /// through `VERDICT_ADMIN__TOKEN`; without one they answer 403.
    pub token: Option<String>,
    /// Decisions kept for `GET /v1/decisions/{transaction_id}` (the newest;
    /// 0 turns the lookup off).
    pub recent_decisions: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: Some("127.0.0.1:9464".into()),
            token: None,
            recent_decisions: 100_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ValidationConfig {
    pub max_message_bytes: usize,
    /// Largest accepted amount, in major units.
    pub max_amount: i64,
    pub max_future_ms: i64,
    pub max_past_ms: i64,
    /// Secret for hashing card numbers. Set it through `VERDICT_VALIDATION__PAN_HASH_KEY`.
    pub pan_hash_key: String,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            max_message_bytes: 64 * 1024,
            max_amount: 10_000_000,
            max_future_ms: 5 * 60_000,
            max_past_ms: 30 * 86_400_000,
            pan_hash_key: pan::DEVELOPMENT_KEY.into(),
        }
    }
}

/// What the configuration is for: some values are fine for one command and
/// wrong for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `verdict run` on real traffic: the PAN hash key must be a secret and
    /// state durable (`state.dir`), unless `ephemeral` (`--ephemeral`)
    /// accepts in-memory state.
    Live { ephemeral: bool },
    /// `demo`, `replay`, `backtest` and the tools: the built-in key and
    /// in-memory state are allowed (with a warning for the key).
    Offline,
}

/// Every problem with a configuration, one line each, led by its key path
/// (`kafka.topic-partitions: invalid type: ...`, `engine.sla-ms must be
/// positive`) or, for a TOML syntax error, by `file:line:column`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} configuration problem(s):", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// The layers, with `env` standing in for the process environment.
    /// Fails with every unreadable, unknown or mistyped key.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let layers = load::Layers::read(file, env).map_err(|problems| ConfigError { problems })?;
        match load::extract(layers) {
            (cfg, problems, _) if problems.is_empty() => Ok(cfg),
            (_, problems, _) => Err(ConfigError { problems }),
        }
    }

    /// [`Self::load`] and [`Self::validate_for`] `mode` together: the
    /// configuration, or every loading and validation problem at once.
    pub fn load_checked(file: Option<&Path>, mode: Mode) -> Result<Config, ConfigError> {
        Self::load_checked_with_env(file, std::env::vars(), mode)
    }

    /// [`Self::load_checked`] with `env` standing in for the environment.
    pub fn load_checked_with_env(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
        mode: Mode,
    ) -> Result<Config, ConfigError> {
        let layers = load::Layers::read(file, env).map_err(|problems| ConfigError { problems })?;
        let (cfg, mut problems, dropped) = load::extract::<Config>(layers);
        // A key already reported as unreadable fell back to its default:
        // what validation would say about it is noise.
        let about_dropped = |p: &String| {
            dropped.iter().any(|key| {
                p.strip_prefix(key.as_str())
                    .is_some_and(|rest| rest.starts_with([' ', ':', '.']))
            })
        };
        if let Err(more) = cfg.validate_for(mode) {
            problems.extend(more.into_iter().filter(|p| !about_dropped(p)));
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// [`Self::validate_for`] the offline commands.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        self.validate_for(Mode::Offline)
    }

    /// Every problem with the configuration for `mode`, or `Ok` when there
    /// is none.
    pub fn validate_for(&self, mode: Mode) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let e = &self.engine;
        if e.batch_size == 0 || e.batch_size > 65_536 {
            problems.push(format!(
                "engine.batch-size must be 1..=65536, got {}",
                e.batch_size
            ));
        }
        if e.sla_ms == 0 {
            problems.push("engine.sla-ms must be positive".into());
        }
        if e.batch_wait_ms >= e.sla_ms {
            problems.push(format!(
                "engine.batch-wait-ms ({}) must be below engine.sla-ms ({})",
                e.batch_wait_ms, e.sla_ms
            ));
        }
        for name in &e.co_partitioned {
            match verdict_rules::Field::from_name(name) {
                None => problems.push(format!(
                    "engine.co-partitioned: {name:?} is not an event field"
                )),
                Some(verdict_rules::Field::UserId) => problems.push(
                    "engine.co-partitioned: user_id is the input's own key; list only other fields"
                        .into(),
                ),
                Some(_) => {}
            }
        }
        if e.partition_buffer == 0 {
            problems.push("engine.partition-buffer must be positive".into());
        }
        if e.checkpoint_interval_ms == 0 {
            problems.push("engine.checkpoint-interval-ms must be positive".into());
        }
        let f = &self.feature_log;
        if f.rotate_mb == 0 || f.rotate_minutes == 0 {
            problems.push(
                "feature-log.rotate-mb and feature-log.rotate-minutes must be positive".into(),
            );
        }
        let k = &self.kafka;
        for (name, v) in [
            ("brokers", &k.brokers),
            ("group-id", &k.group_id),
            ("input-topic", &k.input_topic),
            ("output-topic", &k.output_topic),
            ("dlq-topic", &k.dlq_topic),
        ] {
            if v.trim().is_empty() {
                problems.push(format!("kafka.{name} must not be empty"));
            }
        }
        if k.input_topic == k.output_topic || k.input_topic == k.dlq_topic {
            problems.push("kafka.input-topic must differ from output-topic and dlq-topic".into());
        }
        if k.group_instance_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            problems.push(
                "kafka.group-instance-id must not be empty when set (unset it for dynamic \
                 membership)"
                    .into(),
            );
        }
        if k.topic_partitions < 1 {
            problems.push("kafka.topic-partitions must be at least 1".into());
        }
        for key in k
            .properties
            .keys()
            .chain(k.consumer_properties.keys())
            .chain(k.producer_properties.keys())
        {
            if matches!(
                key.as_str(),
                "enable.auto.commit" | "enable.auto.offset.store" | "enable.idempotence"
            ) {
                problems.push(format!(
                    "kafka property {key} is managed by the engine and cannot be overridden"
                ));
            }
        }
        if let Some(dir) = &self.rules.dir
            && !dir.is_dir()
        {
            problems.push(format!("rules.dir {} is not a directory", dir.display()));
        }
        for (name, dir) in [
            ("model.dir", &self.model.dir),
            ("model.challenger", &self.model.challenger),
        ] {
            if let Some(d) = dir
                && !d.join("manifest.json").is_file()
            {
                problems.push(format!("{name} {} has no manifest.json", d.display()));
            }
        }
        if let Some(token) = &self.admin.token
            && token.len() < 16
        {
            problems.push("admin.token must be at least 16 characters".into());
        }
        if self.model.drift_window_minutes == 0 {
            problems.push("model.drift-window-minutes must be positive".into());
        }
        self.state_problems(mode, &mut problems);
        self.validation_problems(mode, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// `[state]`: the tuning's own rules, and durable state for a live run.
    fn state_problems(&self, mode: Mode, problems: &mut Vec<String>) {
        if let Err(more) = self.state.tuning.validate() {
            problems.extend(more);
        }
        match (mode, &self.state.dir) {
            (Mode::Live { ephemeral: false }, None) => problems.push(
                "state.dir is not set: `verdict run` keeps its state durable in RocksDB there; \
                 set it (or VERDICT_STATE__DIR), or pass --ephemeral to run on in-memory state \
                 that a restart loses"
                    .into(),
            ),
            (Mode::Live { ephemeral: true }, Some(dir)) => problems.push(format!(
                "state.dir ({}) is set but --ephemeral asks for in-memory state: drop one",
                dir.display()
            )),
            _ => {}
        }
    }

    /// `[validation]`: limits, and a secret PAN key for a live run.
    fn validation_problems(&self, mode: Mode, problems: &mut Vec<String>) {
        let v = &self.validation;
        if v.max_amount <= 0 {
            problems.push("validation.max-amount must be positive".into());
        }
        if v.max_message_bytes < 256 {
            problems.push("validation.max-message-bytes must be at least 256".into());
        }
        if v.pan_hash_key.len() < 16 {
            problems.push("validation.pan-hash-key must be at least 16 characters".into());
        }
        if matches!(mode, Mode::Live { .. }) && v.pan_hash_key == pan::DEVELOPMENT_KEY {
            problems.push(
                "validation.pan-hash-key is the built-in development key, which is public: \
                 set VERDICT_VALIDATION__PAN_HASH_KEY to a secret of at least 16 characters \
                 (card hashes, and the block lists made with `verdict hash-pan`, depend on it)"
                    .into(),
            );
        }
    }

    /// What is allowed for `mode` but worth saying, one line each.
    pub fn warnings(&self, mode: Mode) -> Vec<String> {
        let mut warnings = Vec::new();
        if mode == Mode::Offline && self.validation.pan_hash_key == pan::DEVELOPMENT_KEY {
            warnings.push(
                "card numbers are hashed with the built-in development key, whose hashes are \
                 not secret; set VERDICT_VALIDATION__PAN_HASH_KEY for real card data"
                    .into(),
            );
        }
        if mode == (Mode::Live { ephemeral: true }) && self.state.dir.is_none() {
            warnings.push(
                "state is in memory (--ephemeral): not durable, a restart starts every \
                 partition from empty state"
                    .into(),
            );
        }
        warnings
    }

    pub fn decode_config(&self, live: bool) -> crate::contract::DecodeConfig {
        use crate::contract::{Amount, DecodeConfig, TimeCheck, pan::PanHasher};
        let v = &self.validation;
        DecodeConfig {
            max_message_bytes: v.max_message_bytes,
            max_amount: Amount::from_major(v.max_amount),
            max_id_bytes: 128,
            time: if live {
                TimeCheck::Clock {
                    now_ms: chrono::Utc::now().timestamp_millis(),
                    max_future_ms: v.max_future_ms,
                    max_past_ms: v.max_past_ms,
                }
            } else {
                TimeCheck::RangeOnly
            },
            pan_hasher: PanHasher::new(&v.pan_hash_key),
        }
    }
}

#[cfg(test)]
mod reporting_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_and_unknown_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("verdict.toml");
        std::fs::write(
            &file,
            "[kafka]\nbrokers = \"file:9092\"\ngroup-id = \"g\"\n[engine]\nsla-ms = 70\n",
        )
        .unwrap();
        let env = vec![
            ("VERDICT_KAFKA__BROKERS".to_string(), "env:9092".to_string()),
            ("VERDICT_ENGINE__BATCH_SIZE".into(), "64".into()),
        ];
        let cfg = Config::load_with_env(Some(&file), env.into_iter()).unwrap();
        assert_eq!(cfg.kafka.brokers, "env:9092");
        assert_eq!(cfg.kafka.group_id, "g");
        assert_eq!(cfg.engine.sla_ms, 70);
        assert_eq!(cfg.engine.batch_size, 64);
        assert_eq!(cfg.engine.checkpoint_interval_ms, 1_000);

        std::fs::write(&file, "[kafka]\nbrokerz = \"typo\"\n").unwrap();
        let err = Config::load_with_env(Some(&file), std::iter::empty())
            .unwrap_err()
            .to_string();
        assert!(err.contains("brokerz"), "{err}");
    }

    #[test]
    fn validate_reports_every_problem() {
        let mut cfg = Config::default();
        cfg.engine.batch_size = 0;
        cfg.engine.sla_ms = 0;
        cfg.kafka.output_topic = cfg.kafka.input_topic.clone();
        cfg.validation.pan_hash_key = "short".into();
        cfg.kafka
            .properties
            .insert("enable.auto.commit".into(), "true".into());
        cfg.kafka.group_instance_id = Some(" ".into());
        let problems = cfg.validate().unwrap_err();
        assert!(problems.len() >= 6, "{problems:#?}");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("kafka.group-instance-id must not be empty")),
            "{problems:#?}"
        );
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn static_membership_and_the_changelog_are_read_from_the_environment() {
        let env = vec![
            (
                "VERDICT_KAFKA__GROUP_INSTANCE_ID".to_string(),
                "verdict-2".to_string(),
            ),
            ("VERDICT_STATE__CHANGELOG".into(), "false".into()),
            (
                "VERDICT_STATE__CHANGELOG_TRANSACTIONS".into(),
                "false".into(),
            ),
        ];
        let cfg = Config::load_with_env(None, env.into_iter()).unwrap();
        assert_eq!(cfg.kafka.group_instance_id.as_deref(), Some("verdict-2"));
        assert!(!cfg.state.changelog && !cfg.state.changelog_transactions);
        let defaults = Config::default().state;
        assert!(
            defaults.changelog && defaults.changelog_transactions,
            "on by default"
        );
    }
}
