//! What a bucketed distinct count keeps beside its buckets: each bucket's
//! values (an exact sorted set up to `distinct-exact-limit`, then a
//! HyperLogLog), and an index of each retained value's newest bucket, from
//! which a query through the newest bucket counts without reading the
//! buckets.

use std::collections::VecDeque;

use crate::hashing::BuildHashed;
use crate::window::sketch::HyperLogLog;

/// What a bucketed distinct count keeps beside its buckets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DistinctParts {
    /// The values of each bucket, parallel to `buckets`.
    pub(super) sets: VecDeque<Distinct>,
    /// Each retained value's newest bucket index, while every retained
    /// bucket is exact (`None` once one is a sketch, until it expires).
    pub(super) newest: Option<NewestIndex>,
}

/// An empty bucket's values.
pub(super) static NO_VALUES: Distinct = Distinct::Exact(Vec::new());

/// Each retained value of a distinct count with its newest bucket index.
///
/// Most keys see few values (a user's countries, a device's users): up to
/// [`FEW_VALUES`] they stay in one short array scanned linearly, whose
/// buffer the look-ahead can reach (`Link::Indexes`);
/// past that, a hash map.
#[derive(Debug, Clone)]
pub(crate) enum NewestIndex {
    Few(Vec<(u64, i64)>),
    Many(hashbrown::HashMap<u64, i64, BuildHashed>),
}

const FEW_VALUES: usize = 16;

/// The same values with the same buckets, whatever the representation.
impl PartialEq for NewestIndex {
    fn eq(&self, other: &Self) -> bool {
        let entries = |i: &NewestIndex| -> Vec<(u64, i64)> {
            let mut e: Vec<(u64, i64)> = match i {
                NewestIndex::Few(v) => v.clone(),
                NewestIndex::Many(m) => m.iter().map(|(&h, &b)| (h, b)).collect(),
            };
            e.sort_unstable();
            e
        };
        entries(self) == entries(other)
    }
}

impl Default for NewestIndex {
    fn default() -> Self {
        NewestIndex::Few(Vec::new())
    }
}

impl NewestIndex {
    pub(super) fn get(&self, h: u64) -> Option<i64> {
        match self {
            NewestIndex::Few(v) => v.iter().find(|e| e.0 == h).map(|e| e.1),
            NewestIndex::Many(m) => m.get(&h).copied(),
        }
    }

    /// Records that `h` is in bucket `idx` (keeping the newest).
    pub(super) fn insert(&mut self, h: u64, idx: i64) {
        match self {
            NewestIndex::Few(v) => match v.iter().position(|e| e.0 == h) {
                Some(i) => v[i].1 = v[i].1.max(idx),
                None if v.len() < FEW_VALUES => v.push((h, idx)),
                None => {
                    let mut m: hashbrown::HashMap<u64, i64, BuildHashed> =
                        v.iter().copied().collect();
                    m.insert(h, idx);
                    *self = NewestIndex::Many(m);
                }
            },
            NewestIndex::Many(m) => {
                let e = m.entry(h).or_insert(idx);
                *e = (*e).max(idx);
            }
        }
    }

    pub(super) fn remove(&mut self, h: u64) {
        match self {
            NewestIndex::Few(v) => v.retain(|e| e.0 != h),
            NewestIndex::Many(m) => {
                m.remove(&h);
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            NewestIndex::Few(v) => v.len(),
            NewestIndex::Many(m) => m.len(),
        }
    }

    pub(super) fn approx_bytes(&self) -> usize {
        match self {
            NewestIndex::Few(v) => 32 + v.capacity() * 16,
            NewestIndex::Many(m) => 48 + m.capacity() * 17,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Distinct {
    /// Sorted hashes.
    Exact(Vec<u64>),
    Sketch(HyperLogLog),
}

impl Distinct {
    pub(super) fn add(&mut self, v: u64, distinct_limit: usize) {
        match self {
            Distinct::Exact(set) => {
                if let Err(at) = set.binary_search(&v) {
                    set.insert(at, v);
                    if set.len() > distinct_limit {
                        let mut h = HyperLogLog::new();
                        set.iter().for_each(|&x| h.insert(x));
                        *self = Distinct::Sketch(h);
                    }
                }
            }
            Distinct::Sketch(h) => h.insert(v),
        }
    }

    pub(super) fn is_exact(&self) -> bool {
        matches!(self, Distinct::Exact(_))
    }
}
