//! The decoder's cases: every rejection reason, and no input panics.

use super::*;
use crate::contract::amount::Amount;
use verdict_rules::input::{Field, Transaction};

const VALID: &str = r#"{"transaction_id":"t-000123","event_time":"2026-01-01T12:00:00.123Z","user_id":"u42","card_id":"c42-1","amount":"12.34","currency":"USD","merchant_id":"m17","mcc":"5411","country":"US","channel":"ecommerce","device_id":"d9","ip":"203.0.113.9","lat":40.7,"lon":-74.0}"#;

fn with(field: &str, value: serde_json::Value) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_str(VALID).unwrap();
    v[field] = value;
    serde_json::to_vec(&v).unwrap()
}

fn without(field: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_str(VALID).unwrap();
    v.as_object_mut().unwrap().remove(field);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn decodes_a_valid_event() {
    let e = decode(VALID.as_bytes(), &DecodeConfig::default()).unwrap();
    assert_eq!(e.transaction_id(), "t-000123");
    assert_eq!(e.text(Field::UserId), Some("u42"));
    assert_eq!(e.text(Field::Country), Some("US"));
    assert_eq!(e.number(Field::Amount), Some(12.34));
    assert_eq!(e.amount, Amount(123_400));
    assert_eq!(e.event_time_ms, 1_767_268_800_123);
    assert_eq!(e.number(Field::Hour), Some(12.0));
    assert_eq!(e.number(Field::Weekday), Some(3.0)); // 2026-01-01 is a Thursday
    assert_eq!(e.number(Field::Lat), Some(40.7));
    assert_eq!(e.text(Field::CardBin), None);
}

#[test]
fn accepts_numbers_epoch_millis_and_unknown_fields() {
    let mut v: serde_json::Value = serde_json::from_str(VALID).unwrap();
    v["amount"] = serde_json::json!(0.1);
    v["event_time"] = serde_json::json!(1_767_268_800_123i64);
    v["extra"] = serde_json::json!({"nested": [1, 2]});
    for f in ["mcc", "country", "channel", "device_id", "ip", "lat", "lon"] {
        v.as_object_mut().unwrap().remove(f);
    }
    let e = decode(&serde_json::to_vec(&v).unwrap(), &DecodeConfig::default()).unwrap();
    assert_eq!(e.amount, Amount(1_000));
    assert_eq!(e.event_time_ms, 1_767_268_800_123);
    assert_eq!(e.text(Field::DeviceId), None);
    assert_eq!(e.number(Field::Lat), None);
}

#[test]
fn hashes_card_numbers_and_keeps_only_the_bin() {
    let bytes = with("card_number", serde_json::json!("4111 1111 1111 1111"));
    let e = decode(&bytes, &DecodeConfig::default()).unwrap();
    assert_eq!(e.text(Field::CardBin), Some("411111"));
    let hash = e.pan_hash().unwrap();
    assert_eq!(hash.len(), 32);
    assert!(!format!("{e:?}").contains("4111111111111111"));
    let bad = decode(
        &with("card_number", serde_json::json!("4111111111111112")),
        &DecodeConfig::default(),
    )
    .unwrap_err();
    assert_eq!(bad.reason, DlqReason::InvalidValue);
    assert!(
        !bad.detail.contains("4111"),
        "the PAN must not be echoed: {}",
        bad.detail
    );
}

/// Every rejection case: (input, reason, field).
#[test]
fn rejects_each_malformed_case_with_its_reason() {
    let cfg = DecodeConfig::default();
    let huge = with("padding", serde_json::json!("x".repeat(70_000)));
    let cases: Vec<(Vec<u8>, DlqReason, Option<&str>)> = vec![
        (huge, DlqReason::Oversized, None),
        (b"\xff\xfe{}".to_vec(), DlqReason::NotUtf8, None),
        (
            b"{\"transaction_id\":".to_vec(),
            DlqReason::MalformedJson,
            None,
        ),
        (b"[1,2,3]".to_vec(), DlqReason::MalformedJson, None),
        (b"".to_vec(), DlqReason::MalformedJson, None),
        (
            b"{\"user_id\":\"a\",\"user_id\":\"b\"}".to_vec(),
            DlqReason::MalformedJson,
            None,
        ),
        (
            without("transaction_id"),
            DlqReason::MissingField,
            Some("transaction_id"),
        ),
        (without("user_id"), DlqReason::MissingField, Some("user_id")),
        (without("card_id"), DlqReason::MissingField, Some("card_id")),
        (without("amount"), DlqReason::MissingField, Some("amount")),
        (
            without("currency"),
            DlqReason::MissingField,
            Some("currency"),
        ),
        (
            without("merchant_id"),
            DlqReason::MissingField,
            Some("merchant_id"),
        ),
        (
            without("event_time"),
            DlqReason::MissingField,
            Some("event_time"),
        ),
        (
            with("user_id", serde_json::Value::Null),
            DlqReason::MissingField,
            Some("user_id"),
        ),
        (without("lon"), DlqReason::MissingField, Some("lon")),
        (
            with("user_id", serde_json::json!(42)),
            DlqReason::WrongType,
            Some("user_id"),
        ),
        (
            with("amount", serde_json::json!(true)),
            DlqReason::WrongType,
            Some("amount"),
        ),
        (
            with("event_time", serde_json::json!([1])),
            DlqReason::WrongType,
            Some("event_time"),
        ),
        (
            with("lat", serde_json::json!("north")),
            DlqReason::WrongType,
            Some("lat"),
        ),
        (
            with("amount", serde_json::json!("-5.00")),
            DlqReason::AmountNegative,
            Some("amount"),
        ),
        (
            with("amount", serde_json::json!(-5)),
            DlqReason::AmountNegative,
            Some("amount"),
        ),
        (
            with("amount", serde_json::json!("NaN")),
            DlqReason::InvalidValue,
            Some("amount"),
        ),
        (
            with("amount", serde_json::json!("Infinity")),
            DlqReason::InvalidValue,
            Some("amount"),
        ),
        (
            with("amount", serde_json::json!(1e300)),
            DlqReason::InvalidValue,
            Some("amount"),
        ),
        (
            with("amount", serde_json::json!("12.345678")),
            DlqReason::AmountTooPrecise,
            Some("amount"),
        ),
        (
            with("amount", serde_json::json!("50000000")),
            DlqReason::AmountOutOfRange,
            Some("amount"),
        ),
        (
            with("amount", serde_json::json!("99999999999999999999999")),
            DlqReason::AmountOutOfRange,
            Some("amount"),
        ),
        (
            with("currency", serde_json::json!("XYZ")),
            DlqReason::UnknownCurrency,
            Some("currency"),
        ),
        (
            with("currency", serde_json::json!("usd")),
            DlqReason::UnknownCurrency,
            Some("currency"),
        ),
        (
            with("event_time", serde_json::json!("not a time")),
            DlqReason::InvalidTimestamp,
            Some("event_time"),
        ),
        (
            with("event_time", serde_json::json!(1.5)),
            DlqReason::InvalidTimestamp,
            Some("event_time"),
        ),
        (
            with("event_time", serde_json::json!("2250-01-01T00:00:00Z")),
            DlqReason::TimestampInFuture,
            Some("event_time"),
        ),
        (
            with("event_time", serde_json::json!("1971-01-01T00:00:00Z")),
            DlqReason::TimestampTooOld,
            Some("event_time"),
        ),
        (
            with("transaction_id", serde_json::json!("")),
            DlqReason::InvalidValue,
            Some("transaction_id"),
        ),
        (
            with("user_id", serde_json::json!("x".repeat(200))),
            DlqReason::InvalidValue,
            Some("user_id"),
        ),
        (
            with("user_id", serde_json::json!("a\u{0}b")),
            DlqReason::InvalidValue,
            Some("user_id"),
        ),
        (
            with("mcc", serde_json::json!("54x1")),
            DlqReason::InvalidValue,
            Some("mcc"),
        ),
        (
            with("country", serde_json::json!("usa")),
            DlqReason::InvalidValue,
            Some("country"),
        ),
        (
            with("channel", serde_json::json!("telepathy")),
            DlqReason::InvalidValue,
            Some("channel"),
        ),
        (
            with("ip", serde_json::json!("999.1.1.1")),
            DlqReason::InvalidValue,
            Some("ip"),
        ),
        (
            with("lat", serde_json::json!(91.0)),
            DlqReason::InvalidValue,
            Some("lat"),
        ),
    ];
    for (bytes, reason, field) in cases {
        let got = decode(&bytes, &cfg).unwrap_err();
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).to_string();
        assert_eq!(got.reason, reason, "{shown}: {got}");
        assert_eq!(got.field, field, "{shown}: {got}");
        assert!(!got.detail.is_empty());
    }
}

#[test]
fn live_clock_rejects_skewed_event_times() {
    let now = 1_767_268_800_000;
    let cfg = DecodeConfig {
        time: TimeCheck::Clock {
            now_ms: now,
            max_future_ms: 60_000,
            max_past_ms: 86_400_000,
        },
        ..Default::default()
    };
    let at = |ms: i64| with("event_time", serde_json::json!(ms));
    assert!(decode(&at(now), &cfg).is_ok());
    assert_eq!(
        decode(&at(now + 120_000), &cfg).unwrap_err().reason,
        DlqReason::TimestampInFuture
    );
    assert_eq!(
        decode(&at(now - 2 * 86_400_000), &cfg).unwrap_err().reason,
        DlqReason::TimestampTooOld
    );
}

proptest::proptest! {
    #[test]
    fn no_input_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = decode(&bytes, &DecodeConfig::default());
    }

    #[test]
    fn no_mutated_valid_event_panics(cut in 0usize..VALID.len(), b in proptest::num::u8::ANY) {
        let mut bytes = VALID.as_bytes().to_vec();
        bytes[cut] = b;
        let _ = decode(&bytes, &DecodeConfig::default());
    }
}
