//! Fuzzing the front end with proptest: lexer + parser + checker must never
//! panic, whatever the input; evaluation must never panic, whatever the
//! feature values.

use proptest::prelude::*;
use verdict_rules::reference::Event;
use verdict_rules::{Evaluation, Field, RuleSet, SourceFile};

fn compile(text: String) {
    let result = RuleSet::compile_sources(&[SourceFile {
        path: "fuzz/input.rules".into(),
        text,
    }]);
    if let Err(d) = result {
        assert!(!d.is_empty());
        let _ = d.render();
    }
}

const VOCAB: &[&str] = &[
    "feature",
    "list",
    "rule",
    "shadow",
    "when",
    "priority",
    "reason",
    "over",
    "by",
    "where",
    "history",
    "previous",
    "and",
    "or",
    "not",
    "in",
    "is",
    "missing",
    "present",
    "true",
    "false",
    "allow",
    "review",
    "decline",
    "file",
    "score",
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "distinct",
    "haversine",
    "hours",
    "coalesce",
    "amount",
    "card_id",
    "user_id",
    "lat",
    "lon",
    "event_time",
    "country",
    "x",
    "f1",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "10m",
    "24h",
    "400d",
    "0s",
    "5",
    "1.5",
    "0",
    "\"US\"",
    "\"{amount}\"",
    "\"{\"",
    "\n",
    "#",
    "&&",
    "é",
    "\"",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 0..60).prop_map(|t| t.join(" "))
}

fn default_sources() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("default");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    v.sort();
    v.into_iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        compile(text);
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        compile(text);
    }

    #[test]
    fn mutated_rule_files_never_panic(file in 0usize..8, at in any::<prop::sample::Index>(), cut in 0usize..12, insert in token_soup()) {
        let sources = default_sources();
        let mut text = sources[file % sources.len()].clone();
        let mut i = at.index(text.len() + 1);
        while !text.is_char_boundary(i) { i -= 1; }
        let mut end = (i + cut).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        text.replace_range(i..end.max(i), &insert);
        compile(text);
    }

    #[test]
    fn evaluation_never_panics(values in prop::collection::vec(prop_oneof![Just(f64::NAN), Just(f64::INFINITY), any::<f64>(), 0.0..100.0f64], 0..40),
                               amount in prop_oneof![Just(None), any::<f64>().prop_map(Some)],
                               score in prop_oneof![Just(None), any::<f32>().prop_map(Some)]) {
        let set = RuleSet::compile_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("default")).unwrap();
        let mut e = Event::default();
        e.set_number(Field::Amount, amount);
        e.set_text(Field::UserId, Some("user_vip"));
        let mut features = values.clone();
        set.derive(&e, &mut features);
        let mut out = Evaluation::new();
        set.evaluate(&e, &features, score, &mut out);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(
        "rule r: review when {}amount > 1{}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    compile(deep);
    let nots = format!("rule r: review when {}amount > 1", "not ".repeat(5000));
    compile(nots);
    let negs = format!("feature f = {}amount", "-".repeat(5000));
    compile(negs);
}
