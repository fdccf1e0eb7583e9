//! A compact binary codec for state records: LEB128 varints, zigzag for
//! signed values, raw little-endian for floats. Hand-written because records
//! are tiny and decoded on every cache miss; a `Reader` never panics on
//! truncated or corrupt input, it returns `None`.

pub(crate) struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer { buf }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn uvar(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub(crate) fn ivar(&mut self, v: i64) {
        self.uvar(((v << 1) ^ (v >> 63)) as u64);
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    pub(crate) fn u64_raw(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u32_raw(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
}

pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    pub(crate) fn uvar(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    pub(crate) fn ivar(&mut self) -> Option<i64> {
        let u = self.uvar()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub(crate) fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.uvar()?).ok()?;
        // A length can never exceed the bytes left: rejects corrupt records
        // before they allocate.
        (n <= self.data.len()).then_some(n)
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.data.len() {
            return None;
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Some(head)
    }

    pub(crate) fn f64(&mut self) -> Option<f64> {
        Some(f64::from_bits(self.u64_raw()?))
    }

    pub(crate) fn u64_raw(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(crate) fn u32_raw(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// An `i128` as two words. `i128` is 16-byte aligned, which pads the
/// structs holding one (a history's running totals per day, a window's per
/// bucket) to the next 16 bytes, for every entry of every hot state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Wide(pub(crate) u64, pub(crate) u64);

impl Wide {
    pub(crate) fn new(v: i128) -> Self {
        Wide(v as u64, (v >> 64) as u64)
    }

    pub(crate) fn get(self) -> i128 {
        (i128::from(self.1) << 64) | i128::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_varints_and_floats() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf);
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN, 1_700_000_000_000] {
            w.ivar(v);
        }
        w.uvar(u64::MAX);
        w.f64(f64::NAN);
        w.f64(-0.5);
        let mut r = Reader::new(&buf);
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN, 1_700_000_000_000] {
            assert_eq!(r.ivar(), Some(v));
        }
        assert_eq!(r.uvar(), Some(u64::MAX));
        assert!(r.f64().unwrap().is_nan());
        assert_eq!(r.f64(), Some(-0.5));
        assert!(r.is_empty());
        assert_eq!(r.u8(), None);
    }

    #[test]
    fn truncated_input_is_rejected_not_panicking() {
        let mut r = Reader::new(&[0x80, 0x80]);
        assert_eq!(r.uvar(), None);
        let mut r = Reader::new(&[5, 1, 2]);
        assert_eq!(r.len(), None);
    }
}
