//! Every metric the engine exports, in one place.
//!
//! Names are `verdict_<what>_<unit>`, counters end in `_total`, and no label
//! takes an unbounded value (no user, card or transaction ids): labels are
//! actions, DLQ reasons, rule names from the rule files, stage names and
//! partitions. [`METRIC_NAMES`] lists every family; the Grafana dashboard in
//! `deploy/` is checked against it by a test.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric family name, for the dashboard test and the README.
pub const METRIC_NAMES: &[&str] = &[
    "verdict_events_consumed_total",
    "verdict_decisions_total",
    "verdict_degraded_decisions_total",
    "verdict_dlq_messages_total",
    "verdict_rule_hits_total",
    "verdict_decision_latency_seconds",
    "verdict_stage_duration_seconds",
    "verdict_batch_size_events",
    "verdict_sla_misses_total",
    "verdict_consumer_lag_messages",
    "verdict_watermark_lag_seconds",
    "verdict_model_score",
    "verdict_challenger_score",
    "verdict_model_errors_total",
    "verdict_model_abandoned_total",
    "verdict_rules_reloads_total",
    "verdict_rules_info",
    "verdict_model_info",
    "verdict_checkpoints_total",
    "verdict_checkpoint_duration_seconds",
    "verdict_state_keys",
    "verdict_state_size_bytes",
    "verdict_partitions_assigned",
    "verdict_kafka_errors_total",
    "verdict_partitions_restoring",
    "verdict_partitions_failed",
    "verdict_ready",
    "verdict_start_time_seconds",
    "verdict_score_psi",
    "verdict_feature_psi",
    "verdict_model_reloads_total",
    "verdict_admin_requests_total",
    "verdict_changelog_records_total",
    "verdict_changelog_bytes_total",
    "verdict_restore_records_total",
    "verdict_restore_bytes_total",
    "verdict_rekey_answers_total",
    "verdict_rekey_requests_total",
    "verdict_rekey_join_seconds",
    "verdict_feature_log_rows_total",
    "verdict_feature_log_dropped_total",
];

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.08, 0.1, 0.2, 0.5, 1.0, 2.5,
];

const STAGE_BUCKETS: &[f64] = &[
    1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2,
];
const CHECKPOINT_BUCKETS: &[f64] = &[1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0];

/// Handles to every metric; cheap to clone through an `Arc`.
pub struct Metrics {
    pub registry: Registry,
    pub events_consumed: IntCounter,
    pub decisions: IntCounterVec,
    pub degraded: IntCounter,
    pub dlq: IntCounterVec,
    pub rule_hits: IntCounterVec,
    pub decision_latency: Histogram,
    pub stage_duration: HistogramVec,
    pub batch_size: Histogram,
    pub sla_misses: IntCounter,
    pub consumer_lag: IntGaugeVec,
    pub watermark_lag: IntGaugeVec,
    pub score: Histogram,
    pub challenger_score: Histogram,
    pub model_errors: IntCounter,
    pub rules_reloads: IntCounterVec,
    pub rules_info: IntGaugeVec,
    pub model_info: IntGaugeVec,
    pub checkpoints: IntCounter,
    pub checkpoint_duration: HistogramVec,
    pub state_keys: IntGaugeVec,
    pub state_size: IntGaugeVec,
    pub partitions_assigned: IntGauge,
    pub kafka_errors: IntCounterVec,
    pub rekey: Rekey,
    pub ops: Operations,
}

/// The re-keying hop (`rekey.rs`).
pub struct Rekey {
    /// Key owners' answers as homes joined them: joined, missing (not in
    /// time, or not usable: the decision is degraded), undecodable; and
    /// handed-over (given by its owner to a home on the same instance,
    /// without the topic).
    pub answers: IntCounterVec,
    /// Requests key owners answered: new (applied), resent (answered again
    /// from the ledger), forgotten (answered "unknown"), undecodable.
    pub requests: IntCounterVec,
    /// How long a home batch waited for its key owners' answers.
    pub join: Histogram,
}

impl Rekey {
    fn new(f: &Families<'_>) -> Rekey {
        Rekey {
            answers: f.counter_vec(
                "verdict_rekey_answers_total",
                "Key owners' answers to home partitions, by what the join made of them",
                &["result"],
            ),
            requests: f.counter_vec(
                "verdict_rekey_requests_total",
                "Re-keyed requests key owners answered, by whether they were new",
                &["outcome"],
            ),
            join: f.histogram(
                "verdict_rekey_join_seconds",
                "How long a home batch waited for its key owners' answers",
                LATENCY_BUCKETS.to_vec(),
            ),
        }
    }
}

