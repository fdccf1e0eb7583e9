//! A validated transaction: the [`Event`] the pipeline runs on.
//!
//! An event stores all its text in one `String` (one allocation per event):
//! each [`TextField`] is a span of it, absent fields have no span. It
//! implements the rule language's [`Transaction`] trait. Events are built
//! only by the decoder (`decode.rs`), through [`EventText`].

use std::fmt;

use chrono::{DateTime, Datelike, Timelike};
use verdict_rules::input::{Field, Transaction};

use super::amount::Amount;

/// The text fields of an [`Event`], in the order of its span table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum TextField {
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
const TEXT_FIELDS: usize = 12;
const ABSENT: (u32, u32) = (u32::MAX, u32::MAX);

/// A decoded, validated transaction.
#[derive(Clone, PartialEq)]
pub struct Event {
    text: String,
    spans: [(u32, u32); TEXT_FIELDS],
    pub amount: Amount,
    /// Event time, milliseconds since the Unix epoch.
    pub event_time_ms: i64,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl Event {
    fn text_of(&self, field: TextField) -> Option<&str> {
        let (start, end) = self.spans[field as usize];
        if start == u32::MAX {
            None
        } else {
            Some(&self.text[start as usize..end as usize])
        }
    }

    pub fn transaction_id(&self) -> &str {
        self.text_of(TextField::TransactionId).unwrap_or_default()
    }

    pub fn user_id(&self) -> &str {
        self.text_of(TextField::UserId).unwrap_or_default()
    }

    /// Keyed hash of the card number, when the event carried one.
    pub fn pan_hash(&self) -> Option<&str> {
        self.text_of(TextField::PanHash)
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
        let text = match field {
            Field::TransactionId => TextField::TransactionId,
            Field::UserId => TextField::UserId,
            Field::CardId => TextField::CardId,
            Field::MerchantId => TextField::MerchantId,
            Field::Currency => TextField::Currency,
            Field::Mcc => TextField::Mcc,
            Field::Country => TextField::Country,
            Field::Channel => TextField::Channel,
            Field::DeviceId => TextField::DeviceId,
            Field::Ip => TextField::Ip,
            Field::CardBin => TextField::CardBin,
            Field::CardHash => TextField::PanHash,
            _ => return None,
        };
        self.text_of(text)
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

pub(crate) fn utc(ms: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// An event's text buffer, filled one field at a time by the decoder.
pub(crate) struct EventText {
    text: String,
    spans: [(u32, u32); TEXT_FIELDS],
}

impl EventText {
    pub(crate) fn with_capacity(bytes: usize) -> EventText {
        EventText {
            text: String::with_capacity(bytes),
            spans: [ABSENT; TEXT_FIELDS],
        }
    }

    pub(crate) fn push(&mut self, field: TextField, value: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(value);
        self.spans[field as usize] = (start, self.text.len() as u32);
    }

    /// The event with this text and these numbers.
    pub(crate) fn into_event(
        self,
        amount: Amount,
        event_time_ms: i64,
        lat: Option<f64>,
        lon: Option<f64>,
    ) -> Event {
        Event {
            text: self.text,
            spans: self.spans,
            amount,
            event_time_ms,
            lat,
            lon,
        }
    }
}
