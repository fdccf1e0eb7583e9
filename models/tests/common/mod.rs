//! Shared fixture: one small model trained once per test binary.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use verdict_models::synth::{self, SynthConfig};
use verdict_models::train::{TrainConfig, TrainSummary, train};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub labels: PathBuf,
    pub summary: TrainSummary,
}

pub fn synth_config() -> SynthConfig {
    SynthConfig {
        rows: 6_000,
        fraud_rate: 0.04,
        seed: 11,
        ..SynthConfig::default()
    }
}

pub fn quick_config(data: PathBuf, labels: PathBuf, out: PathBuf) -> TrainConfig {
    TrainConfig {
        epochs: 4,
        hidden: vec![32, 16],
        embedding_dim: 4,
        progress: false,
        version: Some("1".into()),
        ..TrainConfig::new(data, labels, out)
    }
}

/// A model trained on 6 000 synthetic rows (a couple of seconds).
pub fn trained() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("features.parquet");
        let labels = dir.path().join("labels.csv");
        synth::write(&synth_config(), &data, &labels).expect("write synthetic data");
        let out = dir.path().join("models").join("verdict-fraud-1");
        let summary = train(&quick_config(data.clone(), labels.clone(), out)).expect("train");
        Fixture {
            dir,
            data,
            labels,
            summary,
        }
    })
}

/// Copies a model directory (to corrupt the copy, not the fixture).
pub fn copy_model(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Deterministic raw rows for `schema`, including missing values and
/// unknown / out-of-range categories.
pub fn sample_rows(schema: &verdict_models::FeatureSchema, n: usize) -> Vec<f32> {
    let mut rows = Vec::with_capacity(n * schema.width());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32
    };
    for r in 0..n {
        for c in 0..schema.numeric.len() {
            let v = next();
            rows.push(if (r + c) % 17 == 0 {
                f32::NAN
            } else {
                v * 200.0 - 20.0
            });
        }
        for (c, col) in schema.categorical.iter().enumerate() {
            let v = (next() * (col.vocabulary.len() + 2) as f32) as usize;
            rows.push(if (r + c) % 23 == 0 { -1.0 } else { v as f32 });
        }
    }
    rows
}

/// Every bin of at least 100 rows (fewer cannot measure a rate that
/// closely) has a mean score within 0.05 of its observed fraud rate, and at
/// least two bins are that large.
pub fn assert_calibrated(check: &verdict_models::eval::CalibrationCheck) {
    let measured: Vec<_> = check.calibrated.iter().filter(|b| b.rows >= 100).collect();
    assert!(measured.len() >= 2, "{check:?}");
    for b in measured {
        assert!(
            (b.mean_score - b.fraud_rate).abs() <= 0.05,
            "{b:?} in {:?}",
            check.calibrated
        );
    }
}
