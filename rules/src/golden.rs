//! Golden tests: `.rules` files whose comments hold input events and the
//! expected decisions, or the expected diagnostics.
//!
//! Directives are comment lines starting with `# @`:
//!
//! ```text
//! # @ruleset ../../default             compile this directory instead of this file
//! # @event {"transaction_id": "t1", "event_time": "2026-03-01T10:00:00Z", ..., "score": 0.93}
//! # @expect decline by=card_testing hits=card_testing,velocity_card_1h
//! # @reason card_testing: 5 small authorizations in 10m
//! # @feature card_small_auths_10m = 5
//! # @error E023 4:23
//! ```
//!
//! Events are replayed in order through a [`ReferenceState`], so window,
//! history and previous features come out exactly as the engine must compute
//! them; `"score"` in an event is the model score (absent: degraded, no
//! score). `@expect`, `@reason` and `@feature` check the most recent event;
//! `by=` names the rule that decided (`none` when none did); `hits=` lists
//! every rule that fired, shadow ones included (order free; an empty list
//! means none). A file with `@error` lines must fail to compile
//! with exactly those codes (and positions, when given).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::eval::{Action, Evaluation};
use crate::reference::{Event, ReferenceState};
use crate::ruleset::{RuleSet, SourceFile};

/// The outcome of one golden file.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub file: String,
    /// Number of expectations checked.
    pub checks: usize,
    /// One readable entry per failed expectation (expected vs actual).
    pub failures: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// All golden files of a directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GoldenReport {
    pub cases: Vec<CaseResult>,
}

impl GoldenReport {
    pub fn passed(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases.iter().filter(|c| c.passed())
    }

    pub fn failed(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases.iter().filter(|c| !c.passed())
    }

    pub fn all_passed(&self) -> bool {
        !self.cases.is_empty() && self.cases.iter().all(CaseResult::passed)
    }

    /// Plain-text report: one line per case, then the diff of each failure.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.cases {
            let status = if c.passed() { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "{status} {} ({} checks)", c.file, c.checks);
            for f in &c.failures {
                for line in f.lines() {
                    let _ = writeln!(out, "       {line}");
                }
            }
        }
        let passed = self.passed().count();
        let _ = writeln!(
            out,
            "{} passed, {} failed",
            passed,
            self.cases.len() - passed
        );
        out
    }
}

enum Directive {
    RuleSet(String),
    Event(String),
    Expect {
        action: String,
        by: Option<String>,
        hits: Option<Vec<String>>,
    },
    Reason {
        rule: String,
        text: String,
    },
    Feature {
        name: String,
        value: String,
    },
    Error {
        code: String,
        position: Option<(u32, u32)>,
    },
}

fn directives(text: &str) -> Result<Vec<(usize, Directive)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix('#').map(str::trim_start) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('@') else {
            continue;
        };
        let (word, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let arg = arg.trim();
        let bad = |what: &str| format!("line {}: malformed @{word}: {what}", n + 1);
        let d = match word {
            "ruleset" => Directive::RuleSet(arg.to_string()),
            "event" => Directive::Event(arg.to_string()),
            "expect" => {
                let mut parts = arg.split_whitespace();
                let action = parts
                    .next()
                    .ok_or_else(|| bad("needs an action"))?
                    .to_string();
                let (mut by, mut hits) = (None, None);
                for part in parts {
                    if let Some(h) = part.strip_prefix("hits=") {
                        hits = Some(
                            h.split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect(),
                        );
                    } else if let Some(b) = part.strip_prefix("by=") {
                        by = Some(b.to_string());
                    } else {
                        return Err(bad("options are `by=RULE` and `hits=A,B`"));
                    }
                }
                Directive::Expect { action, by, hits }
            }
            "reason" => {
                let (rule, text) = arg
                    .split_once(':')
                    .ok_or_else(|| bad("write `@reason RULE: text`"))?;
                Directive::Reason {
                    rule: rule.trim().to_string(),
                    text: text.trim().to_string(),
                }
            }
            "feature" => {
                let (name, value) = arg
                    .split_once('=')
                    .ok_or_else(|| bad("write `@feature NAME = VALUE`"))?;
                Directive::Feature {
                    name: name.trim().to_string(),
                    value: value.trim().to_string(),
                }
            }
            "error" => {
                let mut parts = arg.split_whitespace();
                let code = parts.next().ok_or_else(|| bad("needs a code"))?.to_string();
                let position = match parts.next() {
                    None => None,
                    Some(p) => {
                        let (l, c) = p
                            .split_once(':')
                            .ok_or_else(|| bad("position is LINE:COL"))?;
                        Some((
                            l.parse().map_err(|_| bad("bad line"))?,
                            c.parse().map_err(|_| bad("bad column"))?,
                        ))
                    }
                };
                Directive::Error { code, position }
            }
            other => return Err(format!("line {}: unknown directive @{other}", n + 1)),
        };
        out.push((n + 1, d));
    }
    Ok(out)
}

