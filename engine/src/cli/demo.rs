//! `verdict demo`: in-process Kafka, the generator and the engine on the
//! embedded default rules and model, with a live line per second.

use std::process::ExitCode;

use clap::Args;
use verdict_engine::demo::{self, DemoOptions};

use super::assets::{Assets, ModelArgs, RulesArgs, StateArgs, offline_config, runtime};

#[derive(Args)]
pub struct DemoArgs {
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
}

pub fn run(args: DemoArgs, assets: &Assets) -> anyhow::Result<ExitCode> {
    let cfg = offline_config()?;
    let dataflow = assets.fixed_dataflow(
        &RulesArgs::default(),
        &ModelArgs::default(),
        &StateArgs::default(),
    )?;
    let DemoArgs {
        seconds,
        rate,
        users,
        partitions,
        malformed_rate,
        fraud_rate,
        seed,
        admin,
    } = args;
    let opts = DemoOptions {
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
    let s = runtime()?.block_on(demo::run(opts, cfg, dataflow))?;
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
    let per = |n: u64| n as f64 / s.decisions.max(1) as f64;
    println!(
        "state changelog: {} records, {:.1} MB ({:.2} records, {:.0} bytes per decision)",
        s.changelog_records,
        s.changelog_bytes as f64 / 1e6,
        per(s.changelog_records),
        per(s.changelog_bytes)
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
