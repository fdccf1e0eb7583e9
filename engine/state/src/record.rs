//! Stored records of the partition state: the value envelope
//! `[expiry day u32 LE][record]`, decoding it on a cache miss, staging a dirty
//! record with its expiry index entry into a checkpoint batch, and the
//! `Previous` feature's record.

use crate::keys;
use crate::store::WriteBatch;
use crate::window::DAY_MS;

#[derive(Clone, Copy)]
pub(crate) struct PreviousState {
    pub(crate) value: f64,
    pub(crate) time: i64,
}

pub(crate) fn split_value(data: &[u8]) -> Option<(u32, &[u8])> {
    let day = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    Some((day, &data[4..]))
}

/// Decodes a stored value into its record and the expiry day it was indexed
/// under; `None` when it is corrupt.
pub(crate) fn decode_stored<S>(
    data: &[u8],
    decode: impl FnOnce(&[u8]) -> Option<S>,
) -> Option<(S, u32)> {
    split_value(data).and_then(|(day, rec)| decode(rec).map(|s| (s, day)))
}

/// The dirty records of one checkpoint and the changes to their expiry index
/// entries, kept apart so each part can be appended to the batch in key order.
pub(crate) struct Staging {
    partition: i32,
    today: Option<u32>,
    pub(crate) records: WriteBatch,
    pub(crate) index: WriteBatch,
    value: Vec<u8>,
    index_key: Vec<u8>,
}

/// Bytes a staged record takes on average, to size a checkpoint's batches
/// up front (an undersized guess only starts another chunk).
const RECORD_BYTES_GUESS: usize = 160;

impl Staging {
    /// Staging for about `records` records.
    pub(crate) fn new(partition: i32, today: Option<u32>, records: usize) -> Self {
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
    pub(crate) fn record(
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

pub(crate) fn encode_previous(p: &PreviousState, out: &mut Vec<u8>) {
    let mut w = crate::codec::Writer::new(out);
    w.f64(p.value);
    w.ivar(p.time);
}

pub(crate) fn decode_previous(data: &[u8]) -> Option<PreviousState> {
    let mut r = crate::codec::Reader::new(data);
    let p = PreviousState {
        value: r.f64()?,
        time: r.ivar()?,
    };
    r.is_empty().then_some(p)
}

/// A previous value is remembered for a year after its key's latest event.
pub(crate) fn previous_expiry_day(p: &PreviousState) -> u32 {
    (p.time
        .div_euclid(DAY_MS)
        .saturating_add(crate::history::HISTORY_DAYS + 1))
    .clamp(0, i64::from(u32::MAX)) as u32
}
