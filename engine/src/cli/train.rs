//! `verdict train`: a model from a feature log and labels.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use verdict_models::train::{TrainConfig, train};

use super::assets::MaturityArgs;

#[derive(Args)]
pub struct TrainArgs {
    /// A feature log: a Parquet file, or a directory of them (`verdict run`'s
    /// rotated log).
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    labels: PathBuf,
    #[command(flatten)]
    maturity: MaturityArgs,
    /// Model directory to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "verdict-fraud")]
    name: String,
    #[arg(long)]
    version: Option<String>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Where the network trains: cpu, or cuda (a binary built with
    /// `--features cuda`; falls back to the CPU and says why).
    #[arg(long, default_value = "cpu")]
    device: verdict_models::Device,
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = TrainConfig::new(args.data, args.labels, args.out);
    cfg.name = args.name;
    cfg.version = args.version;
    cfg.seed = args.seed;
    cfg.epochs = args.epochs;
    cfg.label_maturity = args.maturity.maturity();
    cfg.device = args.device;
    let s = train(&cfg)?;
    if let Some(why) = &s.fallback {
        eprintln!("warning: --device {}: {why}", args.device);
    }
    let m = &s.report.evaluation.metrics;
    println!(
        "model {}@{} written to {} ({} bytes): validation ROC AUC {:.4}, PR AUC {:.4}, recall@1%FPR {:.3}, recall@0.1%FPR {:.3}",
        s.manifest.name,
        s.manifest.version,
        s.model_dir.display(),
        s.model_bytes,
        m.roc_auc,
        m.pr_auc,
        m.recall_at_1pct_fpr,
        m.recall_at_0_1pct_fpr
    );
    if s.report.immature_rows_left_out > 0 {
        println!(
            "{} rows younger than the label maturity were left out",
            s.report.immature_rows_left_out
        );
    }
    Ok(ExitCode::SUCCESS)
}
