//! Generates a synthetic labelled feature table and trains a model on it.
//!
//! `cargo run --release -p verdict-models --example train_synth -- OUT_DIR [ROWS]`
//!
//! Writes `OUT_DIR/features.parquet`, `OUT_DIR/labels.csv` and the model
//! artifact `OUT_DIR/models/verdict-fraud-synth/`, then prints the report.

use std::path::PathBuf;

use verdict_models::synth::{self, SynthConfig};
use verdict_models::train::{TrainConfig, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: train_synth OUT_DIR [ROWS]")?);
    let rows = args
        .next()
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(50_000);
    std::fs::create_dir_all(&out)?;
    let (data, labels) = (out.join("features.parquet"), out.join("labels.csv"));
    synth::write(
        &SynthConfig {
            rows,
            ..SynthConfig::default()
        },
        &data,
        &labels,
    )?;
    let summary = train(&TrainConfig {
        version: Some("synth".into()),
        ..TrainConfig::new(
            &data,
            &labels,
            out.join("models").join("verdict-fraud-synth"),
        )
    })?;
    println!("{}", verdict_models::eval::markdown(&summary.report));
    println!(
        "model.bin: {} bytes in {}",
        summary.model_bytes,
        summary.model_dir.display()
    );
    Ok(())
}
