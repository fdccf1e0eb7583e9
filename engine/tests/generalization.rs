//! The default rules and model on traffic they were not trained on.
//!
//! `models/default/` was trained on a month of `verdict generate --realistic
//! --join-span-days 20 --seed 7` (README, "The default model"). These tests
//! backtest them on other populations, another seed and another month, and
//! hold the decisions to floors: fraud declined (overall and per scenario),
//! legitimate transactions declined, and legitimate first transactions
//! declined (a new customer's first purchase declined is a customer lost).

mod common;

use common::verdict_stdout as verdict;

/// What a population's backtest must reach.
struct Floors {
    recall: f64,
    false_declines: f64,
    first_transactions: f64,
    /// Decline recall of each fraud scenario.
    scenarios: &'static [(&'static str, f64)],
}

/// Measured with these seeds (2026-12-02): overall recall 0.882 and 0.915,
/// false declines 0.076 % and 0.036 %, first transactions 0.048 % and
/// 0.026 % (the shifted population, then the base one). Velocity bursts are
/// the weakest scenario on the shifted population (0.755): the velocity rules
/// judge a burst against the customer's own pace, so a burst on a busy
/// business account is left to the model.
const FLOORS: Floors = Floors {
    recall: 0.80,
    false_declines: 0.003,
    first_transactions: 0.003,
    scenarios: &[
        ("account_takeover", 0.80),
        ("card_testing", 0.95),
        ("impossible_travel", 0.90),
        ("velocity_burst", 0.70),
    ],
};

/// Generates 100,000 events of 10,000 users with `population`'s flags,
/// backtests them with the default rules and model, and checks [`FLOORS`].
fn holds_up_on(population: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let path = |name: &str| work.path().join(name).display().to_string();
    let (events, labels, json) = (
        path("events.jsonl"),
        path("labels.csv"),
        path("report.json"),
    );
    let mut generate = vec![
        "generate",
        "--count",
        "100000",
        "--users",
        "10000",
        "--events-per-sec",
        "0.2",
        "--seed",
        "99",
        "--start",
        "2026-03-01T00:00:00Z",
        "--output",
        &events,
        "--labels",
        &labels,
    ];
    generate.extend_from_slice(population);
    verdict(work.path(), &generate);
    let shown = verdict(
        work.path(),
        &[
            "backtest", "--input", &events, "--labels", &labels, "--json", &json,
        ],
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let figure = |field: &str| r[field].as_f64().unwrap();
    let context = format!("population {population:?}:\n{shown}");
    assert!(r["frauds"].as_u64().unwrap() > 1_000, "{context}");
    assert!(figure("decline_recall") >= FLOORS.recall, "{context}");
    assert!(
        figure("false_decline_rate") <= FLOORS.false_declines,
        "{context}"
    );
    let first = &r["first_transactions"];
    assert!(first["legit"].as_u64().unwrap() > 10_000, "{context}");
    assert!(
        first["false_decline_rate"].as_f64().unwrap() <= FLOORS.first_transactions,
        "{context}"
    );
    for (scenario, floor) in FLOORS.scenarios {
        let s = &r["scenarios"][scenario];
        assert!(s["frauds"].as_u64().unwrap() > 20, "{scenario}: {context}");
        assert!(
            s["decline_recall"].as_f64().unwrap() >= *floor,
            "{scenario} below {floor}: {context}"
        );
    }
}

/// Other shares than the training data's (a half newcomers arriving over
/// nine days instead of a third over twenty, twice the business accounts,
/// transit riders, travellers and families), another seed, another month.
#[test]
fn the_default_model_holds_up_on_a_population_it_was_not_trained_on() {
    holds_up_on(&[
        "--newcomers",
        "0.5",
        "--join-span-days",
        "9",
        "--business",
        "0.006",
        "--transit",
        "0.2",
        "--travellers",
        "0.1",
        "--families",
        "0.2",
    ]);
}

/// The generator's base population: no newcomers, no special accounts.
#[test]
fn the_default_model_holds_up_on_the_base_population() {
    holds_up_on(&[]);
}
