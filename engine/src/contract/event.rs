//! A validated transaction and the decoder that produces it.
//!
//! [`decode`] reads one message: it checks size and UTF-8, walks the JSON
//! object once borrowing every value as raw text, then validates each field
//! with its own error, so the DLQ can say *which* field was wrong and why. An
//! [`Event`] stores all its text in one `String` (one allocation per event),
//! and implements the rule language's [`Transaction`] trait.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, Timelike};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use verdict_rules::input::{Field, Transaction};

use super::amount::{Amount, AmountError};
use super::currency;
use super::dlq::{DlqReason, Rejection};
use super::pan::{PanHasher, is_plausible_pan};

/// Text slots of an [`Event`], in arena order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Slot {
    TransactionId,
    UserId,
    CardId,
    MerchantId,
    Currency,
    Mcc,
    Country,
    Channel,
    DeviceId,
    Ip,
    CardBin,
    PanHash,
}
const SLOTS: usize = 12;
const ABSENT: (u32, u32) = (u32::MAX, u32::MAX);

/// A decoded, validated transaction.
#[derive(Clone, PartialEq)]
pub struct Event {
    text: String,
    spans: [(u32, u32); SLOTS],
    pub amount: Amount,
    /// Event time, milliseconds since the Unix epoch.
    pub event_time_ms: i64,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl Event {
    fn slot(&self, slot: Slot) -> Option<&str> {
        let (start, end) = self.spans[slot as usize];
        if start == u32::MAX {
            None
        } else {
            Some(&self.text[start as usize..end as usize])
        }
    }

    pub fn transaction_id(&self) -> &str {
        self.slot(Slot::TransactionId).unwrap_or_default()
    }

    pub fn user_id(&self) -> &str {
        self.slot(Slot::UserId).unwrap_or_default()
    }

    /// Keyed hash of the card number, when the event carried one.
    pub fn pan_hash(&self) -> Option<&str> {
        self.slot(Slot::PanHash)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Event");
        for field in Field::ALL {
            if let Some(v) = self.text(field) {
                s.field(field.name(), &v);
            } else if let Some(v) = self.number(field) {
                s.field(field.name(), &v);
            }
        }
        s.finish()
    }
}

impl Transaction for Event {
    fn text(&self, field: Field) -> Option<&str> {
        let slot = match field {
            Field::TransactionId => Slot::TransactionId,
            Field::UserId => Slot::UserId,
            Field::CardId => Slot::CardId,
            Field::MerchantId => Slot::MerchantId,
            Field::Currency => Slot::Currency,
            Field::Mcc => Slot::Mcc,
            Field::Country => Slot::Country,
            Field::Channel => Slot::Channel,
            Field::DeviceId => Slot::DeviceId,
            Field::Ip => Slot::Ip,
            Field::CardBin => Slot::CardBin,
            _ => return None,
        };
        self.slot(slot)
    }

    fn number(&self, field: Field) -> Option<f64> {
        match field {
            Field::Amount => Some(self.amount.as_f64()),
            Field::Lat => self.lat,
            Field::Lon => self.lon,
            Field::EventTime => Some(self.event_time_ms as f64),
            Field::Hour => Some(f64::from(utc(self.event_time_ms).hour())),
            Field::Weekday => Some(f64::from(
                utc(self.event_time_ms).weekday().num_days_from_monday(),
            )),
            _ => None,
        }
    }
}

fn utc(ms: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// How event times are checked against a clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeCheck {
    /// Live traffic: reject events further than these bounds from `now_ms`.
    Clock {
        now_ms: i64,
        max_future_ms: i64,
        max_past_ms: i64,
    },
    /// Replays and backtests: historical data is expected, only the absolute
    /// sanity range (years 2000–2100) applies, so results do not depend on
    /// when the replay runs.
    RangeOnly,
}

/// Validation limits. `Default` is what the engine runs with unless configured.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    pub max_message_bytes: usize,
    pub max_amount: Amount,
    pub max_id_bytes: usize,
    pub time: TimeCheck,
    pub pan_hasher: PanHasher,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_message_bytes: 64 * 1024,
            max_amount: Amount::from_major(10_000_000),
            max_id_bytes: 128,
            time: TimeCheck::RangeOnly,
            pan_hasher: PanHasher::new("verdict-development-key"),
        }
    }
}

