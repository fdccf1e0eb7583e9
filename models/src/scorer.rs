//! The `Scorer` trait the engine holds, and its two implementations.
//!
//! * [`FastScorer`]: the default CPU scorer, the fused `f32` path of
//!   [`crate::fast`]. Stateless per call, so any number of threads can score
//!   through one `Arc<dyn Scorer>` without locking.
//! * [`BurnScorer`]: the same model as a burn module on any backend — NdArray
//!   for reference and comparison, Cuda with the `cuda` feature. burn modules
//!   are not `Sync`, so it scores under a mutex (one batch at a time on the
//!   device, which is how a GPU wants it anyway).

use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::artifact::{LoadError, read_artifact};
use crate::explain::Explainer;
use crate::fast::FastNet;
use crate::manifest::Manifest;
use crate::net::{FraudNet, to_vec};
use crate::preprocess::Preprocessor;
use crate::weights::NetWeights;

/// Why a batch could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScoreError {
    #[error("score batch: {rows} values is not {out} rows of width {width}")]
    Shape {
        rows: usize,
        out: usize,
        width: usize,
    },
    #[error("scorer backend failed: {0}")]
    Backend(String),
    #[error("score input: {0}")]
    Input(String),
}

/// A loaded model that turns feature rows into fraud probabilities.
pub trait Scorer: Send + Sync {
    fn manifest(&self) -> &Manifest;

    /// `rows` is row-major, `out.len()` rows of `schema.width()` values:
    /// numeric columns first, raw (unnormalized; NaN = missing), then the
    /// categorical columns as vocabulary indices stored as f32. Writes a fraud
    /// probability in [0,1] per row.
    fn score_batch(&self, rows: &[f32], out: &mut [f32]) -> Result<(), ScoreError>;

    /// What explains this model's scores (see [`crate::explain`]); `None`
    /// for a scorer that is not one of the crate's networks.
    fn explainer(&self) -> Option<&Explainer> {
        None
    }
}

impl std::fmt::Debug for dyn Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scorer({})", self.manifest().id())
    }
}

fn check_shape(manifest: &Manifest, rows: &[f32], out: &[f32]) -> Result<(), ScoreError> {
    let width = manifest.schema.width();
    if rows.len() != out.len() * width {
        return Err(ScoreError::Shape {
            rows: rows.len(),
            out: out.len(),
            width,
        });
    }
    Ok(())
}

/// The manifest's calibration, applied to the network's outputs.
fn calibrate(manifest: &Manifest, out: &mut [f32]) {
    if let Some(c) = &manifest.calibration {
        out.iter_mut().for_each(|s| *s = c.apply(*s));
    }
}

fn preprocessor(manifest: &Manifest) -> Preprocessor {
    Preprocessor::new(&manifest.normalization, &manifest.schema.vocabulary_sizes())
}

/// Loads and verifies a model directory into the default (fused CPU) scorer.
pub fn load_model(dir: &Path) -> Result<Arc<dyn Scorer>, LoadError> {
    Ok(Arc::new(FastScorer::load(dir)?))
}

/// Loads a model directory onto a burn backend (NdArray, or Cuda with the
/// `cuda` feature).
pub fn load_burn_model<B: Backend>(
    dir: &Path,
    device: B::Device,
) -> Result<BurnScorer<B>, LoadError> {
    let (manifest, weights) = read_artifact(dir)?;
    Ok(BurnScorer::new(manifest, &weights, device))
}

/// Loads a model directory onto the first CUDA device.
#[cfg(feature = "cuda")]
pub fn load_model_cuda(dir: &Path) -> Result<Arc<dyn Scorer>, LoadError> {
    let device = burn::backend::cuda::CudaDevice::default();
    Ok(Arc::new(load_burn_model::<burn::backend::Cuda>(
        dir, device,
    )?))
}

/// The default CPU scorer: plain `f32` weights, fused SIMD forward pass.
#[derive(Debug, Clone)]
pub struct FastScorer {
    manifest: Manifest,
    net: FastNet,
    explainer: Explainer,
}

impl FastScorer {
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let (manifest, weights) = read_artifact(dir)?;
        Ok(Self::new(manifest, &weights))
    }

    /// `weights` must match `manifest.architecture` (see `NetWeights::validate`).
    pub fn new(manifest: Manifest, weights: &NetWeights) -> Self {
        let net = FastNet::new(preprocessor(&manifest), weights);
        let explainer = Explainer::new(preprocessor(&manifest), weights);
        Self {
            manifest,
            net,
            explainer,
        }
    }

    /// Same model, forced onto the portable (non-SIMD) kernel.
    pub fn portable(mut self) -> Self {
        self.net = self.net.with_portable_kernel();
        self
    }

    pub fn uses_simd(&self) -> bool {
        self.net.uses_simd()
    }
}

