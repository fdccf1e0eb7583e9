//! Artifact round trip, verification and refusal paths.

mod common;

use std::sync::Arc;

use burn::backend::NdArray;
use burn::backend::ndarray::NdArrayDevice;
use verdict_models::eval::evaluate;
use verdict_models::{
    FastScorer, LoadError, ModelSlot, Scorer, load_burn_model, load_model, read_artifact,
};

fn scores(model: &dyn Scorer, rows: &[f32]) -> Vec<f32> {
    let n = rows.len() / model.manifest().schema.width();
    let mut out = vec![0.0; n];
    model.score_batch(rows, &mut out).unwrap();
    out
}

#[test]
fn save_then_load_gives_identical_scores() {
    let f = common::trained();
    let (manifest, weights) = read_artifact(&f.summary.model_dir).unwrap();
    assert_eq!(manifest.schema, f.summary.manifest.schema);
    assert_eq!(manifest.normalization, f.summary.manifest.normalization);
    assert_eq!(manifest.files, f.summary.manifest.files);
    let rows = common::sample_rows(&manifest.schema, 500);
    let loaded = load_model(&f.summary.model_dir).unwrap();
    let reloaded = load_model(&f.summary.model_dir).unwrap();
    let in_memory = FastScorer::new(manifest.clone(), &weights);
    let a = scores(&*loaded, &rows);
    assert_eq!(a, scores(&*reloaded, &rows));
    assert_eq!(a, scores(&in_memory, &rows));
    assert!(a.iter().all(|s| (0.0..=1.0).contains(s)));
    // Row-by-row scoring equals batch scoring.
    let width = manifest.schema.width();
    for (r, expected) in a.iter().enumerate().step_by(37) {
        let mut one = [0.0];
        loaded
            .score_batch(&rows[r * width..(r + 1) * width], &mut one)
            .unwrap();
        assert_eq!(one[0], *expected);
    }
}

#[test]
fn fused_path_matches_the_burn_forward_pass() {
    let f = common::trained();
    let rows = common::sample_rows(&f.summary.manifest.schema, 1_000);
    let burn = load_burn_model::<NdArray>(&f.summary.model_dir, NdArrayDevice::default()).unwrap();
    let fast = FastScorer::load(&f.summary.model_dir).unwrap();
    let portable = fast.clone().portable();
    let reference = scores(&burn, &rows);
    for (name, model) in [("simd", &fast), ("portable", &portable)] {
        let got = scores(model, &rows);
        let worst = got
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-5, "{name} path differs from burn by {worst}");
    }
}

#[test]
fn wrong_row_width_is_an_error_not_a_panic() {
    let f = common::trained();
    let model = load_model(&f.summary.model_dir).unwrap();
    let mut out = [0.0; 2];
    let err = model.score_batch(&[0.0; 5], &mut out).unwrap_err();
    assert!(err.to_string().contains("width"), "{err}");
}

#[test]
fn schema_mismatch_is_refused_with_a_clear_message() {
    let f = common::trained();
    let model = load_model(&f.summary.model_dir).unwrap();
    let schema = &model.manifest().schema;
    let numeric: Vec<&str> = schema
        .numeric
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "count_1h")
        .collect();
    let err = model
        .manifest()
        .check_compatible(&numeric, &["mcc", "channel"])
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("count_1h") && msg.contains("country") && msg.contains("verdict-fraud@1"),
        "{msg}"
    );
    assert!(ModelSlot::new(Arc::clone(&model), &numeric, &["mcc", "country", "channel"]).is_err());

    // A candidate that needs a feature the engine does not provide is refused
    // at swap time, and the champion keeps serving.
    let all: Vec<&str> = schema.numeric.iter().map(String::as_str).collect();
    let slot = ModelSlot::new(Arc::clone(&model), &all, &["mcc", "country", "channel"]).unwrap();
    let (mut manifest, mut weights) = read_artifact(&f.summary.model_dir).unwrap();
    let mut numeric = manifest.schema.numeric.clone();
    numeric.push("velocity_7d".into());
    manifest.schema =
        verdict_models::FeatureSchema::new(numeric, manifest.schema.categorical.clone());
    manifest.schema_hash = manifest.schema.hash();
    manifest.normalization.push(manifest.normalization[0]);
    manifest.architecture.numeric_inputs += 1;
    manifest.version = "2".into();
    let first = &mut weights.hidden[0];
    let at = (manifest.architecture.numeric_inputs - 1) * first.outputs;
    first
        .weight
        .splice(at..at, std::iter::repeat_n(0.0, first.outputs));
    first.inputs += 1;
    weights.validate(&manifest.architecture).unwrap();
    let candidate: Arc<dyn Scorer> = Arc::new(FastScorer::new(manifest, &weights));
    let err = slot.swap_champion(candidate).unwrap_err();
    assert_eq!(err.missing_numeric, ["velocity_7d"]);
    assert!(
        err.to_string().contains("velocity_7d") && err.to_string().contains("verdict-fraud@2"),
        "{err}"
    );
    assert!(Arc::ptr_eq(&slot.current(), &model));
}

