//! The end-to-end load harness: generated traffic at a fixed rate through
//! Kafka and the whole engine, measuring produce → decision latency as seen by
//! a downstream consumer.
//!
//!     cargo run --release -p verdict-benches --bin load -- --rate 20000 --seconds 20
//!     cargo run --release -p verdict-benches --bin load -- --brokers 127.0.0.1:9092 ...
//!
//! Without `--brokers` it runs against librdkafka's in-process mock cluster;
//! with it, against a real broker (e.g. `tansu broker`). The engine runs in
//! this process with the default rules and model and in-memory state, exactly
//! as `verdict demo` does; the last line is a JSON summary.

use std::sync::Arc;

use verdict_engine::config::Config;
use verdict_engine::dataflow::Dataflow;
use verdict_engine::demo::{DemoOptions, run};
use verdict_engine::metrics::Metrics;

// The allocator the `verdict` binary runs on.
verdict_alloc::engine_allocator!();

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let num = |name: &str, default: u64| {
        arg(&args, name)
            .map_or(Ok(default), |v| v.parse())
            .map_err(anyhow::Error::from)
    };
    let opts = DemoOptions {
        seconds: num("--seconds", 20)?,
        rate: num("--rate", 10_000)? as u32,
        users: num("--users", 50_000)? as u32,
        partitions: num("--partitions", 4)? as i32,
        malformed_rate: 0.001,
        fraud_rate: 0.005,
        seed: num("--seed", 42)?,
        admin: None,
        brokers: arg(&args, "--brokers"),
    };
    let dir = tempfile::tempdir()?;
    let d = verdict_engine::defaults::extract(dir.path())?;
    let dataflow = Dataflow::build(
        Dataflow::fixed_rules(&d.rules_dir)?,
        Some(&d.model_dir),
        Arc::new(Metrics::new()),
        None,
        Default::default(),
    )?;
    let rt = tokio_runtime()?;
    let s = rt.block_on(run(opts.clone(), Config::default(), dataflow))?;
    println!(
        "{{\"rate\":{},\"seconds\":{},\"produced\":{},\"decisions\":{},\"dlq\":{},\"degraded\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3}}}",
        opts.rate, opts.seconds, s.produced, s.decisions, s.dlq, s.degraded, s.p50_ms, s.p99_ms
    );
    Ok(())
}

fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