/// What an operator watches besides the decisions: the instance's
/// lifecycle, serving drift and abandoned model calls, the admin API and
/// model promotions.
pub struct Operations {
    pub partitions_restoring: IntGauge,
    pub partitions_failed: IntGauge,
    pub ready: IntGauge,
    pub start_time: Gauge,
    pub score_psi: Gauge,
    pub feature_psi: GaugeVec,
    pub model_reloads: IntCounterVec,
    pub model_abandoned: IntCounterVec,
    pub admin_requests: IntCounterVec,
    pub changelog_records: IntCounter,
    pub changelog_bytes: IntCounter,
    pub restore_records: IntCounter,
    pub restore_bytes: IntCounter,
    pub feature_log_rows: IntCounter,
    pub feature_log_dropped: IntCounter,
}

impl Operations {
    fn new(f: &Families<'_>) -> Self {
        let ops = Operations {
            feature_log_rows: f.counter(
                "verdict_feature_log_rows_total",
                "Decisions written to the live feature log (feature-log.dir)",
            ),
            feature_log_dropped: f.counter(
                "verdict_feature_log_dropped_total",
                "Decisions left out of the live feature log: its writer fell behind or stopped",
            ),
            partitions_restoring: f.gauge(
                "verdict_partitions_restoring",
                "Assigned partitions whose state is being opened or restored",
            ),
            partitions_failed: f.gauge(
                "verdict_partitions_failed",
                "Partitions whose worker failed (the process then exits non-zero)",
            ),
            ready: f.gauge(
                "verdict_ready",
                "1 when the assignment is in and every assigned partition is running",
            ),
            start_time: f.float_gauge(
                "verdict_start_time_seconds",
                "Unix time the process started (restarts show as changes)",
            ),
            score_psi: f.float_gauge(
                "verdict_score_psi",
                "Population stability index of the champion's scores over the drift \
                 window against its manifest's reference (NaN until enough scores)",
            ),
            feature_psi: f.float_gauge_vec(
                "verdict_feature_psi",
                "Population stability index of a numeric model input over the drift \
                 window against its training distribution in the manifest (NaN until enough rows)",
                &["feature"],
            ),
            model_reloads: f.counter_vec(
                "verdict_model_reloads_total",
                "Model loads by slot (champion: a promotion; challenger: loading one to \
                 score beside it) and result (ok, or error: the running model stays)",
                &["slot", "result"],
            ),
            model_abandoned: {
                let v = f.counter_vec(
                    "verdict_model_abandoned_total",
                    "Live model calls given up at the deadline (late), or not made because \
                     a call given up is still running (busy); their events are decided by rules",
                    &["reason"],
                );
                for reason in ["late", "busy"] {
                    let _ = v.with_label_values(&[reason]);
                }
                v
            },
            admin_requests: f.counter_vec(
                "verdict_admin_requests_total",
                "Admin API requests, by route and status code",
                &["route", "status"],
            ),
            changelog_records: f.counter(
                "verdict_changelog_records_total",
                "State records copied to the changelog topic by checkpoints, seeds and repairs",
            ),
            changelog_bytes: f.counter(
                "verdict_changelog_bytes_total",
                "Key and value bytes of the records copied to the changelog topic",
            ),
            restore_records: f.counter(
                "verdict_restore_records_total",
                "Changelog records read while restoring partition state",
            ),
            restore_bytes: f.counter(
                "verdict_restore_bytes_total",
                "Key and value bytes of the changelog records read while restoring",
            ),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        ops.start_time.set(now.as_secs_f64());
        ops.score_psi.set(f64::NAN);
        ops
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let f = Families(&r);
        let score_buckets: Vec<f64> = (1..=20).map(|i| f64::from(i) * 0.05).collect();
        Metrics {
            events_consumed: f.counter(
                "verdict_events_consumed_total",
                "Messages read from the input topic or file",
            ),
            decisions: f.counter_vec(
                "verdict_decisions_total",
                "Decisions emitted, by action",
                &["action"],
            ),
            degraded: f.counter(
                "verdict_degraded_decisions_total",
                "Decisions made by rules alone because no score came in time",
            ),
            dlq: f.counter_vec(
                "verdict_dlq_messages_total",
                "Messages sent to the dead-letter topic, by reason",
                &["reason"],
            ),
            rule_hits: f.counter_vec(
                "verdict_rule_hits_total",
                "Rule matches, by rule and mode (live or shadow)",
                &["rule", "mode"],
            ),
            decision_latency: f.histogram(
                "verdict_decision_latency_seconds",
                "From a message's arrival to its decision being handed to the producer",
                LATENCY_BUCKETS.to_vec(),
            ),
            stage_duration: f.histogram_vec(
                "verdict_stage_duration_seconds",
                "Time a pipeline stage spent on one batch",
                STAGE_BUCKETS.to_vec(),
                &["stage"],
            ),
            batch_size: f.histogram(
                "verdict_batch_size_events",
                "Events per processed batch",
                vec![1.0, 4.0, 16.0, 64.0, 256.0, 512.0, 1024.0, 4096.0],
            ),
            sla_misses: f.counter(
                "verdict_sla_misses_total",
                "Decisions emitted after their deadline",
            ),
            consumer_lag: f.gauge_vec(
                "verdict_consumer_lag_messages",
                "High watermark minus next offset, by partition",
                &["partition"],
            ),
            watermark_lag: f.gauge_vec(
                "verdict_watermark_lag_seconds",
                "Wall clock minus the partition's event-time watermark",
                &["partition"],
            ),
            score: f.histogram(
                "verdict_model_score",
                "Champion model scores",
                score_buckets.clone(),
            ),
            challenger_score: f.histogram(
                "verdict_challenger_score",
                "Challenger (shadow) model scores",
                score_buckets,
            ),
            model_errors: f.counter("verdict_model_errors_total", "Model calls that failed"),
            rules_reloads: f.counter_vec(
                "verdict_rules_reloads_total",
                "Rule-set reloads, by result (ok or error)",
                &["result"],
            ),
            rules_info: f.gauge_vec(
                "verdict_rules_info",
                "1 for the running rule-set version",
                &["version"],
            ),
            model_info: f.gauge_vec(
                "verdict_model_info",
                "1 for the running model, by role",
                &["role", "model"],
            ),
            checkpoints: f.counter(
                "verdict_checkpoints_total",
                "Checkpoints written (state + offsets, atomically)",
            ),
            checkpoint_duration: f.histogram_vec(
                "verdict_checkpoint_duration_seconds",
                "One partition's checkpoint, by phase: encode (the partition waits) \
                 and write (RocksDB, beside the partition, until the batch lands)",
                CHECKPOINT_BUCKETS.to_vec(),
                &["phase"],
            ),
            state_keys: f.gauge_vec(
                "verdict_state_keys",
                "Hot keys held in memory, by partition",
                &["partition"],
            ),
            state_size: f.gauge_vec(
                "verdict_state_size_bytes",
                "Approximate state size, by partition",
                &["partition"],
            ),
            partitions_assigned: f.gauge(
                "verdict_partitions_assigned",
                "Input partitions this instance owns",
            ),
            kafka_errors: f.counter_vec(
                "verdict_kafka_errors_total",
                "Broker errors, by operation",
                &["op"],
            ),
            rekey: Rekey::new(&f),
            ops: Operations::new(&f),
            registry: r,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers each family it builds in one registry.
struct Families<'r>(&'r Registry);

impl Families<'_> {
    fn register<C: prometheus::core::Collector + Clone + 'static>(&self, c: C) -> C {
        self.0
            .register(Box::new(c.clone()))
            .expect("metric names are unique");
        c
    }

    fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.register(IntCounter::new(name, help).expect("valid"))
    }

    fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.register(IntGauge::new(name, help).expect("valid"))
    }

    fn float_gauge(&self, name: &str, help: &str) -> Gauge {
        self.register(Gauge::new(name, help).expect("valid"))
    }

    fn float_gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        self.register(GaugeVec::new(Opts::new(name, help), labels).expect("valid"))
    }

    fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid"))
    }

    fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid"))
    }

    fn histogram(&self, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
        self.register(
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid"),
        )
    }

    fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        buckets: Vec<f64>,
        labels: &[&str],
    ) -> HistogramVec {
        self.register(
            HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
                .expect("valid"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_is_registered_and_nothing_else() {
        let m = Metrics::new();
        // Vec metrics only appear once they have a child; touch each.
        m.decisions.with_label_values(&["allow"]).inc();
        m.dlq.with_label_values(&["oversized"]).inc();
        m.rule_hits.with_label_values(&["r", "live"]).inc();
        m.stage_duration
            .with_label_values(&["rules"])
            .observe(0.001);
        m.consumer_lag.with_label_values(&["0"]).set(1);
        m.watermark_lag.with_label_values(&["0"]).set(1);
        m.rules_reloads.with_label_values(&["ok"]).inc();
        m.rules_info.with_label_values(&["v"]).set(1);
        m.model_info.with_label_values(&["champion", "m@1"]).set(1);
        m.state_keys.with_label_values(&["0"]).set(1);
        m.state_size.with_label_values(&["0"]).set(1);
        m.kafka_errors.with_label_values(&["produce"]).inc();
        m.rekey.answers.with_label_values(&["joined"]).inc();
        m.rekey.requests.with_label_values(&["new"]).inc();
        m.ops
            .model_reloads
            .with_label_values(&["champion", "ok"])
            .inc();
        m.ops.feature_psi.with_label_values(&["amount"]).set(0.1);
        m.ops
            .admin_requests
            .with_label_values(&["/healthz", "200"])
            .inc();
        m.checkpoint_duration
            .with_label_values(&["write"])
            .observe(0.01);
        let mut names: Vec<String> = m
            .registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        names.sort();
        let mut expected: Vec<String> = METRIC_NAMES.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(names, expected);
        assert!(
            m.render()
                .contains("verdict_decisions_total{action=\"allow\"} 1")
        );
    }
}
