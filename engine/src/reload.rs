//! Rule hot reload for the running engine.
//!
//! The rules crate's watcher recompiles the directory on change and swaps the
//! compiled set only if it compiles; here each attempt is logged and counted
//! (`verdict_rules_reloads_total{result}`), and `verdict_rules_info` follows
//! the running version. Workers pick the new set up at their next batch.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use verdict_rules::reload::{ReloadEvent, RuleSetReloader, RuleSetWatcher};

use crate::metrics::Metrics;

/// Compiles `dir` and starts watching it. The returned watcher's
/// `reloader().shared()` is the cell the pipelines read.
pub fn watch_rules(dir: &Path, metrics: Arc<Metrics>) -> anyhow::Result<RuleSetWatcher> {
    let reloader = RuleSetReloader::new(dir).map_err(|d| {
        eprint!("{}", d.render());
        anyhow::anyhow!("rule set in {} does not compile", dir.display())
    })?;
    metrics
        .rules_info
        .with_label_values(&[reloader.current().version()])
        .set(1);
    let reloader = reloader.on_reload(move |event| match event {
        ReloadEvent::Swapped { old_version, new_version } => {
            tracing::info!(%old_version, %new_version, "rule set reloaded");
            metrics.rules_reloads.with_label_values(&["ok"]).inc();
            let _ = metrics.rules_info.remove_label_values(&[old_version.as_str()]);
            metrics.rules_info.with_label_values(&[new_version.as_str()]).set(1);
        }
        ReloadEvent::Unchanged { .. } => {}
        ReloadEvent::Failed { running_version, diagnostics } => {
            tracing::error!(%running_version, "rule change rejected; keeping the running set:\n{}", diagnostics.render());
            metrics.rules_reloads.with_label_values(&["error"]).inc();
        }
    });
    Ok(reloader.watch(Duration::from_millis(250))?)
}
