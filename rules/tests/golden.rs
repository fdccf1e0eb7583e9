//! The one golden-test runner: every `.rules` file under `tests/golden/` with
//! `@event` or `@error` directives is a case (see `verdict_rules::golden`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use verdict_rules::{Code, RuleSet, run_golden_dir};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn every_golden_file_passes() {
    let report = run_golden_dir(&golden_dir());
    println!("{}", report.render());
    assert!(
        report.cases.len() >= 40,
        "expected at least 40 golden files, found {}",
        report.cases.len()
    );
    assert!(report.all_passed(), "{}", report.render());
}

#[test]
fn golden_files_cover_at_least_twenty_diagnostic_codes() {
    let mut codes = BTreeSet::new();
    let mut stack = vec![golden_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for line in text.lines() {
                if let Some(rest) = line.trim_start().strip_prefix("# @error ") {
                    let code = rest.split_whitespace().next().unwrap().to_string();
                    assert!(
                        Code::parse(&code).is_some(),
                        "{}: unknown code {code}",
                        p.display()
                    );
                    codes.insert(code);
                }
            }
        }
    }
    println!("{} distinct codes: {codes:?}", codes.len());
    assert!(
        codes.len() >= 20,
        "only {} distinct codes tested: {codes:?}",
        codes.len()
    );
}

#[test]
fn a_failing_expectation_is_reported_with_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrong.rules");
    std::fs::write(
        &path,
        "# @event {\"transaction_id\":\"t1\",\"event_time\":\"2026-03-02T10:00:00Z\",\"user_id\":\"u1\",\
         \"card_id\":\"c1\",\"amount\":50,\"currency\":\"EUR\",\"merchant_id\":\"m1\"}\n\
         # @expect review hits=big\n\
         # @reason big: wrong text\n\
         rule big: decline when amount > 10 reason \"amount {amount}\"\n",
    )
    .unwrap();
    let report = run_golden_dir(dir.path());
    assert_eq!(report.cases.len(), 1);
    let text = report.render();
    assert!(!report.all_passed());
    assert!(
        text.contains("expected: review\n") && text.contains("actual:   decline (by big)"),
        "{text}"
    );
    assert!(
        text.contains("expected: wrong text") && text.contains("actual:   amount 50"),
        "{text}"
    );
}

#[test]
fn default_rule_set_declares_the_scorer_features() {
    let set = RuleSet::compile_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("default"))
        .unwrap_or_else(|d| panic!("{}", d.render()));
    for name in [
        "card_txn_10m",
        "card_small_auths_10m",
        "card_txn_1h",
        "user_txn_1h",
        "user_spend_24h",
        "device_txn_1h",
        "ip_txn_1h",
        "device_users_24h",
        "ip_cards_24h",
        "user_merchants_1h",
        "user_avg_amount_1y",
        "user_max_amount_1y",
        "user_txn_count_1y",
        "user_days_since_first",
        "first_time_merchant",
        "first_time_country",
        "first_time_device",
        "km_from_prev",
        "speed_kmh_from_prev",
        "amount_to_user_avg",
    ] {
        assert!(
            set.feature_slot(name).is_some(),
            "default set lacks feature {name}"
        );
    }
    assert_eq!(set.version().len(), 12);
    assert!(set.rules().len() >= 15);
}
