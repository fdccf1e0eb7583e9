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
use crate::dataflow::Dataflow;
use crate::feature_log::FeatureLog;
use crate::pipeline::{Batch, Deciding, DecisionClock, DecisionEmitter, Keyed};

/// Lines between the checkpoints of a replay over a durable store: about 5 s
/// of replay work, the order of a stream processor's checkpoint interval
/// (a checkpoint rewrites every entity touched since the last one, so its
/// cost per event falls as the interval grows).
pub const CHECKPOINT_EVERY: u64 = 1_000_000;

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
    /// Of `elapsed_ms`, time spent in state checkpoints (durable replays).
    pub checkpoint_ms: u64,
}

impl ReplaySummary {
    pub fn events_per_sec(&self) -> f64 {
        self.lines as f64 / (self.elapsed_ms.max(1) as f64 / 1e3)
    }
}

/// Decoded events of consecutive lines, with their line numbers.
type Decoded = Vec<(crate::contract::Event, i64)>;

/// What one of the threads after the decoder hands the next.
enum Handoff<T> {
    /// A batch (boxed: a batch's column headers are large next to a flush
    /// request), with what the next thread needs to know about it.
    Batch(Box<Batch>, T),
    /// Everything handed over before is written and flushed: answer on it.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// A batch with its keyed features, to the deciding thread.
type ToDecider = Handoff<()>;

/// A decided batch, with the label of the model that scored it, to the
/// writer.
type ToWriter = Handoff<Option<String>>;

/// Runs the pipeline over `opts.input`.
///
/// Four threads, so both cores work: a decoder reads and validates lines
/// (writing rejections to the DLQ file) and hands batches of events, in file
/// order, to the keyed thread (the keyed features, and the checkpoints). It
/// hands each batch to the deciding thread (derived features, score, rules;
/// see [`crate::pipeline::Pipeline::split`]), which hands it to a writer
/// (decisions encoded and written, the feature log, the counts), which gives
/// the emptied batch back to the keyed thread. Channels are small and
/// bounded, and order is kept end to end, so the output is deterministic.
/// A checkpoint first waits for the writer to flush every decision before
/// it: what the store says is done is on disk.
pub fn replay(opts: &ReplayOptions, dataflow: &Dataflow) -> anyhow::Result<ReplaySummary> {
    replay_with_progress(opts, dataflow, &|_| {})
}

/// [`replay`], calling `progress(bytes of the input read)` from the decoder
/// thread after each batch of lines, so a caller can show how far it is
/// against the file's size.
pub fn replay_with_progress(
    opts: &ReplayOptions,
    dataflow: &Dataflow,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<ReplaySummary> {
    let started = Instant::now();
    let input = BufReader::with_capacity(1 << 20, File::open(&opts.input)?);
    let out = BufWriter::with_capacity(1 << 20, File::create(&opts.output)?);
    let dlq_out = match &opts.dlq {
        Some(p) => Some(BufWriter::new(File::create(p)?)),
        None => None,
    };
    let features = match &opts.feature_log {
        Some(p) => Some(FeatureLog::create(p)?),
        None => None,
    };
    let (keyed, deciding) = dataflow.pipeline(0)?.split();
    let mut runner = Runner::new(keyed, opts.batch_size);
    let batch_size = opts.batch_size.max(1);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(4);
    let (recycle_tx, recycle_rx) = std::sync::mpsc::channel::<Decoded>();
    let (to_decider, decider_rx) = std::sync::mpsc::sync_channel::<ToDecider>(4);
    let (to_writer, writer_rx) = std::sync::mpsc::sync_channel::<ToWriter>(4);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Batch>();
    let mut checkpointed = 0u64;
    let mut checkpoint_time = Duration::ZERO;
    let (mut summary, decoded) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let decoder = scope.spawn(move || {
            let lines = Lines {
                input,
                batch_size,
                progress,
            };
            decode_lines(lines, dlq_out, opts, dataflow, tx, recycle_rx)
        });
        let decider = scope.spawn(move || decide_batches(deciding, decider_rx, to_writer));
        let writer =
            scope.spawn(move || write_decisions(out, features, dataflow, writer_rx, free_tx));
        let flush = |to_decider: &std::sync::mpsc::SyncSender<ToDecider>| {
            let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
            // A closed channel means the writer failed: it reports why.
            if to_decider.send(Handoff::Flush(ack_tx)).is_ok() {
                let _ = ack_rx.recv();
            }
        };
        let mut pipeline_result = Ok(());
        for mut events in rx {
            for (event, line) in events.drain(..) {
                runner.next_line = line as u64 + 1;
                runner.batch.push(event, line, runner.far_deadline);
            }
            let _ = recycle_tx.send(events);
            if runner.batch.is_empty() {
                continue;
            }
            runner.keyed.features(&mut runner.batch);
            let next = free_rx.try_recv().unwrap_or_else(|_| runner.empty_batch());
            let keyed = Box::new(std::mem::replace(&mut runner.batch, next));
            if to_decider.send(Handoff::Batch(keyed, ())).is_err() {
                break; // the writer failed; it reports why
            }
            if let Some(every) = opts.checkpoint_every
                && runner.next_line - checkpointed >= every.max(1)
            {
                flush(&to_decider);
                let t = Instant::now();
                if let Err(e) = runner.checkpoint() {
                    pipeline_result = Err(e);
                    break;
                }
                checkpoint_time += t.elapsed();
                checkpointed = runner.next_line;
            }
        }
        drop(to_decider);
        decider
            .join()
            .map_err(|_| anyhow::anyhow!("deciding thread panicked"))?;
        let written = writer
            .join()
            .map_err(|_| anyhow::anyhow!("writer thread panicked"))?;
        let decoded = decoder
            .join()
            .map_err(|_| anyhow::anyhow!("decoder thread panicked"))?;
        pipeline_result?;
        Ok((written?, decoded?))
    })?;
    (summary.lines, summary.dlq) = decoded;
    if opts.checkpoint_every.is_some() {
        // Every decision is written (the writer finished); trailing
        // rejected lines are consumed too.
        runner.next_line = runner.next_line.max(summary.lines);
        let t = Instant::now();
        runner.checkpoint()?;
        checkpoint_time += t.elapsed();
    }
    summary.checkpoint_ms = checkpoint_time.as_millis() as u64;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// The deciding thread: derived features, score and rules of each batch, in
/// order, handed on to the writer with the label of the model that scored
/// it; a flush request is passed on behind them.
fn decide_batches(
    mut deciding: Deciding,
    batches: std::sync::mpsc::Receiver<ToDecider>,
    to_writer: std::sync::mpsc::SyncSender<ToWriter>,
) {
    for msg in batches {
        let handoff = match msg {
            Handoff::Batch(mut batch, ()) => {
                deciding.decide(&mut batch);
                Handoff::Batch(batch, deciding.score.model_label.clone())
            }
            Handoff::Flush(ack) => Handoff::Flush(ack),
        };
        if to_writer.send(handoff).is_err() {
            return; // the writer failed; it reports why
        }
    }
}

/// The writer thread: encodes and writes each decided batch's decisions,
/// appends its features to the log, counts actions, and hands the emptied
/// batch back. Returns the counts once the pipeline thread hangs up.
fn write_decisions(
    mut out: BufWriter<File>,
    mut features: Option<FeatureLog>,
    dataflow: &Dataflow,
    batches: std::sync::mpsc::Receiver<ToWriter>,
    free: std::sync::mpsc::Sender<Batch>,
) -> anyhow::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let mut emitter = DecisionEmitter::new();
    for msg in batches {
        let (mut batch, model) = match msg {
            Handoff::Batch(batch, model) => (*batch, model),
            Handoff::Flush(ack) => {
                out.flush()?;
                let _ = ack.send(());
                continue;
            }
        };
        let mut io_err = None;
        emitter.emit(
            &batch,
            DecisionClock::EventTime,
            model.as_deref(),
            &dataflow.metrics,
            |_, _, json| {
                if let Err(e) = out.write_all(json).and_then(|_| out.write_all(b"\n")) {
                    io_err.get_or_insert(e);
                }
            },
        );
        if let Some(e) = io_err {
            return Err(e.into());
        }
        for (i, eval) in batch.evaluations[..batch.len()].iter().enumerate() {
            summary.decisions += 1;
            match eval.action {
                verdict_rules::Action::Allow => summary.allow += 1,
                verdict_rules::Action::Review => summary.review += 1,
                verdict_rules::Action::Decline => summary.decline += 1,
            }
            if batch.degraded[i] && model.is_some() {
                summary.degraded += 1;
            }
        }
        if let Some(f) = features.as_mut() {
            f.append(&batch, model.as_deref())?;
        }
        batch.clear();
        let _ = free.send(batch);
    }
    out.flush()?;
    if let Some(f) = features {
        f.finish()?;
    }
    Ok(summary)
}

