//! Why a message was rejected, and the dead-letter record that carries it.
//!
//! A rejected message goes to `transactions.dlq` with its original bytes as the
//! payload (card numbers masked, see [`super::pan::redact`]) and the reason in
//! headers, the way Kafka Connect's dead-letter queues do, so a consumer can
//! route on the reason without parsing the payload:
//!
//! | header | value |
//! |---|---|
//! | `verdict.dlq.reason` | a [`DlqReason`] code, e.g. `missing_field` |
//! | `verdict.dlq.field` | the offending field, when there is one |
//! | `verdict.dlq.detail` | a human-readable explanation |
//! | `verdict.dlq.topic` / `.partition` / `.offset` | where the message came from |

use std::fmt;

/// Machine-readable reasons. The codes are stable: dashboards and consumers
/// of the DLQ match on them, so never rename or reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DlqReason {
    Oversized,
    NotUtf8,
    MalformedJson,
    MissingField,
    WrongType,
    InvalidValue,
    AmountNegative,
    AmountTooPrecise,
    AmountOutOfRange,
    UnknownCurrency,
    InvalidTimestamp,
    TimestampInFuture,
    TimestampTooOld,
}

impl DlqReason {
    pub const ALL: [DlqReason; 13] = [
        DlqReason::Oversized,
        DlqReason::NotUtf8,
        DlqReason::MalformedJson,
        DlqReason::MissingField,
        DlqReason::WrongType,
        DlqReason::InvalidValue,
        DlqReason::AmountNegative,
        DlqReason::AmountTooPrecise,
        DlqReason::AmountOutOfRange,
        DlqReason::UnknownCurrency,
        DlqReason::InvalidTimestamp,
        DlqReason::TimestampInFuture,
        DlqReason::TimestampTooOld,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DlqReason::Oversized => "oversized",
            DlqReason::NotUtf8 => "not_utf8",
            DlqReason::MalformedJson => "malformed_json",
            DlqReason::MissingField => "missing_field",
            DlqReason::WrongType => "wrong_type",
            DlqReason::InvalidValue => "invalid_value",
            DlqReason::AmountNegative => "amount_negative",
            DlqReason::AmountTooPrecise => "amount_too_precise",
            DlqReason::AmountOutOfRange => "amount_out_of_range",
            DlqReason::UnknownCurrency => "unknown_currency",
            DlqReason::InvalidTimestamp => "invalid_timestamp",
            DlqReason::TimestampInFuture => "timestamp_in_future",
            DlqReason::TimestampTooOld => "timestamp_too_old",
        }
    }

    pub fn from_code(code: &str) -> Option<DlqReason> {
        DlqReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for DlqReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A message that failed decoding or validation: user error, never retried.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: DlqReason,
    /// The offending field, when the problem is one field.
    pub field: Option<&'static str>,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: DlqReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            field: None,
            detail: detail.into(),
        }
    }

    pub fn field(reason: DlqReason, field: &'static str, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            field: Some(field),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "{} ({field}): {}", self.reason, self.detail),
            None => write!(f, "{}: {}", self.reason, self.detail),
        }
    }
}

/// Where a rejected message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// A dead letter as it is written: the original bytes and the header values,
/// every one of them passed through [`super::pan::redact`] (a card number may
/// sit anywhere in a message the decoder could not read, and a rejection's
/// detail may quote a field's value). Kafka mode sends it as payload and
/// headers, file mode as one JSON line ([`Self::to_json_line`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterRecord {
    pub payload: Vec<u8>,
    /// `(name, value)` in the order of the table above; `verdict.dlq.field`
    /// only when the rejection names one.
    pub headers: Vec<(&'static str, String)>,
}

impl DeadLetterRecord {
    pub fn new(rejection: &Rejection, origin: Origin<'_>, original: &[u8]) -> Self {
        let masked =
            |s: &str| String::from_utf8_lossy(&super::pan::redact(s.as_bytes())).into_owned();
        let mut headers = vec![
            ("verdict.dlq.reason", rejection.reason.code().to_string()),
            ("verdict.dlq.detail", masked(&rejection.detail)),
            ("verdict.dlq.topic", origin.topic.to_string()),
            ("verdict.dlq.partition", origin.partition.to_string()),
            ("verdict.dlq.offset", origin.offset.to_string()),
        ];
        if let Some(field) = rejection.field {
            headers.push(("verdict.dlq.field", field.to_string()));
        }
        DeadLetterRecord {
            payload: super::pan::redact(original).into_owned(),
            headers,
        }
    }

    /// The record as one JSON line, for file mode (`verdict replay --dlq`),
    /// where there are no headers: each header is a key without its
    /// `verdict.dlq.` prefix, and the payload is `original` when it is UTF-8,
    /// else `original_hex`.
    pub fn to_json_line(&self) -> String {
        let mut obj = serde_json::Map::new();
        for (name, value) in &self.headers {
            let key = name.trim_start_matches("verdict.dlq.");
            let value = match key {
                "partition" | "offset" => value
                    .parse::<i64>()
                    .map_or_else(|_| value.clone().into(), Into::into),
                _ => value.clone().into(),
            };
            obj.insert(key.into(), value);
        }
        match std::str::from_utf8(&self.payload) {
            Ok(text) => obj.insert("original".into(), text.into()),
            Err(_) => {
                let hex: String = self.payload.iter().map(|b| format!("{b:02x}")).collect();
                obj.insert("original_hex".into(), hex.into())
            }
        };
        serde_json::Value::Object(obj).to_string()
    }
}

/// The dead-letter record as one JSON line, for file mode (`verdict replay
/// --dlq`), where there are no headers.
pub fn to_json_line(rejection: &Rejection, origin: Origin<'_>, original: &[u8]) -> String {
    DeadLetterRecord::new(rejection, origin, original).to_json_line()
}

#[cfg(test)]
mod tests;
