//! The shipped model (`models/default/`, embedded in the engine) is one a
//! risk team can trust: verified, calibrated on held-out rows, with no
//! absolute time among its inputs and its growing counts transformed.

mod common;

use std::path::PathBuf;

use verdict_models::eval::EvalReport;
use verdict_models::manifest::Transform;

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("default")
}

#[test]
fn the_default_model_reads_no_absolute_time_and_logs_its_growing_counts() {
    let manifest = verdict_models::read_manifest(&default_dir()).unwrap();
    let left_out: Vec<&str> = manifest
        .left_out
        .iter()
        .map(|l| l.feature.as_str())
        .collect();
    assert_eq!(left_out, ["prev_time"]);
    assert!(!manifest.schema.numeric.iter().any(|n| n == "prev_time"));
    let transform = |name: &str| {
        let i = (manifest.schema.numeric.iter())
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{name} is an input"));
        manifest.normalization[i].transform
    };
    for growing in [
        "user_txn_count_1y",
        "user_days_since_first",
        "user_spend_24h",
        "amount",
        "hours_since_prev",
    ] {
        assert_eq!(transform(growing), Transform::Log1p, "{growing}");
    }
    for flag_or_signed in ["first_time_device", "first_time_country", "prev_lon"] {
        assert_eq!(
            transform(flag_or_signed),
            Transform::Identity,
            "{flag_or_signed}"
        );
    }
    // It loads (checksums, shapes) and serves.
    verdict_models::load_model(&default_dir()).unwrap();
}

/// On the validation rows its calibration was not fitted on, each score
/// bin of at least 100 rows has a mean score within 0.05 of its observed
/// fraud rate; the manifest carries the map every scorer applies.
#[test]
fn the_default_model_is_calibrated_on_held_out_validation_rows() {
    let manifest = verdict_models::read_manifest(&default_dir()).unwrap();
    assert!(
        manifest.calibration.is_some(),
        "the manifest carries the map"
    );
    let report: EvalReport =
        serde_json::from_str(&std::fs::read_to_string(default_dir().join("report.json")).unwrap())
            .unwrap();
    let check = report
        .calibration
        .expect("the report checks the calibration");
    assert!(check.held_out_rows >= 10_000, "{check:?}");
    common::assert_calibrated(&check);
    let md = std::fs::read_to_string(default_dir().join("report.md")).unwrap();
    assert!(md.contains("## Reliability"), "report.md shows the curve");
    assert!(default_dir().join("reliability.png").exists());
}