#[test]
fn corrupt_and_truncated_artifacts_are_refused_while_the_champion_keeps_serving() {
    let f = common::trained();
    let champion = load_model(&f.summary.model_dir).unwrap();
    let all: Vec<&str> = champion
        .manifest()
        .schema
        .numeric
        .iter()
        .map(String::as_str)
        .collect();
    let slot = ModelSlot::new(Arc::clone(&champion), &all, &["mcc", "country", "channel"]).unwrap();
    let rows = common::sample_rows(&champion.manifest().schema, 64);
    let before = scores(&*slot.current(), &rows);
    let tmp = tempfile::tempdir().unwrap();

    let flipped = tmp.path().join("flipped");
    common::copy_model(&f.summary.model_dir, &flipped);
    let mut bytes = std::fs::read(flipped.join("model.bin")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(flipped.join("model.bin"), &bytes).unwrap();
    let err = slot.load_champion(&flipped).unwrap_err();
    assert!(matches!(err, LoadError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("corrupt or truncated"), "{err}");

    let truncated = tmp.path().join("truncated");
    common::copy_model(&f.summary.model_dir, &truncated);
    let bytes = std::fs::read(truncated.join("model.bin")).unwrap();
    std::fs::write(truncated.join("model.bin"), &bytes[..bytes.len() - 100]).unwrap();
    assert!(matches!(
        slot.load_champion(&truncated).unwrap_err(),
        LoadError::Checksum { .. }
    ));

    let bad_manifest = tmp.path().join("bad-manifest");
    common::copy_model(&f.summary.model_dir, &bad_manifest);
    let text = std::fs::read_to_string(bad_manifest.join("manifest.json")).unwrap();
    std::fs::write(bad_manifest.join("manifest.json"), &text[..text.len() / 2]).unwrap();
    assert!(matches!(
        slot.load_champion(&bad_manifest).unwrap_err(),
        LoadError::Manifest { .. }
    ));

    let missing = tmp.path().join("missing");
    assert!(matches!(
        slot.load_champion(&missing).unwrap_err(),
        LoadError::Io { .. }
    ));

    assert!(Arc::ptr_eq(&slot.current(), &champion));
    assert_eq!(scores(&*slot.current(), &rows), before);
    // A good artifact still swaps in.
    let old = slot.load_champion(&f.summary.model_dir).unwrap();
    assert!(Arc::ptr_eq(&old, &champion));
}

#[test]
fn evaluate_writes_a_report_and_registry_lists_the_model() {
    let f = common::trained();
    let out = tempfile::tempdir().unwrap();
    let report = evaluate(&f.summary.model_dir, &f.data, &f.labels, out.path()).unwrap();
    assert_eq!(report.rows, common::synth_config().rows);
    let roc = report.evaluation.metrics.roc_auc;
    assert!(roc > 0.85, "ROC AUC on the full table {roc}");
    assert!(!report.scenarios.is_empty());
    for file in ["report.json", "report.md", "roc.png", "pr.png"] {
        assert!(out.path().join(file).is_file(), "{file}");
    }
    let entries = verdict_models::list_models(f.summary.model_dir.parent().unwrap()).unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].summary().contains("verdict-fraud"));
}

#[test]
fn record_batch_scoring_matches_row_scoring() {
    let f = common::trained();
    let model = load_model(&f.summary.model_dir).unwrap();
    let data = verdict_models::synth::generate(&verdict_models::synth::SynthConfig {
        rows: 300,
        seed: 99,
        ..Default::default()
    });
    let from_batch = verdict_models::score_record_batch(&*model, &data.batch).unwrap();
    let table = verdict_models::table::read_table(&f.data).unwrap();
    let rows = table.rows_for(&model.manifest().schema).unwrap();
    let mut from_rows = vec![0.0; table.len()];
    model.score_batch(&rows, &mut from_rows).unwrap();
    assert_eq!(from_batch.len(), 300);
    assert!(from_batch.iter().all(|s| (0.0..=1.0).contains(s)));
    // The training file, scored from its Arrow batch and from its table rows.
    let file_batch = {
        let file = std::fs::File::open(&f.data).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .with_batch_size(100_000)
            .build()
            .unwrap();
        let batches: Vec<_> = reader.map(Result::unwrap).collect();
        arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
    };
    assert_eq!(
        verdict_models::score_record_batch(&*model, &file_batch).unwrap(),
        from_rows
    );
}