/// Whether a `.rules` file is a golden test (has `@event` or `@error` lines).
pub fn is_golden(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start().trim_start_matches('#').trim_start();
        l.trim_start().starts_with('#') && (t.starts_with("@event") || t.starts_with("@error"))
    })
}

/// Run every golden `.rules` file under `dir`, in path order.
pub fn run_golden_dir(dir: &Path) -> GoldenReport {
    let mut files = Vec::new();
    collect(dir, &mut files);
    files.sort();
    let mut report = GoldenReport::default();
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(text) if is_golden(&text) => report.cases.push(run_golden_file(&path, &text)),
            Ok(_) => {}
            Err(e) => report.cases.push(CaseResult {
                file: path.display().to_string(),
                checks: 0,
                failures: vec![format!("cannot read: {e}")],
            }),
        }
    }
    report
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "rules") {
            out.push(p);
        }
    }
}

/// Run one golden file whose text is `text`.
pub fn run_golden_file(path: &Path, text: &str) -> CaseResult {
    let file = path.display().to_string();
    let mut case = CaseResult {
        file: file.clone(),
        checks: 0,
        failures: Vec::new(),
    };
    let ds = match directives(text) {
        Ok(d) => d,
        Err(e) => {
            case.failures.push(e);
            return case;
        }
    };
    let compiled = match ds.iter().find_map(|(_, d)| match d {
        Directive::RuleSet(p) => Some(p),
        _ => None,
    }) {
        Some(rel) => RuleSet::compile_dir(&path.parent().unwrap_or(Path::new("")).join(rel)),
        None => RuleSet::compile_sources(&[SourceFile {
            path: file.clone(),
            text: text.to_string(),
        }]),
    };
    let expected_errors: Vec<(String, Option<(u32, u32)>)> = ds
        .iter()
        .filter_map(|(_, d)| match d {
            Directive::Error { code, position } => Some((code.clone(), *position)),
            _ => None,
        })
        .collect();
    let rules = match compiled {
        Err(diags) => {
            case.checks += 1;
            let actual: Vec<(String, (u32, u32))> = diags
                .iter()
                .map(|d| (d.code.as_str().to_string(), (d.line, d.col)))
                .collect();
            let matches = actual.len() == expected_errors.len()
                && expected_errors.iter().all(|(code, pos)| {
                    actual
                        .iter()
                        .any(|(c, p)| c == code && pos.is_none_or(|pos| pos == *p))
                });
            if !matches {
                let exp: Vec<String> = expected_errors
                    .iter()
                    .map(|(c, p)| fmt_err(c, *p))
                    .collect();
                let act: Vec<String> = actual.iter().map(|(c, p)| fmt_err(c, Some(*p))).collect();
                case.failures.push(format!(
                    "diagnostics differ\n  expected: [{}]\n  actual:   [{}]\n{}",
                    exp.join(", "),
                    act.join(", "),
                    diags.render()
                ));
            }
            return case;
        }
        Ok(rules) => rules,
    };
    if !expected_errors.is_empty() {
        case.checks += 1;
        case.failures.push(format!(
            "expected diagnostics [{}] but the rule set compiled",
            expected_errors
                .iter()
                .map(|(c, p)| fmt_err(c, *p))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return case;
    }
    replay(&rules, &ds, &mut case);
    case
}

fn fmt_err(code: &str, pos: Option<(u32, u32)>) -> String {
    match pos {
        Some((l, c)) => format!("{code} at {l}:{c}"),
        None => code.to_string(),
    }
}

fn replay(rules: &RuleSet, ds: &[(usize, Directive)], case: &mut CaseResult) {
    let mut state = ReferenceState::new();
    let mut eval = Evaluation::new();
    let mut features: Vec<f64> = Vec::new();
    let mut current: Option<String> = None;
    for (line, d) in ds {
        let at = |what: &str| {
            format!(
                "line {line}, event {}: {what}",
                current.as_deref().unwrap_or("?")
            )
        };
        match d {
            Directive::RuleSet(_) | Directive::Error { .. } => {}
            Directive::Event(json) => {
                let parsed = parse_event(json);
                match parsed {
                    Ok((event, score, id)) => {
                        features = state.process(rules, &event);
                        rules.evaluate(&event, &features, score, &mut eval);
                        current = Some(id);
                    }
                    Err(e) => {
                        case.failures.push(format!("line {line}: bad @event: {e}"));
                        return;
                    }
                }
            }
            _ if current.is_none() => {
                case.failures
                    .push(format!("line {line}: expectation before any @event"));
                return;
            }
            Directive::Expect { action, by, hits } => {
                case.checks += 1;
                check_expect(&eval, action, by.as_deref(), hits.as_deref(), &at, case);
            }
            Directive::Reason { rule, text } => {
                case.checks += 1;
                match eval.hits.iter().find(|h| &*h.name == rule) {
                    Some(h) if &h.reason == text => {}
                    Some(h) => case.failures.push(format!(
                        "{}\n  expected: {text}\n  actual:   {}",
                        at(&format!("reason of {rule}")),
                        h.reason
                    )),
                    None => case.failures.push(at(&format!(
                        "expected a reason from {rule}, but it did not fire"
                    ))),
                }
            }
            Directive::Feature { name, value } => {
                case.checks += 1;
                check_feature(rules, &features, name, value, &at, case);
            }
        }
    }
}

/// An `@event` line: the event, its model score (absent or null: none) and
/// its transaction id for messages.
fn parse_event(json: &str) -> Result<(Event, Option<f32>, String), String> {
    let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let score = v.as_object_mut().and_then(|o| o.remove("score"));
    let score = match score {
        None | Some(serde_json::Value::Null) => None,
        Some(s) => Some(s.as_f64().ok_or("score must be a number")? as f32),
    };
    let id = v
        .get("transaction_id")
        .and_then(|t| t.as_str())
        .unwrap_or("?")
        .to_string();
    Ok((Event::from_json(&v)?, score, id))
}

/// `@expect ACTION [by=RULE] [hits=A,B]` against the last evaluation.
fn check_expect(
    eval: &Evaluation,
    action: &str,
    by: Option<&str>,
    hits: Option<&[String]>,
    at: &dyn Fn(&str) -> String,
    case: &mut CaseResult,
) {
    match Action::from_name(action) {
        Some(a) if a == eval.action => {}
        _ => case.failures.push(format!(
            "{}\n  expected: {action}\n  actual:   {}{}",
            at("action"),
            eval.action,
            eval.deciding_hit()
                .map(|h| format!(" (by {})", h.name))
                .unwrap_or_default()
        )),
    }
    if let Some(by) = by {
        let actual = eval.deciding_hit().map_or("none", |h| &*h.name);
        if actual != by {
            case.failures.push(format!(
                "{}\n  expected: {by}\n  actual:   {actual}",
                at("deciding rule")
            ));
        }
    }
    if let Some(hits) = hits {
        let mut expected = hits.to_vec();
        expected.sort();
        let mut actual: Vec<String> = eval.hits.iter().map(|h| h.name.to_string()).collect();
        actual.sort();
        if expected != actual {
            case.failures.push(format!(
                "{}\n  expected: [{}]\n  actual:   [{}]",
                at("rules hit"),
                expected.join(", "),
                actual.join(", ")
            ));
        }
    }
}

/// `@feature NAME = VALUE` against the last event's feature values.
fn check_feature(
    rules: &RuleSet,
    features: &[f64],
    name: &str,
    value: &str,
    at: &dyn Fn(&str) -> String,
    case: &mut CaseResult,
) {
    let Some(index) = rules.feature_slot(name) else {
        case.failures
            .push(at(&format!("no feature named `{name}`")));
        return;
    };
    let actual = features.get(index).copied().unwrap_or(f64::NAN);
    let ok = if value == "missing" {
        actual.is_nan()
    } else {
        value.parse::<f64>().is_ok_and(|v| {
            (v - actual).abs() <= 1e-6 * v.abs().max(1.0) || (v.is_infinite() && v == actual)
        })
    };
    if !ok {
        let shown = if actual.is_nan() {
            "missing".to_string()
        } else {
            actual.to_string()
        };
        case.failures.push(format!(
            "{}\n  expected: {value}\n  actual:   {shown}",
            at(&format!("feature {name}"))
        ));
    }
}
