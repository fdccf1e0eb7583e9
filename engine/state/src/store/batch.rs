//! [`WriteBatch`]: the operations of one atomic write, applied in order.
//!
//! The bytes of every operation live in a few large chunks rather than two
//! allocations per operation: a checkpoint stages hundreds of thousands of
//! records, and allocating (and first touching) each one's key and value
//! apart cost more than encoding them. A full chunk is followed by a new
//! one instead of being grown, so bytes are never copied twice, and
//! [`WriteBatch::append`] moves the other batch's chunks in.

/// One operation of a [`WriteBatch`], borrowing its bytes from the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOp<'a> {
    Put(&'a [u8], &'a [u8]),
    Delete(&'a [u8]),
    /// Deletes keys in `[start, end)`.
    DeleteRange(&'a [u8], &'a [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Delete,
    DeleteRange,
}

/// An operation's kind and where its bytes are: `first` bytes (the key,
/// or a range's start) then `second` (the value, or the range's end) from
/// `start` in chunk `chunk`.
#[derive(Debug, Clone, Copy)]
struct Op {
    kind: Kind,
    chunk: u32,
    start: u32,
    first: u32,
    second: u32,
}

/// Bytes of a batch's first chunk, unless sized up front.
const FIRST_CHUNK: usize = 4 << 10;
/// Chunks grow by doubling up to this size.
const MAX_CHUNK: usize = 4 << 20;

/// Operations applied atomically and in order by [`StateStore::write`].
///
/// The bytes of every operation live in a few large chunks rather than two
/// allocations per operation: a checkpoint stages hundreds of thousands of
/// records, and allocating (and first touching) each one's key and value
/// apart cost more than encoding them. A full chunk is followed by a new
/// one instead of being grown, so bytes are never copied twice, and
/// [`Self::append`] moves the other batch's chunks in.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    chunks: Vec<Vec<u8>>,
    ops: Vec<Op>,
    bytes: usize,
}

/// Batches are equal when they carry the same operations in the same
/// order, however their bytes are laid out.
impl PartialEq for WriteBatch {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.ops().eq(other.ops())
    }
}

