//! One conformance suite every `StateStore` implementation must pass.

use verdict_state::store::prefix_end;
use verdict_state::{BatchOp, MemoryStore, RocksOptions, RocksStore, StateStore, WriteBatch};

fn scan_all(store: &dyn StateStore, start: &[u8], end: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    store
        .scan(start, end, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
    out
}

fn conformance(store: &dyn StateStore) {
    // Empty store.
    assert_eq!(store.get(b"a").unwrap(), None);
    assert!(scan_all(store, b"", &[0xff]).is_empty());

    // Batch puts, gets and multi-get in key order.
    let mut b = WriteBatch::new();
    for k in ["a", "ab", "abc", "b", "ba", "c"] {
        b.put(k.as_bytes(), format!("v-{k}").into_bytes());
    }
    assert_eq!(b.len(), 6);
    store.write(b).unwrap();
    assert_eq!(store.get(b"ab").unwrap(), Some(b"v-ab".to_vec()));
    let got = store.multi_get(&[b"c", b"zz", b"a"]).unwrap();
    assert_eq!(
        got,
        vec![Some(b"v-c".to_vec()), None, Some(b"v-a".to_vec())]
    );

    // Range scan is half-open and ordered; prefix scan; early stop.
    let keys: Vec<Vec<u8>> = scan_all(store, b"ab", b"ba")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec![b"ab".to_vec(), b"abc".to_vec(), b"b".to_vec()]);
    let mut pref = Vec::new();
    store
        .scan_prefix(b"a", &mut |k, _| {
            pref.push(k.to_vec());
            true
        })
        .unwrap();
    assert_eq!(pref, vec![b"a".to_vec(), b"ab".to_vec(), b"abc".to_vec()]);
    let mut first = Vec::new();
    store
        .scan(b"", &[0xff], &mut |k, _| {
            first.push(k.to_vec());
            false
        })
        .unwrap();
    assert_eq!(first, vec![b"a".to_vec()]);
    assert!(
        scan_all(store, b"b", b"a").is_empty(),
        "inverted range is empty"
    );

    // Overwrite and delete.
    let mut b = WriteBatch::new();
    b.put(b"a", b"new");
    b.delete(b"c");
    store.write(b).unwrap();
    assert_eq!(store.get(b"a").unwrap(), Some(b"new".to_vec()));
    assert_eq!(store.get(b"c").unwrap(), None);

    // delete_range is half-open; ops apply in order within a batch.
    let mut b = WriteBatch::new();
    b.delete_range(b"ab", b"b");
    b.put(b"abc", b"reborn");
    store.write(b).unwrap();
    let left: Vec<(Vec<u8>, Vec<u8>)> = scan_all(store, b"", &[0xff]);
    let left_keys: Vec<&[u8]> = left.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(left_keys, vec![&b"a"[..], b"abc", b"b", b"ba"]);
    assert_eq!(store.get(b"abc").unwrap(), Some(b"reborn".to_vec()));
    store.delete_range(b"b", b"c").unwrap();
    assert_eq!(store.get(b"ba").unwrap(), None);

    // Binary keys with 0x00 and 0xff bytes sort bytewise.
    let mut b = WriteBatch::new();
    b.put(vec![0x01, 0xff], vec![1]);
    b.put(vec![0x01, 0x00], vec![0]);
    b.put(vec![0x02], vec![2]);
    store.write(b).unwrap();
    let end = prefix_end(&[0x01]).unwrap();
    let vals: Vec<Vec<u8>> = scan_all(store, &[0x01], &end)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(vals, vec![vec![0], vec![1]]);

    // An empty batch is fine; size estimate is callable.
    store.write(WriteBatch::new()).unwrap();
    store.flush().unwrap();
    let _ = store.approximate_size(b"", &[0xff]).unwrap();
}

#[test]
fn memory_store_conforms() {
    let store = MemoryStore::new();
    conformance(&store);
    assert!(store.approximate_size(b"", &[0xff]).unwrap() > 0);
}

#[test]
fn rocks_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
    conformance(&store);
}

#[test]
fn rocks_store_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        let mut b = WriteBatch::new();
        b.put(b"k", b"v");
        store.write(b).unwrap();
    }
    let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
}

/// A key-sorted batch (range deletes first, point operations stably by key)
/// leaves a store exactly as the batch in its original order does.
#[test]
fn sorted_batch_applies_like_the_original() {
    let mut batch = WriteBatch::new();
    batch.delete_range(b"k5", b"k8");
    batch.put(b"k9", b"a");
    batch.put(b"k1", b"a");
    batch.delete(b"k1");
    batch.put(b"k6", b"inside the range, after it");
    batch.put(b"k1", b"b");
    batch.delete(b"k3");
    batch.put(b"k0", b"c");
    let mut sorted = batch.clone();
    sorted.sort_by_key();
    assert!(matches!(
        sorted.ops().next(),
        Some(BatchOp::DeleteRange(..))
    ));

    let seed = |store: &MemoryStore| {
        let mut b = WriteBatch::new();
        for k in ["k1", "k3", "k5", "k6", "k7"] {
            b.put(k.as_bytes(), b"old");
        }
        store.write(b).unwrap();
    };
    let (want, got) = (MemoryStore::new(), MemoryStore::new());
    seed(&want);
    seed(&got);
    want.write(batch).unwrap();
    got.write(sorted).unwrap();
    assert_eq!(
        scan_all(&got, b"", &[0xff; 4]),
        scan_all(&want, b"", &[0xff; 4])
    );
    assert_eq!(
        scan_all(&got, b"k1", b"k2"),
        vec![(b"k1".to_vec(), b"b".to_vec())]
    );
}
