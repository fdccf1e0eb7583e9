//! The decision written to `decisions`, one per valid transaction, keyed by
//! `transaction_id`.
//!
//! Decisions are deterministic functions of the event, the state before it and
//! the rule-set and model versions, so a replay after a crash re-emits the same
//! decision with the same id and consumers can deduplicate by id. Only
//! `latency_ms` and `decided_at` come from the wall clock in live mode; replays
//! use event time for both (latency 0) so their output is byte-identical.

use std::io::Write;

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use verdict_rules::Action;

/// One decision. Borrowed strings: a decision is encoded right after it is made.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    pub transaction_id: &'a str,
    pub action: Action,
    /// The champion model's fraud probability; `None` when no score was
    /// available before the deadline (then `degraded` is true).
    pub score: Option<f32>,
    pub reasons: &'a [String],
    /// Names of the non-shadow rules that matched, in precedence order.
    pub rules: &'a [&'a str],
    /// `name@version` of the model that scored, if any.
    pub model: Option<&'a str>,
    pub rules_version: &'a str,
    pub degraded: bool,
    pub latency_ms: f64,
    pub decided_at_ms: i64,
}

/// A decision as read back from the `decisions` topic (tests, backtests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub transaction_id: String,
    pub action: String,
    pub score: Option<f32>,
    pub reasons: Vec<String>,
    pub rules: Vec<String>,
    pub model: Option<String>,
    pub rules_version: String,
    pub degraded: bool,
    pub latency_ms: f64,
    pub decided_at: String,
}

/// Encodes decisions as JSON into a buffer it reuses, without building a tree.
#[derive(Debug, Default)]
pub struct DecisionEncoder {
    buf: Vec<u8>,
}

impl DecisionEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes `d` and returns the bytes, valid until the next call.
    pub fn encode(&mut self, d: &Decision<'_>) -> &[u8] {
        self.buf.clear();
        write_decision(&mut self.buf, d);
        &self.buf
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// Appends the JSON for `d` to `out` (no trailing newline).
pub fn write_decision(out: &mut Vec<u8>, d: &Decision<'_>) {
    out.extend_from_slice(b"{\"transaction_id\":");
    write_str(out, d.transaction_id);
    out.extend_from_slice(b",\"action\":\"");
    out.extend_from_slice(d.action.as_str().as_bytes());
    out.extend_from_slice(b"\",\"score\":");
    match d.score {
        Some(s) if s.is_finite() => {
            // Six decimals: stable text for a given f32, and plenty for a probability.
            let _ = write!(out, "{s:.6}");
        }
        _ => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"reasons\":[");
    for (i, r) in d.reasons.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, r);
    }
    out.extend_from_slice(b"],\"rules\":[");
    for (i, r) in d.rules.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, r);
    }
    out.extend_from_slice(b"],\"model\":");
    match d.model {
        Some(m) => write_str(out, m),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"rules_version\":");
    write_str(out, d.rules_version);
    out.extend_from_slice(if d.degraded {
        b",\"degraded\":true"
    } else {
        b",\"degraded\":false"
    });
    let _ = write!(out, ",\"latency_ms\":{:.3}", d.latency_ms);
    out.extend_from_slice(b",\"decided_at\":\"");
    let at = DateTime::from_timestamp_millis(d.decided_at_ms).unwrap_or_default();
    let _ = write!(out, "{}", at.to_rfc3339_opts(SecondsFormat::Millis, true));
    out.extend_from_slice(b"\"}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_valid_json_that_round_trips() {
        let reasons = vec![
            "7 small authorizations in 10m".to_string(),
            "quote \" and \\".to_string(),
        ];
        let rules = ["card_testing", "velocity"];
        let d = Decision {
            transaction_id: "t-1",
            action: Action::Decline,
            score: Some(0.875),
            reasons: &reasons,
            rules: &rules,
            model: Some("default@abc"),
            rules_version: "r123",
            degraded: false,
            latency_ms: 1.25,
            decided_at_ms: 1_767_268_800_123,
        };
        let mut enc = DecisionEncoder::new();
        let bytes = enc.encode(&d).to_vec();
        let back: DecisionRecord = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.transaction_id, "t-1");
        assert_eq!(back.action, "decline");
        assert_eq!(back.score, Some(0.875));
        assert_eq!(back.reasons, reasons);
        assert_eq!(back.rules, vec!["card_testing", "velocity"]);
        assert_eq!(back.decided_at, "2026-01-01T12:00:00.123Z");
        let degraded = Decision {
            score: None,
            degraded: true,
            model: None,
            ..d
        };
        let back: DecisionRecord = serde_json::from_slice(enc.encode(&degraded)).unwrap();
        assert_eq!(back.score, None);
        assert!(back.degraded);
    }
}
