//! The decision written to `decisions`, one per valid transaction, keyed by
//! `transaction_id`.
//!
//! Decisions are deterministic functions of the event, the state before it and
//! the rule-set and model versions, so a replay after a crash re-emits the same
//! decision with the same id and consumers can deduplicate by id. Only
//! `latency_ms` and `decided_at` come from the wall clock in live mode; replays
//! use event time for both (latency 0) so their output is byte-identical.

use std::io::Write;
use std::sync::Arc;

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
    /// For a review or a decline that was scored: the model inputs that
    /// pushed the score up the most, largest first (at most three).
    pub score_reasons: &'a [ScoreReason],
    /// Names of the non-shadow rules that matched, in precedence order.
    pub rules: &'a [&'a str],
    /// `name@version` of the model that scored, if any.
    pub model: Option<&'a str>,
    /// The challenger scoring beside the champion, if one is loaded: its
    /// `name@version` and its score (`None` when it did not answer in
    /// time). It never acts; the fields are written only with a challenger.
    pub challenger: Option<(&'a str, Option<f32>)>,
    pub rules_version: &'a str,
    pub degraded: bool,
    pub latency_ms: f64,
    pub decided_at_ms: i64,
}

/// One model input's share of a score (`verdict_models::explain`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreReason {
    /// The model's column name: a feature of the rule set or a field.
    pub feature: Arc<str>,
    pub value: ReasonValue,
    /// Logit units; positive pushes the score up.
    pub contribution: f32,
}

/// The value the input had in the event.
#[derive(Debug, Clone, PartialEq)]
pub enum ReasonValue {
    /// NaN when missing (written as `null`).
    Number(f32),
    /// The category as the model knows it (`<other>` for one it does not).
    Category(Arc<str>),
}

/// A score reason as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreReasonRecord {
    pub feature: String,
    pub value: serde_json::Value,
    pub contribution: f32,
}

/// A decision as read back from the `decisions` topic (tests, backtests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub transaction_id: String,
    pub action: String,
    pub score: Option<f32>,
    pub reasons: Vec<String>,
    #[serde(default)]
    pub score_reasons: Vec<ScoreReasonRecord>,
    pub rules: Vec<String>,
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenger_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenger_score: Option<f32>,
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

fn write_score(out: &mut Vec<u8>, score: Option<f32>) {
    match score {
        Some(s) if s.is_finite() => {
            // Six decimals: stable text for a given f32, and plenty for a probability.
            let _ = write!(out, "{s:.6}");
        }
        _ => out.extend_from_slice(b"null"),
    }
}

/// Appends the JSON for `d` to `out` (no trailing newline).
pub fn write_decision(out: &mut Vec<u8>, d: &Decision<'_>) {
    out.extend_from_slice(b"{\"transaction_id\":");
    write_str(out, d.transaction_id);
    out.extend_from_slice(b",\"action\":\"");
    out.extend_from_slice(d.action.as_str().as_bytes());
    out.extend_from_slice(b"\",\"score\":");
    write_score(out, d.score);
    out.extend_from_slice(b",\"reasons\":[");
    for (i, r) in d.reasons.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, r);
    }
    out.extend_from_slice(b"],\"score_reasons\":[");
    for (i, r) in d.score_reasons.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"feature\":");
        write_str(out, &r.feature);
        out.extend_from_slice(b",\"value\":");
        match &r.value {
            ReasonValue::Number(v) if v.is_finite() => {
                let _ = write!(out, "{v}");
            }
            ReasonValue::Number(_) => out.extend_from_slice(b"null"),
            ReasonValue::Category(c) => write_str(out, c),
        }
        let _ = write!(out, ",\"contribution\":{:.4}}}", r.contribution);
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
    if let Some((model, score)) = d.challenger {
        out.extend_from_slice(b",\"challenger_model\":");
        write_str(out, model);
        out.extend_from_slice(b",\"challenger_score\":");
        write_score(out, score);
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
        let score_reasons = [
            ScoreReason {
                feature: "device_users_24h".into(),
                value: ReasonValue::Number(17.0),
                contribution: 1.23456,
            },
            ScoreReason {
                feature: "mcc".into(),
                value: ReasonValue::Category("5967".into()),
                contribution: 0.5,
            },
            ScoreReason {
                feature: "km_from_prev".into(),
                value: ReasonValue::Number(f32::NAN),
                contribution: 0.25,
            },
        ];
        let d = Decision {
            transaction_id: "t-1",
            action: Action::Decline,
            score: Some(0.875),
            reasons: &reasons,
            score_reasons: &score_reasons,
            rules: &rules,
            model: Some("default@abc"),
            challenger: None,
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
        let reason = |f: &str, v: serde_json::Value, c: f32| ScoreReasonRecord {
            feature: f.into(),
            value: v,
            contribution: c,
        };
        assert_eq!(
            back.score_reasons,
            vec![
                reason("device_users_24h", 17.into(), 1.2346),
                reason("mcc", "5967".into(), 0.5),
                reason("km_from_prev", serde_json::Value::Null, 0.25),
            ]
        );
        assert_eq!(back.decided_at, "2026-01-01T12:00:00.123Z");
        let degraded = Decision {
            score: None,
            score_reasons: &[],
            degraded: true,
            model: None,
            ..d
        };
        let back: DecisionRecord = serde_json::from_slice(enc.encode(&degraded)).unwrap();
        assert_eq!(back.score, None);
        assert!(back.degraded);
        assert_eq!(back.challenger_model, None);
        assert!(!String::from_utf8_lossy(enc.encode(&d)).contains("challenger"));
    }

    #[test]
    fn a_challenger_is_written_beside_the_champion() {
        let d = Decision {
            transaction_id: "t-2",
            action: Action::Allow,
            score: Some(0.125),
            reasons: &[],
            score_reasons: &[],
            rules: &[],
            model: Some("default@abc"),
            challenger: Some(("next@def", Some(0.0625))),
            rules_version: "r123",
            degraded: false,
            latency_ms: 0.0,
            decided_at_ms: 0,
        };
        let mut enc = DecisionEncoder::new();
        let back: DecisionRecord = serde_json::from_slice(enc.encode(&d)).unwrap();
        assert_eq!(back.challenger_model.as_deref(), Some("next@def"));
        assert_eq!(back.challenger_score, Some(0.0625));
        let late = Decision {
            challenger: Some(("next@def", None)),
            ..d
        };
        let text = String::from_utf8(enc.encode(&late).to_vec()).unwrap();
        assert!(
            text.contains(r#""challenger_model":"next@def","challenger_score":null"#),
            "{text}"
        );
    }
}
