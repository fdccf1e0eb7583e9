//! A partition worker as the router and the rebalance hook see it: the
//! channel messages are routed through, and the stop signal that asks the
//! worker to checkpoint and exit.
//!
//! It lives apart from `worker.rs` so the consumer's context (which stops
//! workers on revocation) and the worker (which holds the consumer) do not
//! import each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

/// A message routed to a worker.
pub struct Routed {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    /// When its deadline clock started (`clock.rs`): the record's broker
    /// timestamp, or its receipt.
    pub arrival: Instant,
}

/// Raised once to ask a worker to checkpoint and exit.
pub struct StopSignal {
    flag: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    pub fn new() -> Arc<StopSignal> {
        Arc::new(StopSignal {
            flag: AtomicBool::new(false),
            notify: Notify::new(),
        })
    }

    pub fn raise(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn is_raised(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once the signal is raised (or was raised while nobody waited).
    pub async fn raised(&self) {
        self.notify.notified().await
    }
}

/// The router's and rebalance hook's handle on a worker.
pub struct WorkerHandle {
    pub tx: mpsc::Sender<Routed>,
    stop: Arc<StopSignal>,
    done: std::sync::mpsc::Receiver<()>,
}

impl WorkerHandle {
    /// `done` receives (or hangs up) when the worker has exited.
    pub fn new(
        tx: mpsc::Sender<Routed>,
        stop: Arc<StopSignal>,
        done: std::sync::mpsc::Receiver<()>,
    ) -> WorkerHandle {
        WorkerHandle { tx, stop, done }
    }

    /// Asks the worker to checkpoint and exit; true if it did within `timeout`.
    pub fn stop_and_wait(self, timeout: Duration) -> bool {
        self.signal_stop();
        self.done.recv_timeout(timeout).is_ok()
    }

    pub fn signal_stop(&self) {
        self.stop.raise();
    }

    /// Waits without blocking a runtime thread.
    pub async fn stopped(self) {
        self.signal_stop();
        let _ = tokio::task::spawn_blocking(move || self.done.recv()).await;
    }
}
