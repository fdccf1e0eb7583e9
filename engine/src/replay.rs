//! `verdict replay`: the same pipeline, from a JSON-lines file to a file.
//!
//! Deterministic: event time comes from the data, decisions are stamped with
//! it (see [`DecisionClock::EventTime`]), timestamps are only checked against
//! the absolute sanity range, and all events run through one logical
//! partition in file order. Two replays of the same file with the same rules
//! and model produce byte-identical output. This is the path for backtests
//! and throughput benchmarks.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::contract::dlq::{self, Origin};
use crate::contract::{DecodeConfig, decode};
use crate::feature_log::FeatureLog;
use crate::pipeline::{Batch, DecisionClock, DecisionEmitter, Pipeline};
use crate::wiring::Shared;

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    /// Where rejected lines go (JSON lines with reason and original bytes).
    pub dlq: Option<PathBuf>,
    /// Where to write the feature log (Parquet), for training.
    pub feature_log: Option<PathBuf>,
    pub batch_size: usize,
    pub decode: DecodeConfig,
    /// Checkpoint the state (and the next line to read) after about this
    /// many lines, and at the end: a replay over a durable store leaves it
    /// ready for the engine to run on. `None`: never (in-memory state).
    pub checkpoint_every: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub lines: u64,
    pub decisions: u64,
    pub allow: u64,
    pub review: u64,
    pub decline: u64,
    pub degraded: u64,
    pub dlq: u64,
    pub elapsed_ms: u64,
}

impl ReplaySummary {
    pub fn events_per_sec(&self) -> f64 {
        self.lines as f64 / (self.elapsed_ms.max(1) as f64 / 1e3)
    }
}

/// Decoded events of consecutive lines, with their line numbers.
type Decoded = Vec<(crate::contract::Event, i64)>;

/// Runs the pipeline over `opts.input`.
///
/// Two threads, so both cores work: a decoder reads and validates lines
/// (writing rejections to the DLQ file) and hands batches, in file order,
/// through a small bounded channel to the pipeline thread, which decides and
/// writes. Order is preserved end to end, so the output is deterministic.
pub fn replay(opts: &ReplayOptions, shared: &Shared) -> anyhow::Result<ReplaySummary> {
    let started = Instant::now();
    let input = BufReader::with_capacity(1 << 20, File::open(&opts.input)?);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&opts.output)?);
    let dlq_out = match &opts.dlq {
        Some(p) => Some(BufWriter::new(File::create(p)?)),
        None => None,
    };
    let mut features = match &opts.feature_log {
        Some(p) => Some(FeatureLog::create(p)?),
        None => None,
    };
    let mut runner = Runner::new(shared.pipeline(0)?, shared, opts.batch_size);
    let batch_size = opts.batch_size.max(1);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(4);
    let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Decoded>();
    let mut summary = ReplaySummary::default();
    let mut checkpointed = 0u64;
    let decoded = std::thread::scope(|scope| -> anyhow::Result<(u64, u64)> {
        let decoder = scope
            .spawn(move || decode_lines(input, dlq_out, opts, shared, batch_size, tx, recycle_rx));
        for mut events in rx {
            for (event, line) in events.drain(..) {
                runner.next_line = line as u64 + 1;
                runner.batch.push(event, line, runner.far_deadline);
            }
            let _ = recycle_tx.send(events);
            runner.run(&mut out, features.as_mut(), &mut summary)?;
            if let Some(every) = opts.checkpoint_every
                && runner.next_line - checkpointed >= every.max(1)
            {
                runner.checkpoint()?;
                checkpointed = runner.next_line;
            }
        }

        decoder
            .join()
            .map_err(|_| anyhow::anyhow!("decoder thread panicked"))?
    })?;
    (summary.lines, summary.dlq) = decoded;
    if opts.checkpoint_every.is_some() {
        // Trailing rejected lines are consumed too.
        runner.next_line = runner.next_line.max(summary.lines);
        runner.checkpoint()?;
    }
    out.flush()?;
    if let Some(f) = features {
        f.finish()?;
    }
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// The decoder thread: lines in, batches of events out; returns (lines, rejected).
fn decode_lines(
    input: BufReader<File>,
    mut dlq_out: Option<BufWriter<File>>,
    opts: &ReplayOptions,
    shared: &Shared,
    batch_size: usize,
    tx: std::sync::mpsc::SyncSender<Decoded>,
    recycle: std::sync::mpsc::Receiver<Decoded>,
) -> anyhow::Result<(u64, u64)> {
    let source = opts.input.display().to_string();
    let (mut lines, mut rejected) = (0u64, 0u64);
    let mut events: Decoded = Vec::with_capacity(batch_size);
    for (line_no, line) in input.split(b'\n').enumerate() {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        lines += 1;
        shared.metrics.events_consumed.inc();
        match decode(&line, &opts.decode) {
            Ok(event) => events.push((event, line_no as i64)),
            Err(rejection) => {
                rejected += 1;
                shared
                    .metrics
                    .dlq
                    .with_label_values(&[rejection.reason.code()])
                    .inc();
                if let Some(w) = dlq_out.as_mut() {
                    let origin = Origin {
                        topic: &source,
                        partition: 0,
                        offset: line_no as i64,
                    };
                    writeln!(w, "{}", dlq::to_json_line(&rejection, origin, &line))?;
                }
            }
        }
        if events.len() >= batch_size {
            let next = recycle
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(batch_size));
            if tx.send(std::mem::replace(&mut events, next)).is_err() {
                break; // the pipeline thread failed; it reports why
            }
        }
    }
    if !events.is_empty() {
        let _ = tx.send(events);
    }
    if let Some(mut w) = dlq_out {
        w.flush()?;
    }
    Ok((lines, rejected))
}

