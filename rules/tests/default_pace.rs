//! The default velocity rules judge a spike against the customer's own pace
//! over the past year (`user_txns_per_day_1y`): the same eight transactions
//! in ten minutes are a burst for a customer who makes two a day, and a
//! normal quarter hour for a business account that makes three hundred.

use std::path::Path;

use verdict_rules::reference::{Event, ReferenceState};
use verdict_rules::{Action, Evaluation, RuleSet};

const DAY_MS: i64 = 86_400_000;
/// 2026-03-01T00:00:00Z.
const START_MS: i64 = 1_772_323_200_000;

fn event(n: usize, at_ms: i64, merchant: usize) -> Event {
    let time = chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Event::from_json(&serde_json::json!({
        "transaction_id": format!("t{n}"),
        "event_time": time,
        "user_id": "u1",
        "card_id": "c1",
        "amount": 30,
        "currency": "EUR",
        "merchant_id": format!("m{merchant}"),
        "country": "FR",
        "device_id": "d1",
    }))
    .unwrap()
}

/// The rules that fire on the last of eight transactions on one card in ten
/// minutes, after ten days at `per_day` transactions a day.
fn burst_after(set: &RuleSet, per_day: i64) -> (Evaluation, f64) {
    let mut state = ReferenceState::new();
    let mut n = 0;
    for i in 0..10 * per_day {
        n += 1;
        state.process(set, &event(n, START_MS + i * DAY_MS / per_day, n % 5));
    }
    let burst_at = START_MS + 10 * DAY_MS + 12 * 3_600_000;
    let mut eval = Evaluation::new();
    let mut pace = f64::NAN;
    for i in 0..8 {
        n += 1;
        let e = event(n, burst_at + i * 60_000, 100 + n % 3);
        let features = state.process(set, &e);
        pace = features[set.feature_slot("user_txns_per_day_1y").unwrap()];
        set.evaluate(&e, &features, Some(0.01), &mut eval);
    }
    (eval, pace)
}

#[test]
fn a_card_burst_is_judged_against_the_customers_pace() {
    let set = RuleSet::compile_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("default"))
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let fired =
        |e: &Evaluation| -> Vec<String> { e.hits.iter().map(|h| h.name.to_string()).collect() };

    let (customer, pace) = burst_after(&set, 2);
    // Ten days' 20 transactions and the burst's first seven, over ten days.
    assert!(
        (pace - 2.7).abs() < 0.01,
        "a two-a-day customer's pace: {pace}"
    );
    assert_eq!(customer.action, Action::Decline, "{:?}", fired(&customer));
    assert!(fired(&customer).contains(&"card_burst".to_string()));

    let (business, pace) = burst_after(&set, 300);
    assert!(
        (pace - 300.7).abs() < 0.01,
        "a business account's pace: {pace}"
    );
    assert_ne!(business.action, Action::Decline, "{:?}", fired(&business));
    assert!(!fired(&business).contains(&"card_burst".to_string()));
}
