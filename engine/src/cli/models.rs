//! `verdict models`: list the model registry, evaluate a model, compare a
//! challenger with the champion, and load or promote models in a running
//! engine through its admin API.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use clap::{Args, Subcommand};

use super::assets::MaturityArgs;
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
        #[command(flatten)]
        labelled: LabelledArgs,
        /// Report directory (default: the model directory's eval/ folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Evaluate a champion and a challenger on the same labelled data;
    /// writes compare.json and compare.md (and each model's report).
    Compare {
        #[arg(long)]
        champion: PathBuf,
        #[arg(long)]
        challenger: PathBuf,
        #[command(flatten)]
        labelled: LabelledArgs,
        /// The score the rules act on (the default rules decline at 0.95).
        #[arg(long, default_value_t = 0.95)]
        threshold: f32,
        /// Report directory (default: the challenger directory's compare/ folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Load a model into a running engine as its challenger: it scores every
    /// event beside the champion and never acts.
    Challenger {
        #[command(flatten)]
        admin: AdminArgs,
        /// The model directory, as the engine's host sees it.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Make a running engine's challenger (or the model in --dir) its
    /// champion. A model that does not load, or whose inputs the running
    /// rules cannot build, is refused and the champion stays.
    Promote {
        #[command(flatten)]
        admin: AdminArgs,
        /// Promote this model directory instead of the loaded challenger.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// A feature log and its labels, and which rows are old enough for them.
#[derive(Args)]
struct LabelledArgs {
    /// A feature log: a Parquet file, or `verdict run`'s directory of them.
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    labels: PathBuf,
    #[command(flatten)]
    maturity: MaturityArgs,
}

/// Where a running engine's admin API is, and its token.
#[derive(Args)]
struct AdminArgs {
    /// The engine's admin address (`admin.listen`).
    #[arg(long, default_value = "http://127.0.0.1:9464")]
    admin: String,
    /// The admin token (`admin.token`).
    #[arg(long, env = "VERDICT_ADMIN__TOKEN", hide_env_values = true)]
    token: String,
}

impl AdminArgs {
    /// POSTs `body` to `path`; prints the engine's answer and succeeds on 2xx.
    fn post(&self, path: &str, body: serde_json::Value) -> anyhow::Result<ExitCode> {
        let base = self.admin.trim_end_matches('/');
        let base = if base.contains("://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        let url = format!("{base}{path}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let mut response = agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .content_type("application/json")
            .send(body.to_string())
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer of POST {url}"))?;
        let shown = serde_json::from_str::<serde_json::Value>(&text)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or(text);
        if status.is_success() {
            println!("{shown}");
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("{url} answered {status}:\n{shown}");
            Ok(ExitCode::FAILURE)
        }
    }
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
            labelled,
            out,
        } => {
            let out = out.unwrap_or_else(|| model.join("eval"));
            let progress = Progress::new("models eval", Unit::Rows, 0);
            let r = verdict_models::eval::evaluate_with_progress(
                &model,
                &labelled.data,
                &labelled.labels,
                labelled.maturity.maturity().as_ref(),
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
        ModelsCommand::Compare {
            champion,
            challenger,
            labelled,
            threshold,
            out,
        } => {
            let out = out.unwrap_or_else(|| challenger.join("compare"));
            let progress = Progress::new("models compare", Unit::Rows, 0);
            let what = verdict_models::eval::Comparison {
                champion: &champion,
                challenger: &challenger,
                data: &labelled.data,
                labels: &labelled.labels,
                maturity: labelled.maturity.maturity(),
                threshold,
            };
            let r =
                verdict_models::eval::compare(&what, &out, &|rows, of| progress.update(rows, of))?;
            progress.finish();
            print!("{}", verdict_models::eval::compare_markdown(&r));
            println!("report in {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Challenger { admin, dir } => admin.post(
            "/v1/models/challenger",
            serde_json::json!({ "dir": absolute(dir)? }),
        ),
        ModelsCommand::Promote { admin, dir } => {
            let body = match dir {
                Some(dir) => serde_json::json!({ "dir": absolute(dir)? }),
                None => serde_json::json!({}),
            };
            admin.post("/v1/models/promote", body)
        }
    }
}

/// A relative directory made absolute against the current one: the engine
/// resolves paths against its own working directory.
fn absolute(dir: PathBuf) -> anyhow::Result<PathBuf> {
    Ok(std::path::absolute(&dir)?)
}
