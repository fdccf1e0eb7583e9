//! `manifest.json`: everything needed to trust, serve and monitor a model.
//!
//! The manifest names the model, pins its feature schema (with hash), carries
//! the normalization statistics the scorer applies, the training data's time
//! range, the validation metrics, the validation score distribution (the
//! reference for drift monitoring) and a blake3 checksum of every other file
//! in the artifact. Loading verifies the checksums before decoding anything,
//! so a corrupt or truncated artifact is refused with a precise error.

use serde::{Deserialize, Serialize};

use crate::schema::{FeatureSchema, SchemaMismatch};
use crate::weights::Architecture;

/// Version of the artifact layout this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the manifest inside a model directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the weights record inside a model directory.
pub const WEIGHTS_FILE: &str = "model.bin";

/// What every scorer does to a raw numeric input before normalizing it
/// (chosen in training by [`crate::inputs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// The raw value (flags, inputs that can be negative). A model trained
    /// before transforms existed has only these.
    #[default]
    Identity,
    /// `ln(1 + max(x, 0))`: counts, sums, amounts, ages and distances,
    /// heavy-tailed and growing with the calendar, become a scale on which
    /// 3 → 30 weighs what 30 → 300 does.
    Log1p,
}

impl Transform {
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Transform::Identity => x,
            Transform::Log1p => x.max(0.0).ln_1p(),
        }
    }
}

/// How one numeric feature is normalized:
/// `z = clamp((transform(x) - mean) / std, ±clip)`, missing (NaN) → 0, i.e.
/// the training mean. `mean` and `std` are of the transformed values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    #[serde(default)]
    pub transform: Transform,
    pub mean: f32,
    pub std: f32,
    pub clip: f32,
    /// Fraction of training rows where the feature was missing.
    pub missing_rate: f32,
}

/// A numeric column of the training data that the model does not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOutInput {
    pub feature: String,
    pub reason: String,
}

/// Inclusive event-time range, milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Where the model's training data came from and how training went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub data: String,
    pub labels: String,
    pub train_range: TimeRange,
    pub validation_range: TimeRange,
    pub train_rows: usize,
    pub train_positives: usize,
    pub validation_rows: usize,
    pub validation_positives: usize,
    pub seed: u64,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub positive_weight: f32,
    pub learning_rate: f64,
    pub batch_size: usize,
    /// Where the network trained.
    #[serde(default)]
    pub device: crate::device::Device,
}

/// Headline metrics on validation data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub recall_at_0_1pct_fpr: f64,
    pub recall_at_1pct_fpr: f64,
    pub log_loss: f64,
    pub positives: usize,
    pub negatives: usize,
}

/// Score distribution on validation data: the drift-monitoring reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreDistribution {
    /// `(q, score)` pairs for q in 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999.
    pub quantiles: Vec<(f64, f32)>,
    /// Bin edges `[0, 0.05, …, 1]` and the fraction of rows per bin.
    pub histogram_edges: Vec<f32>,
    pub histogram_fractions: Vec<f64>,
}

impl ScoreDistribution {
    pub fn from_scores(scores: &[f32]) -> Self {
        let mut sorted: Vec<f32> = scores.iter().copied().filter(|s| s.is_finite()).collect();
        sorted.sort_by(f32::total_cmp);
        let quantiles = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]
            .into_iter()
            .map(|q| {
                let v = if sorted.is_empty() {
                    f32::NAN
                } else {
                    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
                };
                (q, v)
            })
            .collect();
        const BINS: usize = 20;
        let edges: Vec<f32> = (0..=BINS).map(|i| i as f32 / BINS as f32).collect();
        let mut counts = [0usize; BINS];
        for s in &sorted {
            counts[((s * BINS as f32) as usize).min(BINS - 1)] += 1;
        }
        let total = sorted.len().max(1) as f64;
        Self {
            quantiles,
            histogram_edges: edges,
            histogram_fractions: counts.iter().map(|&c| c as f64 / total).collect(),
        }
    }
}

/// Size and blake3 hash of one artifact file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChecksum {
    pub path: String,
    pub bytes: u64,
    pub blake3: String,
}

/// Contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    pub version: String,
    /// RFC 3339 creation time.
    pub created: String,
    pub schema: FeatureSchema,
    pub schema_hash: String,
    pub architecture: Architecture,
    /// One entry per `schema.numeric` column, same order.
    pub normalization: Vec<NumericStats>,
    /// Columns of the training data left out of the inputs
    /// ([`crate::inputs`]: absolute times).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<LeftOutInput>,
    pub training: TrainingInfo,
    pub metrics: Metrics,
    pub score_distribution: ScoreDistribution,
    /// The isotonic map every scorer applies after the network
    /// ([`crate::calibration`]); absent in a model trained before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::calibration::Calibration>,
    /// Each numeric input's distribution on the training split: the
    /// reference of serving's `verdict_feature_psi`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_reference: Vec<crate::shift::FeatureReference>,
    /// Checksums of the other files (at least `model.bin`).
    pub files: Vec<FileChecksum>,
}

impl Manifest {
    /// `Ok` when every feature the model needs is among those available.
    pub fn check_compatible(
        &self,
        numeric_available: &[&str],
        categorical_available: &[&str],
    ) -> Result<(), SchemaMismatch> {
        let missing_numeric: Vec<String> = self
            .schema
            .numeric
            .iter()
            .filter(|n| !numeric_available.contains(&n.as_str()))
            .cloned()
            .collect();
        let missing_categorical: Vec<String> = self
            .schema
            .categorical
            .iter()
            .filter(|c| !categorical_available.contains(&c.name.as_str()))
            .map(|c| c.name.clone())
            .collect();
        if missing_numeric.is_empty() && missing_categorical.is_empty() {
            return Ok(());
        }
        Err(SchemaMismatch {
            model: format!("{}@{}", self.name, self.version),
            schema_hash: self.schema_hash.clone(),
            missing_numeric,
            missing_categorical,
        })
    }

    /// `name@version`, as shown in logs and metrics labels.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// blake3 checksum record for `bytes` stored as `path`.
pub fn checksum(path: &str, bytes: &[u8]) -> FileChecksum {
    FileChecksum {
        path: path.to_string(),
        bytes: bytes.len() as u64,
        blake3: blake3::hash(bytes).to_hex().to_string(),
    }
}
