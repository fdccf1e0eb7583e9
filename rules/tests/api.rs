//! The public API as the engine uses it: compile, features, derive, evaluate,
//! check, and the diagnostics a broken directory prints.

use std::path::Path;

use verdict_rules::reference::{Event, ReferenceState};
use verdict_rules::{
    Action, Evaluation, FeatureKind, Field, RuleSet, SourceFile, Transaction, check_dir,
};

fn compile(text: &str) -> RuleSet {
    RuleSet::compile_sources(&[SourceFile {
        path: "test.rules".into(),
        text: text.into(),
    }])
    .unwrap_or_else(|d| panic!("{}", d.render()))
}

fn event(json: &str) -> Event {
    Event::from_json(&serde_json::from_str(json).unwrap()).unwrap()
}

const EVENT: &str = r#"{"transaction_id":"t1","event_time":"2026-03-02T10:00:00Z","user_id":"u1","card_id":"c1","amount":42,"currency":"EUR","merchant_id":"m1"}"#;

#[test]
fn five_mistakes_are_all_reported_with_codes_positions_and_hints() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.rules"),
        "feature card_txn_1h = count over 1h by card_id\n\
         feature card_txn_45d = count over 45d by card_id\n\
         list blocked_ips = [\"203.0.113.1\"]\n\
         rule burst: decline when card_txn_1hr >= 10\n\
         rule slow: review when amount > 10m\n\
         rule bad_action: block when amount > 1\n\
         rule blocked: decline when ip in blocked_ipz\n",
    )
    .unwrap();
    let diags = check_dir(dir.path()).unwrap_err();
    let text = diags.render();
    println!("{text}");
    assert_eq!(diags.len(), 5, "{text}");
    for (code, pos, hint) in [
        ("E040", "broken.rules:2:35", "use a `history` lookup"),
        ("E023", "broken.rules:4:26", "did you mean `card_txn_1h`?"),
        (
            "E030",
            "broken.rules:5:24",
            "durations compare with durations",
        ),
        ("E012", "broken.rules:6:18", "did you mean `decline`?"),
        ("E027", "broken.rules:7:34", "did you mean `blocked_ips`?"),
    ] {
        assert!(
            text.contains(&format!("error[{code}]")),
            "missing {code}:\n{text}"
        );
        assert!(text.contains(pos), "missing {pos}:\n{text}");
        assert!(text.contains(hint), "missing hint {hint}:\n{text}");
    }
    assert!(text.contains(
        "4 | rule burst: decline when card_txn_1hr >= 10\n  |                          ^^^^^^^^^^^^"
    ));
    assert!(!text.contains('\u{1b}'), "no ANSI escapes in plain output");
}

#[test]
fn an_empty_or_missing_directory_is_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let empty = check_dir(dir.path()).unwrap_err();
    assert_eq!(empty.items[0].code.as_str(), "E060");
    let missing = check_dir(&dir.path().join("nope")).unwrap_err();
    assert_eq!(missing.items[0].code.as_str(), "E061");
}

#[test]
fn check_dir_summarises_the_default_set() {
    let summary = check_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("default")).unwrap();
    assert!(summary.features >= 20 && summary.rules >= 15 && summary.shadow_rules >= 1);
    assert!(
        summary
            .lists
            .iter()
            .any(|l| l.name == "blocked_ips" && l.len == 2)
    );
    assert!(
        summary
            .to_string()
            .starts_with(&format!("ok: rule set {}", summary.version))
    );
}

#[test]
fn feature_specs_describe_what_the_state_layer_keeps() {
    let set = compile(
        "feature small = count over 10m by card_id where amount < 5\n\
         feature prev_lat = previous(lat) by user_id\n\
         feature ratio = amount / 2\n",
    );
    let specs = set.features();
    let FeatureKind::Window(w) = &specs[0].kind else {
        panic!("{:?}", specs[0])
    };
    assert_eq!((w.key, w.window_ms), (Field::CardId, 600_000));
    let filter = w.filter.as_ref().unwrap();
    assert_eq!(filter.source(), "amount < 5");
    assert!(filter.matches(&event(&EVENT.replace("42", "4"))));
    assert!(!filter.matches(&event(EVENT)));
    assert_eq!(
        specs[0].state_id(),
        "window:Count:card_id:600000:amount < 5"
    );
    assert!(matches!(
        specs[1].kind,
        FeatureKind::Previous {
            key: Field::UserId,
            field: Field::Lat
        }
    ));
    assert!(matches!(specs[2].kind, FeatureKind::Derived));
    let mut values = vec![f64::NAN; 3];
    set.derive(&event(EVENT), &mut values);
    assert_eq!(values[2], 21.0);
}

