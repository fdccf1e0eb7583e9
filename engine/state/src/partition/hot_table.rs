//! The partition's hot maps: open addressing over 128-bit key hashes, each
//! entry stored inline at a slot that the hash alone determines. (In this
//! crate a "slot" is only ever one of these table slots.)
//!
//! Why not `hashbrown`: a lookup there reads a group of control bytes
//! before it knows which bucket holds the entry, so a prefetch issued a few
//! events ahead must itself wait for memory to learn where to prefetch.
//! Here an entry sits at its home slot (`hash & mask`) or a few slots after
//! it (linear probing, load at most one half, so about 1.5 slots per hit on
//! average): [`HotTable::prefetch`] pulls that in with no load at all, and
//! the lookup a few events later finds it in the cache.
//!
//! Removal is bulk only ([`HotTable::retain`], the cache eviction), which
//! rebuilds the table, so probing needs no tombstones.

use crate::prefetch::prefetch_slice;

/// Slots probed from the home slot that a prefetch covers (the home slot
/// holds the entry about three times in four at load one half).
const PREFETCH_SLOTS: usize = 2;

struct Slot<V> {
    /// The key hash as two words: a `u128` field would align every slot to
    /// 16 bytes.
    hash: [u64; 2],
    value: V,
}

/// A map from 128-bit key hashes to `V`.
pub(crate) struct HotTable<V> {
    /// A power of two long, or empty.
    slots: Vec<Option<Slot<V>>>,
    len: usize,
}

impl<V> Default for HotTable<V> {
    fn default() -> Self {
        HotTable {
            slots: Vec::new(),
            len: 0,
        }
    }
}

fn words(hash: u128) -> [u64; 2] {
    [hash as u64, (hash >> 64) as u64]
}

impl<V> HotTable<V> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn home(&self, hash: u128) -> usize {
        // Key hashes are XXH3 outputs: their low bits are already uniform.
        (hash as u64 as usize) & (self.slots.len() - 1)
    }

    /// Where `hash`'s entry is, or the empty slot that ends its probe.
    fn probe(&self, hash: u128) -> (usize, bool) {
        let (key, mask) = (words(hash), self.slots.len() - 1);
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => return (i, false),
                Some(s) if s.hash == key => return (i, true),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Pulls the slots where `hash`'s entry would be toward the core.
    pub(crate) fn prefetch(&self, hash: u128) {
        if self.slots.is_empty() {
            return;
        }
        let at = self.home(hash);
        let end = (at + PREFETCH_SLOTS).min(self.slots.len());
        prefetch_slice(&self.slots[at..end]);
    }

    /// The slot holding `hash`'s entry: a handle that stays good until an
    /// insert or [`Self::retain`] moves entries (check it with
    /// [`Self::holds`]), so that a key probed once is not probed again.
    pub(crate) fn find(&self, hash: u128) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        match self.probe(hash) {
            (i, true) => Some(i),
            _ => None,
        }
    }

    /// Whether `slot` (a handle from [`Self::find`], perhaps stale) holds
    /// `hash`'s entry.
    pub(crate) fn holds(&self, slot: usize, hash: u128) -> bool {
        matches!(self.slots.get(slot), Some(Some(s)) if s.hash == words(hash))
    }

    /// The entry in `slot`, if any.
    pub(crate) fn at(&self, slot: usize) -> Option<&V> {
        self.slots.get(slot)?.as_ref().map(|s| &s.value)
    }

    /// The entry in `slot`, if any.
    pub(crate) fn at_mut(&mut self, slot: usize) -> Option<&mut V> {
        self.slots.get_mut(slot)?.as_mut().map(|s| &mut s.value)
    }

    /// The entry of `hash`, inserting `make()` when there is none.
    pub(crate) fn get_or_insert_with(&mut self, hash: u128, make: impl FnOnce() -> V) -> &mut V {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let (i, found) = self.probe(hash);
        if !found {
            self.slots[i] = Some(Slot {
                hash: words(hash),
                value: make(),
            });
            self.len += 1;
        }
        &mut self.slots[i].as_mut().expect("probed or just filled").value
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::take(&mut self.slots);
        self.slots.resize_with(cap, || None);
        for s in old.into_iter().flatten() {
            self.place(s);
        }
    }

    /// Puts a slot of a key not in the table at the end of its probe.
    fn place(&mut self, s: Slot<V>) {
        let mut i = (s.hash[0] as usize) & (self.slots.len() - 1);
        while self.slots[i].is_some() {
            i = (i + 1) & (self.slots.len() - 1);
        }
        self.slots[i] = Some(s);
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten().map(|s| &s.value)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().flatten().map(|s| &mut s.value)
    }

    /// Keeps the entries for which `keep` is true, and rebuilds the probe
    /// sequences around the gaps (the table keeps its size).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&mut V) -> bool) {
        let mut kept = Vec::with_capacity(self.len);
        for slot in &mut self.slots {
            if let Some(mut s) = slot.take()
                && keep(&mut s.value)
            {
                kept.push(s);
            }
        }
        self.len = kept.len();
        for s in kept {
            self.place(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u128, u32),
        Get(u128),
        Retain(u32),
    }

    /// Hashes that collide in their low bits, so probes run long and wrap.
    fn hash() -> impl Strategy<Value = u128> {
        (0u128..48, 0u128..4).prop_map(|(lo, hi)| lo | (hi << 64) | ((lo % 3) << 100))
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (hash(), any::<u32>()).prop_map(|(h, v)| Op::Insert(h, v)),
            3 => hash().prop_map(Op::Get),
            1 => (1u32..5).prop_map(Op::Retain),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_map(ops in prop::collection::vec(op(), 1..400)) {
            let mut table = HotTable::<u32>::default();
            let mut model = HashMap::<u128, u32>::new();
            for op in ops {
                match op {
                    Op::Insert(h, v) => {
                        let got = *table.get_or_insert_with(h, || v);
                        let want = *model.entry(h).or_insert(v);
                        prop_assert_eq!(got, want);
                    }
                    Op::Get(h) => {
                        prop_assert_eq!(table.find(h).and_then(|i| table.at(i)), model.get(&h));
                        table.prefetch(h);
                        if let Some(slot) = table.find(h) {
                            prop_assert!(table.holds(slot, h));
                            prop_assert!(!table.holds(slot, h ^ (1 << 90)));
                            prop_assert_eq!(table.at(slot), model.get(&h));
                        }
                    }
                    Op::Retain(m) => {
                        table.retain(|v| *v % m == 0);
                        model.retain(|_, v| *v % m == 0);
                    }
                }
                prop_assert_eq!(table.len(), model.len());
                prop_assert!(table.len() * 2 <= table.slots.len() || table.slots.is_empty());
            }
            let mut a: Vec<u32> = table.values().copied().collect();
            let mut b: Vec<u32> = model.values().copied().collect();
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn updates_through_the_entry_stick() {
        let mut table = HotTable::<Vec<u8>>::default();
        for h in 0..1_000u128 {
            table.get_or_insert_with(h * 7919, Vec::new).push(h as u8);
        }
        for h in 0..1_000u128 {
            table.get_or_insert_with(h * 7919, Vec::new).push(1);
            let slot = table.find(h * 7919);
            assert_eq!(slot.and_then(|i| table.at(i)), Some(&vec![h as u8, 1]));
        }
        table.values_mut().for_each(Vec::clear);
        assert!(table.values().all(Vec::is_empty));
        assert_eq!(table.find(3), None);
    }
}
