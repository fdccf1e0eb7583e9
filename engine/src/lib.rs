//! Verdict's engine: Kafka source and sink, the partition-affine dataflow
//! runtime, keyed state, the decision pipeline, metrics and the CLI.
//!
//! The whole dataflow of a partition is wired in [`dataflow::Dataflow::pipeline`];
//! the Kafka runtime around it is in [`kafka`], the file runtime in [`replay`].
//!
//! Module map:
//!
//! ```text
//! contract/    what crosses the Kafka boundary: event.rs (the Event), decode.rs
//!              (bytes → Event or Rejection), decision.rs, dlq.rs, amount, pan
//! dataflow.rs  the parts partitions share, and the one function wiring a
//!              partition's stages
//! pipeline/    the Stage trait, StageError (whose fault), the Pipeline; one
//!              file per stage (features, score, rules), the batch, emit
//! kafka/       the Kafka runtime: run.rs (router), worker.rs (a partition),
//!              changelog/ (state copied to and restored from a compacted
//!              topic), restore.rs (a store brought up to date with it),
//!              handle.rs, context.rs (rebalance), dlq.rs, client.rs
//! rekey.rs     re-keying: which features hop to their key's owner, the
//!              records of the hop, the owner's ledger (kafka/rekey.rs: topics)
//! replay.rs    the file runtime (deterministic); backtest.rs, backfill.rs on it
//! config.rs    layered configuration and its validation
//! metrics.rs   every metric family; drift.rs the serving score PSI, feature_drift.rs the inputs'
//!              PSI
//! admin/       the admin HTTP API: mod.rs (routes, request log), auth.rs
//!              (bearer token), control.rs (rule reload, model promotion)
//! status.rs    a live engine's partitions, readiness and health;
//!              recent.rs the recent decisions the admin API looks up
//! generate/    synthetic traffic; demo.rs runs it through in-process Kafka
//! reload.rs    rule hot reload; defaults.rs the embedded rules and model;
//!              feature_log.rs the training log, feature_sink.rs its live
//!              writer thread, labels.rs the labels topic
//! ```
//!
//! The `verdict` binary is `main.rs` (parse, dispatch) and `cli/` (one file
//! per command; `cli/assets.rs` the shared arguments and the one place that
//! loads rules, model and dataflow).

pub mod admin;
pub mod backfill;
pub mod backtest;
pub mod config;
pub mod contract;
pub mod dataflow;
pub mod defaults;
pub mod demo;
pub mod drift;
pub mod feature_drift;
pub mod feature_log;
pub mod feature_sink;
pub mod generate;
pub mod kafka;
pub mod labels;
pub mod metrics;
pub mod pipeline;
pub mod recent;
pub mod rekey;
pub mod reload;
pub mod replay;
pub mod status;
