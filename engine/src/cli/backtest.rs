//! `verdict backtest`: replay labelled traffic and report what the
//! decisions were worth, point in time (`--from`/`--to`), and against a
//! second rule set (`--compare`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use verdict_engine::backtest::{BacktestReport, Labels, Window, backtest, compare};
use verdict_engine::replay::{ReplayOptions, ReplaySummary};

use super::assets::{Assets, ModelArgs, RulesArgs, StateArgs, offline_config, parse_time};
use super::progress::{Progress, Unit};

#[derive(Args)]
pub struct BacktestArgs {
    #[arg(long)]
    input: PathBuf,
    /// Labels (CSV or JSONL: transaction_id,is_fraud,scenario).
    #[arg(long)]
    labels: PathBuf,
    /// Report only events from this time on (RFC 3339, or a UTC date such as
    /// 2026-09-01). Everything before it is replayed too, to build the state
    /// as it was; `--state-dir` starts from a backfilled store instead.
    #[arg(long, value_parser = parse_time)]
    from: Option<i64>,
    /// Report only events before this time (same forms as `--from`).
    #[arg(long, value_parser = parse_time)]
    to: Option<i64>,
    /// Also backtest this rule directory on the same traffic, model and
    /// state, and show what changes: decision mix, rule hits, precision,
    /// recall, false-decline rate, and the transactions whose action moves.
    #[arg(long, value_name = "RULES_DIR")]
    compare: Option<PathBuf>,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    state: StateArgs,
    /// The reported window's decisions (default: a temporary file); with
    /// `--compare`, the candidate's go next to it with `.compare` appended.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Also write the report (or the comparison) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: BacktestArgs, assets: &Assets) -> anyhow::Result<ExitCode> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        anyhow::ensure!(from < to, "--from must be before --to");
    }
    let window = Window {
        from_ms: args.from,
        to_ms: args.to,
    };
    let labels = verdict_models::table::read_labels(&args.labels)?;
    let reported = args
        .output
        .clone()
        .unwrap_or_else(|| assets.scratch().join("backtest-decisions.jsonl"));
    let baseline = one(&args, &args.rules, assets, &labels, window, &reported, "")?;
    let Some(candidate_rules) = &args.compare else {
        print!("{baseline}");
        return write_json(&args, &baseline);
    };
    let mut candidate_out = reported.clone().into_os_string();
    candidate_out.push(".compare");
    let candidate_out = PathBuf::from(candidate_out);
    let candidate = one(
        &args,
        &RulesArgs {
            rules: Some(candidate_rules.clone()),
        },
        assets,
        &labels,
        window,
        &candidate_out,
        ".compare",
    )?;
    let comparison = compare(
        (baseline, reported.as_path()),
        (candidate, candidate_out.as_path()),
        &labels,
        10,
    )?;
    print!("{comparison}");
    write_json(&args, &comparison)
}

/// One backtest with `rules`; its dataflow (and so the state store) is
/// closed when it returns, so the next one can open the same store.
fn one(
    args: &BacktestArgs,
    rules: &RulesArgs,
    assets: &Assets,
    labels: &Labels,
    window: Window,
    reported: &Path,
    suffix: &str,
) -> anyhow::Result<BacktestReport> {
    let dataflow = assets.fixed_dataflow(rules, &args.model, &args.state)?;
    let opts = ReplayOptions {
        input: args.input.clone(),
        output: assets
            .scratch()
            .join(format!("backtest-replay{suffix}.jsonl")),
        dlq: None,
        feature_log: None,
        batch_size: 1024,
        decode: offline_config()?.decode_config(false),
        checkpoint_every: None,
    };
    let size = std::fs::metadata(&opts.input)?.len();
    let progress = Progress::new("backtest", Unit::Bytes, size);
    let (summary, report) = backtest(&opts, &dataflow, labels, window, reported, &|bytes| {
        progress.update(bytes, size)
    })?;
    progress.finish();
    report_replay(&summary);
    Ok(report)
}

fn report_replay(summary: &ReplaySummary) {
    eprintln!(
        "replayed {} lines ({} rejected) in {:.2}s",
        summary.lines,
        summary.dlq,
        summary.elapsed_ms as f64 / 1e3
    );
}

fn write_json(args: &BacktestArgs, report: &impl serde::Serialize) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(report)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