const MIN_EVENT_TIME_MS: i64 = 946_684_800_000; // 2000-01-01T00:00:00Z
const MAX_EVENT_TIME_MS: i64 = 4_102_444_800_000; // 2100-01-01T00:00:00Z
const CHANNELS: [&str; 7] = [
    "ecommerce",
    "pos",
    "atm",
    "moto",
    "contactless",
    "recurring",
    "in_app",
];

/// Raw values of the fields we know, borrowed from the message.
#[derive(Default)]
struct RawFields<'a> {
    values: [Option<&'a RawValue>; 15],
}

const NAMES: [&str; 15] = [
    "transaction_id",
    "user_id",
    "card_id",
    "merchant_id",
    "currency",
    "mcc",
    "country",
    "channel",
    "device_id",
    "ip",
    "card_number",
    "amount",
    "event_time",
    "lat",
    "lon",
];

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawFields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = RawFields::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    if let Some(i) = NAMES.iter().position(|n| *n == key) {
                        if out.values[i].is_some() {
                            return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                        }
                        out.values[i] = Some(value);
                    }
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(V(std::marker::PhantomData))
    }
}

impl<'a> RawFields<'a> {
    fn get(&self, name: &'static str) -> Option<&'a RawValue> {
        let i = NAMES.iter().position(|n| *n == name).expect("known field");
        self.values[i].filter(|v| v.get() != "null")
    }
}

fn wrong_type(field: &'static str, expected: &str, raw: &RawValue) -> Rejection {
    let got = match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    };
    Rejection::field(
        DlqReason::WrongType,
        field,
        format!("expected {expected}, got {got}"),
    )
}

fn string<'a>(raw: &'a RawValue, field: &'static str) -> Result<Cow<'a, str>, Rejection> {
    if !raw.get().starts_with('"') {
        return Err(wrong_type(field, "a string", raw));
    }
    serde_json::from_str::<Cow<'a, str>>(raw.get())
        .map_err(|e| Rejection::field(DlqReason::MalformedJson, field, e.to_string()))
}

struct Builder {
    text: String,
    spans: [(u32, u32); SLOTS],
}

impl Builder {
    fn push(&mut self, slot: Slot, value: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(value);
        self.spans[slot as usize] = (start, self.text.len() as u32);
    }
}

