//! `verdict replay` over a generated file: one decision per valid line, every
//! invalid line on the DLQ with the generator's expected reason, and
//! byte-identical output across runs, with in-memory and with RocksDB state.

use std::io::Write;
use std::sync::Arc;

use verdict_engine::contract::decision::DecisionRecord;
use verdict_engine::dataflow::Dataflow;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::metrics::Metrics;
use verdict_engine::replay::{ReplayOptions, replay};

struct Input {
    dir: tempfile::TempDir,
    valid_ids: Vec<String>,
    reasons: Vec<(i64, &'static str)>,
}

fn generated(n: usize) -> Input {
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(dir.path().join("in.jsonl")).unwrap();
    let cfg = GeneratorConfig {
        seed: 11,
        users: 400,
        fraud_rate: 0.03,
        malformed_rate: 0.03,
        ..Default::default()
    };
    let (mut valid_ids, mut reasons) = (Vec::new(), Vec::new());
    for (line, g) in Generator::new(cfg).take(n).enumerate() {
        // A payload with a newline would split the line: the generator never makes one.
        assert!(!g.payload.contains(&b'\n'));
        file.write_all(&g.payload).unwrap();
        file.write_all(b"\n").unwrap();
        match (g.label, g.expected_rejection) {
            (Some(l), None) => valid_ids.push(l.transaction_id),
            (None, Some(r)) => reasons.push((line as i64, r.code())),
            other => panic!("{other:?}"),
        }
    }
    Input {
        dir,
        valid_ids,
        reasons,
    }
}

fn run(input: &Input, tag: &str, rocksdb: bool) -> (Vec<u8>, Vec<u8>) {
    let base = input.dir.path();
    let d = verdict_engine::defaults::extract(&base.join(format!("defaults-{tag}"))).unwrap();
    let state = base.join(format!("state-{tag}"));
    let shared = Dataflow::build(
        Dataflow::fixed_rules(&d.rules_dir).unwrap(),
        Some(&d.model_dir),
        Arc::new(Metrics::new()),
        rocksdb.then_some(state.as_path()),
        Default::default(),
    )
    .unwrap();
    let opts = ReplayOptions {
        input: base.join("in.jsonl"),
        output: base.join(format!("out-{tag}.jsonl")),
        dlq: Some(base.join(format!("dlq-{tag}.jsonl"))),
        feature_log: Some(base.join(format!("features-{tag}.parquet"))),
        batch_size: 256,
        decode: Default::default(),
        checkpoint_every: rocksdb.then_some(1_000),
    };
    let summary = replay(&opts, &shared).unwrap();
    assert_eq!(summary.decisions as usize, input.valid_ids.len());
    if rocksdb {
        // Checkpointed along the way and at the end: the store resumes after the last line.
        let features = shared.rules.load().features().to_vec();
        let st = verdict_state::PartitionState::open(
            Arc::clone(&shared.store),
            0,
            &features,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(st.checkpointed_offset(), Some(summary.lines as i64));
    }
    assert_eq!(summary.dlq as usize, input.reasons.len());
    assert!(
        summary.allow > 0 && summary.review + summary.decline > 0,
        "{summary:?}"
    );
    (
        std::fs::read(&opts.output).unwrap(),
        std::fs::read(opts.dlq.as_ref().unwrap()).unwrap(),
    )
}

#[test]
fn replay_decides_each_valid_line_once_and_is_byte_identical_across_runs() {
    let input = generated(6_000);
    let (out_a, dlq_a) = run(&input, "a", false);
    let (out_b, dlq_b) = run(&input, "b", false);
    assert!(
        out_a == out_b,
        "decisions differ between two identical replays"
    );
    assert_eq!(dlq_a, dlq_b);
    let (out_c, _) = run(&input, "c", true);
    assert!(
        out_a == out_c,
        "RocksDB-backed state decides differently from in-memory state"
    );

    let decisions: Vec<DecisionRecord> = out_a
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let ids: Vec<&str> = decisions
        .iter()
        .map(|d| d.transaction_id.as_str())
        .collect();
    assert_eq!(
        ids,
        input
            .valid_ids
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "one decision per valid line, in order"
    );
    assert!(
        decisions
            .iter()
            .all(|d| d.score.is_some() && !d.degraded && d.model.is_some())
    );
    // Every review and decline says what pushed its score up: at most three
    // of the model's inputs, largest first; an allow carries none.
    let d = verdict_engine::defaults::extract(&input.dir.path().join("defaults-reasons")).unwrap();
    let manifest = verdict_models::read_manifest(&d.model_dir).unwrap();
    let columns: Vec<&str> = (manifest.schema.numeric.iter())
        .chain(manifest.schema.categorical.iter().map(|c| &c.name))
        .map(String::as_str)
        .collect();
    let flagged: Vec<&DecisionRecord> = decisions.iter().filter(|d| d.action != "allow").collect();
    assert!(flagged.len() > 50, "{} reviews and declines", flagged.len());
    for d in &flagged {
        let r = &d.score_reasons;
        assert!(!r.is_empty() && r.len() <= 3, "{}: {r:?}", d.transaction_id);
        assert!(
            r.iter()
                .all(|r| r.contribution > 0.0 && columns.contains(&r.feature.as_str()))
        );
        assert!(r.windows(2).all(|p| p[0].contribution >= p[1].contribution));
    }
    assert!(
        decisions
            .iter()
            .filter(|d| d.action == "allow")
            .all(|d| d.score_reasons.is_empty())
    );

    let dead: Vec<serde_json::Value> = dlq_a
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(dead.len(), input.reasons.len());
    for (record, (line, reason)) in dead.iter().zip(&input.reasons) {
        assert_eq!(record["offset"].as_i64(), Some(*line));
        assert_eq!(record["reason"].as_str(), Some(*reason));
        assert!(
            record
                .get("original")
                .or(record.get("original_hex"))
                .is_some()
        );
    }
}

/// A replay checkpoints through the keyed half of a split pipeline alone
/// (`Pipeline::split`): that is whole only while the stages after the
/// keyed features have nothing to persist.
#[test]
fn only_the_feature_stage_has_a_checkpoint() {
    use verdict_engine::pipeline::Stage;
    let dir = tempfile::tempdir().unwrap();
    let d = verdict_engine::defaults::extract(dir.path()).unwrap();
    let dataflow = Dataflow::build(
        Dataflow::fixed_rules(&d.rules_dir).unwrap(),
        Some(&d.model_dir),
        Arc::new(Metrics::new()),
        Some(dir.path().join("state").as_path()),
        Default::default(),
    )
    .unwrap();
    let mut pipeline = dataflow.pipeline(0).unwrap();
    assert!(pipeline.score.prepare_checkpoint(1).unwrap().is_none());
    assert!(pipeline.rules.prepare_checkpoint(1).unwrap().is_none());
    let (mut keyed, _) = pipeline.split();
    keyed.checkpoint(1).unwrap();
    assert_eq!(keyed.features.checkpointed_offset(), Some(1));
}
