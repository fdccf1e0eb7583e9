//! `verdict config check`: load the configuration as `verdict run` would
//! and report every problem at once.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use verdict_engine::config::{Config, Mode};

#[derive(Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load the configuration as `verdict run` would and report every problem.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Check for `verdict run --ephemeral` (no `state.dir`).
        #[arg(long)]
        ephemeral: bool,
    },
}

pub fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Check { config, ephemeral } = args.command;
    let mode = Mode::Live { ephemeral };
    match Config::load_checked(config.as_deref(), mode) {
        Ok(cfg) => {
            for w in cfg.warnings(mode) {
                eprintln!("warning: {w}");
            }
            println!("configuration ok");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for p in &e.problems {
                eprintln!("config: {p}");
            }
            eprintln!("{} problem(s)", e.problems.len());
            Ok(ExitCode::FAILURE)
        }
    }
}
