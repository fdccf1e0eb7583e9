//! Broken messages, each paired with the DLQ reason the engine must give it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Txn;
use crate::contract::DlqReason;

/// Turns a valid transaction into one of the malformed cases.
pub fn corrupt(rng: &mut ChaCha8Rng, valid: &Txn) -> (Vec<u8>, DlqReason) {
    let mut obj = serde_json::to_value(valid).expect("serializable");
    let map = obj.as_object_mut().expect("object");
    let reason = match rng.random_range(0..14) {
        0 => {
            let mut bytes = serde_json::to_vec(&obj).expect("ok");
            bytes.truncate(bytes.len() / 2);
            return (bytes, DlqReason::MalformedJson);
        }
        1 => {
            return (
                b"\xff\xfe{\"transaction_id\":\"x\"}".to_vec(),
                DlqReason::NotUtf8,
            );
        }
        2 => {
            let field = [
                "user_id",
                "card_id",
                "amount",
                "currency",
                "merchant_id",
                "event_time",
                "transaction_id",
            ][rng.random_range(0..7)];
            map.remove(field);
            DlqReason::MissingField
        }
        3 => {
            map.insert("user_id".into(), serde_json::json!(12345));
            DlqReason::WrongType
        }
        4 => {
            map.insert("amount".into(), serde_json::json!("-12.00"));
            DlqReason::AmountNegative
        }
        5 => {
            map.insert("amount".into(), serde_json::json!("NaN"));
            DlqReason::InvalidValue
        }
        6 => {
            map.insert("amount".into(), serde_json::json!("1000000000000"));
            DlqReason::AmountOutOfRange
        }
        7 => {
            map.insert("currency".into(), serde_json::json!("XYZ"));
            DlqReason::UnknownCurrency
        }
        8 => {
            map.insert(
                "event_time".into(),
                serde_json::json!("2250-01-01T00:00:00Z"),
            );
            DlqReason::TimestampInFuture
        }
        9 => {
            map.insert(
                "event_time".into(),
                serde_json::json!("1970-01-02T00:00:00Z"),
            );
            DlqReason::TimestampTooOld
        }
        10 => {
            map.insert("event_time".into(), serde_json::json!("yesterday"));
            DlqReason::InvalidTimestamp
        }
        11 => {
            let pad = "x".repeat(70 * 1024);
            map.insert("padding".into(), serde_json::json!(pad));
            DlqReason::Oversized
        }
        12 => {
            map.insert("amount".into(), serde_json::json!("1.23456"));
            DlqReason::AmountTooPrecise
        }
        _ => return (b"[1,2,3]".to_vec(), DlqReason::MalformedJson),
    };
    (serde_json::to_vec(&obj).expect("ok"), reason)
}
