//! The `verdict` commands: one file per command, each with its arguments
//! (a clap `Args` struct) and the function that runs it.
//!
//! [`assets`] owns what several commands share: the `--rules`, `--model` /
//! `--no-model` and `--state-dir` arguments (flattened into each command
//! that takes them), the scratch directory the embedded defaults are
//! extracted into, and the one sequence that loads rules, then the model,
//! then builds the [`Dataflow`](verdict_engine::dataflow::Dataflow).

mod assets;
mod backfill;
mod backtest;
mod config;
mod demo;
mod generate;
mod hash_pan;
mod labels;
mod models;
mod progress;
mod replay;
mod rules;
mod run;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use assets::Assets;

#[derive(Parser)]
#[command(
    name = "verdict",
    version,
    about = "Stream-processing fraud detection: Kafka in, decisions out"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine against a Kafka cluster.
    Run(run::RunArgs),
    /// Everything on an embedded default: in-process Kafka, generator, engine, live stats.
    Demo(demo::DemoArgs),
    /// Run the pipeline from a JSON-lines file to a file, deterministically.
    Replay(replay::ReplayArgs),
    /// Replay labelled traffic and report what the decisions were worth.
    Backtest(backtest::BacktestArgs),
    /// Generate synthetic traffic with labelled fraud, to a file or to Kafka.
    Generate(generate::GenerateArgs),
    /// Load a year of per-user history from past transactions (JSON lines, or Parquet with the contract's field names as columns) into the state store.
    Backfill(backfill::BackfillArgs),
    /// Train a model from a feature log (Parquet/Arrow) and labels (CSV/JSONL).
    Train(train::TrainArgs),
    /// Model tooling: registry, evaluation, champion vs challenger, loading and promoting in a running engine.
    Models(models::ModelsArgs),
    /// Fraud labels through Kafka: publish a labels file, pull the topic into one.
    Labels(labels::LabelsArgs),
    /// Rule tooling.
    Rules(rules::RulesArgs),
    /// Configuration tooling.
    Config(config::ConfigArgs),
    /// Print the keyed hash of card numbers (rules' `card_hash`), for block lists.
    HashPan(hash_pan::HashPanArgs),
}

/// Runs the parsed command. The scratch directory the embedded defaults go
/// to is removed when this returns, on success or error.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let assets = Assets::new()?;
    match cli.command {
        Command::Run(args) => run::run(args, &assets),
        Command::Demo(args) => demo::run(args, &assets),
        Command::Replay(args) => replay::run(args, &assets),
        Command::Backtest(args) => backtest::run(args, &assets),
        Command::Generate(args) => generate::run(args),
        Command::Backfill(args) => backfill::run(args, &assets),
        Command::Train(args) => train::run(args),
        Command::Models(args) => models::run(args),
        Command::Labels(args) => labels::run(args),
        Command::Rules(args) => rules::run(args),
        Command::Config(args) => config::run(args),
        Command::HashPan(args) => hash_pan::run(args),
    }
}
