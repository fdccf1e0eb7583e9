//! Stored records of the partition state: the value envelope
//! `[expiry day u32 LE][record]`, decoding it on a cache miss, and staging
//! a dirty record with its expiry index entry into a checkpoint batch.

use crate::keys;
use crate::store::batch::WriteBatch;

pub(super) fn split_value(data: &[u8]) -> Option<(u32, &[u8])> {
    let day = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    Some((day, &data[4..]))
}

/// Decodes a stored value into its record and the expiry day it was indexed
/// under; `None` when it is corrupt.
pub(super) fn decode_stored<S>(
    data: &[u8],
    decode: impl FnOnce(&[u8]) -> Option<S>,
) -> Option<(S, u32)> {
    split_value(data).and_then(|(day, rec)| decode(rec).map(|s| (s, day)))
}

/// The dirty records of one checkpoint and the changes to their expiry index
/// entries, kept apart so each part can be appended to the batch in key order.
pub(super) struct Staging {
    partition: i32,
    today: Option<u32>,
    pub(super) records: WriteBatch,
    pub(super) index: WriteBatch,
    value: Vec<u8>,
    index_key: Vec<u8>,
}

/// Bytes a staged record takes on average, to size a checkpoint's batches
/// up front (an undersized guess only starts another chunk).
const RECORD_BYTES_GUESS: usize = 160;

impl Staging {
    /// Staging for about `records` records.
    pub(super) fn new(partition: i32, today: Option<u32>, records: usize) -> Self {
        Staging {
            partition,
            today,
            records: WriteBatch::with_capacity(records, records * RECORD_BYTES_GUESS),
            index: WriteBatch::with_capacity(records, records * 32),
            value: Vec::new(),
            index_key: Vec::new(),
        }
    }

    /// Stages the record under `rec_key` (a put, or a delete when it is
    /// empty or expired) and its index entry. `encode` appends the record
    /// and returns `(empty, expiry day)`; `indexed_day` is the day of its
    /// current index entry in the store.
    pub(super) fn record(
        &mut self,
        rec_key: &[u8],
        indexed_day: Option<u32>,
        encode: impl FnOnce(&mut Vec<u8>) -> (bool, u32),
    ) {
        let (partition, today) = (self.partition, self.today);
        self.value.clear();
        self.value.extend_from_slice(&[0; 4]);
        let (empty, exp) = encode(&mut self.value);
        let expired = today.is_some_and(|d| exp <= d);
        // An old index entry at or before today was already removed by the sweep.
        let old_live = indexed_day.filter(|&old| today.is_none_or(|d| old > d));
        let index_key = &mut self.index_key;
        if empty || expired {
            self.records.delete(rec_key);
            if let Some(old) = old_live {
                keys::expiry_key_into(index_key, partition, old, rec_key);
                self.index.delete(&index_key[..]);
            }
            return;
        }
        self.value[..4].copy_from_slice(&exp.to_le_bytes());
        self.records.put(rec_key, &self.value[..]);
        if old_live != Some(exp) {
            if let Some(old) = old_live {
                keys::expiry_key_into(index_key, partition, old, rec_key);
                self.index.delete(&index_key[..]);
            }
            keys::expiry_key_into(index_key, partition, exp, rec_key);
            self.index.put(&index_key[..], []);
        }
    }
}
