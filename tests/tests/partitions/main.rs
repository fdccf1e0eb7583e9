//! Partitions that move, against a real broker (tansu): an instance killed
//! with SIGKILL again and again (`crash`), and instances joining, leaving
//! and dying while traffic flows (`mobility`). One test binary, so the two
//! run side by side: both mostly wait on the broker and their engine
//! processes.

mod crash;
mod mobility;

use std::collections::{HashMap, HashSet};

use verdict_engine::contract::decision::DecisionRecord;

/// Asserts that every decision in `seen`, duplicates included, equals the
/// `reference` run's for its transaction (same action, score, rules and
/// reasons, which carry the windows' and the history's values), and that
/// every id in `valid` was decided. `after` names what `seen` went through.
fn assert_as_the_reference(
    seen: &[DecisionRecord],
    reference: &[DecisionRecord],
    valid: &HashSet<String>,
    after: &str,
) {
    let key = |d: &DecisionRecord| {
        (
            d.action.clone(),
            d.score.map(f32::to_bits),
            d.rules.clone(),
            d.reasons.clone(),
        )
    };
    let expected: HashMap<&str, _> = reference
        .iter()
        .map(|d| (d.transaction_id.as_str(), key(d)))
        .collect();
    let mut decided = HashSet::new();
    for d in seen {
        let want = expected
            .get(d.transaction_id.as_str())
            .unwrap_or_else(|| panic!("unknown id {}", d.transaction_id));
        assert_eq!(
            &key(d),
            want,
            "{} was decided differently after {after}",
            d.transaction_id
        );
        decided.insert(d.transaction_id.as_str());
    }
    let missing: Vec<_> = valid
        .iter()
        .filter(|id| !decided.contains(id.as_str()))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} valid events never decided after {after}, e.g. {missing:?}",
        valid.len() - decided.len()
    );
}
