//! Training: feature log + labels → model artifact with manifest and report.
//!
//! Steps, in order:
//! 1. Read the feature table and labels (unlabelled = legitimate).
//! 2. Split by event time: the last `validation_fraction` of the time range
//!    is validation, so nothing from the future leaks into training.
//! 3. Build the schema from training rows only: every numeric column but
//!    the absolute times ([`crate::inputs`]), and `mcc` / `country` /
//!    `channel` with a top-K vocabulary by frequency (ties by value, so it
//!    is deterministic; index 0 = other).
//! 4. Normalization from training rows: each input's transform (`ln(1+x)`
//!    for counts and amounts, [`crate::inputs`]), then mean, std and
//!    missing rate of the transformed values.
//! 5. Train [`FraudNet`] on `Autodiff<NdArray>` with Adam on a class-weighted
//!    binary cross-entropy (fraud rows weighted by `positive_weight`, by
//!    default `sqrt(negatives / positives)`), shuffling with a seeded ChaCha
//!    RNG; after each epoch score the validation split and keep the weights
//!    with the best validation PR AUC, stopping after `patience` epochs
//!    without improvement.
//! 6. Score validation through the serving path ([`FastScorer`]); fit the
//!    calibration on its first half by event time and check it on the
//!    second ([`crate::calibration`]); the calibrated scores give the
//!    metrics, drift reference and report; write the artifact.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::backend::{Autodiff, NdArray, ndarray::NdArrayDevice};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::artifact::{LoadError, write_artifact};
use crate::calibration::{Calibration, reliability};
use crate::device::Device;
use crate::eval::{CalibrationCheck, EvalError, EvalReport, build_report, write_report};
use crate::inputs;
use crate::manifest::{
    FORMAT_VERSION, LeftOutInput, Manifest, NumericStats, TimeRange, TrainingInfo, WEIGHTS_FILE,
};
use crate::net::{FraudNet, to_vec};
use crate::preprocess::Preprocessor;
use crate::ranking::evaluate_scores;
use crate::schema::{CategoricalColumn, FeatureSchema, UNKNOWN_CATEGORY};
use crate::scorer::{FastScorer, Scorer, encode_inputs};
use crate::shift::{self, FeatureShift};
use crate::table::{
    DataError, FeatureTable, Label, LabelMaturity, label_vector, read_labels, read_table,
};
use crate::weights::{Architecture, NetWeights};

/// Everything `verdict train` can set.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub data: PathBuf,
    pub labels: PathBuf,
    /// The model directory to write (created).
    pub out: PathBuf,
    pub name: String,
    /// Defaults to the UTC creation time, `YYYYMMDD-HHMMSS`.
    pub version: Option<String>,
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub hidden: Vec<usize>,
    pub embedding_dim: usize,
    /// Vocabulary size per categorical column, excluding the "other" bucket.
    pub max_vocabulary: usize,
    pub validation_fraction: f64,
    /// Epochs without validation PR AUC improvement before stopping.
    pub patience: usize,
    /// Loss weight of fraud rows; `None` = `sqrt(negatives / positives)`.
    pub positive_weight: Option<f32>,
    /// Normalized values are clipped to `±clip`.
    pub clip: f32,
    /// Draw a progress bar per epoch on stderr.
    pub progress: bool,
    /// Fit the score's calibration on the validation split
    /// ([`crate::calibration`]).
    pub calibrate: bool,
    /// Leave out the rows too young for their labels to have arrived
    /// (they would otherwise count as legitimate).
    pub label_maturity: Option<LabelMaturity>,
    /// Where the network trains ([`crate::device`]); CUDA falls back to the
    /// CPU, with the reason in [`TrainSummary::fallback`].
    pub device: Device,
}

