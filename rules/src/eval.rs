//! Decisions: [`Action`], [`Evaluation`], [`RuleHit`], [`RuleInfo`], and the
//! three-valued logic conditions are evaluated in.
//!
//! Missing values follow SQL's Kleene logic: a comparison, arithmetic or list
//! test that touches a missing value is *unknown*; `not unknown` is unknown;
//! `false and unknown` is false and `true or unknown` is true; a rule fires
//! only when its condition is *true*. Only `is missing` / `is present` look at
//! missingness itself. So `country != "US"` does not fire for an event
//! without a country, and neither does `not (country == "US")`.

use std::sync::Arc;

/// What a decision does to the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Action {
    /// The default when no acting rule fires.
    #[default]
    Allow,
    Review,
    Decline,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Review => "review",
            Action::Decline => "decline",
        }
    }

    pub fn from_name(s: &str) -> Option<Action> {
        match s {
            "allow" => Some(Action::Allow),
            "review" => Some(Action::Review),
            "decline" => Some(Action::Decline),
            _ => None,
        }
    }

    /// Precedence class among firing rules: allow beats decline beats review
    /// (as Stripe Radar orders allow, block and review rules).
    pub(crate) fn rank(self) -> u8 {
        match self {
            Action::Allow => 0,
            Action::Decline => 1,
            Action::Review => 2,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Static facts about a rule, for metrics labels and explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    pub name: Arc<str>,
    pub action: Action,
    pub shadow: bool,
    pub priority: i32,
    /// The rules file and line that declare it.
    pub file: String,
    pub line: u32,
}

/// One rule whose condition was true for the event.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit {
    /// Index into [`crate::RuleSet::rules`].
    pub rule: u32,
    pub name: Arc<str>,
    pub action: Action,
    /// A shadow hit is counted and reported but never decides.
    pub shadow: bool,
    /// The rule's reason template with values filled in.
    pub reason: String,
}

/// The result of evaluating a rule set on one event. Reuse one per worker:
/// [`crate::RuleSet::evaluate`] clears it, so an event that hits nothing
/// allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub action: Action,
    /// Every rule that fired (shadow ones included), in precedence order: the
    /// first non-shadow hit is the one that decided.
    pub hits: Vec<RuleHit>,
    /// Index into `hits` of the deciding hit; `None` when no acting rule fired
    /// and the action is the default `allow`.
    pub decided_by: Option<usize>,
    /// True when evaluated without a model score.
    pub degraded: bool,
    /// Reason buffers of earlier hits, kept so steady-state evaluation does
    /// not allocate even when rules fire.
    spare: Vec<String>,
}

impl PartialEq for Evaluation {
    fn eq(&self, other: &Self) -> bool {
        (self.action, &self.hits, self.decided_by, self.degraded)
            == (other.action, &other.hits, other.decided_by, other.degraded)
    }
}

impl Evaluation {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.action = Action::Allow;
        for hit in self.hits.drain(..) {
            let mut reason = hit.reason;
            reason.clear();
            self.spare.push(reason);
        }
        self.decided_by = None;
        self.degraded = false;
    }

    /// An empty string for a new hit's reason, reusing an old buffer.
    pub(crate) fn reason_buffer(&mut self) -> String {
        self.spare.pop().unwrap_or_default()
    }

    /// The hit that decided the action, if any.
    pub fn deciding_hit(&self) -> Option<&RuleHit> {
        self.decided_by.and_then(|i| self.hits.get(i))
    }

    /// Reasons of the acting (non-shadow) hits, deciding one first.
    pub fn reasons(&self) -> impl Iterator<Item = &str> {
        self.hits
            .iter()
            .filter(|h| !h.shadow)
            .map(|h| h.reason.as_str())
    }
}

/// Three-valued truth: rules fire on `True` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    False,
    True,
    Unknown,
}

impl Tri {
    #[inline]
    pub fn from_bool(b: bool) -> Tri {
        if b { Tri::True } else { Tri::False }
    }

    #[inline]
    pub fn not(self) -> Tri {
        match self {
            Tri::False => Tri::True,
            Tri::True => Tri::False,
            Tri::Unknown => Tri::Unknown,
        }
    }

    /// As a feature value: 1.0, 0.0, or NaN for unknown.
    #[inline]
    pub fn to_f64(self) -> f64 {
        match self {
            Tri::False => 0.0,
            Tri::True => 1.0,
            Tri::Unknown => f64::NAN,
        }
    }

    #[inline]
    pub fn from_f64(v: f64) -> Tri {
        if v.is_nan() {
            Tri::Unknown
        } else {
            Tri::from_bool(v != 0.0)
        }
    }
}
