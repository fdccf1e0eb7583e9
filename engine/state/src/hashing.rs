//! The hashes of the state layer, all XXH3: a specified, versioned hash, so
//! the value hashes persisted in records (distinct counts, seen sets) stay
//! valid across releases.
//!
//! * [`field_hash`]: 64-bit hash of an event field's value, text or number
//!   (distinct counts; the history's seen sets keep its top 32 bits).
//! * [`key_hash`]: 128-bit hash of an entity key, by which the hot tables
//!   find entities (never persisted).
//! * [`BuildHashed`]: the hasher of maps whose keys already are such hashes.

use verdict_rules::input::{Field, Transaction};

#[inline]
pub(crate) fn text_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// Hash of a field's value, text or number; `None` when absent.
#[inline]
pub(crate) fn field_hash(txn: &dyn Transaction, field: Field) -> Option<u64> {
    match txn.text(field) {
        Some(s) => Some(text_hash(s)),
        None => txn
            .number(field)
            .filter(|v| !v.is_nan())
            .map(|v| text_hash(&v.to_string())),
    }
}

/// Entities are found by the 128-bit hash of their key: comparing boxed
/// byte keys would cost a cache miss per probe. Two keys of one key field
/// collide with probability about n²/2¹²⁹ (n keys); the key bytes live in
/// the entity for loads and checkpoints.
#[inline]
pub(crate) fn key_hash(key: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key)
}

/// The hasher of maps whose keys already are uniform hashes (the value
/// hashes of distinct counts): it folds them instead of hashing again.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BuildHashed;

#[derive(Default)]
pub(crate) struct Hashed(u64);

impl std::hash::BuildHasher for BuildHashed {
    type Hasher = Hashed;
    fn build_hasher(&self) -> Hashed {
        Hashed(0)
    }
}

impl std::hash::Hasher for Hashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed; stay correct for anything else.
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}
