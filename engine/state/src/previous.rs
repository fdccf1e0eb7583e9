//! The `Previous { key, field }` feature's state: the value of `field` on
//! the key's most recently processed earlier event, remembered for a year
//! after the key's latest event.

use crate::codec::{Reader, Writer};
use crate::units::{DAY_MS, HISTORY_DAYS};

#[derive(Clone, Copy)]
pub(crate) struct PreviousState {
    pub(crate) value: f64,
    pub(crate) time: i64,
}

impl PreviousState {
    /// A key with no event yet.
    pub(crate) fn empty() -> Self {
        PreviousState {
            value: f64::NAN,
            time: i64::MIN,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.f64(self.value);
        w.ivar(self.time);
    }

    pub(crate) fn decode(data: &[u8]) -> Option<PreviousState> {
        let mut r = Reader::new(data);
        let p = PreviousState {
            value: r.f64()?,
            time: r.ivar()?,
        };
        r.is_empty().then_some(p)
    }

    /// A previous value is remembered for a year after its key's latest event.
    pub(crate) fn expiry_day(&self) -> u32 {
        (self
            .time
            .div_euclid(DAY_MS)
            .saturating_add(HISTORY_DAYS + 1))
        .clamp(0, i64::from(u32::MAX)) as u32
    }
}
