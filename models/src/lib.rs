//! Verdict's neural scorer: the network, its training, the model artifact
//! and registry, and the batched scorers the engine calls.
//!
//! Shape of the crate:
//!
//! * [`net`] — the burn module ([`FraudNet`]): categorical embeddings +
//!   normalized numeric features → ReLU MLP → one logit.
//! * [`inputs`] — which columns a model reads (absolute times left out) and
//!   how each is transformed (growing counts logged), decided in training.
//! * [`shift`] — the training report's warnings: inputs that moved between
//!   the splits (PSI) and inputs that follow the clock.
//! * [`calibration`] — the isotonic map from the network's output to a
//!   probability, fitted in training, applied by every scorer.
//! * [`train`] / [`eval`] / [`ranking`] / [`plots`] — training on the
//!   engine's feature log, ROC/PR evaluation and the report files.
//! * [`artifact`] / [`manifest`] / [`weights`] / [`registry`] — the on-disk
//!   model: `manifest.json` (schema, normalization, metrics, drift reference,
//!   checksums) + `model.bin`, verified on load.
//! * [`scorer`] — the [`Scorer`] trait the engine holds as
//!   `Arc<dyn Scorer>`, with the fused CPU path ([`FastScorer`], default) and
//!   the burn path ([`BurnScorer`], used for CUDA with the `cuda` feature).
//! * [`explain`] — which inputs pushed a score up (gradient × input
//!   against the training baseline), for the decisions' `score_reasons`.
//! * [`slot`] / [`batcher`] — champion/challenger hot swap and deadline-aware
//!   micro-batching.
//! * [`table`] / [`synth`] — reading feature tables and labels, and a
//!   deterministic generator of labelled tables for tests and demos.
//!
//! This crate does not depend on the engine: the engine hands it rows of
//! `f32` in the order of the model's [`FeatureSchema`].

pub mod artifact;
pub mod batcher;
pub mod calibration;
pub mod device;
pub mod eval;
pub mod explain;
pub mod fast;
pub mod inputs;
pub mod manifest;
pub mod net;
pub mod plots;
pub mod preprocess;
pub mod ranking;
pub mod registry;
pub mod schema;
pub mod scorer;
pub mod shift;
pub mod slot;
pub mod synth;
pub mod table;
pub mod train;
pub mod weights;

pub use artifact::{LoadError, read_artifact, read_manifest};
pub use batcher::{BatchError, BatcherConfig, MicroBatcher, PendingScore};
pub use device::{Device, Placed, load_model_on};
pub use explain::{Attribution, Explainer};
pub use manifest::Manifest;
pub use net::FraudNet;
pub use registry::{ModelEntry, list as list_models};
pub use schema::{CategoricalColumn, FeatureSchema, SchemaMismatch};
#[cfg(feature = "cuda")]
pub use scorer::load_model_cuda;
pub use scorer::{
    BurnScorer, FastScorer, ScoreError, Scorer, load_burn_model, load_model, score_record_batch,
};
pub use slot::ModelSlot;
