//! `verdict replay`: the pipeline from a JSON-lines file to a file,
//! deterministically, on in-memory or RocksDB state.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use verdict_engine::replay::{self, ReplayOptions};

use super::assets::{Assets, ModelArgs, RulesArgs, StateArgs, offline_config};
use super::progress::{Progress, Unit};

#[derive(Args)]
pub struct ReplayArgs {
    #[arg(long)]
    input: PathBuf,
    #[arg(long)]
    output: PathBuf,
    /// Rejected lines, with reasons.
    #[arg(long)]
    dlq: Option<PathBuf>,
    /// Write the features of every decision (Parquet) for training.
    #[arg(long)]
    feature_log: Option<PathBuf>,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// A challenger model: scores every event beside the champion and never
    /// acts; its score is in each decision and the feature log.
    #[arg(long)]
    challenger: Option<PathBuf>,
    #[command(flatten)]
    state: StateArgs,
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
}

pub fn run(args: ReplayArgs, assets: &Assets) -> anyhow::Result<ExitCode> {
    let dataflow = assets.fixed_dataflow(&args.rules, &args.model, &args.state)?;
    if let Some(dir) = &args.challenger {
        dataflow
            .load_challenger(dir)
            .map_err(|e| anyhow::anyhow!("--challenger: {e}"))?;
    }
    let opts = ReplayOptions {
        input: args.input,
        output: args.output,
        dlq: args.dlq,
        feature_log: args.feature_log,
        batch_size: args.batch_size,
        decode: offline_config()?.decode_config(false),
        checkpoint_every: args
            .state
            .state_dir
            .is_some()
            .then_some(replay::CHECKPOINT_EVERY),
    };
    let size = std::fs::metadata(&opts.input)?.len();
    let progress = Progress::new("replay", Unit::Bytes, size);
    let s = replay::replay_with_progress(&opts, &dataflow, &|bytes| progress.update(bytes, size))?;
    progress.finish();
    eprintln!(
        "replayed {} lines in {:.2}s ({:.0} events/s): {} decisions (allow {}, review {}, decline {}), {} rejected",
        s.lines,
        s.elapsed_ms as f64 / 1e3,
        s.events_per_sec(),
        s.decisions,
        s.allow,
        s.review,
        s.decline,
        s.dlq
    );
    if opts.checkpoint_every.is_some() {
        eprintln!(
            "state checkpoints took {:.2}s of it",
            s.checkpoint_ms as f64 / 1e3
        );
    }
    Ok(ExitCode::SUCCESS)
}
