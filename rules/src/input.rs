//! What the rule language sees of a transaction.
//!
//! The engine owns the event type; this crate only asks for field values through
//! [`Transaction`]. Every field a rule, list or feature may name is a [`Field`]
//! variant, so a reference is resolved to a variant at compile time and read
//! with a `match` at evaluation time: no string lookup per event.

/// A transaction field, as named in rule files (`amount`, `card_id`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Field {
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
    /// First six digits of the card number (the BIN), when the event carried one.
    CardBin,
    /// Amount in major units (exact decimal upstream; `f64` here is exact for
    /// every amount with at most 4 decimals below 2^53 / 10^4).
    Amount,
    Lat,
    Lon,
    /// Event time, milliseconds since the Unix epoch (UTC).
    EventTime,
    /// Hour of day of the event time, 0..=23 (UTC).
    Hour,
    /// Day of week of the event time, 0 = Monday ..= 6 = Sunday (UTC).
    Weekday,
    /// Keyed hash of the card number (`verdict hash-pan` prints it), when the
    /// event carried one. Last, so the codes of the others (their positions in
    /// [`Field::ALL`], persisted in state keys) do not move.
    CardHash,
}

/// Whether a field holds text or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
}

impl Field {
    pub const ALL: [Field; 18] = [
        Field::TransactionId,
        Field::UserId,
        Field::CardId,
        Field::MerchantId,
        Field::Currency,
        Field::Mcc,
        Field::Country,
        Field::Channel,
        Field::DeviceId,
        Field::Ip,
        Field::CardBin,
        Field::Amount,
        Field::Lat,
        Field::Lon,
        Field::EventTime,
        Field::Hour,
        Field::Weekday,
        Field::CardHash,
    ];

    /// The name used in rule files and in the input JSON.
    pub fn name(self) -> &'static str {
        match self {
            Field::TransactionId => "transaction_id",
            Field::UserId => "user_id",
            Field::CardId => "card_id",
            Field::MerchantId => "merchant_id",
            Field::Currency => "currency",
            Field::Mcc => "mcc",
            Field::Country => "country",
            Field::Channel => "channel",
            Field::DeviceId => "device_id",
            Field::Ip => "ip",
            Field::CardBin => "card_bin",
            Field::Amount => "amount",
            Field::Lat => "lat",
            Field::Lon => "lon",
            Field::EventTime => "event_time",
            Field::Hour => "hour",
            Field::Weekday => "weekday",
            Field::CardHash => "card_hash",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn field_type(self) -> FieldType {
        match self {
            Field::Amount
            | Field::Lat
            | Field::Lon
            | Field::EventTime
            | Field::Hour
            | Field::Weekday => FieldType::Number,
            _ => FieldType::Text,
        }
    }

    /// Fields that are always present on a valid transaction.
    pub fn is_required(self) -> bool {
        matches!(
            self,
            Field::TransactionId
                | Field::UserId
                | Field::CardId
                | Field::MerchantId
                | Field::Currency
                | Field::Amount
                | Field::EventTime
                | Field::Hour
                | Field::Weekday
        )
    }
}

/// A decoded, validated transaction as the rules see it. The engine's event
/// type implements this; tests implement it on a small struct.
///
/// `None` means the optional field was absent from the event. Asking a text
/// field for a number (or the reverse) returns `None`.
pub trait Transaction {
    fn text(&self, field: Field) -> Option<&str>;
    fn number(&self, field: Field) -> Option<f64>;
}
