//! `verdict models`: list the model registry, evaluate a model.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::progress::{Progress, Unit};

#[derive(Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// List the models under DIR (one folder per version).
    List {
        #[arg(default_value = "models")]
        dir: PathBuf,
    },
    /// Evaluate a model on labelled data; writes report.json, report.md and ROC/PR plots.
    Eval {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        labels: PathBuf,
        /// Report directory (default: the model directory's eval/ folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ModelsCommand::List { dir } => {
            for entry in verdict_models::list_models(&dir)? {
                println!("{}", entry.summary());
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Eval {
            model,
            data,
            labels,
            out,
        } => {
            let out = out.unwrap_or_else(|| model.join("eval"));
            let progress = Progress::new("models eval", Unit::Rows, 0);
            let r = verdict_models::eval::evaluate_with_progress(
                &model,
                &data,
                &labels,
                &out,
                &|rows, of| progress.update(rows, of),
            )?;
            progress.finish();
            let m = &r.evaluation.metrics;
            println!(
                "{} on {} rows: ROC AUC {:.4}, PR AUC {:.4}, recall@1%FPR {:.3}, recall@0.1%FPR {:.3}; report in {}",
                r.model,
                r.rows,
                m.roc_auc,
                m.pr_auc,
                m.recall_at_1pct_fpr,
                m.recall_at_0_1pct_fpr,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
