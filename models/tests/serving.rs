//! Serving: hot swap under concurrent load, micro-batching and deadlines.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use verdict_models::{BatchError, BatcherConfig, MicroBatcher, ModelSlot, load_model};

fn slot() -> Arc<ModelSlot> {
    let f = common::trained();
    let model = load_model(&f.summary.model_dir).unwrap();
    let numeric: Vec<String> = model.manifest().schema.numeric.clone();
    let numeric: Vec<&str> = numeric.iter().map(String::as_str).collect();
    Arc::new(ModelSlot::new(model, &numeric, &["mcc", "country", "channel"]).unwrap())
}

#[test]
fn hot_swap_under_concurrent_scoring_loses_no_request() {
    let f = common::trained();
    let slot = slot();
    let schema = slot.current().manifest().schema.clone();
    let rows = Arc::new(common::sample_rows(&schema, 64));
    let mut expected = vec![0.0; 64];
    slot.current().score_batch(&rows, &mut expected).unwrap();
    let expected = Arc::new(expected);
    let stop = Arc::new(AtomicBool::new(false));
    let scored = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (slot, rows, expected, stop, scored) = (
                slot.clone(),
                rows.clone(),
                expected.clone(),
                stop.clone(),
                scored.clone(),
            );
            std::thread::spawn(move || {
                let mut requests = 0usize;
                let mut out = vec![0.0; 64];
                while !stop.load(Ordering::Relaxed) || requests < 50 {
                    let model = slot.current();
                    model
                        .score_batch(&rows, &mut out)
                        .expect("every request is scored");
                    // Every swapped-in model is the same artifact: same scores.
                    assert_eq!(&out, &*expected);
                    requests += 1;
                    scored.fetch_add(out.len(), Ordering::Relaxed);
                }
                requests
            })
        })
        .collect();
    let mut swaps = 0;
    let deadline = Instant::now() + Duration::from_millis(600);
    while Instant::now() < deadline {
        let fresh = load_model(&f.summary.model_dir).unwrap();
        let previous = slot.swap_champion(fresh).unwrap();
        assert!(previous.manifest().version == "1");
        slot.set_challenger(Some(previous)).unwrap();
        assert!(slot.promote_challenger());
        swaps += 2;
    }
    stop.store(true, Ordering::Relaxed);
    let requests: usize = workers
        .into_iter()
        .map(|w| w.join().expect("no worker panicked"))
        .sum();
    assert!(swaps >= 4, "only {swaps} swaps");
    assert_eq!(
        scored.load(Ordering::Relaxed),
        requests * 64,
        "a request was lost"
    );
}

#[test]
fn micro_batcher_batches_requests_and_answers_each() {
    let slot = slot();
    let schema = slot.current().manifest().schema.clone();
    let width = schema.width();
    let rows = common::sample_rows(&schema, 100);
    let mut expected = vec![0.0; 100];
    slot.current().score_batch(&rows, &mut expected).unwrap();
    let batcher = MicroBatcher::start(
        Arc::clone(&slot),
        BatcherConfig {
            max_batch: 32,
            max_wait: Duration::from_millis(5),
        },
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let pending: Vec<_> = (0..100)
        .map(|r| {
            batcher
                .submit(rows[r * width..(r + 1) * width].to_vec(), deadline)
                .unwrap()
        })
        .collect();
    for (p, want) in pending.into_iter().zip(&expected) {
        assert_eq!(p.wait().unwrap(), *want);
    }
    let stats = batcher.stats();
    assert_eq!(stats.scored.load(Ordering::Relaxed), 100);
    assert!(
        stats.batches.load(Ordering::Relaxed) < 100,
        "requests were not batched"
    );
    let err = batcher.score(vec![0.0; width + 1], deadline).unwrap_err();
    assert!(matches!(err, BatchError::Score(_)), "{err}");
}

#[test]
fn micro_batcher_returns_timeout_instead_of_a_late_score() {
    let slot = slot();
    let width = slot.current().manifest().schema.width();
    let batcher = MicroBatcher::start(
        Arc::clone(&slot),
        BatcherConfig {
            max_batch: 256,
            max_wait: Duration::from_millis(50),
        },
    );
    // Already past its deadline: never scored.
    let past = Instant::now() - Duration::from_millis(1);
    assert_eq!(
        batcher.score(vec![0.0; width], past),
        Err(BatchError::Timeout)
    );
    // A deadline shorter than the batching wait: the batch is cut at the
    // deadline, and the caller gets either a timely score or Timeout.
    let start = Instant::now();
    let result = batcher.score(vec![0.0; width], start + Duration::from_millis(2));
    assert!(
        start.elapsed() < Duration::from_millis(40),
        "waited past the deadline"
    );
    match result {
        Ok(score) => assert!((0.0..=1.0).contains(&score)),
        Err(e) => assert_eq!(e, BatchError::Timeout),
    }
    assert!(batcher.stats().timeouts.load(Ordering::Relaxed) >= 1);
    // Generous deadline: scored.
    let ok = batcher
        .score(vec![0.0; width], Instant::now() + Duration::from_secs(5))
        .unwrap();
    assert!((0.0..=1.0).contains(&ok));
}
