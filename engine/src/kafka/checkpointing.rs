//! When and where a partition's checkpoints run: each partition of an
//! instance on a clock of its own, and each checkpoint's write on a thread
//! of its own (`worker.rs` calls both).

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// When a partition opened now counts its last checkpoint: a fraction of
/// the interval back, different for each partition (spread by the golden
/// ratio), so the partitions of an instance, opened together, checkpoint at
/// different moments rather than all at once: a checkpoint is a burst of
/// work and of changelog records, and simultaneous ones delay every
/// partition's decisions together.
pub(super) fn staggered(partition: i32, interval_ms: u64) -> Instant {
    let fraction = (f64::from(partition.unsigned_abs()) * 0.618_033_988_75).fract();
    let back = Duration::from_millis(interval_ms).mul_f64(fraction);
    Instant::now()
        .checked_sub(back)
        .unwrap_or_else(Instant::now)
}

/// Runs a checkpoint's write to completion on a thread of its own, not the
/// partition's: sending a changelog copy of thousands of records must not
/// hold the partition's events up meanwhile. The receiver hangs up if the
/// thread could not start or died.
pub(super) fn beside<T: Send + 'static>(
    partition: i32,
    write: impl Future<Output = T> + Send + 'static,
) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    // A thread that does not start drops the closure, and `tx` with it.
    let _ = std::thread::Builder::new()
        .name(format!("checkpoint-{partition}"))
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                let _ = tx.send(rt.block_on(write));
            }
        });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_opened_together_checkpoint_at_different_moments() {
        let interval = 1_000;
        let opened = Instant::now();
        let mut backs: Vec<Duration> = (0..16)
            .map(|p| opened.saturating_duration_since(staggered(p, interval)))
            .collect();
        assert!(backs.iter().all(|b| *b < Duration::from_millis(interval)));
        backs.sort();
        let closest = backs.windows(2).map(|w| w[1] - w[0]).min().unwrap();
        // 16 moments spread over the interval: none closer than 2 % of it.
        assert!(closest >= Duration::from_millis(20), "{backs:?}");
    }

    #[test]
    fn a_write_runs_on_a_thread_of_its_own_and_its_death_is_seen() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let name = async { std::thread::current().name().map(str::to_owned) };
        let there = rt.block_on(beside(7, name)).unwrap();
        assert_eq!(there.as_deref(), Some("checkpoint-7"));
        let died = rt.block_on(beside(7, async { panic!("a write that dies") }));
        assert!(died.is_err(), "the receiver hangs up: {died:?}");
    }
}
