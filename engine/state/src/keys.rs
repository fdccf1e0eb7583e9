//! The key layout. Every key starts with the partition, so one partition's
//! state is one contiguous key range that can be scanned, shipped to another
//! instance or dropped with a single `delete_range`.
//!
//! ```text
//! [partition u32 BE][0x00]["offset"]          -> checkpoint: next offset, watermark, write epoch, state registry
//! [partition u32 BE][0x00]["changelog"]       -> where the checkpoint's changelog copy ends (opaque to this crate)
//! [partition u32 BE][0x00]["meta"]            -> the owner's own record, written with each checkpoint (opaque to this crate)
//! [partition u32 BE][0x02][user_id]            -> per-user history record
//! [partition u32 BE][0x03][expiry day u32 BE][record key without partition] -> ()
//! [partition u32 BE][0x04][key field u8][key]  -> entity record: every window / previous state of the key
//! ```
//!
//! An entity record holds the write epoch and one section per feature state
//! keyed by that field (`[state id hash][length][state]`); see
//! `partition/entity.rs`. Tag 0x01 (one record per feature state and
//! key, an earlier layout) is retired.
//!
//! The expiry index (tag 0x03) orders records by the UTC day after which they
//! hold nothing any query can read; a checkpoint deletes everything indexed
//! at or before the partition's current day with one bounded range scan plus
//! a `delete_range`, never a scan of the live state.

pub(crate) const TAG_CHECKPOINT: u8 = 0x00;
pub(crate) const TAG_HISTORY: u8 = 0x02;
pub(crate) const TAG_EXPIRY: u8 = 0x03;
pub(crate) const TAG_ENTITY: u8 = 0x04;

const CHECKPOINT_NAME: &[u8] = b"offset";
const CHANGELOG_NAME: &[u8] = b"changelog";
const META_NAME: &[u8] = b"meta";

use verdict_rules::input::Field;

pub(crate) fn partition_prefix(partition: i32) -> [u8; 4] {
    (partition as u32).to_be_bytes()
}

/// `[start, end)` covering every key of a partition.
pub fn partition_range(partition: i32) -> (Vec<u8>, Vec<u8>) {
    let start = partition_prefix(partition).to_vec();
    let end = (u64::from(partition as u32) + 1).to_be_bytes()[4..].to_vec();
    if partition as u32 == u32::MAX {
        (start, vec![0xff; 5])
    } else {
        (start, end)
    }
}

/// The key of the partition's checkpoint record (public for tools and
/// tests that inspect or damage a store on purpose).
pub fn checkpoint_key(partition: i32) -> Vec<u8> {
    let mut k = partition_prefix(partition).to_vec();
    k.push(TAG_CHECKPOINT);
    k.extend_from_slice(CHECKPOINT_NAME);
    k
}

/// The key of the partition's changelog position: written in the same batch
/// as a checkpoint whose copy went to a changelog topic, so the store knows
/// which changelog record it is current with. Never itself copied to the
/// changelog.
pub fn changelog_position_key(partition: i32) -> Vec<u8> {
    let mut k = partition_prefix(partition).to_vec();
    k.push(TAG_CHECKPOINT);
    k.extend_from_slice(CHANGELOG_NAME);
    k
}

/// The key of the partition's meta record: what the partition's owner keeps
/// beside its state, written in the same batch as each checkpoint (and so
/// copied to the changelog with it). The re-keying hop keeps its dedup
/// ledger there.
pub fn meta_key(partition: i32) -> Vec<u8> {
    let mut k = partition_prefix(partition).to_vec();
    k.push(TAG_CHECKPOINT);
    k.extend_from_slice(META_NAME);
    k
}

/// Field code in entity keys (its position in `Field::ALL`).
pub(crate) fn field_code(field: Field) -> u8 {
    Field::ALL.iter().position(|&f| f == field).unwrap_or(0) as u8
}

pub(crate) fn entity_key(buf: &mut Vec<u8>, partition: i32, field: Field, key: &[u8]) {
    buf.clear();
    buf.extend_from_slice(&partition_prefix(partition));
    buf.push(TAG_ENTITY);
    buf.push(field_code(field));
    buf.extend_from_slice(key);
}

pub(crate) fn history_key(buf: &mut Vec<u8>, partition: i32, user: &[u8]) {
    buf.clear();
    buf.extend_from_slice(&partition_prefix(partition));
    buf.push(TAG_HISTORY);
    buf.extend_from_slice(user);
}

/// Index entry for `record_key` (a full key of this partition) expiring on `day`.
pub(crate) fn expiry_key(partition: i32, day: u32, record_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + record_key.len());
    expiry_key_into(&mut k, partition, day, record_key);
    k
}

/// [`expiry_key`] into `buf` (cleared first).
pub(crate) fn expiry_key_into(buf: &mut Vec<u8>, partition: i32, day: u32, record_key: &[u8]) {
    buf.clear();
    buf.extend_from_slice(&partition_prefix(partition));
    buf.push(TAG_EXPIRY);
    buf.extend_from_slice(&day.to_be_bytes());
    buf.extend_from_slice(&record_key[4..]);
}

/// `[start, end)` of expiry entries for days `<= day`.
pub(crate) fn expiry_range_through(partition: i32, day: u32) -> (Vec<u8>, Vec<u8>) {
    let mut start = partition_prefix(partition).to_vec();
    start.push(TAG_EXPIRY);
    let mut end = start.clone();
    match day.checked_add(1) {
        Some(next) => end.extend_from_slice(&next.to_be_bytes()),
        None => end[4] = TAG_EXPIRY + 1,
    }
    (start, end)
}

/// The record key an expiry index entry points to.
pub(crate) fn record_key_of_expiry(partition: i32, index_key: &[u8]) -> Option<Vec<u8>> {
    let suffix = index_key.get(9..)?;
    let mut k = partition_prefix(partition).to_vec();
    k.extend_from_slice(suffix);
    Some(k)
}

/// Stable 64-bit hash of a state id (persisted in keys).
pub(crate) fn state_id_hash(state_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(state_id.as_bytes())
}
