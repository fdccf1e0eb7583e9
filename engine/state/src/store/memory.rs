//! The in-memory [`StateStore`]: for tests and ephemeral runs, and the
//! reference the RocksDB store is checked against by the conformance suite.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use crate::error::StateError;
use crate::store::batch::{BatchOp, WriteBatch};
use crate::store::{ScanVisitor, StateStore};

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
        for op in batch.ops() {
            match op {
                BatchOp::Put(k, v) => {
                    map.insert(k.to_vec(), v.to_vec());
                }
                BatchOp::Delete(k) => {
                    map.remove(k);
                }
                BatchOp::DeleteRange(s, e) => {
                    if s < e {
                        let doomed: Vec<Vec<u8>> = map
                            .range::<[u8], _>((Bound::Included(s), Bound::Excluded(e)))
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
