//! `verdict backfill`: loads a year of per-user history from a JSON-lines file
//! of past transactions (the input contract of the `transactions` topic) into
//! the state store, before the engine first starts on it.
//!
//! Every line is decoded exactly as live traffic is (timestamps only checked
//! against the absolute sanity range); a line that does not decode is counted
//! and reported with its line number and reason, never loaded. Users land in
//! the partition Kafka's default partitioner gives their `user_id` key, so
//! `--partitions` must equal the input topic's partition count. Fields seen
//! for `first_time(...)` features of the rule set are tracked on top of the
//! configured ones.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use verdict_rules::RuleSet;
use verdict_rules::spec::{FeatureKind, HistoryFeature};
use verdict_state::StateConfig;
use verdict_state::backfill::{BackfillOptions, BackfillProgress, load_history};

use crate::contract::{DecodeConfig, decode};
use crate::wiring::Shared;

#[derive(Debug, Clone)]
pub struct BackfillRun {
    pub input: PathBuf,
    pub state_dir: PathBuf,
    /// Partitions of the input topic.
    pub partitions: i32,
}

#[derive(Debug, Clone, Default)]
pub struct BackfillSummary {
    pub progress: BackfillProgress,
    /// Lines that did not decode (not loaded).
    pub rejected: u64,
    /// The first few rejections: `(line number, reason code, detail)`.
    pub first_rejections: Vec<(u64, &'static str, String)>,
    pub elapsed_ms: u64,
    /// Bytes of the state directory on disk after the load.
    pub disk_bytes: u64,
}

const REPORTED_REJECTIONS: usize = 10;

/// Runs a backfill; `progress` is called as chunks are written.
pub fn run(
    opts: &BackfillRun,
    rules: &RuleSet,
    state: &StateConfig,
    progress: &mut dyn FnMut(&BackfillProgress),
) -> anyhow::Result<BackfillSummary> {
    anyhow::ensure!(opts.partitions > 0, "--partitions must be at least 1");
    let started = Instant::now();
    let store = Shared::open_store(Some(&opts.state_dir))?;
    let mut load = BackfillOptions::new(opts.partitions, state);
    for spec in rules.features() {
        if let FeatureKind::History(HistoryFeature::FirstTime(field)) = spec.kind
            && !load.tracked_fields.contains(&field)
        {
            load.tracked_fields.push(field);
        }
    }
    let input = BufReader::with_capacity(1 << 20, File::open(&opts.input)?);
    let decode_cfg = DecodeConfig::default();
    let mut summary = BackfillSummary::default();
    let mut read_error = None;
    let events = input
        .split(b'\n')
        .enumerate()
        .map_while(|(n, line)| match line {
            Ok(line) => Some((n as u64 + 1, line)),
            Err(e) => {
                read_error = Some(e);
                None
            }
        })
        .filter(|(_, line)| !line.is_empty())
        .filter_map(|(line_no, line)| match decode(&line, &decode_cfg) {
            Ok(event) => Some(event),
            Err(r) => {
                summary.rejected += 1;
                if summary.first_rejections.len() < REPORTED_REJECTIONS {
                    summary
                        .first_rejections
                        .push((line_no, r.reason.code(), r.detail));
                }
                None
            }
        });
    let done = load_history(&*store, events, &load, progress)?;
    if let Some(e) = read_error {
        anyhow::bail!("reading {}: {e}", opts.input.display());
    }
    store.flush()?;
    // A load of several chunks rewrote records; compacting leaves the store
    // at its steady-state size, with no superseded versions to read past.
    store.compact()?;
    summary.progress = done;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    summary.disk_bytes = dir_bytes(&opts.state_dir)?;
    Ok(summary)
}

fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