impl TrainConfig {
    pub fn new(
        data: impl Into<PathBuf>,
        labels: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> Self {
        Self {
            data: data.into(),
            labels: labels.into(),
            out: out.into(),
            name: "verdict-fraud".into(),
            version: None,
            seed: 42,
            epochs: 20,
            batch_size: 256,
            learning_rate: 2e-3,
            hidden: vec![128, 64],
            embedding_dim: 8,
            max_vocabulary: 64,
            validation_fraction: 0.2,
            patience: 4,
            positive_weight: None,
            clip: 8.0,
            progress: true,
            calibrate: true,
            label_maturity: None,
            device: Device::Cpu,
        }
    }
}

/// What `train` produced.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub model_dir: PathBuf,
    pub manifest: Manifest,
    pub report: EvalReport,
    /// Size of `model.bin`.
    pub model_bytes: u64,
    /// Why training did not run on `TrainConfig::device`, when it did not.
    pub fallback: Option<String>,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("cannot train: {0}")]
    Invalid(String),
    #[error(transparent)]
    Artifact(#[from] LoadError),
    #[error(transparent)]
    Report(#[from] EvalError),
}

/// Inputs of one split, ready for tensors.
struct Split {
    rows: Vec<usize>,
    numeric: Vec<f32>,
    categories: Vec<Vec<i64>>,
    y: Vec<f32>,
}

/// Steps 1–4: the data read, split by time, described by a schema and
/// normalized, ready for training.
struct Prepared {
    table: FeatureTable,
    labels: HashMap<String, Label>,
    schema: FeatureSchema,
    /// Raw rows in schema order, `width` values each (for the serving path).
    raw: Vec<f32>,
    width: usize,
    normalization: Vec<NumericStats>,
    /// Numeric columns of the table that are not inputs.
    left_out: Vec<LeftOutInput>,
    train_set: Split,
    valid_set: Split,
    /// Fraud rows in the training split.
    positives: usize,
    /// The first validation event time.
    cut: i64,
    /// Rows left out by the label maturity.
    immature: usize,
}

/// Trains a model as described in the module docs and writes it to `cfg.out`.
pub fn train(cfg: &TrainConfig) -> Result<TrainSummary, TrainError> {
    if cfg.epochs == 0 || cfg.batch_size == 0 || cfg.hidden.is_empty() || cfg.embedding_dim == 0 {
        return Err(TrainError::Invalid(
            "epochs, batch size, hidden layers and embedding dim must be positive".into(),
        ));
    }
    let data = prepare(cfg)?;
    let negatives = data.train_set.rows.len() - data.positives;
    let positive_weight = cfg
        .positive_weight
        .unwrap_or(((negatives as f32) / (data.positives as f32)).sqrt());
    let arch = Architecture {
        numeric_inputs: data.schema.numeric.len(),
        vocabulary_sizes: data.schema.vocabulary_sizes(),
        embedding_dim: cfg.embedding_dim,
        hidden: cfg.hidden.clone(),
    };

    let fitted = fit_on_device(cfg, &arch, &data, positive_weight);
    let (weights, epochs_run, best_epoch) = fitted.run;

    let training = TrainingRun {
        epochs_run,
        best_epoch,
        positive_weight,
        device: fitted.device,
    };
    let manifest = new_manifest(cfg, &data, arch, &training);
    let mut summary = finish(cfg, &data, manifest, &weights)?;
    summary.fallback = fitted.fallback;
    Ok(summary)
}

/// Steps 1–4 of the module docs.
fn prepare(cfg: &TrainConfig) -> Result<Prepared, TrainError> {
    let mut table = read_table(&cfg.data)?;
    let immature = cfg
        .label_maturity
        .as_ref()
        .map_or(0, |m| table.retain_mature(m));
    let labels = read_labels(&cfg.labels)?;
    let y = label_vector(&table, &labels);
    let (train_rows, valid_rows, cut) = time_split(&table, cfg.validation_fraction)?;
    let positives = train_rows.iter().filter(|&&r| y[r] > 0.5).count();
    if positives == 0 || positives == train_rows.len() {
        return Err(TrainError::Invalid(format!(
            "training split has {positives} fraud rows of {}",
            train_rows.len()
        )));
    }
    let left_out = inputs::absolute_times(&table, &train_rows);
    let numeric_names = inputs::input_names(&table, &left_out);
    let schema = build_schema(&table, numeric_names, &train_rows, cfg.max_vocabulary);
    let raw = table.rows_for(&schema).map_err(TrainError::Invalid)?;
    let width = schema.width();
    let normalization = inputs::numeric_stats(&table, &schema.numeric, &train_rows, cfg.clip);
    let pre = Preprocessor::new(&normalization, &schema.vocabulary_sizes());
    let split = |rows: Vec<usize>| {
        let gathered: Vec<f32> = rows
            .iter()
            .flat_map(|&r| raw[r * width..(r + 1) * width].iter().copied())
            .collect();
        let (numeric, categories) = encode_inputs(&pre, &gathered, rows.len());
        let yy = rows.iter().map(|&r| y[r]).collect();
        Split {
            rows,
            numeric,
            categories,
            y: yy,
        }
    };
    let train_set = split(train_rows);
    let valid_set = split(valid_rows);
    Ok(Prepared {
        table,
        labels,
        schema,
        raw,
        width,
        normalization,
        left_out,
        train_set,
        valid_set,
        positives,
        cut,
        immature,
    })
}

/// What the training loop reports back for the manifest.
struct TrainingRun {
    epochs_run: usize,
    best_epoch: usize,
    positive_weight: f32,
    /// Where it ran.
    device: Device,
}

/// The manifest of the new model, with placeholder metrics and score
/// distribution until [`finish`] has scored the validation split.
fn new_manifest(
    cfg: &TrainConfig,
    data: &Prepared,
    arch: Architecture,
    run: &TrainingRun,
) -> Manifest {
    let created = chrono::Utc::now();
    let version = cfg
        .version
        .clone()
        .unwrap_or_else(|| created.format("%Y%m%d-%H%M%S").to_string());
    let (table, cut) = (&data.table, data.cut);
    let range = |rows: &[usize]| TimeRange {
        start_ms: rows
            .iter()
            .map(|&r| table.event_time[r])
            .min()
            .unwrap_or(cut),
        end_ms: rows
            .iter()
            .map(|&r| table.event_time[r])
            .max()
            .unwrap_or(cut),
    };
    let (train_set, valid_set) = (&data.train_set, &data.valid_set);
    Manifest {
        format_version: FORMAT_VERSION,
        name: cfg.name.clone(),
        version,
        created: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        schema_hash: data.schema.hash(),
        schema: data.schema.clone(),
        architecture: arch,
        normalization: data.normalization.clone(),
        left_out: data.left_out.clone(),
        training: TrainingInfo {
            data: cfg.data.display().to_string(),
            labels: cfg.labels.display().to_string(),
            train_range: range(&train_set.rows),
            validation_range: range(&valid_set.rows),
            train_rows: train_set.rows.len(),
            train_positives: data.positives,
            validation_rows: valid_set.rows.len(),
            validation_positives: valid_set.y.iter().filter(|&&v| v > 0.5).count(),
            seed: cfg.seed,
            epochs_run: run.epochs_run,
            best_epoch: run.best_epoch,
            positive_weight: run.positive_weight,
            learning_rate: cfg.learning_rate,
            batch_size: cfg.batch_size,
            device: run.device,
        },
        metrics: evaluate_scores(&[], &[]).metrics,
        score_distribution: crate::manifest::ScoreDistribution::from_scores(&[]),
        calibration: None,
        feature_reference: Vec::new(),
        files: Vec::new(),
    }
}

/// Step 6: score the validation split through the serving path, fill the
/// manifest's metrics and drift reference, write report and artifact.
fn finish(
    cfg: &TrainConfig,
    data: &Prepared,
    mut manifest: Manifest,
    weights: &NetWeights,
) -> Result<TrainSummary, TrainError> {
    let (raw, width, valid_set) = (&data.raw, data.width, &data.valid_set);
    // Validation metrics through the serving path.
    let scorer = FastScorer::new(manifest.clone(), weights);
    let valid_raw: Vec<f32> = valid_set
        .rows
        .iter()
        .flat_map(|&r| raw[r * width..(r + 1) * width].iter().copied())
        .collect();
    let mut scores = vec![0.0; valid_set.rows.len()];
    scorer
        .score_batch(&valid_raw, &mut scores)
        .map_err(|e| TrainError::Invalid(e.to_string()))?;
    let valid_labels: Vec<_> = valid_set
        .rows
        .iter()
        .map(|&r| data.labels.get(&data.table.transaction_ids[r]))
        .collect();
    let check = calibrate(cfg, data, &mut manifest, &mut scores);
    let mut report = build_report(
        manifest.id(),
        format!("{} (validation split)", cfg.data.display()),
        &scores,
        &valid_set.y,
        &valid_labels,
    );
    report.calibration = check;
    report.feature_shift = feature_shift(data);
    report.immature_rows_left_out = data.immature;
    manifest.feature_reference = feature_reference(data);
    manifest.metrics = report.evaluation.metrics;
    manifest.score_distribution = report.score_distribution.clone();
    write_report(&cfg.out, &report)?;
    write_artifact(&cfg.out, &mut manifest, weights, &[])?;
    let model_bytes = manifest
        .files
        .iter()
        .find(|f| f.path == WEIGHTS_FILE)
        .map_or(0, |f| f.bytes);
    Ok(TrainSummary {
        model_dir: cfg.out.clone(),
        manifest,
        report,
        model_bytes,
        fallback: None,
    })
}

/// Each numeric input's training-split distribution (for serving drift).
fn feature_reference(data: &Prepared) -> Vec<shift::FeatureReference> {
    let (raw, width) = (&data.raw, data.width);
    (data.schema.numeric.iter().enumerate())
        .map(|(j, name)| {
            let values: Vec<f32> = (data.train_set.rows.iter())
                .map(|&r| raw[r * width + j])
                .collect();
            shift::FeatureReference {
                feature: name.clone(),
                bins: shift::Bins::of(&values),
            }
        })
        .collect()
}

/// Every input's shift between the splits and its correlation with event
/// time ([`crate::shift`]), most shifted first.
fn feature_shift(data: &Prepared) -> Vec<FeatureShift> {
    let (raw, width) = (&data.raw, data.width);
    let (train, valid) = (&data.train_set.rows, &data.valid_set.rows);
    let column = |rows: &[usize], j: usize| -> Vec<f32> {
        rows.iter().map(|&r| raw[r * width + j]).collect()
    };
    let times: Vec<i64> = train.iter().map(|&r| data.table.event_time[r]).collect();
    let nn = data.schema.numeric.len();
    let mut out: Vec<FeatureShift> = data
        .schema
        .numeric
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let t = column(train, j);
            let psi = shift::numeric_psi(&t, &column(valid, j));
            shift::assess(name, psi, shift::time_correlation(&t, &times))
        })
        .collect();
    for (c, col) in data.schema.categorical.iter().enumerate() {
        let index = |rows: &[usize]| -> Vec<i64> {
            column(rows, nn + c).iter().map(|&v| v as i64).collect()
        };
        let psi = shift::categorical_psi(&index(train), &index(valid), col.vocabulary.len());
        out.push(shift::assess(&col.name, psi, None));
    }
    out.sort_by(|a, b| b.psi.total_cmp(&a.psi).then(a.feature.cmp(&b.feature)));
    out
}

