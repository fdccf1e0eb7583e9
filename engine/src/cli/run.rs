//! `verdict run`: the engine against a Kafka cluster, configured by a file
//! and `VERDICT_*` variables, until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use verdict_engine::config::{Config, Mode};
use verdict_engine::kafka;
use verdict_engine::metrics::Metrics;

use super::assets::{Assets, ModelArgs, StateArgs, runtime};

#[derive(Args)]
pub struct RunArgs {
    /// Configuration file (TOML); `VERDICT_*` variables override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Run without `state.dir`, on in-memory state that a restart loses.
    #[arg(long)]
    ephemeral: bool,
}

pub fn run(args: RunArgs, assets: &Assets) -> anyhow::Result<ExitCode> {
    let mode = Mode::Live {
        ephemeral: args.ephemeral,
    };
    let cfg = Config::load_checked(args.config.as_deref(), mode)?;
    for w in cfg.warnings(mode) {
        eprintln!("warning: {w}");
    }
    let metrics = Arc::new(Metrics::new());
    let watcher = verdict_engine::reload::watch_rules(
        &assets.rules_dir(cfg.rules.dir.as_deref())?,
        Arc::clone(&metrics),
    )?;
    let model = ModelArgs {
        model: cfg.model.dir.clone(),
        no_model: cfg.model.disabled,
    };
    let state = StateArgs {
        state_dir: cfg.state.dir.clone(),
    };
    let dataflow = assets.dataflow(
        watcher.reloader().shared(),
        &model,
        &state,
        cfg.state.tuning.clone(),
        metrics,
    )?;
    let cfg = Arc::new(cfg);
    runtime()?.block_on(async move {
        if cfg.kafka.create_topics {
            kafka::ensure_topics(&cfg.kafka).await?;
        }
        if let Some(listen) = &cfg.admin.listen {
            let (addr, _) = verdict_engine::admin::serve(listen, dataflow.clone()).await?;
            tracing::info!(%addr, "admin server listening");
        }
        let _watcher = watcher;
        let engine = kafka::run_engine(Arc::clone(&cfg), dataflow)?;
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
