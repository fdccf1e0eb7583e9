//! Shared fixtures for the benchmarks: generated traffic and a pipeline wired
//! exactly as the engine wires it, minus Kafka.

use std::sync::Arc;
use std::time::Duration;

use verdict_engine::contract::{DecodeConfig, decode};
use verdict_engine::dataflow::Dataflow;
use verdict_engine::defaults;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::metrics::Metrics;
use verdict_engine::pipeline::{Batch, DecisionClock, DecisionEmitter, Pipeline};

/// `n` generated messages (valid ones only), deterministic: one event every
/// 4 s of event time on average, as in the README's replay data set (20,000
/// users transacting about 1.1 times a day).
pub fn messages(n: usize, users: u32) -> Vec<Vec<u8>> {
    messages_at(n, users, 0.25)
}

/// `n` generated messages of `users` users, `events_per_sec` of event time.
pub fn messages_at(n: usize, users: u32, events_per_sec: f64) -> Vec<Vec<u8>> {
    let cfg = GeneratorConfig {
        seed: 1,
        users,
        fraud_rate: 0.01,
        events_per_sec,
        ..Default::default()
    };
    Generator::new(cfg).take(n).map(|g| g.payload).collect()
}

/// Where the state lives in a benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    Memory,
    RocksDb,
}

/// A pipeline on the embedded default rules and model.
pub struct Fixture {
    pub dataflow: Dataflow,
    pub pipeline: Pipeline,
    pub decode: DecodeConfig,
    emitter: DecisionEmitter,
    batch: Batch,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new(state: StateKind, with_model: bool) -> anyhow::Result<Fixture> {
        let dir = tempfile::tempdir()?;
        let d = defaults::extract(dir.path())?;
        let rules = Dataflow::fixed_rules(&d.rules_dir)?;
        let state_dir = dir.path().join("state");
        let dataflow = Dataflow::build(
            rules,
            with_model.then_some(d.model_dir.as_path()),
            Arc::new(Metrics::new()),
            (state == StateKind::RocksDb).then_some(state_dir.as_path()),
            Default::default(),
        )?;
        let pipeline = dataflow.pipeline(0)?;
        let batch = Batch {
            budget: Duration::from_secs(3600),
            ..Batch::default()
        };
        Ok(Fixture {
            dataflow,
            pipeline,
            decode: DecodeConfig::default(),
            emitter: DecisionEmitter::new(),
            batch,
            _dir: dir,
        })
    }

    /// Decode → features → score → rules → encoded decisions, in batches of
    /// `batch_size`, as `verdict replay` runs them. Returns bytes written.
    pub fn run(&mut self, messages: &[Vec<u8>], batch_size: usize) -> usize {
        let mut written = 0;
        let far = std::time::Instant::now() + self.batch.budget;
        for chunk in messages.chunks(batch_size) {
            self.batch.clear();
            for (i, m) in chunk.iter().enumerate() {
                if let Ok(e) = decode(m, &self.decode) {
                    self.batch.push(e, i as i64, far);
                }
            }
            self.pipeline.process(&mut self.batch);
            let model = self.pipeline.score.model_label.clone();
            self.emitter.emit(
                &self.batch,
                DecisionClock::EventTime,
                model.as_deref(),
                &self.dataflow.metrics,
                |_, _, json| {
                    written += json.len() + 1;
                },
            );
        }
        written
    }
}
