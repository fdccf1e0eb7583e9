//! When an event's deadline clock starts (`engine.deadline-clock`).
//!
//! The service level runs from when the transaction reached Kafka, not from
//! when this engine got round to reading it: the time a record spends in the
//! broker, in the fetch and in the engine's own queues is inside the SLA. So
//! the clock starts at the record's timestamp, carried over to this process's
//! monotonic clock by the record's age on the wall clock. A timestamp ahead
//! of the local clock (a producer's clock running fast) counts as now; a
//! record without the configured kind of timestamp starts at receipt.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::message::Timestamp;

use crate::config::DeadlineClock;

/// Older records are as late as it gets; capping the age keeps the
/// subtraction from the monotonic clock in range.
const MAX_AGE: Duration = Duration::from_secs(3_600);

/// How far ahead of the local clock a timestamp may be before it is
/// reported (once per process) as clock skew.
const SKEW_REPORTED: i64 = 1_000;

/// The instant a record's deadline clock started, for a record with
/// `timestamp` received at `received`, when the wall clock read `now_ms`.
pub fn started_at(
    clock: DeadlineClock,
    timestamp: Timestamp,
    received: Instant,
    now_ms: i64,
) -> Instant {
    let ms = match (clock, timestamp) {
        (DeadlineClock::CreateTime, Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms))
        | (DeadlineClock::LogAppendTime, Timestamp::LogAppendTime(ms)) => ms,
        _ => return received,
    };
    let age_ms = now_ms.saturating_sub(ms);
    if age_ms < -SKEW_REPORTED {
        static REPORTED: AtomicBool = AtomicBool::new(false);
        if !REPORTED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                ahead_ms = -age_ms,
                "a record's timestamp is ahead of this machine's clock; such records' deadlines start at receipt (check NTP on the producers and here)"
            );
        }
    }
    let age = Duration::from_millis(age_ms.max(0) as u64).min(MAX_AGE);
    received.checked_sub(age).unwrap_or(received)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;

    #[test]
    fn the_clock_starts_at_the_configured_timestamp_or_at_receipt() {
        let received = Instant::now();
        let ago = |ms: u64| received - Duration::from_millis(ms);
        let create = Timestamp::CreateTime(NOW - 30);
        let append = Timestamp::LogAppendTime(NOW - 20);
        let cases = [
            (DeadlineClock::CreateTime, create, ago(30)),
            (DeadlineClock::CreateTime, append, ago(20)),
            (DeadlineClock::CreateTime, Timestamp::NotAvailable, received),
            (DeadlineClock::LogAppendTime, append, ago(20)),
            (DeadlineClock::LogAppendTime, create, received),
            (DeadlineClock::Receipt, create, received),
            (DeadlineClock::Receipt, append, received),
        ];
        for (clock, ts, expected) in cases {
            assert_eq!(
                started_at(clock, ts, received, NOW),
                expected,
                "{clock:?} {ts:?}"
            );
        }
    }

    #[test]
    fn a_future_timestamp_counts_as_now_and_a_very_old_one_is_capped() {
        let received = Instant::now() + MAX_AGE;
        let future = Timestamp::CreateTime(NOW + 5_000);
        assert_eq!(
            started_at(DeadlineClock::CreateTime, future, received, NOW),
            received
        );
        let ancient = Timestamp::CreateTime(NOW - 86_400_000);
        assert_eq!(
            started_at(DeadlineClock::CreateTime, ancient, received, NOW),
            received - MAX_AGE
        );
    }
}
