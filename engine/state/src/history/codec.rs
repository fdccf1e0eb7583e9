//! The stored form of a user history (its record body), in two formats.
//!
//! Format 2 (leading byte `0xFF`) stores a one-event day in about 6 bytes
//! (age, count, amount in the coarsest unit that holds every amount of the
//! record, hour), 9–10 for busier days, and 7 per seen value. Format-1
//! records, from before, are still read and are rewritten as format 2 when
//! next written. Both share the seen sets' encoding, relative to the newest
//! day. Running totals and cursors are derived on read, not stored.

use verdict_rules::input::Field;

use crate::codec::{Reader, Writer};
use crate::history::seen::SeenSet;
use crate::history::{CURSORS, DayRollup, HistoryState};
use crate::keys::field_code;

/// First byte of a format-2 record. A format-1 record starts with its
/// newest day as a zigzag varint, whose first byte is 0xFF only for a day
/// before 1970, which no accepted event carries.
const FORMAT_2: u8 = 0xFF;

/// Divisors of stored amounts (1/10000 units), by scale code.
const AMOUNT_SCALES: [i64; 3] = [1, 100, 10_000];

impl HistoryState {
    /// The newest day and the days of a format-1 record (written before
    /// format 2; its seen sets are encoded the same way).
    fn decode_days_1(r: &mut Reader<'_>) -> Option<(i64, Vec<DayRollup>)> {
        let max_day = r.ivar()?;
        let n = r.len()?;
        let mut days = Vec::with_capacity(n);
        for _ in 0..n {
            let day = max_day - r.uvar()? as i64;
            let count = u32::try_from(r.uvar()?).ok()?;
            let (sum, max) = (r.ivar()?, r.ivar()?);
            let hours = u32::try_from(r.uvar()?).ok()?;
            days.push(DayRollup {
                day,
                count,
                sum,
                max,
                hours,
            });
        }
        Some((max_day, days))
    }

