//! The feature spec: what a rules file asks the engine's state layer to compute.
//!
//! A rule set declares features; [`crate::RuleSet::features`] lists them in
//! declaration order, the order of every feature-value slice. The engine
//! maintains every feature whose kind is [`FeatureKind::Window`],
//! [`FeatureKind::History`] or [`FeatureKind::Previous`] and writes its value
//! at the feature's index before evaluation; [`FeatureKind::Derived`] values
//! are filled by [`crate::RuleSet::derive`] from the other features. A missing value (an average
//! over nothing, no previous event, a brand-new user) is `f64::NAN`.
//!
//! Window semantics: for an event at time `t`, the aggregate covers events of
//! the same key with event time in `(t - window, t]`, *including the current
//! event* when it passes the filter.

use crate::input::{Field, Transaction};

/// One declared feature, in declaration order.
#[derive(Debug, Clone)]
pub struct FeatureSpec {
    pub name: String,
    pub kind: FeatureKind,
}

#[derive(Debug, Clone)]
pub enum FeatureKind {
    Window(WindowFeature),
    History(HistoryFeature),
    /// The value of `field` on the previous event with the same `key`: the most
    /// recently *processed* one (arrival order, see [`crate::reference`]); NaN
    /// when there is none. Used for impossible travel and the like.
    Previous {
        key: Field,
        field: Field,
    },
    /// Computed from other features and the transaction by `RuleSet::derive`.
    Derived,
}

#[derive(Debug, Clone)]
pub struct WindowFeature {
    pub aggregate: Aggregate,
    /// The entity the window is kept per (card_id, user_id, device_id, ip, ...).
    pub key: Field,
    /// Window length in milliseconds (1 s ..= 30 days).
    pub window_ms: i64,
    /// Only events passing this predicate enter the aggregate.
    pub filter: Option<Predicate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum(Field),
    Min(Field),
    Max(Field),
    Avg(Field),
    DistinctCount(Field),
}

/// Lookups over a user's daily history (the last 365 days, by event time,
/// not counting the current event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFeature {
    /// Average amount per transaction over the last `days` days.
    AvgAmount { days: u16 },
    /// Largest single amount over the last `days` days.
    MaxAmount { days: u16 },
    /// Number of transactions over the last `days` days.
    TxnCount { days: u16 },
    /// Total amount over the last `days` days.
    SumAmount { days: u16 },
    /// 1.0 when the user has never been seen with this value of `field`
    /// (merchant_id, country, device_id, ...) in the last year, else 0.0.
    FirstTime(Field),
    /// Days since the user's first transaction within the retained year; NaN if none.
    DaysSinceFirst,
    /// Number of distinct days with activity over the last `days` days.
    ActiveDays { days: u16 },
}

/// The compiled test behind a [`Predicate`].
pub type PredicateFn = dyn Fn(&dyn Transaction) -> bool + Send + Sync;

/// A compiled filter over transaction fields only (no features, no score),
/// evaluated by the engine's state layer before an event enters a window.
#[derive(Clone)]
pub struct Predicate {
    pub(crate) source: String,
    pub(crate) eval: std::sync::Arc<PredicateFn>,
}

impl Predicate {
    pub fn new(
        source: impl Into<String>,
        eval: impl Fn(&dyn Transaction) -> bool + Send + Sync + 'static,
    ) -> Self {
        Predicate {
            source: source.into(),
            eval: std::sync::Arc::new(eval),
        }
    }

    pub fn matches(&self, txn: &dyn Transaction) -> bool {
        (self.eval)(txn)
    }

    /// The predicate as written in the rules file, for display and for hashing.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl std::fmt::Debug for Predicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Predicate({})", self.source)
    }
}

impl FeatureSpec {
    /// A stable identity for the state this feature needs: two rule-set
    /// versions that declare the same window keep sharing its state.
    pub fn state_id(&self) -> String {
        match &self.kind {
            FeatureKind::Window(w) => format!(
                "window:{:?}:{}:{}:{}",
                w.aggregate,
                w.key.name(),
                w.window_ms,
                w.filter.as_ref().map(|p| p.source()).unwrap_or("")
            ),
            FeatureKind::History(h) => format!("history:{h:?}"),
            FeatureKind::Previous { key, field } => {
                format!("previous:{}:{}", key.name(), field.name())
            }
            FeatureKind::Derived => format!("derived:{}", self.name),
        }
    }
}