/// Fits the calibration on the first half (by event time) of the
/// validation split's `scores` and checks it on the second; stores it in
/// `manifest` and calibrates `scores`, which then are what the model
/// serves. Nothing when `cfg.calibrate` is off or a half has one class.
fn calibrate(
    cfg: &TrainConfig,
    data: &Prepared,
    manifest: &mut Manifest,
    scores: &mut [f32],
) -> Option<CalibrationCheck> {
    if !cfg.calibrate {
        return None;
    }
    let valid = &data.valid_set;
    let mut order: Vec<usize> = (0..valid.rows.len()).collect();
    order.sort_by_key(|&i| data.table.event_time[valid.rows[i]]);
    let (fit, held_out) = order.split_at(order.len() / 2);
    let pick = |rows: &[usize], v: &[f32]| -> Vec<f32> { rows.iter().map(|&i| v[i]).collect() };
    let calibration = Calibration::fit(&pick(fit, scores), &pick(fit, &valid.y))?;
    let held_y = pick(held_out, &valid.y);
    let uncalibrated = reliability(&pick(held_out, scores), &held_y);
    scores.iter_mut().for_each(|s| *s = calibration.apply(*s));
    let calibrated = reliability(&pick(held_out, scores), &held_y);
    manifest.calibration = Some(calibration);
    Some(CalibrationCheck {
        fitted_rows: fit.len(),
        held_out_rows: held_out.len(),
        uncalibrated,
        calibrated,
    })
}

