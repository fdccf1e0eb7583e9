//! The stored form of a window state (inside its entity record's section):
//! `[1][max time][n]` then `n × [time delta][value]` for the exact layout;
//! `[2][bucket width][max time][n]` then per bucket `[index delta][count]`
//! and its accumulator, or for a distinct count its values (`[0][n][hashes]`)
//! or sketch (`[1][registers]`). Everything derived from the buckets
//! (running totals, suffix extremes, the newest-bucket index) is rebuilt on
//! decode, not stored.

use std::collections::VecDeque;

use crate::codec::{Reader, Writer};
use crate::search::Cursor;
use crate::window::aggregate::{Agg, Layout};
use crate::window::bucketed::{Bucket, BucketedWindow};
use crate::window::distinct::{Distinct, DistinctParts, NO_VALUES};
use crate::window::exact::ExactWindow;
use crate::window::sketch::{HyperLogLog, REGISTERS};
use crate::window::state::WindowState;

/// Encodes the state of a window aggregating `agg` in buckets of
/// `bucket_ms` (`None`: exact).
pub(super) fn encode(agg: Agg, bucket_ms: Option<i64>, st: &WindowState, out: &mut Vec<u8>) {
    let mut w = Writer::new(out);
    match st {
        WindowState::Exact(s) => {
            w.u8(1);
            w.ivar(s.max_time);
            w.uvar(s.events.len() as u64);
            let mut prev = 0i64;
            for &(t, v) in &s.events {
                w.ivar(t.wrapping_sub(prev));
                prev = t;
                encode_value(agg, &mut w, v);
            }
        }
        WindowState::Bucketed(s) => {
            w.u8(2);
            w.ivar(bucket_ms.unwrap_or(0));
            w.ivar(s.max_time);
            w.uvar(s.buckets.len() as u64);
            let mut prev = 0i64;
            let sets = s.distinct.as_deref().map(|d| &d.sets);
            for (i, k) in s.buckets.iter().enumerate() {
                w.ivar(k.index.wrapping_sub(prev));
                prev = k.index;
                w.uvar(u64::from(k.count));
                match agg {
                    Agg::Sum | Agg::Avg | Agg::Min | Agg::Max => encode_value(agg, &mut w, k.acc),
                    Agg::Count => {}
                    Agg::Distinct => match sets.and_then(|d| d.get(i)).unwrap_or(&NO_VALUES) {
                        Distinct::Exact(v) => {
                            w.u8(0);
                            w.uvar(v.len() as u64);
                            v.iter().for_each(|&h| w.u64_raw(h));
                        }
                        Distinct::Sketch(h) => {
                            w.u8(1);
                            w.bytes(h.registers());
                        }
                    },
                }
            }
        }
    }
}

fn encode_value(agg: Agg, w: &mut Writer<'_>, v: u64) {
    match agg {
        Agg::Count => {}
        Agg::Sum | Agg::Avg => w.ivar(v as i64),
        Agg::Min | Agg::Max => w.f64(f64::from_bits(v)),
        Agg::Distinct => w.u64_raw(v),
    }
}

fn decode_value(agg: Agg, r: &mut Reader<'_>) -> Option<u64> {
    match agg {
        Agg::Count => Some(0),
        Agg::Sum | Agg::Avg => r.ivar().map(|v| v as u64),
        Agg::Min | Agg::Max => r.f64().map(f64::to_bits),
        Agg::Distinct => r.u64_raw(),
    }
}

/// Decodes a record written by [`encode`]. A record written under
/// another layout (the config changed the bucket width) decodes as empty.
pub(super) fn decode(agg: Agg, layout: Layout, data: &[u8]) -> Option<WindowState> {
    let mut r = Reader::new(data);
    let tag = r.u8()?;
    match (tag, layout) {
        (1, Layout::Exact) => {
            let max_time = r.ivar()?;
            let n = r.len()?;
            let mut events = VecDeque::with_capacity(n);
            let mut prev = 0i64;
            for _ in 0..n {
                let t = prev.wrapping_add(r.ivar()?);
                prev = t;
                events.push_back((t, decode_value(agg, &mut r)?));
            }
            Some(WindowState::Exact(ExactWindow::new(max_time, events)))
        }
        (2, Layout::Bucketed { bucket_ms }) => {
            if r.ivar()? != bucket_ms {
                return Some(WindowState::empty(agg, layout));
            }
            let max_time = r.ivar()?;
            let n = r.len()?;
            let mut buckets = VecDeque::with_capacity(n);
            let mut sets = VecDeque::new();
            let mut prev = 0i64;
            for _ in 0..n {
                let index = prev.wrapping_add(r.ivar()?);
                prev = index;
                let mut k = Bucket::new(index, agg);
                k.count = u32::try_from(r.uvar()?).ok()?;
                match agg {
                    Agg::Count => {}
                    Agg::Distinct => sets.push_back(match r.u8()? {
                        0 => {
                            let m = r.len()?;
                            Distinct::Exact((0..m).map(|_| r.u64_raw()).collect::<Option<_>>()?)
                        }
                        _ => Distinct::Sketch(HyperLogLog::from_registers(r.take(REGISTERS)?)?),
                    }),
                    _ => k.acc = decode_value(agg, &mut r)?,
                }
                buckets.push_back(k);
            }
            let mut s = BucketedWindow {
                max_time,
                buckets,
                distinct: (agg == Agg::Distinct)
                    .then(|| Box::new(DistinctParts { sets, newest: None })),
                start: Cursor::default(),
            };
            s.derive(agg);
            Some(WindowState::Bucketed(s))
        }
        _ => Some(WindowState::empty(agg, layout)),
    }
}
