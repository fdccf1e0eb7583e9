//! Verdict's engine: Kafka source and sink, the partition-affine dataflow
//! runtime, keyed state, the decision pipeline, metrics and the CLI.
//!
//! The whole dataflow of a partition is wired in [`wiring::Shared::pipeline`];
//! the Kafka runtime around it is in [`kafka`], the file runtime in [`replay`].

pub mod admin;
pub mod backfill;
pub mod backtest;
pub mod config;
pub mod contract;
pub mod defaults;
pub mod demo;
pub mod feature_log;
pub mod generate;
pub mod kafka;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod replay;
pub mod wiring;

/// Installs the allocator the `verdict` binary runs on (jemalloc with
/// transparent huge pages; see [`verdict_state::alloc`]) in another binary.
pub use verdict_state::engine_allocator;
