//! The RocksDB [`StateStore`]: one database per instance, the default column
//! family, partitions separated by key prefix (see [`crate::keys`]). The only
//! file of the crate that names `rocksdb`.
//!
//! Tuning for this workload (point reads on cache misses, one large write
//! batch per checkpoint, range deletes for expiry): a shared LRU block cache,
//! whole-key bloom filters (10 bits/key, ~1% false positives) so a miss for an
//! unknown entity rarely touches disk, LZ4 on every level (records are small
//! varint blobs that compress well), cached index/filter blocks, and a WAL
//! without fsync by default: a checkpoint survives `kill -9` of the process;
//! set `sync-writes` to also survive power loss.

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompressionType,
    DEFAULT_COLUMN_FAMILY_NAME, Options, ReadOptions, WriteOptions,
};
use serde::Deserialize;

use crate::error::StateError;
use crate::store::batch::{BatchOp, WriteBatch};
use crate::store::{ScanVisitor, StateStore};

/// RocksDB tuning, the `[state.tuning.rocksdb]` section of the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct RocksOptions {
    /// LRU block cache shared by all partitions of the instance.
    pub block_cache_bytes: usize,
    /// Bloom filter bits per key (0 disables the filter).
    pub bloom_bits_per_key: f64,
    /// Memtable size before a flush.
    pub write_buffer_bytes: usize,
    /// Background flush and compaction threads.
    pub max_background_jobs: i32,
    /// fsync the WAL on every checkpoint write, so a checkpoint whose
    /// offset is committed survives power loss, not only a crash of the
    /// process (cost: one fsync per checkpoint; see the state bench).
    pub sync_writes: bool,
}

impl RocksOptions {
    /// Values RocksDB would take but that make no sense (a cache or
    /// memtable too small to hold a block, no background thread, a bloom
    /// filter of a fraction of a bit), each as `prefix.key ...`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.block_cache_bytes < 1 << 20 {
            problems.push(format!(
                "{prefix}.block-cache-bytes must be at least 1 MiB (1048576), got {}",
                self.block_cache_bytes
            ));
        }
        if !(self.bloom_bits_per_key == 0.0 || (1.0..=64.0).contains(&self.bloom_bits_per_key)) {
            problems.push(format!(
                "{prefix}.bloom-bits-per-key must be 0 (no filter) or 1..=64, got {}",
                self.bloom_bits_per_key
            ));
        }
        if self.write_buffer_bytes < 1 << 20 {
            problems.push(format!(
                "{prefix}.write-buffer-bytes must be at least 1 MiB (1048576), got {}",
                self.write_buffer_bytes
            ));
        }
        if !(1..=256).contains(&self.max_background_jobs) {
            problems.push(format!(
                "{prefix}.max-background-jobs must be 1..=256, got {}",
                self.max_background_jobs
            ));
        }
        problems
    }
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            block_cache_bytes: 256 << 20,
            bloom_bits_per_key: 10.0,
            write_buffer_bytes: 64 << 20,
            max_background_jobs: 2,
            sync_writes: false,
        }
    }
}

/// A RocksDB error is the disk's or the storage engine's: external.
impl From<rocksdb::Error> for StateError {
    fn from(e: rocksdb::Error) -> Self {
        StateError::Storage(e.into_string())
    }
}

/// A [`StateStore`] over RocksDB.
pub struct RocksStore {
    db: DB,
    sync_writes: bool,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.db.path())
            .finish()
    }
}

impl RocksStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>, opts: &RocksOptions) -> Result<Self, StateError> {
        let problems = opts.problems("rocksdb");
        if !problems.is_empty() {
            return Err(StateError::Config(problems.join("; ")));
        }
        let mut table = BlockBasedOptions::default();
        let cache = Cache::new_lru_cache(opts.block_cache_bytes);
        table.set_block_cache(&cache);
        if opts.bloom_bits_per_key > 0.0 {
            table.set_bloom_filter(opts.bloom_bits_per_key, false);
            table.set_whole_key_filtering(true);
        }
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_block_size(16 << 10);

        let mut o = Options::default();
        o.create_if_missing(true);
        o.set_block_based_table_factory(&table);
        o.set_compression_type(DBCompressionType::Lz4);
        o.set_bottommost_compression_type(DBCompressionType::Lz4);
        o.set_write_buffer_size(opts.write_buffer_bytes);
        o.set_max_background_jobs(opts.max_background_jobs);
        o.set_level_compaction_dynamic_level_bytes(true);
        o.set_bytes_per_sync(1 << 20);
        // Opened by its column family, so that batched reads can name it.
        let default_cf = ColumnFamilyDescriptor::new(DEFAULT_COLUMN_FAMILY_NAME, o.clone());
        let db = DB::open_cf_descriptors(&o, path, [default_cf])?;
        Ok(RocksStore {
            db,
            sync_writes: opts.sync_writes,
        })
    }

    /// Total live data estimate for the whole database (RocksDB property).
    pub fn estimate_live_data_bytes(&self) -> Result<u64, StateError> {
        Ok(self
            .db
            .property_int_value("rocksdb.estimate-live-data-size")?
            .unwrap_or(0))
    }

    /// Compacts the whole key space (after a backfill, to measure on-disk size).
    pub fn compact_all(&self) {
        self.db.compact_range::<&[u8], &[u8]>(None, None);
    }
}

impl StateStore for RocksStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.db.get_pinned(key)?.map(|v| v.to_vec()))
    }

    fn multi_get(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StateError> {
        // RocksDB's batched lookup: the keys go through each memtable and
        // file together (one filter and index pass per file), cheaper per
        // key than a lookup each.
        let cf = self
            .db
            .cf_handle(DEFAULT_COLUMN_FAMILY_NAME)
            .ok_or_else(|| StateError::Internal("the default column family is not open".into()))?;
        self.db
            .batched_multi_get_cf(cf, keys.iter(), false)
            .into_iter()
            .map(|r| Ok(r?.map(|v| v.to_vec())))
            .collect()
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StateError> {
        // Sized up front: growing RocksDB's batch buffer by doubling copies
        // a checkpoint's bytes several times over (each op adds a tag and
        // two length varints to its key and value).
        let mut b =
            rocksdb::WriteBatch::with_capacity_bytes(64 + batch.size_bytes() + 12 * batch.len());
        for op in batch.ops() {
            match op {
                BatchOp::Put(k, v) => b.put(k, v),
                BatchOp::Delete(k) => b.delete(k),
                BatchOp::DeleteRange(s, e) => {
                    if s < e {
                        b.delete_range(s, e)
                    }
                }
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(self.sync_writes);
        self.db.write_opt(b, &wo)?;
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
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(end.to_vec());
        let mut it = self.db.raw_iterator_opt(ro);
        it.seek(start);
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if !visit(k, v) {
                return Ok(());
            }
            it.next();
        }
        it.status()?;
        Ok(())
    }

    fn approximate_size(&self, start: &[u8], end: &[u8]) -> Result<u64, StateError> {
        let on_disk = self
            .db
            .get_approximate_sizes(&[rocksdb::Range::new(start, end)]);
        Ok(on_disk.first().copied().unwrap_or(0))
    }

    fn flush(&self) -> Result<(), StateError> {
        self.db.flush()?;
        Ok(())
    }

    fn compact(&self) -> Result<(), StateError> {
        self.compact_all();
        Ok(())
    }
}
