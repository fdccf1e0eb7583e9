//! The files in `deploy/` stay true to the engine: every dashboard query names
//! a metric the engine exports, and the example configuration loads and validates.

use std::collections::BTreeSet;
use std::path::Path;

use verdict_engine::config::{Config, DeadlineClock, Mode};
use verdict_engine::metrics::METRIC_NAMES;

fn deploy() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy"))
}

/// The metric family a queried series belongs to: a histogram's `_bucket`,
/// `_sum` and `_count` series name their histogram.
fn metric_family<'a>(series: &'a str, exported: &BTreeSet<&str>) -> &'a str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| series.strip_suffix(s).filter(|f| exported.contains(f)))
        .unwrap_or(series)
}

#[test]
fn dashboard_queries_only_exported_metrics() {
    let text = std::fs::read_to_string(deploy().join("grafana/dashboards/verdict.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let exported: BTreeSet<&str> = METRIC_NAMES.iter().copied().collect();
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let mut found = false;
            for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(name) = token.strip_prefix("verdict_").map(|_| token) {
                    let family = metric_family(name, &exported);
                    assert!(
                        exported.contains(family),
                        "panel {} queries {name}, which the engine does not export",
                        panel["title"]
                    );
                    used.insert(family.to_string());
                    found = true;
                }
            }
            assert!(found, "query {expr} names no verdict metric");
        }
    }
    let unused: Vec<_> = exported.iter().filter(|m| !used.contains(**m)).collect();
    assert!(unused.is_empty(), "exported but on no panel: {unused:?}");
}

/// As `verdict run` loads it, with the PAN key from the environment as the
/// file says.
#[test]
fn example_configuration_loads_and_validates() {
    let key = (
        "VERDICT_VALIDATION__PAN_HASH_KEY".to_string(),
        "a-secret-from-the-secret-store".to_string(),
    );
    let cfg = Config::load_checked_with_env(
        Some(&deploy().join("verdict.toml")),
        std::iter::once(key),
        Mode::Live { ephemeral: false },
    )
    .unwrap();
    assert_eq!(cfg.kafka.brokers, "kafka:9092");
    assert_eq!(cfg.engine.sla_ms, 75);
    assert_eq!(cfg.engine.deadline_clock, DeadlineClock::CreateTime);
    assert!(cfg.state.tuning.rocksdb.sync_writes);
}

#[test]
fn alert_rules_query_only_exported_metrics() {
    let text = std::fs::read_to_string(deploy().join("prometheus/alerts.yml")).unwrap();
    let exported: BTreeSet<&str> = METRIC_NAMES.iter().copied().collect();
    let mut alerts = 0;
    for line in text.lines().map(str::trim) {
        alerts += usize::from(line.starts_with("- alert:"));
        if line.starts_with("summary:") || line.starts_with("description:") {
            continue;
        }
        for token in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if token.starts_with("verdict_") {
                let family = metric_family(token, &exported);
                assert!(
                    exported.contains(family),
                    "alerts.yml queries {token}, which the engine does not export"
                );
            }
        }
    }
    assert!(alerts >= 8, "alerts.yml has only {alerts} alerts");
}
