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

/// Adds a dirty record (or its deletion) to `batch` and the change to its
/// expiry index entry to `index`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stage_record(
    batch: &mut WriteBatch,
    index: &mut WriteBatch,
    partition: i32,
    today: Option<u32>,
    rec_key: &[u8],
    value: &mut Vec<u8>,
    empty: bool,
    exp: u32,
    indexed_day: Option<u32>,
) {
    let expired = today.is_some_and(|d| exp <= d);
    // An old index entry at or before today was already removed by the sweep.
    let old_live = indexed_day.filter(|&old| today.is_none_or(|d| old > d));
    if empty || expired {
        batch.delete(rec_key.to_vec());
        if let Some(old) = old_live {
            index.delete(keys::expiry_key(partition, old, rec_key));
        }
        return;
    }
    value[..4].copy_from_slice(&exp.to_le_bytes());
    batch.put(rec_key.to_vec(), std::mem::take(value));
    if old_live != Some(exp) {
        if let Some(old) = old_live {
            index.delete(keys::expiry_key(partition, old, rec_key));
        }
        index.put(keys::expiry_key(partition, exp, rec_key), Vec::new());
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