/// The decoder thread's input: the file, lines per batch, and whom to tell
/// how many bytes are read.
struct Lines<'a> {
    input: BufReader<File>,
    batch_size: usize,
    progress: &'a (dyn Fn(u64) + Sync),
}

/// The decoder thread: lines in, batches of events out; returns (lines, rejected).
fn decode_lines(
    input: Lines<'_>,
    mut dlq_out: Option<BufWriter<File>>,
    opts: &ReplayOptions,
    dataflow: &Dataflow,
    tx: std::sync::mpsc::SyncSender<Decoded>,
    recycle: std::sync::mpsc::Receiver<Decoded>,
) -> anyhow::Result<(u64, u64)> {
    let Lines {
        input,
        batch_size,
        progress,
    } = input;
    let source = opts.input.display().to_string();
    let (mut lines, mut rejected, mut bytes) = (0u64, 0u64, 0u64);
    let mut events: Decoded = Vec::with_capacity(batch_size);
    for (line_no, line) in input.split(b'\n').enumerate() {
        let mut line = line?;
        bytes += line.len() as u64 + 1;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        lines += 1;
        dataflow.metrics.events_consumed.inc();
        match decode(&line, &opts.decode) {
            Ok(event) => events.push((event, line_no as i64)),
            Err(rejection) => {
                rejected += 1;
                dataflow
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
            progress(bytes);
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
    progress(bytes);
    if let Some(mut w) = dlq_out {
        w.flush()?;
    }
    Ok((lines, rejected))
}

/// One partition's keyed half and the batch it fills.
struct Runner {
    keyed: Keyed,
    batch: Batch,
    /// Replays are not bound by the live SLA: the model always gets to answer.
    far_deadline: Instant,
    /// Line number after the last event handed to the pipeline.
    next_line: u64,
    batch_size: usize,
}

impl Runner {
    const BUDGET: Duration = Duration::from_secs(3600);

    fn new(keyed: Keyed, batch_size: usize) -> Self {
        let mut runner = Runner {
            keyed,
            batch: Batch::default(),
            far_deadline: Instant::now() + Self::BUDGET,
            next_line: 0,
            batch_size,
        };
        runner.batch = runner.empty_batch();
        runner
    }

    fn empty_batch(&self) -> Batch {
        let mut batch = Batch::default();
        batch.events.reserve(self.batch_size);
        batch.budget = Self::BUDGET;
        batch
    }

    /// Persists the state with the next line to read, in one atomic batch
    /// written on this thread.
    fn checkpoint(&mut self) -> anyhow::Result<()> {
        self.keyed
            .checkpoint(self.next_line as i64)
            .map_err(|e| anyhow::anyhow!("checkpoint at line {}: {e}", self.next_line))
    }
}
