//! The `verdict` command line: parse, then dispatch to [`cli`], where each
//! command has its own file.

use std::process::ExitCode;

use clap::Parser;

mod cli;

verdict_alloc::engine_allocator!();

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VERDICT_LOG")
                .unwrap_or_else(|_| "warn,verdict_engine=info,verdict=info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli::dispatch(cli::Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