/// Row indices before and from the time cut, and the cut itself.
fn time_split(
    table: &FeatureTable,
    fraction: f64,
) -> Result<(Vec<usize>, Vec<usize>, i64), TrainError> {
    if table.len() < 10 {
        return Err(TrainError::Invalid(format!("only {} rows", table.len())));
    }
    let mut times = table.event_time.clone();
    times.sort_unstable();
    let at = ((times.len() as f64) * (1.0 - fraction.clamp(0.01, 0.9))) as usize;
    let cut = times[at.min(times.len() - 1)];
    let (train, valid): (Vec<usize>, Vec<usize>) =
        (0..table.len()).partition(|&r| table.event_time[r] < cut);
    if train.is_empty() || valid.is_empty() {
        return Err(TrainError::Invalid(
            "time split left an empty train or validation set".into(),
        ));
    }
    Ok((train, valid, cut))
}

fn build_schema(
    table: &FeatureTable,
    numeric: Vec<String>,
    rows: &[usize],
    max_vocabulary: usize,
) -> FeatureSchema {
    let categorical = table
        .categorical_names
        .iter()
        .zip(&table.categorical)
        .map(|(name, values)| {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for &r in rows {
                if let Some(v) = values[r].as_deref() {
                    *counts.entry(v).or_default() += 1;
                }
            }
            let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let vocabulary = std::iter::once(UNKNOWN_CATEGORY.to_string())
                .chain(
                    ranked
                        .into_iter()
                        .take(max_vocabulary)
                        .map(|(v, _)| v.to_string()),
                )
                .collect();
            CategoricalColumn {
                name: name.clone(),
                vocabulary,
            }
        })
        .collect();
    FeatureSchema::new(numeric, categorical)
}

