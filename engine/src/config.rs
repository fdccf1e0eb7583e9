//! Configuration in layers, merged by figment: built-in defaults (each
//! section's `Default`), then a TOML file, then `VERDICT_*` environment
//! variables (`VERDICT_KAFKA__BROKERS=...`: sections separated by a double
//! underscore, `-` written as `_`; each variable is merged as its own
//! `(key.path, value)` layer, so [`Config::load_with_env`] can be handed any
//! environment). Keys are kebab-case and unknown keys are rejected, so a typo
//! is an error, not a silent default.
//! [`Config::validate`] collects every problem before failing; `verdict config
//! check` prints them all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct KafkaConfig {
    pub brokers: String,
    pub group_id: String,
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
    /// How often state and offsets are checkpointed.
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
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch_size: 512,
            batch_wait_ms: 1,
            sla_ms: 75,
            checkpoint_interval_ms: 1_000,
            partition_buffer: 4_096,
            allowed_lateness_ms: 5_000,
            idle_partition_ms: 10_000,
            shutdown_grace_ms: 20_000,
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
    pub challenger: Option<PathBuf>,
    /// Score nothing: decisions by rules alone.
    pub disabled: bool,
    /// The sliding window `verdict_score_psi` is computed over.
    pub drift_window_minutes: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            dir: None,
            challenger: None,
            disabled: false,
            drift_window_minutes: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StateSection {
    /// RocksDB directory. Empty: in-memory state (not durable; demo only).
    pub dir: Option<PathBuf>,
    /// Cache and storage tuning (`[state.tuning]`).
    pub tuning: verdict_state::StateConfig,
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
            pan_hash_key: "verdict-development-key".into(),
        }
    }
}

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        Self::load_with_env(file, std::env::vars())
    }

    /// The layers, with `env` standing in for the process environment.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        // Embedded defaults: every section is `#[serde(default)]`, so what
        // no layer sets keeps its `Default` value.
        let mut figment = Figment::new();
        if let Some(p) = file {
            let text = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?;
            // Checked here first so a syntax error names the file.
            text.parse::<toml::Table>()
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            figment = figment.merge(Toml::string(&text));
        }
        // The environment, one variable at a time: `("kafka.brokers", value)`
        // nests under its section and wins over the file.
        for (key, value) in env {
            let Some(path) = key.strip_prefix(ENV_PREFIX).and_then(env_key) else {
                continue;
            };
            figment = figment.merge((path, EnvValue::parse(&value)));
        }
        figment
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))
    }

    /// Every problem with the configuration, or `Ok` when there is none.
    pub fn validate(&self) -> Result<(), Vec<String>> {
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
        if e.partition_buffer == 0 {
            problems.push("engine.partition-buffer must be positive".into());
        }
        if e.checkpoint_interval_ms == 0 {
            problems.push("engine.checkpoint-interval-ms must be positive".into());
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
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
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

/// The prefix of every configuration variable.
const ENV_PREFIX: &str = "VERDICT_";

/// `KAFKA__BROKERS` (prefix stripped) → `kafka.brokers`: sections split on
/// `__`, lowercased, `_` written `-`. A variable naming no section's key
/// (`VERDICT_LOG`) is not configuration.
fn env_key(path: &str) -> Option<String> {
    let parts: Vec<String> = path
        .split("__")
        .map(|p| p.to_ascii_lowercase().replace('_', "-"))
        .collect();
    if parts.len() < 2 || parts.iter().any(String::is_empty) {
        return None;
    }
    Some(parts.join("."))
}

/// An environment value: numbers and booleans are recognised so
/// `VERDICT_ENGINE__SLA_MS=80` sets an integer; anything else is text.
#[derive(Serialize)]
#[serde(untagged)]
enum EnvValue {
    Integer(i64),
    Boolean(bool),
    Float(f64),
    Text(String),
}

impl EnvValue {
    fn parse(v: &str) -> EnvValue {
        if let Ok(i) = v.parse::<i64>() {
            EnvValue::Integer(i)
        } else if let Ok(b) = v.parse::<bool>() {
            EnvValue::Boolean(b)
        } else if let Ok(f) = v.parse::<f64>() {
            EnvValue::Float(f)
        } else {
            EnvValue::Text(v.to_string())
        }
    }
}

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
        let problems = cfg.validate().unwrap_err();
        assert!(problems.len() >= 5, "{problems:#?}");
        assert!(Config::default().validate().is_ok());
    }
}