    /// Encodes the record (format 2, see [`FORMAT_2`]): `[0xFF][amount
    /// scale][newest day]`, the days newest-relative, then the seen sets.
    /// A day with one event is `[age][count 1, single][amount][hour]`;
    /// others add the maximum and the hours bitmask. Amounts are stored
    /// divided by the largest of 10000, 100, 1 that divides all of them
    /// (whole currency units, cents, or finer).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let divides = |d: i64| {
            self.days
                .iter()
                .all(|r| r.sum % d == 0 && (r.max == i64::MIN || r.max % d == 0))
        };
        let scale: u8 = if divides(10_000) {
            2
        } else if divides(100) {
            1
        } else {
            0
        };
        let div = AMOUNT_SCALES[usize::from(scale)];
        let mut w = Writer::new(out);
        w.u8(FORMAT_2);
        w.u8(scale);
        w.ivar(self.max_day);
        w.uvar(self.days.len() as u64);
        for r in &self.days {
            w.uvar((self.max_day - r.day) as u64);
            let single = r.count == 1 && r.hours.count_ones() == 1 && r.max == r.sum;
            let has_max = r.max != i64::MIN;
            w.uvar((u64::from(r.count) << 2) | (u64::from(has_max) << 1) | u64::from(single));
            w.ivar(r.sum / div);
            if single {
                w.u8(r.hours.trailing_zeros() as u8);
            } else {
                if has_max {
                    w.ivar(r.max / div);
                }
                w.uvar(u64::from(r.hours));
            }
        }
        self.encode_seen(&mut w);
    }

    /// The seen sets (the same in both formats), relative to the newest day.
    pub(super) fn encode_seen(&self, w: &mut Writer<'_>) {
        w.uvar(self.seen.len() as u64);
        for s in &self.seen {
            w.u8(field_code(s.field));
            w.uvar(s.hashes.len() as u64);
            for v in s.values() {
                w.u32_raw(v.hash);
                w.uvar(self.max_day.saturating_sub(v.last_day) as u64);
                w.uvar(v.last_day.saturating_sub(v.first_day) as u64);
            }
        }
    }

    /// Decodes a record of either format; `None` when it is corrupt.
    pub(crate) fn decode(data: &[u8]) -> Option<HistoryState> {
        let mut r = Reader::new(data);
        let (max_day, days) = if data.first() == Some(&FORMAT_2) {
            r.u8()?;
            let div = *AMOUNT_SCALES.get(usize::from(r.u8()?))?;
            let max_day = r.ivar()?;
            let n = r.len()?;
            let mut days = Vec::with_capacity(n);
            for _ in 0..n {
                let day = max_day.checked_sub(i64::try_from(r.uvar()?).ok()?)?;
                let head = r.uvar()?;
                let count = u32::try_from(head >> 2).ok()?;
                let sum = r.ivar()?.checked_mul(div)?;
                let (max, hours) = if head & 1 == 1 {
                    (sum, 1u32.checked_shl(u32::from(r.u8()?))?)
                } else {
                    let max = if head & 2 == 2 {
                        r.ivar()?.checked_mul(div)?
                    } else {
                        i64::MIN
                    };
                    (max, u32::try_from(r.uvar()?).ok()?)
                };
                days.push(DayRollup {
                    day,
                    count,
                    sum,
                    max,
                    hours,
                });
            }
            (max_day, days)
        } else {
            Self::decode_days_1(&mut r)?
        };
        let m = r.len()?;
        let mut seen = Vec::with_capacity(m);
        for _ in 0..m {
            let field = *Field::ALL.get(usize::from(r.u8()?))?;
            let k = r.len()?;
            let mut set = SeenSet::new(field);
            set.hashes.reserve_exact(k);
            set.spans.reserve_exact(k);
            for _ in 0..k {
                set.hashes.push(r.u32_raw()?);
                let last_day = max_day - r.uvar()? as i64;
                let first_day = last_day - r.uvar()? as i64;
                set.spans.push((first_day, last_day));
            }
            seen.push(set);
        }
        let seen_oldest = seen
            .iter()
            .filter_map(SeenSet::oldest)
            .min()
            .unwrap_or(i64::MAX);
        r.is_empty().then_some(HistoryState {
            max_day,
            days,
            prefix: Vec::new(),
            cursors: [(0, 0); CURSORS],
            seen,
            seen_oldest,
            probes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::{same, year};

    /// The format-1 encoder, as records written before format 2 hold it.
    fn encode_1(h: &HistoryState) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.ivar(h.max_day);
        w.uvar(h.days.len() as u64);
        for r in &h.days {
            w.uvar((h.max_day - r.day) as u64);
            w.uvar(u64::from(r.count));
            w.ivar(r.sum);
            w.ivar(r.max);
            w.uvar(u64::from(r.hours));
        }
        h.encode_seen(&mut w);
        out
    }

    #[test]
    fn both_formats_round_trip_at_every_amount_scale() {
        let cents = |i: i64| (i % 11 != 5).then(|| (i * 137 % 20_000) as f64 / 100.0 + 0.5);
        let units = |i: i64| Some((i * 31 % 900) as f64);
        let fine = |i: i64| Some((i * 7_919 % 100_000) as f64 / 10_000.0 - 3.0);
        for (h, scale) in [(year(cents), 1u8), (year(units), 2), (year(fine), 0)] {
            assert!(scale != 1 || h.days.iter().any(|r| r.max == i64::MIN));
            let mut v2 = Vec::new();
            h.encode(&mut v2);
            assert_eq!(v2[..2], [FORMAT_2, scale]);
            let back = HistoryState::decode(&v2).expect("format 2 decodes");
            assert!(same(&h, &back));
            let v1 = encode_1(&h);
            assert!(same(
                &h,
                &HistoryState::decode(&v1).expect("format 1 decodes")
            ));
            assert!(v2.len() < v1.len());
        }
        // Cents, one event on most days: the case the single-event form is for.
        let h = year(cents);
        let mut v2 = Vec::new();
        h.encode(&mut v2);
        let v1 = encode_1(&h);
        assert!(
            v2.len() * 10 < v1.len() * 8,
            "{} vs {} bytes",
            v2.len(),
            v1.len()
        );
    }

    #[test]
    fn corrupt_records_are_rejected_without_panicking() {
        let mut v2 = Vec::new();
        year(|i| Some(i as f64)).encode(&mut v2);
        for cut in 0..v2.len() {
            assert!(
                HistoryState::decode(&v2[..cut]).is_none(),
                "prefix of {cut} bytes"
            );
        }
        // A scale code out of range, an hour past the bitmask.
        assert!(HistoryState::decode(&[FORMAT_2, 3, 0, 0, 0]).is_none());
        assert!(HistoryState::decode(&[FORMAT_2, 0, 2, 1, 0, 5, 0, 40, 0]).is_none());
    }
}