impl Eq for WriteBatch {}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch with room for `ops` operations carrying `bytes` bytes of keys
    /// and values before it allocates again.
    pub fn with_capacity(ops: usize, bytes: usize) -> Self {
        WriteBatch {
            chunks: vec![Vec::with_capacity(bytes.min(MAX_CHUNK))],
            ops: Vec::with_capacity(ops),
            bytes: 0,
        }
    }

    /// Room for `ops` more operations.
    pub fn reserve(&mut self, ops: usize) {
        self.ops.reserve(ops);
    }

    fn push(&mut self, kind: Kind, first: &[u8], second: &[u8]) {
        let need = first.len() + second.len();
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= need && c.len() + need <= u32::MAX as usize);
        if !fits {
            let prev = self.chunks.last().map_or(0, Vec::capacity);
            let cap = (2 * prev).clamp(FIRST_CHUNK, MAX_CHUNK).max(need);
            self.chunks.push(Vec::with_capacity(cap));
        }
        let chunk = self.chunks.len() - 1;
        let buf = &mut self.chunks[chunk];
        let start = buf.len();
        buf.extend_from_slice(first);
        buf.extend_from_slice(second);
        self.bytes += need;
        self.ops.push(Op {
            kind,
            chunk: chunk as u32,
            start: start as u32,
            first: first.len() as u32,
            second: second.len() as u32,
        });
    }

    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.push(Kind::Put, key.as_ref(), value.as_ref());
    }

    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.push(Kind::Delete, key.as_ref(), &[]);
    }

    pub fn delete_range(&mut self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) {
        self.push(Kind::DeleteRange, start.as_ref(), end.as_ref());
    }

    fn parts<'a>(chunks: &'a [Vec<u8>], op: &Op) -> (&'a [u8], &'a [u8]) {
        let (start, first) = (op.start as usize, op.first as usize);
        let bytes = &chunks[op.chunk as usize][start..start + first + op.second as usize];
        bytes.split_at(first)
    }

    fn view<'a>(chunks: &'a [Vec<u8>], op: &Op) -> BatchOp<'a> {
        let (a, b) = Self::parts(chunks, op);
        match op.kind {
            Kind::Put => BatchOp::Put(a, b),
            Kind::Delete => BatchOp::Delete(a),
            Kind::DeleteRange => BatchOp::DeleteRange(a, b),
        }
    }

    /// The key of a point operation; `None` for a range delete.
    fn point_key<'a>(chunks: &'a [Vec<u8>], op: &Op) -> Option<&'a [u8]> {
        match op.kind {
            Kind::DeleteRange => None,
            Kind::Put | Kind::Delete => Some(Self::parts(chunks, op).0),
        }
    }

    /// Puts every range delete first (in their order) and sorts the point
    /// operations by key, stably, so operations on one key keep their order.
    ///
    /// The result applies like the original batch as long as no point
    /// operation comes before a range delete that covers its key. RocksDB
    /// inserts a key-sorted batch into its memtable much faster than a
    /// random-order one (each insert starts from the previous position).
    pub fn sort_by_key(&mut self) {
        let chunks = &self.chunks;
        debug_assert!(
            self.ops
                .iter()
                .enumerate()
                .all(|(i, op)| match Self::view(chunks, op) {
                    BatchOp::DeleteRange(s, e) => self.ops[..i]
                        .iter()
                        .filter_map(|o| Self::point_key(chunks, o))
                        .all(|k| k < s || k >= e),
                    _ => true,
                }),
            "a point operation precedes a range delete covering its key"
        );
        // Range deletes (`None`) sort first; the sort is stable.
        self.ops
            .sort_by(|a, b| Self::point_key(chunks, a).cmp(&Self::point_key(chunks, b)));
    }

    /// Appends every operation of `other`, after this batch's, moving its
    /// bytes in without copying them.
    pub fn append(&mut self, other: WriteBatch) {
        let base = self.chunks.len() as u32;
        self.bytes += other.bytes;
        self.chunks.extend(other.chunks);
        self.ops.extend(other.ops.into_iter().map(|mut op| {
            op.chunk += base;
            op
        }));
    }

    /// The operations, in the order they apply.
    pub fn ops(&self) -> impl ExactSizeIterator<Item = BatchOp<'_>> + '_ {
        self.ops.iter().map(|op| Self::view(&self.chunks, op))
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values carried.
    pub fn size_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operations spanning many chunks, moved by `append` and reordered by
    /// `sort_by_key`, read back exactly as they were staged.
    #[test]
    fn operations_read_back_across_chunks_appends_and_sorts() {
        type Owned = (u8, Vec<u8>, Vec<u8>);
        let owned = |b: &WriteBatch| -> Vec<Owned> {
            b.ops()
                .map(|op| match op {
                    BatchOp::Put(k, v) => (0, k.to_vec(), v.to_vec()),
                    BatchOp::Delete(k) => (1, k.to_vec(), Vec::new()),
                    BatchOp::DeleteRange(s, e) => (2, s.to_vec(), e.to_vec()),
                })
                .collect()
        };
        let stage = |from: usize, n: usize| {
            let mut b = WriteBatch::with_capacity(4, 16);
            let mut want: Vec<Owned> = Vec::new();
            for i in from..from + n {
                let key = format!("k{:05}", (i * 7_919) % 100_000).into_bytes();
                // Values up to past a chunk's size, so some take a chunk alone.
                let value = vec![
                    (i % 251) as u8;
                    (i * 37) % 3_000 + if i % 997 == 0 { MAX_CHUNK } else { 0 }
                ];
                if i % 5 == 0 {
                    b.delete(&key);
                    want.push((1, key, Vec::new()));
                } else {
                    b.put(&key, &value);
                    want.push((0, key, value));
                }
            }
            (b, want)
        };
        let mut batch = WriteBatch::new();
        batch.delete_range(b"a", b"b");
        let mut want: Vec<Owned> = vec![(2, b"a".to_vec(), b"b".to_vec())];
        for part in 0..3 {
            let (b, w) = stage(part * 2_000, 2_000);
            assert_eq!(owned(&b), w);
            batch.append(b);
            want.extend(w);
        }
        batch.put(b"meta", b"last");
        want.push((0, b"meta".to_vec(), b"last".to_vec()));
        assert_eq!(owned(&batch), want);
        assert_eq!(batch.len(), want.len());
        let bytes: usize = want.iter().map(|(_, a, b)| a.len() + b.len()).sum();
        assert_eq!(batch.size_bytes(), bytes);
        assert!(batch.chunks.len() > 3, "the batch spans many chunks");

        let mut sorted = batch.clone();
        sorted.sort_by_key();
        let mut want_sorted = want.clone();
        want_sorted.sort_by(|a, b| (a.0 != 2, &a.1).cmp(&(b.0 != 2, &b.1)));
        assert_eq!(owned(&sorted), want_sorted);
        assert_ne!(sorted, batch);
        assert_eq!(batch.clone(), batch);
    }
}
