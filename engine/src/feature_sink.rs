//! The live feature log: `verdict run`'s partitions hand the rows of each
//! decided batch to one writer thread, which appends them to a rotating
//! Parquet log ([`FeatureLog::rotating`]): the exact vectors served, with
//! the scores, versions and the challenger's score. `verdict train --data
//! DIR` reads the closed files.
//!
//! The hand-off never blocks a partition: its queue is bounded, and when
//! the writer falls that far behind (a slow disk), rows are dropped and
//! counted (`verdict_feature_log_dropped_total`); a decision is never late
//! for its training row. A write error stops the log, loudly, and the
//! engine keeps deciding. Re-decided events after a crash are logged again
//! with the same values; readers keep one row per transaction id.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus::IntCounter;

use crate::feature_log::{FeatureLog, Rotation, Rows};
use crate::metrics::Metrics;

/// Batches waiting for the writer before new ones are dropped.
const QUEUE_BATCHES: usize = 256;
/// How often an idle writer checks whether its file is due to rotate.
const IDLE_CHECK: Duration = Duration::from_secs(1);

enum Message {
    Rows(Box<Rows>),
    /// Write what came before, close the file, end.
    Finish,
}

/// What a partition holds to log its rows; cheap to clone.
#[derive(Clone)]
pub struct FeatureSink {
    tx: SyncSender<Message>,
    dropped: IntCounter,
}

impl FeatureSink {
    /// Queues `rows` for the writer; drops and counts them if its queue is
    /// full or it has stopped.
    pub fn send(&self, rows: Rows) {
        let n = rows.len() as u64;
        match self.tx.try_send(Message::Rows(Box::new(rows))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped.inc_by(n),
        }
    }
}

/// The writer thread; [`FeatureLogWriter::finish`] closes its last file.
pub struct FeatureLogWriter {
    dir: PathBuf,
    tx: SyncSender<Message>,
    thread: JoinHandle<anyhow::Result<u64>>,
}

/// Starts the writer on a thread of its own, writing under `dir`.
pub fn start(
    dir: &Path,
    rotation: Rotation,
    metrics: &Metrics,
) -> anyhow::Result<(FeatureSink, FeatureLogWriter)> {
    let log = FeatureLog::rotating(dir, rotation)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_BATCHES);
    let written = metrics.ops.feature_log_rows.clone();
    let thread = std::thread::Builder::new()
        .name("feature-log".into())
        .spawn(move || write(log, &rx, &written))?;
    let sink = FeatureSink {
        tx: tx.clone(),
        dropped: metrics.ops.feature_log_dropped.clone(),
    };
    let writer = FeatureLogWriter {
        dir: dir.to_path_buf(),
        tx,
        thread,
    };
    Ok((sink, writer))
}

fn write(mut log: FeatureLog, rx: &Receiver<Message>, written: &IntCounter) -> anyhow::Result<u64> {
    let result: anyhow::Result<()> = (|| {
        loop {
            match rx.recv_timeout(IDLE_CHECK) {
                Ok(Message::Rows(rows)) => {
                    log.append_rows(&rows)?;
                    written.inc_by(rows.len() as u64);
                }
                Ok(Message::Finish) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Err(RecvTimeoutError::Timeout) => log.rotate_if_due()?,
            }
        }
    })();
    if let Err(e) = &result {
        tracing::error!(error = %e, "the feature log stopped; decisions go on without it");
    }
    result?;
    log.finish()
}

impl FeatureLogWriter {
    /// Writes what was handed over, closes the current file and returns
    /// the rows written since the start.
    pub fn finish(self) -> anyhow::Result<u64> {
        // Behind every batch already queued; fails only if the thread ended.
        let _ = self.tx.send(Message::Finish);
        let rows = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the feature-log thread panicked"))??;
        tracing::info!(rows, dir = %self.dir.display(), "feature log closed");
        Ok(rows)
    }
}
