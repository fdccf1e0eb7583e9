//! `verdict backtest`: replay labelled traffic and report what the
//! decisions were worth.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use verdict_engine::replay::ReplayOptions;

use super::assets::{Assets, ModelArgs, RulesArgs, StateArgs, offline_config};
use super::progress::{Progress, Unit};

#[derive(Args)]
pub struct BacktestArgs {
    #[arg(long)]
    input: PathBuf,
    /// Labels (CSV or JSONL: transaction_id,is_fraud,scenario).
    #[arg(long)]
    labels: PathBuf,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Decisions file (default: a temporary file).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: BacktestArgs, assets: &Assets) -> anyhow::Result<ExitCode> {
    let dataflow = assets.fixed_dataflow(&args.rules, &args.model, &StateArgs::default())?;
    let output = args
        .output
        .unwrap_or_else(|| assets.scratch().join("backtest-decisions.jsonl"));
    let opts = ReplayOptions {
        input: args.input,
        output,
        dlq: None,
        feature_log: None,
        batch_size: 1024,
        decode: offline_config()?.decode_config(false),
        checkpoint_every: None,
    };
    let size = std::fs::metadata(&opts.input)?.len();
    let progress = Progress::new("backtest", Unit::Bytes, size);
    let (summary, report) =
        verdict_engine::backtest::backtest(&opts, &dataflow, &args.labels, &|bytes| {
            progress.update(bytes, size)
        })?;
    progress.finish();
    eprintln!(
        "replayed {} lines ({} rejected) in {:.2}s",
        summary.lines,
        summary.dlq,
        summary.elapsed_ms as f64 / 1e3
    );
    print!("{report}");
    if let Some(path) = args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
