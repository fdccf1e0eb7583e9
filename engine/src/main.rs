//! The `verdict` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use verdict_engine::config::Config;
use verdict_engine::wiring::Shared;
use verdict_engine::{defaults, demo, generate, kafka, metrics::Metrics, replay};

verdict_state::engine_allocator!();

#[derive(Parser)]
#[command(
    name = "verdict",
    version,
    about = "Stream-processing fraud detection: Kafka in, decisions out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine against a Kafka cluster.
    Run {
        /// Configuration file (TOML); `VERDICT_*` variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Everything on an embedded default: in-process Kafka, generator, engine, live stats.
    Demo {
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Transactions per second fed to the engine.
        #[arg(long, default_value_t = 2_000)]
        rate: u32,
        /// Simulated card holders (the busiest transacts ~25× the median).
        #[arg(long, default_value_t = 100_000)]
        users: u32,
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        #[arg(long, default_value_t = 0.005)]
        malformed_rate: f64,
        #[arg(long, default_value_t = 0.01)]
        fraud_rate: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Serve /metrics here while the demo runs.
        #[arg(long, default_value = "127.0.0.1:9464")]
        admin: String,
    },
    /// Run the pipeline from a JSON-lines file to a file, deterministically.
    Replay {
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
        /// Rule directory (default: the embedded default set).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Model directory (default: the embedded default model).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Decide by rules alone.
        #[arg(long)]
        no_model: bool,
        /// Keep state in RocksDB here (default: in memory).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 1024)]
        batch_size: usize,
    },
    /// Replay labelled traffic and report what the decisions were worth.
    Backtest {
        #[arg(long)]
        input: PathBuf,
        /// Labels (CSV or JSONL: transaction_id,is_fraud,scenario).
        #[arg(long)]
        labels: PathBuf,
        #[arg(long)]
        rules: Option<PathBuf>,
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        no_model: bool,
        /// Decisions file (default: a temporary file).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Also write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Generate synthetic traffic with labelled fraud, to a file or to Kafka.
    Generate {
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// JSON-lines output file (one transaction per line).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Labels file (CSV: transaction_id,is_fraud,scenario).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Produce to Kafka instead of a file.
        #[arg(long)]
        brokers: Option<String>,
        #[arg(long, default_value = "transactions")]
        topic: String,
        /// Messages per second to Kafka (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 10_000)]
        users: u32,
        #[arg(long, default_value_t = 0.004)]
        fraud_rate: f64,
        #[arg(long, default_value_t = 0.0)]
        malformed_rate: f64,
        /// Simulated event rate (events per second of event time).
        #[arg(long, default_value_t = 200.0)]
        events_per_sec: f64,
        /// Event time of the first event (RFC 3339).
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: String,
    },
    /// Load a year of per-user history from past transactions (JSON lines, or Parquet with the contract's field names as columns) into the state store.
    Backfill {
        #[arg(long)]
        input: PathBuf,
        /// State directory (RocksDB) the engine will run on.
        #[arg(long)]
        state_dir: PathBuf,
        /// Partitions of the input topic (users go where Kafka's partitioner puts their key).
        #[arg(long)]
        partitions: i32,
        /// Rule directory whose first_time(...) features need tracking (default: the embedded set).
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Train a model from a feature log (Parquet/Arrow) and labels (CSV/JSONL).
    Train {
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
    },
    /// Model registry tooling.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Rule tooling.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Configuration tooling.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Check every rule file in DIR; print every diagnostic.
    Check { dir: PathBuf },
    /// Run the golden tests in DIR.
    Test { dir: PathBuf },
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

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load the configuration and report every problem.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VERDICT_LOG")
                .unwrap_or_else(|_| "warn,verdict_engine=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The rule directory to use: the given one or the embedded default.
fn rules_dir(dir: Option<&Path>, scratch: &Path) -> anyhow::Result<PathBuf> {
    Ok(match dir {
        Some(d) => d.to_path_buf(),
        None => defaults::extract(scratch)?.rules_dir,
    })
}

/// The model directory to use: none when disabled, else the given one or the embedded default.
fn model_dir(
    dir: Option<&Path>,
    disabled: bool,
    scratch: &Path,
) -> anyhow::Result<Option<PathBuf>> {
    Ok(match (disabled, dir) {
        (true, _) => None,
        (false, Some(d)) => Some(d.to_path_buf()),
        (false, None) => Some(defaults::extract(scratch)?.model_dir),
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Removed when `run` returns, on success or error.
    let scratch_dir = tempfile::Builder::new().prefix("verdict-").tempdir()?;
    let scratch = scratch_dir.path().to_path_buf();
    match cli.command {
        Command::Run { config } => {
            let cfg = Config::load(config.as_deref())?;
            if let Err(problems) = cfg.validate() {
                for p in &problems {
                    eprintln!("config: {p}");
                }
                anyhow::bail!("{} configuration problem(s)", problems.len());
            }
            let metrics = Arc::new(Metrics::new());
            let watcher = verdict_engine::reload::watch_rules(
                &rules_dir(cfg.rules.dir.as_deref(), &scratch)?,
                Arc::clone(&metrics),
            )?;
            let model = model_dir(cfg.model.dir.as_deref(), cfg.model.disabled, &scratch)?;
            let shared = Shared::build(
                watcher.reloader().shared(),
                model.as_deref(),
                metrics,
                cfg.state.dir.as_deref(),
                cfg.state.tuning.clone(),
            )?;
            let cfg = Arc::new(cfg);
            runtime()?.block_on(async move {
                if cfg.kafka.create_topics {
                    kafka::ensure_topics(&cfg.kafka).await?;
                }
                if let Some(listen) = &cfg.admin.listen {
                    let (addr, _) = verdict_engine::admin::serve(listen, shared.clone()).await?;
                    tracing::info!(%addr, "admin server listening");
                }
                let _watcher = watcher;
                let engine = kafka::run_engine(Arc::clone(&cfg), shared)?;
                tokio::select! {
                    r = tokio::signal::ctrl_c() => {
                        r?;
                        tracing::info!("shutting down");
                        engine.shutdown().await
                    }
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            seconds,
            rate,
            users,
            partitions,
            malformed_rate,
            fraud_rate,
            seed,
            admin,
        } => {
            let cfg = Config::default();
            let rules = Shared::fixed_rules(&rules_dir(None, &scratch)?)?;
            let model = model_dir(None, false, &scratch)?;
            let shared = Shared::build(
                rules,
                model.as_deref(),
                Arc::new(Metrics::new()),
                None,
                cfg.state.tuning.clone(),
            )?;
            let opts = demo::DemoOptions {
                seconds,
                rate,
                users,
                partitions,
                malformed_rate,
                fraud_rate,
                seed,
                admin: Some(admin).filter(|a| !a.is_empty()),
                brokers: None,
            };
            println!(
                "verdict demo: {rate} tx/s for {seconds}s over {partitions} partitions (in-process Kafka, default rules and model)"
            );
            let s = runtime()?.block_on(demo::run(opts, cfg, shared))?;
            println!("---");
            println!(
                "summary: produced {} | decisions {} (allow {}, review {}, decline {}, degraded {}) | dlq {} | produce→decision p50 {:.2} ms, p99 {:.2} ms",
                s.produced,
                s.decisions,
                s.allow,
                s.review,
                s.decline,
                s.degraded,
                s.dlq,
                s.p50_ms,
                s.p99_ms
            );
            let complete = s.decisions + s.dlq == s.produced;
            if !complete {
                eprintln!(
                    "error: {} messages produced but {} decided and {} dead-lettered",
                    s.produced, s.decisions, s.dlq
                );
            }
            Ok(if complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Replay {
            input,
            output,
            dlq,
            feature_log,
            rules,
            model,
            no_model,
            state_dir,
            batch_size,
        } => {
            let cfg = Config::default();
            let rules = Shared::fixed_rules(&rules_dir(rules.as_deref(), &scratch)?)?;
            let model = model_dir(model.as_deref(), no_model, &scratch)?;
            let shared = Shared::build(
                rules,
                model.as_deref(),
                Arc::new(Metrics::new()),
                state_dir.as_deref(),
                cfg.state.tuning.clone(),
            )?;
            let opts = replay::ReplayOptions {
                input,
                output,
                dlq,
                feature_log,
                batch_size,
                decode: cfg.decode_config(false),
                checkpoint_every: state_dir.is_some().then_some(replay::CHECKPOINT_EVERY),
            };
            let s = replay::replay(&opts, &shared)?;
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
        Command::Backtest {
            input,
            labels,
            rules,
            model,
            no_model,
            output,
            json,
        } => {
            let rules = Shared::fixed_rules(&rules_dir(rules.as_deref(), &scratch)?)?;
            let model = model_dir(model.as_deref(), no_model, &scratch)?;
            let shared = Shared::build(
                rules,
                model.as_deref(),
                Arc::new(Metrics::new()),
                None,
                Default::default(),
            )?;
            let output = output.unwrap_or_else(|| scratch.join("backtest-decisions.jsonl"));
            let opts = replay::ReplayOptions {
                input,
                output,
                dlq: None,
                feature_log: None,
                batch_size: 1024,
                decode: Config::default().decode_config(false),
                checkpoint_every: None,
            };
            let (summary, report) = verdict_engine::backtest::backtest(&opts, &shared, &labels)?;
            eprintln!(
                "replayed {} lines ({} rejected) in {:.2}s",
                summary.lines,
                summary.dlq,
                summary.elapsed_ms as f64 / 1e3
            );
            print!("{report}");
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            count,
            output,
            labels,
            brokers,
            topic,
            rate,
            seed,
            users,
            fraud_rate,
            malformed_rate,
            events_per_sec,
            start,
        } => {
            let start_ms = chrono::DateTime::parse_from_rfc3339(&start)
                .context("--start")?
                .timestamp_millis();
            let cfg = generate::GeneratorConfig {
                seed,
                users,
                fraud_rate,
                malformed_rate,
                start_ms,
                events_per_sec,
                ..Default::default()
            };
            let summary = match brokers {
                Some(brokers) => runtime()?.block_on(generate::sink::to_kafka(
                    cfg,
                    count,
                    &brokers,
                    &topic,
                    rate,
                    labels.as_deref(),
                ))?,
                None => {
                    let output = output.context("--output or --brokers is required")?;
                    generate::sink::to_file(cfg, count, &output, labels.as_deref())?
                }
            };
            eprintln!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Backfill {
            input,
            state_dir,
            partitions,
            rules,
        } => {
            let rules = Shared::fixed_rules(&rules_dir(rules.as_deref(), &scratch)?)?;
            let bar = indicatif::ProgressBar::new_spinner();
            let run = verdict_engine::backfill::BackfillRun {
                input,
                state_dir,
                partitions,
            };
            let s = verdict_engine::backfill::run(
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
        Command::Train {
            data,
            labels,
            out,
            name,
            version,
            seed,
            epochs,
        } => {
            let mut cfg = verdict_models::train::TrainConfig::new(data, labels, out);
            cfg.name = name;
            cfg.version = version;
            cfg.seed = seed;
            cfg.epochs = epochs;
            let s = verdict_models::train::train(&cfg)?;
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
        Command::Models { command } => match command {
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
                let r = verdict_models::eval::evaluate(&model, &data, &labels, &out)?;
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
        },
        Command::Rules { command } => match command {
            RulesCommand::Check { dir } => match verdict_rules::check_dir(&dir) {
                Ok(summary) => {
                    println!("{summary}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(diags) => {
                    eprint!("{}", diags.render());
                    Ok(ExitCode::FAILURE)
                }
            },
            RulesCommand::Test { dir } => {
                let report = verdict_rules::run_golden_dir(&dir);
                print!("{}", report.render());
                Ok(if report.all_passed() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
        },
        Command::Config { command } => match command {
            ConfigCommand::Check { config } => {
                let cfg = Config::load(config.as_deref())?;
                match cfg.validate() {
                    Ok(()) => {
                        println!("configuration ok");
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(problems) => {
                        for p in &problems {
                            eprintln!("config: {p}");
                        }
                        eprintln!("{} problem(s)", problems.len());
                        Ok(ExitCode::FAILURE)
                    }
                }
            }
        },
    }
}
