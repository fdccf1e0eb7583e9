//! `verdict run`: the engine against a Kafka cluster, configured by a file
//! and `VERDICT_*` variables, until SIGTERM or SIGINT (then a clean stop at
//! a checkpoint within `engine.shutdown-grace-ms`, exit 0) or until a
//! partition fails (exit non-zero, so the orchestrator restarts it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use verdict_engine::admin::{Admin, Token};
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
        device: cfg.model.device,
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
    let dataflow =
        dataflow.with_drift_window(Duration::from_secs(60 * cfg.model.drift_window_minutes));
    if let Some(dir) = &cfg.model.challenger {
        let challenger = dataflow
            .load_challenger(dir)
            .map_err(|e| anyhow::anyhow!("model.challenger: {e}"))?;
        tracing::info!(%challenger, "challenger loaded: it scores beside the champion and never acts");
    }
    let (dataflow, feature_log) = match &cfg.feature_log.dir {
        Some(dir) => {
            let rotation = verdict_engine::feature_log::Rotation {
                max_bytes: cfg.feature_log.rotate_mb.saturating_mul(1 << 20),
                max_age: Duration::from_secs(60 * cfg.feature_log.rotate_minutes),
            };
            let (sink, writer) =
                verdict_engine::feature_sink::start(dir, rotation, &dataflow.metrics)?;
            tracing::info!(dir = %dir.display(), "writing the feature log");
            (dataflow.with_feature_sink(sink), Some(writer))
        }
        None => (dataflow, None),
    };
    let cfg = Arc::new(cfg);
    let outcome = runtime()?.block_on(async move {
        if cfg.kafka.create_topics {
            kafka::ensure_topics(&cfg.kafka).await?;
        }
        let engine = kafka::run_engine(Arc::clone(&cfg), dataflow.clone())?;
        if let Some(listen) = &cfg.admin.listen {
            let admin = Admin {
                dataflow,
                status: engine.status(),
                decisions: engine.decisions(),
                rules: Some(Arc::clone(watcher.reloader())),
                token: cfg.admin.token.as_deref().map(Token::new),
            };
            let (addr, _) = verdict_engine::admin::serve(listen, admin).await?;
            tracing::info!(%addr, "admin server listening");
        }
        let grace = Duration::from_millis(cfg.engine.shutdown_grace_ms);
        let outcome = engine.run_until(shutdown_signal()?, grace).await;
        drop(watcher);
        outcome
    });
    // The partitions have stopped: the log's last file can be closed.
    if let Some(writer) = feature_log {
        writer.finish()?;
    }
    outcome?;
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Resolves at the first SIGTERM (`docker stop`, Kubernetes) or SIGINT
/// (Ctrl-C).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutdown requested");
    })
}
