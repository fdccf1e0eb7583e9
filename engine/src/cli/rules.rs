//! `verdict rules`: check a rule directory, run its golden tests.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Check every rule file in DIR; print every diagnostic.
    Check { dir: PathBuf },
    /// Run the golden tests in DIR.
    Test { dir: PathBuf },
}

pub fn run(args: RulesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
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
    }
}
