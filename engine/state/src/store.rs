//! The byte key-value store under the state layer.
//!
//! [`StateStore`] is the small capability set the partition state needs:
//! point and multi reads, one atomic [`WriteBatch`] per checkpoint, ordered
//! range scans, range deletes and a size estimate. [`crate::RocksStore`] is
//! the durable implementation; [`MemoryStore`] (a `BTreeMap` behind a lock)
//! serves tests and ephemeral runs. Both pass the same conformance suite
//! (`tests/store_conformance.rs`).
//!
//! Batch operations apply in order: a put after a `delete_range` covering its
//! key survives. The checkpoint relies on that to sweep expired records and
//! then write fresh ones in one batch.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use crate::error::StateError;

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Deletes keys in `[start, end)`.
    DeleteRange(Vec<u8>, Vec<u8>),
}

fn point_key(op: &BatchOp) -> Option<&[u8]> {
    match op {
        BatchOp::Put(k, _) | BatchOp::Delete(k) => Some(k),
        BatchOp::DeleteRange(..) => None,
    }
}

/// Operations applied atomically and in order by [`StateStore::write`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
    bytes: usize,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        let (k, v) = (key.into(), value.into());
        self.bytes += k.len() + v.len();
        self.ops.push(BatchOp::Put(k, v));
    }

    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        let k = key.into();
        self.bytes += k.len();
        self.ops.push(BatchOp::Delete(k));
    }

    pub fn delete_range(&mut self, start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) {
        let (s, e) = (start.into(), end.into());
        self.bytes += s.len() + e.len();
        self.ops.push(BatchOp::DeleteRange(s, e));
    }

    /// Puts every range delete first (in their order) and sorts the point
    /// operations by key, stably, so operations on one key keep their order.
    ///
    /// The result applies like the original batch as long as no point
    /// operation comes before a range delete that covers its key. RocksDB
    /// inserts a key-sorted batch into its memtable much faster than a
    /// random-order one (each insert starts from the previous position).
    pub fn sort_by_key(&mut self) {
        debug_assert!(
            self.ops.iter().enumerate().all(|(i, op)| match op {
                BatchOp::DeleteRange(s, e) => self.ops[..i]
                    .iter()
                    .filter_map(point_key)
                    .all(|k| k < s.as_slice() || k >= e.as_slice()),
                _ => true,
            }),
            "a point operation precedes a range delete covering its key"
        );
        // Range deletes (`None`) sort first; the sort is stable.
        self.ops.sort_by(|a, b| point_key(a).cmp(&point_key(b)));
    }

    /// Appends every operation of `other`, after this batch's.
    pub fn append(&mut self, other: WriteBatch) {
        self.bytes += other.bytes;
        self.ops.extend(other.ops);
    }

    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values carried.
    pub fn size_bytes(&self) -> usize {
        self.bytes
    }
}

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

/// An in-memory [`StateStore`]: a `BTreeMap` behind a read-write lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-written
        // (each op is a single BTreeMap call), so a poisoned lock is still sound.
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl StateStore for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.read().get(key).cloned())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StateError> {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for op in batch.ops {
            match op {
                BatchOp::Put(k, v) => {
                    map.insert(k, v);
                }
                BatchOp::Delete(k) => {
                    map.remove(&k);
                }
                BatchOp::DeleteRange(s, e) => {
                    if s < e {
                        let doomed: Vec<Vec<u8>> = map
                            .range::<[u8], _>((Bound::Included(&s[..]), Bound::Excluded(&e[..])))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in doomed {
                            map.remove(&k);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut ScanVisitor<'_>,
    ) -> Result<(), StateError> {
        if start >= end {
            return Ok(());
        }
        let map = self.read();
        for (k, v) in map.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end))) {
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }

    fn approximate_size(&self, start: &[u8], end: &[u8]) -> Result<u64, StateError> {
        let mut total = 0u64;
        self.scan(start, end, &mut |k, v| {
            total += (k.len() + v.len()) as u64;
            true
        })?;
        Ok(total)
    }
}