fn batch_tensors<B: Backend>(
    set: &Split,
    idx: &[usize],
    device: &B::Device,
) -> (Tensor<B, 2>, Vec<Tensor<B, 2, Int>>) {
    let nn = set.numeric.len() / set.rows.len().max(1);
    let numeric: Vec<f32> = idx
        .iter()
        .flat_map(|&i| set.numeric[i * nn..(i + 1) * nn].iter().copied())
        .collect();
    let numeric = Tensor::from_data(TensorData::new(numeric, [idx.len(), nn]), device);
    let categories = set
        .categories
        .iter()
        .map(|col| {
            let c: Vec<i64> = idx.iter().map(|&i| col[i]).collect();
            Tensor::from_data(TensorData::new(c, [idx.len(), 1]), device)
        })
        .collect();
    (numeric, categories)
}

/// Validation probabilities of `model` (inference backend).
fn predict<B: Backend>(model: &FraudNet<B>, set: &Split, device: &B::Device) -> Vec<f32> {
    let all: Vec<usize> = (0..set.rows.len()).collect();
    let mut out = Vec::with_capacity(all.len());
    for idx in all.chunks(4096) {
        let (numeric, categories) = batch_tensors::<B>(set, idx, device);
        out.extend(to_vec(sigmoid(model.forward(numeric, categories))));
    }
    out
}

/// The training loop's result and where it ran.
struct Fitted {
    run: (NetWeights, usize, usize),
    device: Device,
    /// Why it did not run on the device asked for.
    fallback: Option<String>,
}

/// [`fit`] on `cfg.device`: CUDA when asked for and usable, else the CPU
/// (with the reason). The CPU run is deterministic for a seed; a GPU run
/// need not be bit for bit (its reductions are parallel).
fn fit_on_device(
    cfg: &TrainConfig,
    arch: &Architecture,
    data: &Prepared,
    positive_weight: f32,
) -> Fitted {
    let (train, valid) = (&data.train_set, &data.valid_set);
    let on_cpu = |fallback| Fitted {
        run: fit::<Autodiff<NdArray>>(
            cfg,
            arch,
            train,
            valid,
            positive_weight,
            &NdArrayDevice::default(),
        ),
        device: Device::Cpu,
        fallback,
    };
    match cfg.device {
        Device::Cpu => on_cpu(None),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda => on_cpu(Some(crate::device::NO_CUDA_FEATURE.to_string())),
        #[cfg(feature = "cuda")]
        Device::Cuda => {
            let on_gpu = crate::device::without_panics(|| {
                let device = burn::backend::cuda::CudaDevice::default();
                Ok(fit::<Autodiff<burn::backend::Cuda>>(
                    cfg,
                    arch,
                    train,
                    valid,
                    positive_weight,
                    &device,
                ))
            });
            match on_gpu {
                Ok(run) => Fitted {
                    run,
                    device: Device::Cuda,
                    fallback: None,
                },
                Err(why) => on_cpu(Some(format!(
                    "no usable CUDA device ({why}): training on the CPU"
                ))),
            }
        }
    }
}

