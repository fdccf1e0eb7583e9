//! The dashboard and the alert rules against a real Prometheus: the `verdict`
//! binary runs its demo (engine, broker and traffic in one process, metrics on
//! a loopback port), Debian's `prometheus` scrapes it every second with
//! `deploy/prometheus/alerts.yml` loaded, and every panel query and alert
//! expression is evaluated through Prometheus's HTTP API. A query error fails
//! the test, and so does an empty result where the demo must produce data.
//!
//! Needs `prometheus` on the PATH (`deploy/install-packages.sh --tests`).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, get, wait_for};
use serde_json::Value;

/// Metric families that the demo legitimately leaves without any series: a
/// labelled counter has no series until a label value is first used.
const MAY_BE_EMPTY_IN_THE_DEMO: &[(&str, &str)] = &[
    (
        "verdict_kafka_errors_total",
        "the in-process broker raises no error",
    ),
    (
        "verdict_rules_reloads_total",
        "the demo's rule files do not change",
    ),
    (
        "verdict_feature_psi",
        "the shipped default model was trained before manifests carried feature references",
    ),
];

/// A child process killed on drop, so a failed assertion leaves nothing behind.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn deploy() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy")).to_path_buf()
}

/// One instant query: `Ok(result vector)`, or `Err(Prometheus's error text)`.
fn query(prometheus: &str, expr: &str) -> Result<Vec<Value>, String> {
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", expr)
        .finish();
    let (status, body) =
        get(prometheus, &format!("/api/v1/query?{encoded}")).map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("HTTP {status}: {body}"));
    }
    let json: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    if json["status"] != "success" {
        return Err(body);
    }
    Ok(json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn start_demo(admin: &str) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args([
            "demo",
            "--seconds",
            "120",
            "--rate",
            "1000",
            "--users",
            "20000",
        ])
        .args(["--admin", admin])
        // The re-keying hop's panels need it on.
        .env("VERDICT_ENGINE__REKEY", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start verdict demo");
    Process(child)
}

fn start_prometheus(dir: &Path, target: &str, listen: &str) -> Process {
    let config = dir.join("prometheus.yml");
    let rules = deploy().join("prometheus/alerts.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: verdict\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.display()
        ),
    )
    .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus (install it with deploy/install-packages.sh --tests)");
    Process(child)
}

#[test]
fn every_panel_and_alert_evaluates_against_a_real_prometheus() {
    let admin = format!("127.0.0.1:{}", free_port());
    let prometheus = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let _demo = start_demo(&admin);
    wait_for("the demo's /metrics", Duration::from_secs(60), || {
        let (_, text) = get(&admin, "/metrics").ok()?;
        text.contains("verdict_decisions_total{").then_some(())
    });
    let _prometheus = start_prometheus(dir.path(), &admin, &prometheus);
    // Enough scrapes that every `rate(…[1m])` has several points, with decisions in them.
    wait_for(
        "ten scrapes with decisions",
        Duration::from_secs(90),
        || {
            let result = query(
                &prometheus,
                "count_over_time(verdict_events_consumed_total[1m])",
            )
            .ok()?;
            let samples = result.first()?["value"][1].as_str()?.parse::<f64>().ok()?;
            let decided = query(&prometheus, "sum(increase(verdict_decisions_total[1m]))").ok()?;
            let decided = decided.first()?["value"][1].as_str()?.parse::<f64>().ok()?;
            (samples >= 10.0 && decided > 0.0).then_some(())
        },
    );

    let text = std::fs::read_to_string(deploy().join("grafana/dashboards/verdict.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let may_be_empty: BTreeSet<&str> = MAY_BE_EMPTY_IN_THE_DEMO.iter().map(|(m, _)| *m).collect();
    let mut problems = Vec::new();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            queries += 1;
            match query(&prometheus, expr) {
                Err(e) => problems.push(format!("panel {}: {expr}: {e}", panel["title"])),
                Ok(result) if result.is_empty() => {
                    let excused = may_be_empty.iter().any(|m| expr.contains(m));
                    if !excused {
                        problems.push(format!("panel {}: {expr}: no data", panel["title"]));
                    }
                }
                Ok(_) => {}
            }
        }
    }
    assert!(queries >= 20, "the dashboard has only {queries} queries");

    // The rules as Prometheus loaded them: every one evaluated, healthy, and
    // its expression accepted by the query API too.
    let alerts_in_file = std::fs::read_to_string(deploy().join("prometheus/alerts.yml"))
        .unwrap()
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    let rules = wait_for(
        "every alert rule evaluated",
        Duration::from_secs(30),
        || {
            let (_, body) = get(&prometheus, "/api/v1/rules").ok()?;
            let json: Value = serde_json::from_str(&body).ok()?;
            let rules: Vec<Value> = json["data"]["groups"]
                .as_array()?
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            let evaluated = rules.iter().all(|r| {
                r["lastEvaluation"]
                    .as_str()
                    .is_some_and(|t| !t.starts_with("0001"))
            });
            (rules.len() == alerts_in_file && evaluated).then_some(rules)
        },
    );
    for rule in &rules {
        let name = rule["name"].as_str().unwrap_or("?");
        if rule["health"] != "ok" {
            problems.push(format!(
                "alert {name}: health {} ({})",
                rule["health"], rule["lastError"]
            ));
        }
        if let Err(e) = query(&prometheus, rule["query"].as_str().unwrap_or("")) {
            problems.push(format!("alert {name}: {e}"));
        }
    }
    assert!(
        problems.is_empty(),
        "against a real Prometheus: {problems:#?}"
    );
}
