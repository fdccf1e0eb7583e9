//! Turns a processed batch into encoded decisions.

use std::time::Instant;

use prometheus::IntCounter;
use verdict_rules::Action;

use crate::contract::decision::write_decision;
use crate::contract::{Decision, Event};
use crate::metrics::Metrics;

use super::Batch;

/// Which clock stamps decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionClock {
    /// Live: `decided_at` is the wall clock, latency is measured from arrival.
    Wall,
    /// Replay and backtests: `decided_at` is the event time and latency 0, so
    /// the output depends only on the input.
    EventTime,
}

/// Encodes decisions, reusing its buffers from batch to batch.
#[derive(Default)]
pub struct DecisionEmitter {
    reasons: Vec<String>,
    buf: Vec<u8>,
    /// `verdict_decisions_total{action}` children, resolved once: looking a
    /// labelled child up hashes the label and takes a lock, too much per event.
    by_action: Option<[IntCounter; 3]>,
}

impl DecisionEmitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `sink(event, offset, json)` for each event of the batch, in order,
    /// and counts decisions, degraded ones and SLA misses.
    pub fn emit(
        &mut self,
        batch: &Batch,
        clock: DecisionClock,
        model: Option<&str>,
        metrics: &Metrics,
        mut sink: impl FnMut(&Event, i64, &[u8]),
    ) {
        let rules = batch.rules.as_ref().expect("batch processed");
        let infos = rules.rules();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let now = Instant::now();
        let mut names: Vec<&str> = Vec::with_capacity(8);
        let by_action = self.by_action.get_or_insert_with(|| {
            [Action::Allow, Action::Review, Action::Decline]
                .map(|a| metrics.decisions.with_label_values(&[a.as_str()]))
        });
        for (i, event) in batch.events.iter().enumerate() {
            let eval = &batch.evaluations[i];
            self.reasons.clear();
            names.clear();
            for hit in eval.hits.iter().filter(|h| !h.shadow) {
                names.push(&infos[hit.rule as usize].name);
                if !hit.reason.is_empty() {
                    self.reasons.push(hit.reason.clone());
                }
            }
            let (latency_ms, decided_at_ms) = match clock {
                DecisionClock::Wall => {
                    let arrival = batch.deadlines[i]
                        .checked_sub(batch.budget)
                        .unwrap_or(batch.deadlines[i]);
                    let latency = now.saturating_duration_since(arrival);
                    metrics.decision_latency.observe(latency.as_secs_f64());
                    if now > batch.deadlines[i] {
                        metrics.sla_misses.inc();
                    }
                    (latency.as_secs_f64() * 1e3, now_ms)
                }
                DecisionClock::EventTime => (0.0, event.event_time_ms),
            };
            let degraded = (batch.degraded[i] && model.is_some()) || batch.incomplete[i];
            let decision = Decision {
                transaction_id: event.transaction_id(),
                action: eval.action,
                score: batch.scores[i],
                reasons: &self.reasons,
                score_reasons: &batch.score_reasons[i],
                rules: &names,
                model: if batch.scores[i].is_some() {
                    model
                } else {
                    None
                },
                challenger: batch
                    .challenger_model
                    .as_deref()
                    .map(|m| (m, batch.challenger_scores[i])),
                rules_version: rules.version(),
                degraded,
                latency_ms,
                decided_at_ms,
            };
            by_action[match eval.action {
                Action::Allow => 0,
                Action::Review => 1,
                Action::Decline => 2,
            }]
            .inc();
            if degraded {
                metrics.degraded.inc();
            }
            self.buf.clear();
            write_decision(&mut self.buf, &decision);
            sink(event, batch.offsets[i], &self.buf);
        }
    }
}
