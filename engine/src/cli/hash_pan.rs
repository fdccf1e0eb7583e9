//! `verdict hash-pan`: the keyed hash of card numbers, as rules see it in
//! `card_hash`, for block lists (`rules/default/lists/blocked_cards.txt`).
//!
//! The hash comes from the same [`PanHasher`](verdict_engine::contract::pan::PanHasher)
//! the decoder builds from the configuration, so a list made here matches
//! ingestion as long as the key is the same. Card numbers are read as the
//! decoder reads them (spaces and dashes allowed) and never printed: a line
//! that is not a card number is reported by its number only.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use verdict_engine::config::{Config, Mode};
use verdict_engine::contract::pan;

#[derive(Args)]
pub struct HashPanArgs {
    /// Configuration file whose `validation.pan-hash-key` to hash with;
    /// `VERDICT_VALIDATION__PAN_HASH_KEY` overrides it, as for `verdict run`.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Card numbers to hash. None: one per line from standard input, which
    /// keeps them out of the shell history and the process list.
    pans: Vec<String>,
}

pub fn run(args: HashPanArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::load_checked(args.config.as_deref(), Mode::Offline)?;
    for w in cfg.warnings(Mode::Offline) {
        eprintln!("warning: {w}");
    }
    let hasher = cfg.decode_config(false).pan_hasher;
    let pans = if args.pans.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()?
    } else {
        args.pans
    };
    // Every line is checked before anything is printed, so the output is
    // one hash per input line or nothing.
    let mut hashes = Vec::with_capacity(pans.len());
    let mut bad = Vec::new();
    for (i, p) in pans.iter().enumerate() {
        let digits = pan::strip_separators(p.trim());
        if pan::is_plausible_pan(&digits) {
            hashes.push(hasher.hash(&digits));
        } else {
            bad.push(i + 1);
        }
    }
    if !bad.is_empty() {
        let lines: Vec<String> = bad.iter().map(usize::to_string).collect();
        anyhow::bail!(
            "not a card number (12-19 digits, spaces or dashes between them, valid Luhn check digit) on line(s) {}; nothing printed",
            lines.join(", ")
        );
    }
    let mut out = std::io::stdout().lock();
    for h in hashes {
        writeln!(out, "{h}")?;
    }
    Ok(ExitCode::SUCCESS)
}