impl Scorer for FastScorer {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn score_batch(&self, rows: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
        check_shape(&self.manifest, rows, out)?;
        self.net.forward(rows, out);
        calibrate(&self.manifest, out);
        Ok(())
    }

    fn explainer(&self) -> Option<&Explainer> {
        Some(&self.explainer)
    }
}

/// The model as a burn module on backend `B`.
pub struct BurnScorer<B: Backend> {
    manifest: Manifest,
    pre: Preprocessor,
    explainer: Explainer,
    net: Mutex<FraudNet<B>>,
    device: B::Device,
}

impl<B: Backend> BurnScorer<B> {
    pub fn new(manifest: Manifest, weights: &NetWeights, device: B::Device) -> Self {
        Self {
            pre: preprocessor(&manifest),
            explainer: Explainer::new(preprocessor(&manifest), weights),
            net: Mutex::new(FraudNet::from_weights(weights, &device)),
            manifest,
            device,
        }
    }

    /// Wraps an already built module (e.g. straight out of training).
    pub fn from_module(manifest: Manifest, net: FraudNet<B>, device: B::Device) -> Self {
        Self {
            pre: preprocessor(&manifest),
            explainer: Explainer::new(preprocessor(&manifest), &net.to_weights()),
            net: Mutex::new(net),
            manifest,
            device,
        }
    }

    /// Probabilities for `n` raw rows, computed with burn tensors.
    fn forward(&self, rows: &[f32], n: usize) -> Vec<f32> {
        let (numeric, categories) = encode_inputs(&self.pre, rows, n);
        let nn = self.pre.numeric_len();
        let numeric = Tensor::<B, 2>::from_data(TensorData::new(numeric, [n, nn]), &self.device);
        let categories = categories
            .into_iter()
            .map(|c| Tensor::<B, 2, Int>::from_data(TensorData::new(c, [n, 1]), &self.device))
            .collect();
        let net = self.net.lock().unwrap_or_else(|e| e.into_inner());
        to_vec(sigmoid(net.forward(numeric, categories)))
    }
}

/// Normalized numeric values `[n × numeric]` and per-column category indices.
pub(crate) fn encode_inputs(
    pre: &Preprocessor,
    rows: &[f32],
    n: usize,
) -> (Vec<f32>, Vec<Vec<i64>>) {
    let width = pre.width();
    let nn = pre.numeric_len();
    let mut numeric = vec![0.0f32; n * nn];
    let mut categories = vec![Vec::with_capacity(n); pre.categorical_len()];
    for r in 0..n {
        let row = &rows[r * width..(r + 1) * width];
        pre.normalize(row, &mut numeric[r * nn..(r + 1) * nn]);
        for (c, column) in categories.iter_mut().enumerate() {
            column.push(pre.category(row, c) as i64);
        }
    }
    (numeric, categories)
}

impl<B: Backend> Scorer for BurnScorer<B>
where
    B::Device: Send + Sync,
    FraudNet<B>: Send,
{
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn score_batch(&self, rows: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
        check_shape(&self.manifest, rows, out)?;
        if out.is_empty() {
            return Ok(());
        }
        let scores = self.forward(rows, out.len());
        if scores.len() != out.len() {
            return Err(ScoreError::Backend(format!(
                "backend returned {} scores for {} rows",
                scores.len(),
                out.len()
            )));
        }
        out.copy_from_slice(&scores);
        calibrate(&self.manifest, out);
        Ok(())
    }
    fn explainer(&self) -> Option<&Explainer> {
        Some(&self.explainer)
    }
}

/// Scores an Arrow batch holding the model's feature columns by name.
pub fn score_record_batch(
    scorer: &dyn Scorer,
    batch: &arrow::array::RecordBatch,
) -> Result<Vec<f32>, ScoreError> {
    let rows = crate::table::rows_from_batch(&scorer.manifest().schema, batch)
        .map_err(ScoreError::Input)?;
    let mut out = vec![0.0; batch.num_rows()];
    scorer.score_batch(&rows, &mut out)?;
    Ok(out)
}
