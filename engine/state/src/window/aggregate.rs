//! The aggregate a window computes and its layout, shared by the plan, the
//! two layouts and the codec.

/// What a window aggregates; values are fixed-point `i64` bits (sum,
/// average), `f64` bits (min, max) or 64-bit hashes (distinct).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Agg {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Distinct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    Exact,
    Bucketed { bucket_ms: i64 },
}

impl Agg {
    /// The answer over no events.
    pub(super) fn empty_result(self) -> f64 {
        match self {
            Agg::Count | Agg::Sum | Agg::Distinct => 0.0,
            Agg::Min | Agg::Max | Agg::Avg => f64::NAN,
        }
    }
}
