//! The values of one field a user was seen with, as 32-bit hashes with
//! the first and last day each was seen (for `FirstTime`).
//!
//! Searched on every `FirstTime` read and record of the field, so the
//! hashes are kept apart from their days, and a search starts where a
//! uniform hash is expected in the sorted array.

use verdict_rules::input::{Field, Transaction};

use crate::hashing::field_hash;
use crate::search::partition_point_from;

/// The 32-bit hash a seen set keeps of a field's value.
pub(super) fn seen_hash(txn: &dyn Transaction, f: Field) -> Option<u32> {
    field_hash(txn, f).map(|h| (h >> 32) as u32)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SeenValue {
    pub(super) hash: u32,
    pub(super) first_day: i64,
    pub(super) last_day: i64,
}

/// The values of one field a user was seen with.
///
/// Searched on every `FirstTime` read and record of the field, so the
/// hashes are kept apart from their days: a binary search over a heavy
/// user's hundreds of merchants touches a quarter of the cache lines it
/// would over whole values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SeenSet {
    pub(super) field: Field,
    /// Sorted.
    pub(super) hashes: Vec<u32>,
    /// `(first day, last day)` of the value at the same index of `hashes`.
    pub(super) spans: Vec<(i64, i64)>,
}

impl SeenSet {
    pub(super) fn new(field: Field) -> Self {
        SeenSet {
            field,
            hashes: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Where `hash` is (`Ok`) or would go (`Err`).
    ///
    /// The hashes are uniform, so a value's place is close to where its
    /// hash falls in the `u32` range (within about √n places): the search
    /// starts there and gallops outward, touching a line or two of a heavy
    /// user's hundreds of values where a binary search touches most of
    /// its log₂ n probes' lines cold. The look-ahead's `Link::ValueProbes`
    /// pulls in that same line.
    pub(super) fn find(&self, hash: u32) -> Result<usize, usize> {
        let h = &self.hashes;
        let at = partition_point_from(h.len(), Self::guess(hash, h.len()), |i| h[i] < hash);
        if h.get(at) == Some(&hash) {
            Ok(at)
        } else {
            Err(at)
        }
    }

    /// Where a uniform `hash` is expected among `n` sorted ones.
    pub(super) fn guess(hash: u32, n: usize) -> usize {
        ((u64::from(hash) * n as u64) >> 32) as usize
    }

    pub(super) fn get(&self, i: usize) -> SeenValue {
        let (first_day, last_day) = self.spans[i];
        SeenValue {
            hash: self.hashes[i],
            first_day,
            last_day,
        }
    }

    pub(super) fn values(&self) -> impl Iterator<Item = SeenValue> + '_ {
        (0..self.hashes.len()).map(|i| self.get(i))
    }

    /// Notes `v` where `at` (a [`Self::find`] of its hash) says: widens
    /// the days of a known value, inserts a new one.
    pub(super) fn note(&mut self, at: Result<usize, usize>, v: SeenValue) {
        match at {
            Ok(i) => {
                let s = &mut self.spans[i];
                s.0 = s.0.min(v.first_day);
                s.1 = s.1.max(v.last_day);
            }
            Err(i) => {
                self.hashes.insert(i, v.hash);
                self.spans.insert(i, (v.first_day, v.last_day));
            }
        }
    }

    /// Keeps the values last seen after `horizon`.
    pub(super) fn retain_after(&mut self, horizon: i64) {
        let mut kept = 0;
        for i in 0..self.hashes.len() {
            if self.spans[i].1 > horizon {
                self.hashes[kept] = self.hashes[i];
                self.spans[kept] = self.spans[i];
                kept += 1;
            }
        }
        self.hashes.truncate(kept);
        self.spans.truncate(kept);
    }

    pub(super) fn oldest(&self) -> Option<i64> {
        self.spans.iter().map(|s| s.1).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The guided search answers as a binary search does, for hashes
        /// uniform or not (clustered at one end, all equal but one).
        #[test]
        fn seen_search_agrees_with_binary_search(
            mut hashes in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..300),
            skew in 0u32..3,
            probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..40),
        ) {
            let squash = |h: u32| match skew {
                0 => h,
                1 => h >> 24,
                _ => u32::MAX - (h >> 28),
            };
            hashes.iter_mut().for_each(|h| *h = squash(*h));
            hashes.sort_unstable();
            hashes.dedup();
            let set = SeenSet {
                field: Field::MerchantId,
                spans: vec![(0, 0); hashes.len()],
                hashes,
            };
            let present = set.hashes.clone();
            for h in probes.into_iter().map(squash).chain(present) {
                proptest::prop_assert_eq!(set.find(h), set.hashes.binary_search(&h), "hash {}", h);
            }
        }
    }
}