/// Decodes and validates one message.
pub fn decode(bytes: &[u8], cfg: &DecodeConfig) -> Result<Event, Rejection> {
    if bytes.len() > cfg.max_message_bytes {
        return Err(Rejection::new(
            DlqReason::Oversized,
            format!(
                "{} bytes exceeds the limit of {}",
                bytes.len(),
                cfg.max_message_bytes
            ),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            DlqReason::NotUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    let raw: RawFields<'_> = serde_json::from_str(text)
        .map_err(|e| Rejection::new(DlqReason::MalformedJson, e.to_string()))?;

    let mut b = Builder {
        text: String::with_capacity(text.len() / 2),
        spans: [ABSENT; SLOTS],
    };
    let required = |name: &'static str| {
        raw.get(name).ok_or_else(|| {
            Rejection::field(
                DlqReason::MissingField,
                name,
                "required field is missing or null",
            )
        })
    };

    for (slot, name) in [
        (Slot::TransactionId, "transaction_id"),
        (Slot::UserId, "user_id"),
        (Slot::CardId, "card_id"),
        (Slot::MerchantId, "merchant_id"),
    ] {
        let v = string(required(name)?, name)?;
        check_id(&v, name, cfg)?;
        b.push(slot, &v);
    }

    let currency = string(required("currency")?, "currency")?;
    if !currency::is_known(&currency) {
        return Err(Rejection::field(
            DlqReason::UnknownCurrency,
            "currency",
            format!("{:?} is not an ISO 4217 currency code", truncate(&currency)),
        ));
    }
    b.push(Slot::Currency, &currency);

    let amount = parse_amount(required("amount")?, cfg)?;
    let event_time_ms = parse_event_time(required("event_time")?, cfg.time)?;

    if let Some(raw) = raw.get("mcc") {
        let v = string(raw, "mcc")?;
        if v.len() != 4 || !v.bytes().all(|c| c.is_ascii_digit()) {
            return Err(invalid("mcc", "must be 4 digits", &v));
        }
        b.push(Slot::Mcc, &v);
    }
    if let Some(raw) = raw.get("country") {
        let v = string(raw, "country")?;
        if v.len() != 2 || !v.bytes().all(|c| c.is_ascii_uppercase()) {
            return Err(invalid(
                "country",
                "must be an ISO 3166-1 alpha-2 code such as \"US\"",
                &v,
            ));
        }
        b.push(Slot::Country, &v);
    }
    if let Some(raw) = raw.get("channel") {
        let v = string(raw, "channel")?;
        if !CHANNELS.contains(&v.as_ref()) {
            return Err(invalid(
                "channel",
                &format!("must be one of {}", CHANNELS.join(", ")),
                &v,
            ));
        }
        b.push(Slot::Channel, &v);
    }
    if let Some(raw) = raw.get("device_id") {
        let v = string(raw, "device_id")?;
        check_id(&v, "device_id", cfg)?;
        b.push(Slot::DeviceId, &v);
    }
    if let Some(raw) = raw.get("ip") {
        let v = string(raw, "ip")?;
        if v.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid("ip", "must be an IPv4 or IPv6 address", &v));
        }
        b.push(Slot::Ip, &v);
    }
    if let Some(raw) = raw.get("card_number") {
        let v = string(raw, "card_number")?;
        let digits: String = v.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !is_plausible_pan(&digits) {
            // Never echo the value: it may be a real card number.
            return Err(Rejection::field(
                DlqReason::InvalidValue,
                "card_number",
                "must be 12-19 digits with a valid Luhn check digit",
            ));
        }
        b.push(Slot::CardBin, &digits[..6]);
        b.push(Slot::PanHash, &cfg.pan_hasher.hash(&digits));
    }
    let lat = coordinate(raw.get("lat"), "lat", 90.0)?;
    let lon = coordinate(raw.get("lon"), "lon", 180.0)?;
    if lat.is_some() != lon.is_some() {
        let field = if lat.is_some() { "lon" } else { "lat" };
        return Err(Rejection::field(
            DlqReason::MissingField,
            field,
            "lat and lon must be given together",
        ));
    }

    Ok(Event {
        text: b.text,
        spans: b.spans,
        amount,
        event_time_ms,
        lat,
        lon,
    })
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn invalid(field: &'static str, rule: &str, value: &str) -> Rejection {
    Rejection::field(
        DlqReason::InvalidValue,
        field,
        format!("{rule}; got {:?}", truncate(value)),
    )
}

fn check_id(v: &str, field: &'static str, cfg: &DecodeConfig) -> Result<(), Rejection> {
    if v.is_empty() {
        return Err(Rejection::field(
            DlqReason::InvalidValue,
            field,
            "must not be empty",
        ));
    }
    if v.len() > cfg.max_id_bytes {
        return Err(Rejection::field(
            DlqReason::InvalidValue,
            field,
            format!(
                "{} bytes exceeds the limit of {}",
                v.len(),
                cfg.max_id_bytes
            ),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(Rejection::field(
            DlqReason::InvalidValue,
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn parse_amount(raw: &RawValue, cfg: &DecodeConfig) -> Result<Amount, Rejection> {
    let text = raw.get();
    let digits = match text.as_bytes().first() {
        Some(b'"') => string(raw, "amount")?,
        Some(b'-' | b'0'..=b'9') => Cow::Borrowed(text),
        _ => return Err(wrong_type("amount", "a number or a decimal string", raw)),
    };
    let amount = Amount::parse(&digits).map_err(|e| {
        let (reason, detail) = match e {
            AmountError::Syntax => (DlqReason::InvalidValue, "not a plain decimal number"),
            AmountError::TooPrecise => (DlqReason::AmountTooPrecise, "more than 4 decimal places"),
            AmountError::Negative => (DlqReason::AmountNegative, "amount must not be negative"),
            AmountError::TooLarge => (DlqReason::AmountOutOfRange, "amount is too large"),
        };
        Rejection::field(
            reason,
            "amount",
            format!("{detail}; got {:?}", truncate(&digits)),
        )
    })?;
    if amount > cfg.max_amount {
        return Err(Rejection::field(
            DlqReason::AmountOutOfRange,
            "amount",
            format!("{amount} exceeds the maximum of {}", cfg.max_amount),
        ));
    }
    Ok(amount)
}

fn parse_event_time(raw: &RawValue, check: TimeCheck) -> Result<i64, Rejection> {
    let text = raw.get();
    let ms = if text.starts_with('"') {
        let s = string(raw, "event_time")?;
        DateTime::parse_from_rfc3339(&s)
            .map_err(|e| {
                Rejection::field(
                    DlqReason::InvalidTimestamp,
                    "event_time",
                    format!("not RFC 3339 ({e}); got {:?}", truncate(&s)),
                )
            })?
            .timestamp_millis()
    } else if text.bytes().all(|c| c.is_ascii_digit() || c == b'-') {
        text.parse::<i64>().map_err(|_| {
            Rejection::field(
                DlqReason::InvalidTimestamp,
                "event_time",
                "epoch milliseconds out of range",
            )
        })?
    } else if text.as_bytes()[0].is_ascii_digit() || text.starts_with('-') {
        return Err(Rejection::field(
            DlqReason::InvalidTimestamp,
            "event_time",
            "epoch milliseconds must be an integer",
        ));
    } else {
        return Err(wrong_type(
            "event_time",
            "an RFC 3339 string or epoch milliseconds",
            raw,
        ));
    };
    let (low, high) = match check {
        TimeCheck::RangeOnly => (MIN_EVENT_TIME_MS, MAX_EVENT_TIME_MS),
        TimeCheck::Clock {
            now_ms,
            max_future_ms,
            max_past_ms,
        } => (
            (now_ms - max_past_ms).max(MIN_EVENT_TIME_MS),
            (now_ms + max_future_ms).min(MAX_EVENT_TIME_MS),
        ),
    };
    if ms > high {
        return Err(Rejection::field(
            DlqReason::TimestampInFuture,
            "event_time",
            format!(
                "{} is after the accepted limit {}",
                utc(ms).to_rfc3339(),
                utc(high).to_rfc3339()
            ),
        ));
    }
    if ms < low {
        return Err(Rejection::field(
            DlqReason::TimestampTooOld,
            "event_time",
            format!(
                "{} is before the accepted limit {}",
                utc(ms).to_rfc3339(),
                utc(low).to_rfc3339()
            ),
        ));
    }
    Ok(ms)
}

fn coordinate(
    raw: Option<&RawValue>,
    field: &'static str,
    limit: f64,
) -> Result<Option<f64>, Rejection> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    if !matches!(text.as_bytes()[0], b'-' | b'0'..=b'9') {
        return Err(wrong_type(field, "a number", raw));
    }
    let v: f64 = text
        .parse()
        .map_err(|_| Rejection::field(DlqReason::InvalidValue, field, "not a number"))?;
    if !v.is_finite() || v.abs() > limit {
        return Err(Rejection::field(
            DlqReason::InvalidValue,
            field,
            format!("must be within ±{limit}; got {v}"),
        ));
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
