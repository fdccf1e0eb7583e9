//! `verdict config check`: load the configuration and report every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use verdict_engine::config::Config;

#[derive(Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load the configuration and report every problem.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

pub fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Check { config } = args.command;
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
