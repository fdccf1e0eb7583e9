//! The decoder: raw message bytes to a validated [`Event`], or a
//! [`Rejection`] with a machine-readable reason.
//!
//! [`decode`] reads one message: it checks size and UTF-8, walks the JSON
//! object once borrowing every value as raw text, then validates each field
//! with its own error, so the DLQ can say *which* field was wrong and why.
//! Decoding borrows from the input and builds one `String` per event.

use std::borrow::Cow;
use std::fmt;

use chrono::DateTime;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::amount::{Amount, AmountError};
use super::currency;
use super::dlq::{DlqReason, Rejection};
use super::event::{Event, EventText, TextField, utc};
use super::pan::{self, PanHasher, is_plausible_pan};

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
            pan_hasher: PanHasher::new(pan::DEVELOPMENT_KEY),
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

/// Decodes and validates one message. Fields are checked in a fixed order
/// and the first problem is the rejection.
pub fn decode(bytes: &[u8], cfg: &DecodeConfig) -> Result<Event, Rejection> {
    let text = message_text(bytes, cfg)?;
    let raw: RawFields<'_> = serde_json::from_str(text)
        .map_err(|e| Rejection::new(DlqReason::MalformedJson, e.to_string()))?;
    let mut t = EventText::with_capacity(text.len() / 2);
    required_text(&raw, cfg, &mut t)?;
    let amount = parse_amount(required(&raw, "amount")?, cfg)?;
    let event_time_ms = parse_event_time(required(&raw, "event_time")?, cfg.time)?;
    optional_text(&raw, cfg, &mut t)?;
    card_number(&raw, cfg, &mut t)?;
    let (lat, lon) = location(&raw)?;
    Ok(t.into_event(amount, event_time_ms, lat, lon))
}

/// The message as text: within the size limit, valid UTF-8.
fn message_text<'a>(bytes: &'a [u8], cfg: &DecodeConfig) -> Result<&'a str, Rejection> {
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
    std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            DlqReason::NotUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })
}

fn required<'a>(raw: &RawFields<'a>, name: &'static str) -> Result<&'a RawValue, Rejection> {
    raw.get(name).ok_or_else(|| {
        Rejection::field(
            DlqReason::MissingField,
            name,
            "required field is missing or null",
        )
    })
}

/// The four ids, then the currency.
fn required_text(
    raw: &RawFields<'_>,
    cfg: &DecodeConfig,
    t: &mut EventText,
) -> Result<(), Rejection> {
    for (field, name) in [
        (TextField::TransactionId, "transaction_id"),
        (TextField::UserId, "user_id"),
        (TextField::CardId, "card_id"),
        (TextField::MerchantId, "merchant_id"),
    ] {
        let v = string(required(raw, name)?, name)?;
        check_id(&v, name, cfg)?;
        t.push(field, &v);
    }
    let currency = string(required(raw, "currency")?, "currency")?;
    if !currency::is_known(&currency) {
        return Err(Rejection::field(
            DlqReason::UnknownCurrency,
            "currency",
            format!("{:?} is not an ISO 4217 currency code", truncate(&currency)),
        ));
    }
    t.push(TextField::Currency, &currency);
    Ok(())
}

/// mcc, country, channel, device_id and ip, each when present.
fn optional_text(
    raw: &RawFields<'_>,
    cfg: &DecodeConfig,
    t: &mut EventText,
) -> Result<(), Rejection> {
    if let Some(raw) = raw.get("mcc") {
        let v = string(raw, "mcc")?;
        if v.len() != 4 || !v.bytes().all(|c| c.is_ascii_digit()) {
            return Err(invalid("mcc", "must be 4 digits", &v));
        }
        t.push(TextField::Mcc, &v);
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
        t.push(TextField::Country, &v);
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
        t.push(TextField::Channel, &v);
    }
    if let Some(raw) = raw.get("device_id") {
        let v = string(raw, "device_id")?;
        check_id(&v, "device_id", cfg)?;
        t.push(TextField::DeviceId, &v);
    }
    if let Some(raw) = raw.get("ip") {
        let v = string(raw, "ip")?;
        if v.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid("ip", "must be an IPv4 or IPv6 address", &v));
        }
        t.push(TextField::Ip, &v);
    }
    Ok(())
}

/// A card number, when present, is kept only as its BIN and keyed hash.
fn card_number(
    raw: &RawFields<'_>,
    cfg: &DecodeConfig,
    t: &mut EventText,
) -> Result<(), Rejection> {
    let Some(raw) = raw.get("card_number") else {
        return Ok(());
    };
    let v = string(raw, "card_number")?;
    let digits = pan::strip_separators(&v);
    if !is_plausible_pan(&digits) {
        // Never echo the value: it may be a real card number.
        return Err(Rejection::field(
            DlqReason::InvalidValue,
            "card_number",
            "must be 12-19 digits with a valid Luhn check digit",
        ));
    }
    t.push(TextField::CardBin, &digits[..6]);
    t.push(TextField::PanHash, &cfg.pan_hasher.hash(&digits));
    Ok(())
}

/// lat and lon: both or neither.
fn location(raw: &RawFields<'_>) -> Result<(Option<f64>, Option<f64>), Rejection> {
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
    Ok((lat, lon))
}

/// A value quoted in a rejection's detail: card numbers masked first (one
/// may sit in any field, and cutting it could leave an unmaskable part),
/// then cut to 32 characters.
fn truncate(s: &str) -> String {
    let masked = pan::redact(s.as_bytes());
    let text = String::from_utf8_lossy(&masked);
    match text.char_indices().nth(32) {
        Some((i, _)) => text[..i].to_string(),
        None => text.into_owned(),
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
mod tests;
