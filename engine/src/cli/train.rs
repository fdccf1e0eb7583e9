//! `verdict train`: a model from a feature log and labels.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use verdict_models::train::{TrainConfig, train};

#[derive(Args)]
pub struct TrainArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    labels: PathBuf,
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
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = TrainConfig::new(args.data, args.labels, args.out);
    cfg.name = args.name;
    cfg.version = args.version;
    cfg.seed = args.seed;
    cfg.epochs = args.epochs;
    let s = train(&cfg)?;
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
    Ok(ExitCode::SUCCESS)
}
