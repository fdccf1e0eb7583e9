//! How a restore reads a changelog partition: record by record, in log
//! order, into whole copies applied to the store.
//!
//! A copy is *confirmed* by its marker, or by a later copy's marker: a copy
//! without one that is followed by others either lost its marker to
//! compaction (which keeps only a key's latest record, and every marker has
//! the same key) or was left unfinished by a writer that died and repaired
//! by the next, whose repair puts every key it touched back. So everything
//! before the log's last marker is applied, and everything after it is
//! unfinished — not only the last copy: a restorer can die while it
//! repairs, leaving an unfinished repair after the unfinished copy, and the
//! next restorer must repair both.
//!
//! Copies are applied as they are read, so a restore's memory does not grow
//! with the partition's state; one that no marker has confirmed yet keeps
//! the values its keys had before (an *undo*), and the store's position is
//! removed meanwhile, so a restore interrupted there starts over instead of
//! resuming from a store that holds unconfirmed values. [`Copies::finish`]
//! puts the undone keys back and names every key after the last marker,
//! which the caller then repairs.

use std::collections::{BTreeMap, BTreeSet};

use verdict_state::keys::{changelog_position_key, checkpoint_key};
use verdict_state::{BatchOp, StateError, StateStore, WriteBatch};

/// Which checkpoint a changelog record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Tag {
    /// Unique to the worker (and its opening) that wrote the record.
    pub(super) token: u64,
    /// The checkpoint's number under that token.
    pub(super) seq: u64,
}

impl Tag {
    pub(super) fn encode(self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.token.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub(super) fn decode(b: &[u8]) -> Option<Tag> {
        let b: &[u8; 16] = b.try_into().ok()?;
        Some(Tag {
            token: u64::from_be_bytes(b[..8].try_into().ok()?),
            seq: u64::from_be_bytes(b[8..].try_into().ok()?),
        })
    }
}

/// How a position is stored: the offset, then the topic's name.
pub fn position_value(topic: &str, offset: i64) -> Vec<u8> {
    let mut v = offset.to_be_bytes().to_vec();
    v.extend_from_slice(topic.as_bytes());
    v
}

/// A changelog record as a restore reads it.
pub(super) struct Record<'a> {
    pub offset: i64,
    pub tag: Tag,
    pub key: &'a [u8],
    /// `None`: a tombstone.
    pub value: Option<&'a [u8]>,
}

/// One restore's reading of a partition (see the module doc).
pub(super) struct Copies<'a> {
    store: &'a dyn StateStore,
    topic: &'a str,
    /// The checkpoint record's key (a copy's marker), and the position's
    /// (the marker of a copy of a store without a checkpoint record).
    marker: Vec<u8>,
    position: Vec<u8>,
    /// The copy being read: its tag, changes and last offset.
    tag: Option<Tag>,
    copy: WriteBatch,
    end: i64,
    /// What each key written by a copy no marker has confirmed yet held
    /// before it (`None`: nothing).
    undo: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The offset of the last marker applied, or where the restore started.
    confirmed: Option<i64>,
    /// Copies confirmed by their own marker.
    pub checkpoints: u64,
}

