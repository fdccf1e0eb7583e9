//! Dead letters never carry a card number: for every way the decoder accepts
//! one to be written (12–19 digits, spaces and dashes between them, digits
//! and separators as JSON escapes), wherever it sits in a rejected message,
//! the record's payload and headers keep at most its first six and last
//! four digits.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use super::*;
use crate::contract::decode::{DecodeConfig, decode};

/// A complete event but for the field `{FIELD}` and its value `{PAN}`.
const EVENT: &str = r#"{"transaction_id":"tx","event_time":"2026-03-02T10:00:00Z","user_id":"u","card_id":"c","amount":"7","currency":"EUR","merchant_id":"m"{FIELD}}"#;

/// Where the card number goes, each giving a different rejection.
const PLACES: [&str; 9] = [
    // Accepted as a card number, the event rejected for another field.
    r#","card_number":"{PAN}","channel":"fax""#,
    r#","card_number":"{PAN}","lat":100,"lon":0"#,
    // Quoted back in the detail of a field's rejection.
    r#","country":"{PAN}""#,
    r#","mcc":"{PAN}""#,
    r#","ip":"{PAN}""#,
    // In free text of a field the decoder ignores, the event otherwise bad.
    r#","note":"paid with {PAN} today","lat":1"#,
    // Malformed JSON.
    r#","card_number":"{PAN}","amount":"#,
    r#","card_number":{PAN}"#,
    // Not UTF-8.
    "\u{0},\"card_number\":\"{PAN}\"\u{0}",
];

/// Ways of writing what separates two digits (most often nothing).
const SEPARATORS: [&str; 10] = ["", "", "", "", " ", "-", "  ", " - ", r"\u0020", r"\u002d"];

/// A Luhn-valid card number of `body.len() + 1` digits.
fn with_check_digit(body: &[u8]) -> String {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    let check = (10 - sum % 10) % 10;
    body.iter()
        .map(|d| char::from(b'0' + d))
        .chain(std::iter::once(char::from(b'0' + check as u8)))
        .collect()
}

/// The digits as written: separators between them, some digits escaped.
fn written(pan: &str, seps: &[usize], escaped: &[bool]) -> String {
    let mut out = String::new();
    for (i, d) in pan.chars().enumerate() {
        if i > 0 {
            out.push_str(SEPARATORS[seps[i] % SEPARATORS.len()]);
        }
        if escaped[i] {
            out.push_str(&format!("\\u{:04x}", d as u32));
        } else {
            out.push(d);
        }
    }
    out
}

/// The runs of digits a reader sees in `bytes`: JSON escapes of digits and
/// separators read as those characters, separators dropped.
fn digit_runs(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut plain = String::new();
    let mut rest = text.as_ref();
    while let Some(c) = rest.chars().next() {
        let escaped = rest
            .strip_prefix("\\u")
            .and_then(|r| r.get(..4))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32);
        match escaped {
            Some(e) => {
                plain.push(e);
                rest = &rest[6..];
            }
            None => {
                plain.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    plain
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect::<String>()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// Fails when some run shows seven consecutive digits of `pan`: any seven
/// include one beyond the first six and last four.
fn assert_masked(what: &str, bytes: &[u8], pan: &str) {
    let runs = digit_runs(bytes);
    for w in pan.as_bytes().windows(7) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(
            !runs.iter().any(|r| r.contains(w)),
            "{what} shows {w} of {pan}: {}",
            String::from_utf8_lossy(bytes)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(18),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_accepted_card_number_form_is_masked_in_the_dead_letter(
        body in proptest::collection::vec(0u8..10, 11..=18),
        seps in proptest::collection::vec(0usize..SEPARATORS.len(), 19),
        escaped in proptest::collection::vec(proptest::bool::weighted(0.15), 19),
        place in 0..PLACES.len(),
    ) {
        let pan = with_check_digit(&body);
        let value = written(&pan, &seps, &escaped);
        let field = PLACES[place].replace("{PAN}", &value);
        let mut message = EVENT.replace("{FIELD}", &field).into_bytes();
        if place == PLACES.len() - 1 {
            message.insert(0, 0xff);
        }
        // The decoder takes the written form for this card number...
        if place < 2 {
            let accepted = EVENT.replace(
                "{FIELD}",
                &format!(r#","card_number":"{value}""#),
            );
            let event = decode(accepted.as_bytes(), &DecodeConfig::default()).unwrap();
            prop_assert_eq!(event.pan_hash().map(str::len), Some(32));
        }
        // ... and rejects this message, whose dead letter is masked.
        let rejection = decode(&message, &DecodeConfig::default()).unwrap_err();
        let origin = Origin { topic: "transactions", partition: 3, offset: 41 };
        let record = DeadLetterRecord::new(&rejection, origin, &message);
        assert_masked("payload", &record.payload, &pan);
        for (name, value) in &record.headers {
            assert_masked(name, value.as_bytes(), &pan);
        }
        let line: serde_json::Value = serde_json::from_str(&record.to_json_line()).unwrap();
        if let Some(original) = line["original"].as_str() {
            assert_masked("original", original.as_bytes(), &pan);
        }
        prop_assert_eq!(line["reason"].as_str(), Some(rejection.reason.code()));
    }
}

#[test]
fn the_masked_card_number_keeps_its_bin_and_last_four() {
    let message = EVENT.replace(
        "{FIELD}",
        r#","card_number":"4111 1111-1111 1111","channel":"fax""#,
    );
    let rejection = decode(message.as_bytes(), &DecodeConfig::default()).unwrap_err();
    assert_eq!(rejection.reason, DlqReason::InvalidValue);
    let origin = Origin {
        topic: "transactions",
        partition: 0,
        offset: 7,
    };
    let record = DeadLetterRecord::new(&rejection, origin, message.as_bytes());
    let payload = String::from_utf8(record.payload.clone()).unwrap();
    assert!(payload.contains(r#""4111 11**-**** 1111""#), "{payload}");
    let line: serde_json::Value = serde_json::from_str(&record.to_json_line()).unwrap();
    assert_eq!(line["offset"], 7);
    assert_eq!(line["field"], "channel");
    assert_eq!(line["original"].as_str(), Some(payload.as_str()));
}
