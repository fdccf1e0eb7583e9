//! Hot reload: recompile a rules directory when it changes and swap the
//! running [`RuleSet`] atomically.
//!
//! The running set lives in an `ArcSwap`; workers `load()` it once per batch
//! (a few nanoseconds, no lock), so a swap takes effect between events and an
//! in-flight batch finishes on the set it started with. A new version replaces
//! the old one only when the whole directory compiles: a broken edit is
//! reported (listener + failure counter) and the good set keeps running. A
//! recompile whose content hash equals the running version is not swapped.
//!
//! The watcher (`notify`) watches the directory recursively, so edits to list
//! files kept under it reload too; list files outside the directory are read
//! at each reload but do not trigger one. Bursts of file events (an editor's
//! save, a `git pull`) are debounced into one recompile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};

use crate::diag::Diagnostics;
use crate::ruleset::RuleSet;

/// What one reload attempt did.
#[derive(Debug, Clone)]
pub enum ReloadEvent {
    /// A new version compiled and replaced the running one.
    Swapped {
        old_version: String,
        new_version: String,
    },
    /// The files compiled to the version already running.
    Unchanged { version: String },
    /// The files do not compile; the running version stays.
    Failed {
        running_version: String,
        diagnostics: Diagnostics,
    },
}

/// Counters for the engine's metrics (`verdict_rules_reloads_total{result=...}`).
#[derive(Debug, Default)]
pub struct ReloadStats {
    swapped: AtomicU64,
    unchanged: AtomicU64,
    failed: AtomicU64,
}

impl ReloadStats {
    pub fn swapped(&self) -> u64 {
        self.swapped.load(Ordering::Relaxed)
    }

    pub fn unchanged(&self) -> u64 {
        self.unchanged.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

type Listener = Arc<dyn Fn(&ReloadEvent) + Send + Sync>;

/// Owns the running rule set of one directory and replaces it on request.
pub struct RuleSetReloader {
    dir: PathBuf,
    current: Arc<ArcSwap<RuleSet>>,
    stats: ReloadStats,
    listener: Option<Listener>,
}

impl RuleSetReloader {
    /// Compile `dir`; fails with every diagnostic if the initial set does not compile.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, Diagnostics> {
        let dir = dir.into();
        let set = RuleSet::compile_dir(&dir)?;
        Ok(RuleSetReloader {
            dir,
            current: Arc::new(ArcSwap::from_pointee(set)),
            stats: ReloadStats::default(),
            listener: None,
        })
    }

    /// Call `f` after every reload attempt (log the diagnostics, bump metrics).
    pub fn on_reload(mut self, f: impl Fn(&ReloadEvent) + Send + Sync + 'static) -> Self {
        self.listener = Some(Arc::new(f));
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The running rule set.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    /// The swap cell itself, for workers that `load()` per batch.
    pub fn shared(&self) -> Arc<ArcSwap<RuleSet>> {
        self.current.clone()
    }

    pub fn stats(&self) -> &ReloadStats {
        &self.stats
    }

    /// Recompile now and swap if the result compiles and differs.
    pub fn reload(&self) -> ReloadEvent {
        let running = self.current.load().version().to_string();
        let event = match RuleSet::compile_dir(&self.dir) {
            Err(diagnostics) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                ReloadEvent::Failed {
                    running_version: running,
                    diagnostics,
                }
            }
            Ok(set) if set.version() == running => {
                self.stats.unchanged.fetch_add(1, Ordering::Relaxed);
                ReloadEvent::Unchanged { version: running }
            }
            Ok(set) => {
                let new_version = set.version().to_string();
                self.current.store(Arc::new(set));
                self.stats.swapped.fetch_add(1, Ordering::Relaxed);
                ReloadEvent::Swapped {
                    old_version: running,
                    new_version,
                }
            }
        };
        if let Some(listener) = &self.listener {
            listener(&event);
        }
        event
    }

    /// Start watching the directory; changes are debounced by `debounce`.
    pub fn watch(self, debounce: Duration) -> notify::Result<RuleSetWatcher> {
        let reloader = Arc::new(self);
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if let Ok(event) = res
                    && !event.kind.is_access()
                {
                    let _ = tx.send(());
                }
            })?;
        watcher.watch(&reloader.dir, RecursiveMode::Recursive)?;
        let worker = reloader.clone();
        let thread = std::thread::Builder::new()
            .name("verdict-rules-watch".into())
            .spawn(move || {
                // Ends when the watcher (and with it the sender) is dropped.
                while rx.recv().is_ok() {
                    while rx.recv_timeout(debounce).is_ok() {}
                    worker.reload();
                }
            })
            .map_err(|e| notify::Error::generic(&e.to_string()))?;
        Ok(RuleSetWatcher {
            reloader,
            watcher: Some(watcher),
            thread: Some(thread),
        })
    }
}

/// A running directory watcher; dropping it stops the watch.
pub struct RuleSetWatcher {
    reloader: Arc<RuleSetReloader>,
    watcher: Option<notify::RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl RuleSetWatcher {
    pub fn current(&self) -> Arc<RuleSet> {
        self.reloader.current()
    }

    /// The reloader, shareable (the admin API reloads on request too).
    pub fn reloader(&self) -> &Arc<RuleSetReloader> {
        &self.reloader
    }
}

impl Drop for RuleSetWatcher {
    fn drop(&mut self) {
        drop(self.watcher.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