impl<'a> Copies<'a> {
    /// Reads into `store` the copies of state partition `state` from
    /// `topic`, whose position in the store is `from` (`None` for a store
    /// restored from the start).
    pub fn new(
        store: &'a dyn StateStore,
        topic: &'a str,
        state: i32,
        from: Option<i64>,
    ) -> Copies<'a> {
        Copies {
            store,
            topic,
            marker: checkpoint_key(state),
            position: changelog_position_key(state),
            tag: None,
            copy: WriteBatch::new(),
            end: 0,
            undo: BTreeMap::new(),
            confirmed: from,
            checkpoints: 0,
        }
    }

    /// Reads the next record of the log.
    pub fn read(&mut self, r: Record<'_>) -> Result<(), StateError> {
        if self.tag.is_some_and(|t| t != r.tag) {
            self.apply_unconfirmed()?;
        }
        self.tag = Some(r.tag);
        self.end = r.offset;
        if r.key == self.position.as_slice() {
            // The marker of a copy of a store without a checkpoint record.
        } else if let Some(v) = r.value {
            self.copy.put(r.key, v);
        } else {
            self.copy.delete(r.key);
        }
        if r.key == self.marker.as_slice() || r.key == self.position.as_slice() {
            self.confirm()?;
        }
        Ok(())
    }

    /// The copy read so far ended without its marker: applies it, keeping
    /// what its keys held before, with the store's position removed.
    fn apply_unconfirmed(&mut self) -> Result<(), StateError> {
        let mut copy = std::mem::take(&mut self.copy);
        let mut fresh = BTreeSet::new();
        for op in copy.ops() {
            if let BatchOp::Put(k, _) | BatchOp::Delete(k) = op
                && !self.undo.contains_key(k)
            {
                fresh.insert(k);
            }
        }
        let keys: Vec<&[u8]> = fresh.into_iter().collect();
        let before = self.store.multi_get(&keys)?;
        for (k, v) in keys.iter().zip(before) {
            self.undo.insert(k.to_vec(), v);
        }
        copy.delete(&self.position);
        self.store.write(copy)?;
        self.tag = None;
        Ok(())
    }

    /// A marker: the copy, and every unconfirmed one before it, are the
    /// partition's state; the store's position moves to the marker.
    fn confirm(&mut self) -> Result<(), StateError> {
        let mut copy = std::mem::take(&mut self.copy);
        copy.put(&self.position, position_value(self.topic, self.end));
        self.store.write(copy)?;
        self.undo.clear();
        self.confirmed = Some(self.end);
        self.tag = None;
        self.checkpoints += 1;
        Ok(())
    }

    /// The end of the partition: puts back what the copies after the last
    /// marker changed (the store is then as that marker left it) and
    /// returns every key they touched, to repair.
    pub fn finish(self) -> Result<BTreeSet<Vec<u8>>, StateError> {
        let mut tail: BTreeSet<Vec<u8>> = self.undo.keys().cloned().collect();
        for op in self.copy.ops() {
            if let BatchOp::Put(k, _) | BatchOp::Delete(k) = op {
                tail.insert(k.to_vec());
            }
        }
        if !self.undo.is_empty() {
            let mut back = WriteBatch::new();
            for (k, v) in &self.undo {
                match v {
                    Some(v) => back.put(k, v),
                    None => back.delete(k),
                }
            }
            if let Some(at) = self.confirmed {
                back.put(&self.position, position_value(self.topic, at));
            }
            self.store.write(back)?;
        }
        Ok(tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_state::MemoryStore;

    const TOPIC: &str = "app.changelog";

    fn tag(token: u64, seq: u64) -> Tag {
        Tag { token, seq }
    }

    /// A record's tag, key and value.
    type Raw<'a> = (Tag, &'a [u8], Option<&'a [u8]>);

    /// Reads `records` at offsets from 0 into `store`.
    fn restore(store: &MemoryStore, records: &[Raw<'_>]) -> BTreeSet<Vec<u8>> {
        let mut copies = Copies::new(store, TOPIC, 0, None);
        for (offset, &(tag, key, value)) in records.iter().enumerate() {
            let offset = offset as i64;
            copies
                .read(Record {
                    offset,
                    tag,
                    key,
                    value,
                })
                .unwrap();
        }
        copies.finish().unwrap()
    }

    #[test]
    fn what_follows_the_last_marker_is_undone_and_repaired_however_many_copies_it_spans() {
        let marker = checkpoint_key(0);
        let (a, b, c) = (
            b"\0\0\0\0a".as_slice(),
            b"\0\0\0\0b".as_slice(),
            b"\0\0\0\0c",
        );
        let store = MemoryStore::new();
        // A confirmed copy; then one unfinished (its writer died); then the
        // next writer's repair of it, unfinished too (it died repairing).
        let tail = restore(
            &store,
            &[
                (tag(1, 1), a, Some(b"1")),
                (tag(1, 1), b, Some(b"1")),
                (tag(1, 1), &marker, Some(b"checkpoint 1")),
                (tag(1, 2), a, Some(b"never committed")),
                (tag(1, 2), c, Some(b"never committed")),
                (tag(2, 1), a, Some(b"1")),
            ],
        );
        assert_eq!(tail, BTreeSet::from([a.to_vec(), c.to_vec()]));
        assert_eq!(store.get(a).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(store.get(b).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(store.get(c).unwrap(), None, "c had no committed value");
        let position = store.get(&changelog_position_key(0)).unwrap().unwrap();
        assert_eq!(position, position_value(TOPIC, 2), "back at the marker");

        // Once a marker follows them (a finished repair, or compaction took
        // the markers of copies that were whole), they are applied.
        let store = MemoryStore::new();
        let tail = restore(
            &store,
            &[
                (tag(1, 1), a, Some(b"1")),
                (tag(1, 2), a, Some(b"2")),
                (tag(1, 2), c, None),
                (tag(1, 3), b, Some(b"3")),
                (tag(1, 3), &marker, Some(b"checkpoint 3")),
            ],
        );
        assert!(tail.is_empty());
        assert_eq!(store.get(a).unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(store.get(b).unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(store.get(c).unwrap(), None);
    }

    #[test]
    fn a_restore_between_an_unconfirmed_copy_and_its_marker_has_no_position() {
        let marker = checkpoint_key(0);
        let a = b"\0\0\0\0a".as_slice();
        let store = MemoryStore::new();
        let mut copies = Copies::new(&store, TOPIC, 0, Some(7));
        let records: [(Tag, &[u8]); 3] = [(tag(1, 1), a), (tag(1, 2), a), (tag(1, 2), &marker)];
        for (i, (tag, key)) in records.into_iter().enumerate() {
            let offset = 8 + i as i64;
            copies
                .read(Record {
                    offset,
                    tag,
                    key,
                    value: Some(b"v"),
                })
                .unwrap();
            let position = store.get(&changelog_position_key(0)).unwrap();
            match i {
                // The first copy is applied when the second starts: an
                // interrupted restore would start over.
                1 => assert_eq!(position, None),
                2 => assert_eq!(position, Some(position_value(TOPIC, 10))),
                _ => {}
            }
        }
        assert!(copies.finish().unwrap().is_empty());
    }
}