/// The training loop; returns the best weights, epochs run and best epoch.
fn fit<B: AutodiffBackend>(
    cfg: &TrainConfig,
    arch: &Architecture,
    train: &Split,
    valid: &Split,
    positive_weight: f32,
    device: &B::Device,
) -> (NetWeights, usize, usize) {
    let device = device.clone();
    B::seed(&device, cfg.seed);
    let mut model = FraudNet::<B>::init(arch, &device);
    let mut optim = AdamConfig::new().init::<B, FraudNet<B>>();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..train.rows.len()).collect();
    let batches = order.len().div_ceil(cfg.batch_size);
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} batches {msg}")
        .expect("static template")
        .progress_chars("=> ");
    let (mut best, mut best_pr, mut best_epoch, mut stale, mut epochs_run) =
        (model.valid().to_weights(), -1.0, 0, 0, 0);
    for epoch in 1..=cfg.epochs {
        epochs_run = epoch;
        let bar = if cfg.progress {
            ProgressBar::new(batches as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(style.clone());
        bar.set_prefix(format!("epoch {epoch}/{}", cfg.epochs));
        bar.enable_steady_tick(Duration::from_millis(200));
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0f64;
        for (b, idx) in order.chunks(cfg.batch_size).enumerate() {
            let (numeric, categories) = batch_tensors::<B>(train, idx, &device);
            let y: Vec<f32> = idx.iter().map(|&i| train.y[i]).collect();
            let w: Vec<f32> = y
                .iter()
                .map(|&v| if v > 0.5 { positive_weight } else { 1.0 })
                .collect();
            let y = Tensor::<B, 2>::from_data(TensorData::new(y, [idx.len(), 1]), &device);
            let w = Tensor::<B, 2>::from_data(TensorData::new(w, [idx.len(), 1]), &device);
            let z = model.forward(numeric, categories);
            // Weighted BCE on logits: -(y·logσ(z) + (1-y)·logσ(-z)).
            let nll =
                (y.clone() * log_sigmoid(z.clone()) + (y.neg() + 1.0) * log_sigmoid(z.neg())).neg();
            let loss = (nll * w.clone()).sum() / w.sum();
            loss_sum += f64::from(loss.clone().into_scalar().elem::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.learning_rate, model, grads);
            bar.inc(1);
            if b % 8 == 0 {
                bar.set_message(format!("loss {:.4}", loss_sum / (b + 1) as f64));
            }
        }
        let inference = model.valid();
        let scores = predict(&inference, valid, &device);
        let m = evaluate_scores(&scores, &valid.y).metrics;
        let line = format!(
            "loss {:.4} | validation PR AUC {:.4} ROC AUC {:.4} log loss {:.4}",
            loss_sum / batches as f64,
            m.pr_auc,
            m.roc_auc,
            m.log_loss
        );
        if cfg.progress && bar.is_hidden() {
            // stderr is not a terminal (CI, logs): one plain line per epoch.
            eprintln!("epoch {epoch}/{}: {line}", cfg.epochs);
        }
        bar.finish_with_message(line);
        if m.pr_auc > best_pr {
            best_pr = m.pr_auc;
            best = inference.to_weights();
            best_epoch = epoch;
            stale = 0;
        } else {
            stale += 1;
            if stale >= cfg.patience {
                break;
            }
        }
    }
    (best, epochs_run, best_epoch)
}

/// Trains into `models_dir/<name>-<version>` (the registry layout).
pub fn train_into_registry(
    cfg: &TrainConfig,
    models_dir: &Path,
) -> Result<TrainSummary, TrainError> {
    let version = cfg
        .version
        .clone()
        .unwrap_or_else(|| chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string());
    let mut cfg = cfg.clone();
    cfg.out = models_dir.join(format!("{}-{version}", cfg.name));
    cfg.version = Some(version);
    train(&cfg)
}
