//! Bulk-loading a year of user history (`verdict backfill`).
//!
//! Events (any [`Transaction`]) are folded into per-user [`HistoryState`]s in
//! memory until the folded histories reach `chunk_bytes` (default 3 GiB,
//! about 600k users with a year of history each); the chunk is then merged
//! with what the store already holds for those users (multi-gets) and
//! written in sorted batches of [`WRITE_BATCH_USERS`] users with their expiry
//! index entries. A year of history for most deployments fits in one chunk,
//! so each user record is written once; a larger load writes each user once
//! per chunk, not once per event. Users go to the
//! partition Kafka's default partitioner would give their `user_id` key
//! ([`kafka_partition`]), so the engine finds each history in the partition
//! that owns the user. Window state is not backfilled: it fills from live
//! traffic within its window length.
//!
//! Large batches rather than SST ingestion: records must be merged with any
//! existing history (re-running a backfill, or loading several files), which
//! an SST ingest cannot do, and batched writes of sorted chunks already run at
//! several hundred thousand users per second.

use rustc_hash::FxHashMap;
use verdict_rules::input::{Field, Transaction};

use crate::config::StateConfig;
use crate::error::StateError;
use crate::history::HistoryState;
use crate::keys;
use crate::store::StateStore;
use crate::store::batch::WriteBatch;
use crate::units::DAY_MS;

/// Kafka's murmur2 (Java `Utils.murmur2`, librdkafka `murmur2_random`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner assigns to a keyed record:
/// `(murmur2(key) & 0x7fffffff) % partitions`.
pub fn kafka_partition(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition");
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// Users per write batch when a chunk is flushed (bounds the batch's memory).
pub const WRITE_BATCH_USERS: usize = 50_000;

/// Backfill settings.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Partitions of the input topic.
    pub partitions: i32,
    /// Approximate heap bytes of folded histories at which the chunk is
    /// merged and written.
    pub chunk_bytes: usize,
    /// Fields whose seen values are recorded (for `FirstTime` features).
    pub tracked_fields: Vec<Field>,
    /// Report progress every this many events.
    pub progress_every: u64,
}

impl BackfillOptions {
    pub fn new(partitions: i32, cfg: &StateConfig) -> Self {
        BackfillOptions {
            partitions,
            chunk_bytes: 3 << 30,
            tracked_fields: cfg.tracked_fields(),
            progress_every: 100_000,
        }
    }
}

/// Where a backfill stands, passed to the progress callback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackfillProgress {
    pub events: u64,
    /// Events without a user id or event time, not loaded.
    pub skipped: u64,
    pub users_written: u64,
    pub bytes_written: u64,
    pub chunks: u64,
}

/// Loads history from `events` into `store`, reporting through `progress`
/// after every `progress_every` events and every chunk written.
pub fn load_history<I, T>(
    store: &dyn StateStore,
    events: I,
    opts: &BackfillOptions,
    progress: &mut dyn FnMut(&BackfillProgress),
) -> Result<BackfillProgress, StateError>
where
    I: IntoIterator<Item = T>,
    T: Transaction,
{
    let mut chunk: Chunk = FxHashMap::default();
    let mut chunk_bytes = 0usize;
    let mut p = BackfillProgress::default();
    for ev in events {
        p.events += 1;
        let (Some(user), Some(t)) = (
            ev.text(Field::UserId),
            ev.number(Field::EventTime).filter(|v| v.is_finite()),
        ) else {
            p.skipped += 1;
            continue;
        };
        let part = kafka_partition(user.as_bytes(), opts.partitions);
        let key = (part, Box::<[u8]>::from(user.as_bytes()));
        let history = match chunk.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                chunk_bytes += USER_OVERHEAD_BYTES + v.key().1.len();
                v.insert(HistoryState::default())
            }
        };
        let before = history.approx_bytes();
        history.record(&ev, t as i64, &opts.tracked_fields);
        chunk_bytes = (chunk_bytes + history.approx_bytes()).saturating_sub(before);
        if chunk_bytes >= opts.chunk_bytes.max(1) {
            write_chunk(store, &mut chunk, &mut p)?;
            chunk_bytes = 0;
            progress(&p);
        } else if opts.progress_every > 0 && p.events.is_multiple_of(opts.progress_every) {
            progress(&p);
        }
    }
    if !chunk.is_empty() {
        write_chunk(store, &mut chunk, &mut p)?;
    }
    progress(&p);
    Ok(p)
}

/// A user: (partition, user id).
type UserKey = (i32, Box<[u8]>);

/// Users being folded.
type Chunk = FxHashMap<UserKey, HistoryState>;

/// Heap bytes of a chunk entry besides its history's own (map slot, key box).
const USER_OVERHEAD_BYTES: usize = 96;

fn write_chunk(
    store: &dyn StateStore,
    chunk: &mut Chunk,
    p: &mut BackfillProgress,
) -> Result<(), StateError> {
    let mut users: Vec<_> = chunk.drain().collect();
    users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut users = users.into_iter().peekable();
    while users.peek().is_some() {
        let part: Vec<_> = users.by_ref().take(WRITE_BATCH_USERS).collect();
        write_users(store, part, p)?;
    }
    p.chunks += 1;
    Ok(())
}

/// Merges sorted users with their stored histories and writes them in one batch.
fn write_users(
    store: &dyn StateStore,
    users: Vec<(UserKey, HistoryState)>,
    p: &mut BackfillProgress,
) -> Result<(), StateError> {
    let rec_keys: Vec<Vec<u8>> = users
        .iter()
        .map(|((part, user), _)| {
            let mut k = Vec::new();
            keys::history_key(&mut k, *part, user);
            k
        })
        .collect();
    let refs: Vec<&[u8]> = rec_keys.iter().map(Vec::as_slice).collect();
    let existing = store.multi_get(&refs)?;
    let mut batch = WriteBatch::new();
    for ((((part, _), mut state), rec_key), old) in users.into_iter().zip(rec_keys).zip(existing) {
        if let Some(old) = old {
            let old_day =
                u32::from_le_bytes(old.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(
                    || StateError::Corrupt {
                        key: rec_key.clone(),
                        reason: "short history record",
                    },
                )?);
            let prior = HistoryState::decode(&old[4..]).ok_or_else(|| StateError::Corrupt {
                key: rec_key.clone(),
                reason: "undecodable history record",
            })?;
            state.merge(&prior);
            batch.delete(keys::expiry_key(part, old_day, &rec_key));
        }
        let exp = state.expiry_day();
        let mut value = exp.to_le_bytes().to_vec();
        state.encode(&mut value);
        batch.put(keys::expiry_key(part, exp, &rec_key), Vec::new());
        batch.put(rec_key, value);
        p.users_written += 1;
    }
    p.bytes_written += batch.size_bytes() as u64;
    store.write(batch)
}

/// UTC day number of an event time in milliseconds.
pub fn day_of(event_time_ms: i64) -> i64 {
    event_time_ms.div_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_kafka() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), want, "key {:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partition_is_positive_and_in_range() {
        for i in 0..1000u32 {
            let p = kafka_partition(format!("user-{i}").as_bytes(), 12);
            assert!((0..12).contains(&p));
        }
        assert_eq!(kafka_partition(b"21", 1), 0);
    }
}
