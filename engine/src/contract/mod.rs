//! The event contract: what Verdict reads from `transactions`, what it writes
//! to `decisions`, and what it writes to `transactions.dlq`.
//!
//! Everything that crosses the Kafka boundary is defined here and nowhere
//! else, so the README's schema tables can be checked against one module.
//!
//! - [`event`]: a validated transaction ([`Event`]), its text in one buffer.
//! - [`decode`](mod@decode): [`decode()`], which turns raw message bytes into an
//!   `Event` or a [`Rejection`] with a machine-readable reason, and the
//!   validation limits ([`DecodeConfig`]). Decoding borrows from the input and
//!   builds one `String` per event.
//! - [`decision`]: the [`Decision`] and its JSON encoding into a reused buffer.
//! - [`dlq`]: reasons and the dead-letter record.
//! - [`pan`]: keyed hashing of card numbers and redaction of anything that
//!   looks like a card number in bytes headed for the DLQ.

pub mod amount;
pub mod currency;
pub mod decision;
pub mod decode;
pub mod dlq;
pub mod event;
pub mod pan;

pub use amount::Amount;
pub use decision::{Decision, DecisionEncoder};
pub use decode::{DecodeConfig, TimeCheck, decode};
pub use dlq::{DlqReason, Rejection};
pub use event::Event;
