#!/usr/bin/env python3
"""Generates the Verdict Grafana dashboard (dashboards/verdict.json).

Every query names only metrics from engine/src/metrics.rs; the engine's test
`dashboard_queries_only_exported_metrics` checks that. Re-run after editing:
    python3 deploy/grafana/generate.py
"""
import json, os

PANELS = [
    # (title, unit, [(expr, legend)], kind[, description])
    ("Throughput", "ops", [("sum(rate(verdict_events_consumed_total[1m]))", "consumed/s"),
                           ("sum(rate(verdict_decisions_total[1m]))", "decided/s")], "timeseries"),
    ("Decisions by action", "ops", [("sum by (action) (rate(verdict_decisions_total[1m]))", "{{action}}")], "timeseries"),
    ("Decision latency vs SLA", "s", [
        ("histogram_quantile(0.5, sum by (le) (rate(verdict_decision_latency_seconds_bucket[1m])))", "p50"),
        ("histogram_quantile(0.99, sum by (le) (rate(verdict_decision_latency_seconds_bucket[1m])))", "p99"),
        ("histogram_quantile(0.999, sum by (le) (rate(verdict_decision_latency_seconds_bucket[1m])))", "p99.9")], "timeseries"),
    ("SLA misses and degraded decisions", "ops", [
        ("sum(rate(verdict_sla_misses_total[1m]))", "SLA misses/s"),
        ("sum(rate(verdict_degraded_decisions_total[1m]))", "degraded/s")], "timeseries"),
    ("Stage time per batch (p99)", "s", [
        ("histogram_quantile(0.99, sum by (le, stage) (rate(verdict_stage_duration_seconds_bucket[1m])))", "{{stage}}")], "timeseries"),
    ("Batch size (p50)", "none", [
        ("histogram_quantile(0.5, sum by (le) (rate(verdict_batch_size_events_bucket[1m])))", "events")], "timeseries"),
    ("Rule hits (top 10)", "ops", [
        ("topk(10, sum by (rule, mode) (rate(verdict_rule_hits_total[5m])))", "{{rule}} ({{mode}})")], "timeseries"),
    ("Dead-lettered by reason", "ops", [("sum by (reason) (rate(verdict_dlq_messages_total[5m]))", "{{reason}}")], "timeseries"),
    ("Consumer lag", "none", [("sum by (partition) (verdict_consumer_lag_messages)", "partition {{partition}}")], "timeseries"),
    ("Watermark lag", "s", [("max by (partition) (verdict_watermark_lag_seconds)", "partition {{partition}}")], "timeseries"),
    ("Score distribution (champion vs challenger)", "percentunit", [
        ("histogram_quantile(0.5, sum by (le) (rate(verdict_model_score_bucket[5m])))", "champion p50"),
        ("histogram_quantile(0.95, sum by (le) (rate(verdict_model_score_bucket[5m])))", "champion p95"),
        ("histogram_quantile(0.95, sum by (le) (rate(verdict_challenger_score_bucket[5m])))", "challenger p95")], "timeseries"),
    ("Model errors and abandoned calls", "ops", [
        ("sum(rate(verdict_model_errors_total[5m]))", "errors/s"),
        ("sum by (reason) (rate(verdict_model_abandoned_total[5m]))", "abandoned ({{reason}})/s")], "timeseries"),
    ("State size", "bytes", [("sum by (partition) (verdict_state_size_bytes)", "partition {{partition}}")], "timeseries"),
    ("Hot state keys", "none", [("sum by (partition) (verdict_state_keys)", "partition {{partition}}")], "timeseries"),
    ("Checkpoints", "s", [
        ("sum(rate(verdict_checkpoints_total[5m]))", "checkpoints/s"),
        ("histogram_quantile(0.99, sum by (le, phase) (rate(verdict_checkpoint_duration_seconds_bucket[5m])))", "p99 {{phase}}")], "timeseries"),
    ("Rule reloads", "none", [("sum by (result) (increase(verdict_rules_reloads_total[1h]))", "{{result}}")], "timeseries"),
    ("Running versions", "none", [("verdict_rules_info", "rules {{version}}"),
                                  ("verdict_model_info", "{{role}} {{model}}")], "table"),
    ("Partitions and broker errors", "none", [("sum(verdict_partitions_assigned)", "partitions"),
                                              ("sum by (op) (rate(verdict_kafka_errors_total[5m]))", "errors {{op}}")], "timeseries"),
    ("Readiness and restores", "none", [
        ("min(verdict_ready)", "ready (all instances)"),
        ("sum(verdict_partitions_restoring)", "partitions restoring"),
        ("sum(verdict_partitions_failed)", "partitions failed"),
        ("sum(changes(verdict_start_time_seconds[1h]))", "restarts (1h)")], "timeseries",
     "Ready = assignment received and every assigned partition has its state open. A restore that "
     "lasts pages (VerdictRestoreStuck); a failed partition exits the process (VerdictPartitionFailed, "
     "VerdictRestarting)."),
    ("Score drift (PSI against the model reference)", "none", [
        ("max by (instance) (verdict_score_psi)", "{{instance}}")], "timeseries",
     "Population stability index of the champion scores over model.drift-window-minutes against the "
     "manifest reference: < 0.1 stable, > 0.25 drifted (VerdictScorePsi)."),
    ("Input drift (PSI per model input against its training distribution)", "none", [
        ("topk(10, max by (feature) (verdict_feature_psi))", "{{feature}}")], "timeseries",
     "Population stability index of each numeric model input over model.drift-window-minutes against "
     "the training split in the manifest (models trained since 2026-12-02): which inputs moved when the "
     "score did (VerdictFeaturePsi)."),
    ("Admin API and model promotions", "none", [
        ("sum by (route, status) (rate(verdict_admin_requests_total[5m]))", "{{route}} {{status}}"),
        ("sum by (slot, result) (increase(verdict_model_reloads_total[1h]))", "{{slot}} loads {{result}}")], "timeseries"),
    ("Live feature log: rows written and dropped", "ops", [
        ("sum(rate(verdict_feature_log_rows_total[5m]))", "written/s"),
        ("sum(rate(verdict_feature_log_dropped_total[5m]))", "dropped/s")], "timeseries",
     "Each decision's served features, scores and versions, written to feature-log.dir for training; "
     "dropped when the writer falls behind (the decisions never wait for it)."),
    ("State changelog: records written and restored", "ops", [
        ("sum(rate(verdict_changelog_records_total[5m]))", "changelog records/s"),
        ("sum(rate(verdict_restore_records_total[5m]))", "restored records/s")], "timeseries"),
    ("State changelog: bytes written and restored", "Bps", [
        ("sum(rate(verdict_changelog_bytes_total[5m]))", "changelog written"),
        ("sum(rate(verdict_restore_bytes_total[5m]))", "restored")], "timeseries",
     "Checkpoints copy their state changes to <group-id>.changelog; a partition assigned to an instance "
     "whose disk lacks its state restores from it (readiness waits for it)."),
    ("Re-keying: key owners' requests and answers", "ops", [
        ("sum by (result) (rate(verdict_rekey_answers_total[5m]))", "answers {{result}}"),
        ("sum by (outcome) (rate(verdict_rekey_requests_total[5m]))", "requests {{outcome}}")], "timeseries",
     "Features by device, IP, ... are kept by their key's owner (<group-id>.by.<field>) and answered on "
     "<group-id>.features; a missing answer makes its decision degraded."),
    ("Re-keying: join wait (p50, p99)", "s", [
        ("histogram_quantile(0.5, sum by (le) (rate(verdict_rekey_join_seconds_bucket[5m])))", "p50"),
        ("histogram_quantile(0.99, sum by (le) (rate(verdict_rekey_join_seconds_bucket[5m])))", "p99")], "timeseries"),
]

def panel(i, title, unit, targets, kind, description=None):
    p = {
        "id": i + 1,
        "title": title,
        "type": kind,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"expr": e, "legendFormat": l, "refId": chr(65 + k)} for k, (e, l) in enumerate(targets)],
    }
    if description:
        p["description"] = description
    return p

dashboard = {
    "uid": "verdict",
    "title": "Verdict",
    "schemaVersion": 39,
    "time": {"from": "now-15m", "to": "now"},
    "refresh": "5s",
    "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards", "verdict.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