#[test]
fn evaluate_reuses_the_output_and_tolerates_short_feature_slices() {
    let set = compile(
        "feature n = count over 1h by card_id\n\
         rule many: review when n >= 2 reason \"{n} in 1h\"\n\
         rule big: decline when amount > 40\n",
    );
    let txn = event(EVENT);
    let mut out = Evaluation::new();
    set.evaluate(&txn, &[3.0], Some(0.1), &mut out);
    assert_eq!(out.action, Action::Decline);
    assert_eq!(out.deciding_hit().unwrap().name.as_ref(), "big");
    assert_eq!(out.hits.len(), 2);
    assert!(!out.degraded);
    // A short slice reads as missing features; nothing panics.
    set.evaluate(&txn, &[], None, &mut out);
    assert_eq!(out.hits.len(), 1);
    assert!(out.degraded);
    let capacity = out.hits.capacity();
    set.evaluate(&event(&EVENT.replace("42", "1")), &[0.0], None, &mut out);
    assert_eq!(
        (out.action, out.hits.len(), out.decided_by),
        (Action::Allow, 0, None)
    );
    assert_eq!(out.hits.capacity(), capacity, "the hit buffer is reused");
}

#[test]
fn rules_keep_declaration_order_and_metadata() {
    let set = compile(
        "rule a: review when amount > 1 priority 3\nshadow rule b: decline when amount > 2\nrule c: allow when amount > 3\n",
    );
    let names: Vec<_> = set
        .rules()
        .iter()
        .map(|r| (r.name.to_string(), r.action, r.shadow, r.priority))
        .collect();
    assert_eq!(
        names,
        vec![
            ("a".into(), Action::Review, false, 3),
            ("b".into(), Action::Decline, true, 0),
            ("c".into(), Action::Allow, false, 0)
        ]
    );
    assert_eq!(set.rules()[1].line, 2);
    assert_eq!(Action::Decline.as_str(), "decline");
}

#[test]
fn version_is_a_content_hash_of_sources_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("a.rules");
    std::fs::write(dir.path().join("ips.txt"), "1.2.3.4\n").unwrap();
    std::fs::write(
        &rules,
        "list ips = file(\"ips.txt\")\nrule r: decline when ip in ips\n",
    )
    .unwrap();
    let v1 = RuleSet::compile_dir(dir.path())
        .unwrap()
        .version()
        .to_string();
    assert_eq!(RuleSet::compile_dir(dir.path()).unwrap().version(), v1);
    std::fs::write(dir.path().join("ips.txt"), "1.2.3.4\n5.6.7.8\n").unwrap();
    let v2 = RuleSet::compile_dir(dir.path())
        .unwrap()
        .version()
        .to_string();
    assert_ne!(v1, v2, "a list change is a new version");
}

#[test]
fn reference_state_follows_arrival_order() {
    let set = compile(
        "feature n = count over 1h by card_id\nfeature prev = previous(amount) by card_id\n",
    );
    let mut state = ReferenceState::new();
    let a = event(EVENT);
    let b = event(&EVENT.replace("10:00:00", "10:30:00").replace("42", "7"));
    assert_eq!(state.process(&set, &a)[0], 1.0);
    let fb = state.process(&set, &b);
    assert_eq!((fb[0], fb[1]), (2.0, 42.0));
    assert_eq!(state.len(), 2);
    assert_eq!(b.number(Field::Hour), Some(10.0));
    assert_eq!(b.number(Field::Weekday), Some(0.0));
}

#[test]
fn events_reject_unknown_fields() {
    let bad = serde_json::json!({"transaction_id": "t", "amout": 3});
    assert!(Event::from_json(&bad).unwrap_err().contains("amout"));
}
