//! `verdict backfill`: a year of per-user history from past transactions
//! into the state store the engine will run on.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use verdict_engine::backfill::{self, BackfillRun};
use verdict_engine::config::Config;

use super::assets::{Assets, RulesArgs};

#[derive(Args)]
pub struct BackfillArgs {
    #[arg(long)]
    input: PathBuf,
    /// State directory (RocksDB) the engine will run on.
    #[arg(long)]
    state_dir: PathBuf,
    /// Partitions of the input topic (users go where Kafka's partitioner puts their key).
    #[arg(long)]
    partitions: i32,
    // Not the shared `--rules` (`RulesArgs`): here it says which state to
    // build, not which rules decide, and its help says so.
    /// Rule directory whose first_time(...) features need tracking (default: the embedded set).
    #[arg(long)]
    rules: Option<PathBuf>,
}

pub fn run(args: BackfillArgs, assets: &Assets) -> anyhow::Result<ExitCode> {
    let rules = assets.fixed_rules(&RulesArgs { rules: args.rules })?;
    let bar = indicatif::ProgressBar::new_spinner();
    let run = BackfillRun {
        input: args.input,
        state_dir: args.state_dir,
        partitions: args.partitions,
    };
    let s = backfill::run(
        &run,
        &rules.load(),
        &Config::default().state.tuning,
        &mut |p| {
            bar.set_message(format!(
                "{} events, {} users written",
                p.events, p.users_written
            ))
        },
    )?;
    bar.finish_and_clear();
    for (line, reason, detail) in &s.first_rejections {
        eprintln!("line {line}: {reason}: {detail}");
    }
    eprintln!(
        "backfilled {} events ({} rejected, {} skipped) into {} user histories in {:.2}s; {} bytes written, {:.1} MiB on disk",
        s.progress.events,
        s.rejected,
        s.progress.skipped,
        s.progress.users_written,
        s.elapsed_ms as f64 / 1e3,
        s.progress.bytes_written,
        s.disk_bytes as f64 / (1 << 20) as f64
    );
    Ok(ExitCode::SUCCESS)
}
