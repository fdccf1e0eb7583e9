//! The most recent decisions by transaction id, for the admin API's
//! `GET /v1/decisions/{transaction_id}`: what a support agent looks up when
//! a customer asks why their payment was declined.
//!
//! Bounded: it keeps the last `capacity` decisions (`admin.recent-decisions`)
//! and forgets the oldest first. Partition workers insert a batch at a time
//! (one lock on the eviction queue per batch) while admin requests read from
//! any thread, which is what `DashMap` is for: sharded locks, so a lookup
//! never waits for a worker's whole batch. The decisions are the exact bytes
//! written to the `decisions` topic, moved here after they were handed to
//! the producer (no copy).
//!
//! A re-decided event (after a restart) replaces its entry; each entry
//! carries the sequence number of its insertion, so evicting the old queue
//! position of a replaced entry does not remove the new one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;

use dashmap::DashMap;

pub struct RecentDecisions {
    map: DashMap<Arc<str>, (u64, Box<[u8]>)>,
    order: Mutex<Order>,
    capacity: usize,
}

#[derive(Default)]
struct Order {
    next_seq: u64,
    queue: VecDeque<(u64, Arc<str>)>,
}

impl RecentDecisions {
    /// Keeps at most `capacity` decisions; 0 keeps none.
    pub fn new(capacity: usize) -> Self {
        RecentDecisions {
            map: DashMap::new(),
            order: Mutex::new(Order::default()),
            capacity,
        }
    }

    /// Records a batch of `(transaction_id, decision JSON)`.
    pub fn insert_batch(&self, decisions: impl Iterator<Item = (String, Vec<u8>)>) {
        if self.capacity == 0 {
            return;
        }
        let mut order = self.order.lock().expect("recent decisions lock");
        for (id, json) in decisions {
            let seq = order.next_seq;
            order.next_seq += 1;
            let key: Arc<str> = id.into();
            self.map
                .insert(Arc::clone(&key), (seq, json.into_boxed_slice()));
            order.queue.push_back((seq, key));
        }
        while order.queue.len() > self.capacity {
            let Some((seq, key)) = order.queue.pop_front() else {
                break;
            };
            self.map.remove_if(&key, |_, (s, _)| *s == seq);
        }
    }

    /// The decision JSON for `transaction_id`, if it is still held.
    pub fn get(&self, transaction_id: &str) -> Option<Vec<u8>> {
        self.map.get(transaction_id).map(|e| e.value().1.to_vec())
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: &[&str], tag: &str) -> Vec<(String, Vec<u8>)> {
        ids.iter()
            .map(|id| (id.to_string(), format!("{id}:{tag}").into_bytes()))
            .collect()
    }

    #[test]
    fn keeps_the_newest_capacity_decisions() {
        let recent = RecentDecisions::new(3);
        recent.insert_batch(batch(&["a", "b"], "1").into_iter());
        recent.insert_batch(batch(&["c", "d"], "1").into_iter());
        assert_eq!(recent.len(), 3);
        assert_eq!(recent.get("a"), None, "the oldest is forgotten first");
        assert_eq!(recent.get("d").as_deref(), Some(&b"d:1"[..]));
    }

    #[test]
    fn a_re_decided_event_survives_the_eviction_of_its_first_entry() {
        let recent = RecentDecisions::new(2);
        recent.insert_batch(batch(&["a", "b"], "1").into_iter());
        recent.insert_batch(batch(&["a"], "2").into_iter());
        // Evicting the queue's oldest position ("a", first insertion) must
        // not remove the newer "a".
        assert_eq!(recent.get("a").as_deref(), Some(&b"a:2"[..]));
        recent.insert_batch(batch(&["c"], "1").into_iter());
        assert_eq!(recent.get("b"), None);
        assert_eq!(recent.get("a").as_deref(), Some(&b"a:2"[..]));
        assert_eq!(recent.len(), 2);
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let recent = RecentDecisions::new(0);
        recent.insert_batch(batch(&["a"], "1").into_iter());
        assert!(recent.is_empty());
    }
}