/// One partition's pipeline plus its reusable batch and emitter.
struct Runner<'a> {
    pipeline: Pipeline,
    shared: &'a Shared,
    batch: Batch,
    emitter: DecisionEmitter,
    /// Replays are not bound by the live SLA: the model always gets to answer.
    far_deadline: Instant,
    /// Line number after the last event handed to the pipeline.
    next_line: u64,
}

impl<'a> Runner<'a> {
    fn new(pipeline: Pipeline, shared: &'a Shared, batch_size: usize) -> Self {
        let mut batch = Batch::default();
        batch.events.reserve(batch_size);
        batch.budget = Duration::from_secs(3600);
        let far_deadline = Instant::now() + batch.budget;
        Runner {
            pipeline,
            shared,
            batch,
            emitter: DecisionEmitter::new(),
            far_deadline,
            next_line: 0,
        }
    }

    /// Persists the state with the next line to read, in one atomic batch.
    fn checkpoint(&mut self) -> anyhow::Result<()> {
        self.pipeline
            .on_checkpoint(self.next_line as i64)
            .map_err(|e| anyhow::anyhow!("checkpoint at line {}: {e}", self.next_line))
    }

    fn run(
        &mut self,
        out: &mut impl Write,
        features: Option<&mut FeatureLog>,
        summary: &mut ReplaySummary,
    ) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.pipeline.process(&mut self.batch);
        let model = self.pipeline.score.model_label.clone();
        let mut io_err = None;
        self.emitter.emit(
            &self.batch,
            DecisionClock::EventTime,
            model.as_deref(),
            &self.shared.metrics,
            |_, _, json| {
                if let Err(e) = out.write_all(json).and_then(|_| out.write_all(b"\n")) {
                    io_err.get_or_insert(e);
                }
            },
        );
        if let Some(e) = io_err {
            return Err(e.into());
        }
        for (i, eval) in self.batch.evaluations[..self.batch.len()]
            .iter()
            .enumerate()
        {
            summary.decisions += 1;
            match eval.action {
                verdict_rules::Action::Allow => summary.allow += 1,
                verdict_rules::Action::Review => summary.review += 1,
                verdict_rules::Action::Decline => summary.decline += 1,
            }
            if self.batch.degraded[i] && model.is_some() {
                summary.degraded += 1;
            }
        }
        if let Some(f) = features {
            f.append(&self.batch)?;
        }
        self.batch.clear();
        Ok(())
    }
}
