//! Verdict keyed state: sliding velocity windows per entity and a year of
//! per-user history, over RocksDB, checkpointed atomically with input offsets.
//!
//! # Module map
//!
//! * [`partition`]: [`PartitionState`], one Kafka partition's state: the
//!   per-event and batch paths, the feature layout, entities and their
//!   records, the hot tables, the memory bound and the checkpoint protocol.
//! * `window`: exact and bucketed window aggregates and their exactness
//!   guarantees (HyperLogLog for large distinct counts); `history`: per-user
//!   daily rollups for 365 days and seen sets; `previous`: the previous
//!   value of a field.
//! * `lookahead`: the prefetch protocol of a batch (its links, and the
//!   trait the states on the chain implement).
//! * [`store`]: the byte key-value [`StateStore`] trait, [`WriteBatch`],
//!   [`MemoryStore`] and [`RocksStore`]. Nothing outside `store/rocks.rs`
//!   imports `rocksdb`.
//! * [`keys`]: the key layout, partition first.
//! * [`backfill`]: bulk history load and Kafka's default partitioner.
//! * [`config`], [`error`]: the `[state]` section; errors tagged with
//!   whose fault they are.
//! * Leaves, importing nothing of this crate: `units` (days, fixed-point
//!   amounts), `hashing` (XXH3 value and key hashes), `prefetch` (cache
//!   line prefetches), `search` (galloping searches from a guess, the
//!   window cursor), `codec` (varint records), `keys`, `lookahead`, `error`,
//!   `store/batch.rs`, `window/sketch.rs`, `window/aggregate.rs`.
//!   `tuning` (window knobs, bucket width) only imports `units`.
//!
//! Features are declared by rule files ([`verdict_rules::spec::FeatureSpec`]);
//! every `Window`, `History` and `Previous` feature is maintained from its
//! spec, none is hand-coded here.

pub mod backfill;
mod codec;
pub mod config;
pub mod error;
mod hashing;
mod history;
pub mod keys;
mod lookahead;
pub mod partition;
mod prefetch;
mod previous;
mod search;
pub mod store;
mod tuning;
mod units;
mod window;

pub use config::StateConfig;
pub use error::{ErrorClass, StateError};
pub use lookahead::LOOKAHEAD_EVENTS;
pub use partition::{PartitionState, PreparedCheckpoint, StateStats, holds_state};
pub use store::batch::{BatchOp, WriteBatch};
pub use store::memory::MemoryStore;
pub use store::rocks;
pub use store::rocks::{RocksOptions, RocksStore};
pub use store::{ScanVisitor, StateStore};
