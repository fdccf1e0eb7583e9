//! Verdict keyed state: sliding velocity windows per entity and a year of
//! per-user history, over RocksDB, checkpointed atomically with input offsets.
//!
//! * [`store`]: the byte key-value [`StateStore`] trait, [`MemoryStore`];
//!   [`rocks`]: [`RocksStore`]. Nothing outside this crate imports `rocksdb`.
//! * [`keys`]: the key layout, partition first.
//! * `window`: exact (≤ 1 h by default) and bucketed window aggregates and
//!   their exactness guarantees; `sketch`: HyperLogLog for large distinct counts.
//! * `history`: per-user daily rollups for 365 days.
//! * [`partition`]: [`PartitionState`], one Kafka partition's state with its
//!   hot layer, memory bound and checkpoint protocol.
//! * [`backfill`]: bulk history load and Kafka's default partitioner.
//!
//! Features are declared by rule files ([`verdict_rules::spec::FeatureSpec`]);
//! every `Window`, `History` and `Previous` feature is maintained from its
//! spec, none is hand-coded here.

pub mod alloc;
pub mod backfill;
mod codec;
pub mod config;
pub mod error;
mod history;
mod hot;
pub mod keys;
pub mod partition;
mod record;
pub mod rocks;
mod sketch;
pub mod store;
mod window;

pub use config::StateConfig;
pub use error::{ErrorClass, StateError};
pub use partition::{PartitionState, PreparedCheckpoint, StateStats};
pub use rocks::{RocksOptions, RocksStore};
pub use store::{BatchOp, MemoryStore, ScanVisitor, StateStore, WriteBatch};
