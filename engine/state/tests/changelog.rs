//! A checkpoint's changes, applied key by key to another store (what the
//! engine's changelog topic carries and a restore applies), leave that store
//! equal to the one the checkpoint's batch was written to: entities, user
//! histories, the expiry index and its sweeps, and the checkpoint record.

mod common;

use std::sync::Arc;

use common::*;
use verdict_state::keys::{changelog_position_key, checkpoint_key, partition_range};
use verdict_state::{MemoryStore, PartitionState, StateConfig, StateStore, WriteBatch};

const PARTITION: i32 = 3;

fn contents(store: &dyn StateStore) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (start, end) = partition_range(PARTITION);
    let mut all = Vec::new();
    store
        .scan(&start, &end, &mut |k, v| {
            all.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
    all
}

#[test]
fn a_checkpoints_changes_applied_key_by_key_rebuild_its_store() {
    let features = feature_set();
    // Ten minutes apart on average, 6,000 events span about six weeks: the
    // short windows' entities expire and checkpoints sweep them.
    let events = stream(9, 6_000, 50, 600_000, 60_000);
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let copy = MemoryStore::new();
    let mut state = PartitionState::open(
        Arc::clone(&store),
        PARTITION,
        &features,
        &StateConfig::default(),
    )
    .unwrap();
    let (mut index_deletes, mut record_deletes) = (0, 0);
    for (i, chunk) in events.chunks(250).enumerate() {
        for e in chunk {
            let mut out = vec![-1.0; features.len()];
            state.process(e, &mut out);
        }
        let next = ((i + 1) * chunk.len()) as i64;
        let mut prepared = state.prepare_checkpoint(next).unwrap();
        let mut mirror = WriteBatch::new();
        let mut last = None;
        for (key, value) in prepared.changes() {
            match value {
                Some(v) => mirror.put(key, v),
                None if key[4] == 0x03 => {
                    index_deletes += 1;
                    mirror.delete(key);
                }
                None => {
                    record_deletes += 1;
                    mirror.delete(key);
                }
            }
            last = Some(key.to_vec());
        }
        assert_eq!(
            last,
            Some(checkpoint_key(PARTITION)),
            "the checkpoint record is the last change"
        );
        prepared.note_changelog(&next.to_be_bytes());
        mirror.put(changelog_position_key(PARTITION), next.to_be_bytes());
        state.finish_checkpoint(prepared.write()).unwrap();
        copy.write(mirror).unwrap();
        assert!(
            contents(&copy) == contents(&*store),
            "the copy differs from the store after checkpoint {i}"
        );
    }
    assert!(
        index_deletes > 0 && record_deletes > 0,
        "the sweeps ran ({index_deletes} index and {record_deletes} record deletes)"
    );
}
