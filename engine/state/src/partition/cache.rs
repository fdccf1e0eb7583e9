//! The memory bound of the hot layer.
//!
//! At most `cache-capacity` entities (keys of any key field) stay hot. When
//! a new entity pushes the count over, the least recently used *clean*
//! entities are dropped down to 90% of capacity; they are reloaded from the
//! store on their next use. Dirty entities (changed since the last
//! checkpoint) and those in a checkpoint still being written are never
//! evicted, so memory is bounded by the capacity plus the keys touched
//! within two checkpoint intervals, never by the total number of keys.

use crate::partition::layout::Group;

/// The hot entity count and when the next eviction runs.
pub(super) struct HotBound {
    capacity: usize,
    /// Entities in the hot layer.
    pub(super) hot: usize,
    /// Hot count at which the next eviction runs: above capacity while dirty
    /// entities alone exceed it, so eviction stays amortized.
    evict_at: usize,
}

impl HotBound {
    pub(super) fn new(capacity: usize) -> Self {
        HotBound {
            capacity,
            hot: 0,
            evict_at: capacity,
        }
    }

    /// The hot layer outgrew the bound: [`Self::evict`] is due.
    #[inline]
    pub(super) fn over(&self) -> bool {
        self.hot > self.evict_at
    }

    /// A checkpoint landed (`landed`: its sequence number): its entities
    /// may go.
    pub(super) fn checkpoint_landed(&mut self, groups: &mut [Group], landed: u32) {
        self.evict_at = self.capacity;
        if self.hot > self.capacity {
            self.evict(groups, landed);
        }
    }

    /// Drops least recently used clean entities down to 90% of capacity
    /// (none pinned by a checkpoint after `landed`).
    pub(super) fn evict(&mut self, groups: &mut [Group], landed: u32) {
        let target = self.capacity - self.capacity / 10;
        let excess = self.hot.saturating_sub(target);
        if excess == 0 {
            self.evict_at = self.capacity;
            return;
        }
        let mut ages: Vec<u64> = Vec::with_capacity(self.hot);
        for g in groups.iter() {
            ages.extend(
                g.entries
                    .values()
                    .filter(|e| !e.dirty && e.pinned <= landed)
                    .map(|e| e.touched),
            );
        }
        if ages.is_empty() {
            self.evict_at = self.capacity.max(self.hot + self.capacity / 10 + 1);
            return;
        }
        let n = excess.min(ages.len());
        let cutoff = *ages.select_nth_unstable(n - 1).1;
        for g in groups.iter_mut() {
            g.entries
                .retain(|e| e.dirty || e.pinned > landed || e.touched > cutoff);
        }
        self.hot = groups.iter().map(|g| g.entries.len()).sum();
        self.evict_at = self.capacity.max(self.hot + self.capacity / 10 + 1);
    }
}
