//! The byte key-value store under the state layer.
//!
//! [`StateStore`] is the small capability set the partition state needs:
//! point and multi reads, one atomic [`WriteBatch`] per checkpoint, ordered
//! range scans, range deletes and a size estimate. [`rocks::RocksStore`] is
//! the durable implementation; [`memory::MemoryStore`] (a `BTreeMap` behind
//! a lock) serves tests and ephemeral runs. Both pass the same conformance
//! suite (`tests/store_conformance.rs`). Only `rocks.rs` names `rocksdb`.
//!
//! Batch operations apply in order: a put after a `delete_range` covering its
//! key survives. The checkpoint relies on that to sweep expired records and
//! then write fresh ones in one batch.
//!
//! * `mod.rs`: the trait; `batch.rs`: [`WriteBatch`]; `memory.rs`,
//!   `rocks.rs`: the implementations.

pub mod batch;
pub mod memory;
pub mod rocks;

pub use batch::{BatchOp, WriteBatch};

use crate::error::StateError;

/// Visitor of a scan: return `false` to stop.
pub type ScanVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> bool + 'a;

/// A byte key-value store with atomic batches and ordered scans.
pub trait StateStore: Send + Sync {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Reads many keys at once; results are in the order of `keys`.
    fn multi_get(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StateError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Applies every operation of `batch` atomically, in order.
    fn write(&self, batch: WriteBatch) -> Result<(), StateError>;

    /// Visits keys in `[start, end)` in ascending order.
    fn scan(&self, start: &[u8], end: &[u8], visit: &mut ScanVisitor<'_>)
    -> Result<(), StateError>;

    /// Visits every key starting with `prefix`, in ascending order.
    fn scan_prefix(&self, prefix: &[u8], visit: &mut ScanVisitor<'_>) -> Result<(), StateError> {
        match prefix_end(prefix) {
            Some(end) => self.scan(prefix, &end, visit),
            None => self.scan(prefix, &[0xff; 64], visit),
        }
    }

    /// Deletes keys in `[start, end)`.
    fn delete_range(&self, start: &[u8], end: &[u8]) -> Result<(), StateError> {
        let mut b = WriteBatch::new();
        b.delete_range(start, end);
        self.write(b)
    }

    /// Approximate bytes used by keys in `[start, end)` (on-disk size for RocksDB).
    fn approximate_size(&self, start: &[u8], end: &[u8]) -> Result<u64, StateError>;

    /// Makes every acknowledged write durable (no-op where writes already are).
    fn flush(&self) -> Result<(), StateError> {
        Ok(())
    }

    /// Rewrites the store without superseded versions (after a bulk load;
    /// no-op where nothing is kept twice).
    fn compact(&self) -> Result<(), StateError> {
        Ok(())
    }
}

/// The smallest key greater than every key with this prefix, if any.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
