//! A HyperLogLog distinct-count sketch for large cardinalities.
//!
//! 2^12 one-byte registers (4 KiB), fed 64-bit XXH3 hashes: relative standard
//! error 1.04/sqrt(4096) ≈ 1.6%, so estimates fall within ±5% of the true
//! count with probability ≈ 99.8%. Small cardinalities use linear counting
//! (the standard HLL small-range correction). Only windows whose buckets
//! outgrow the exact-set limit ever allocate one.
//!
//! Written here rather than taken from a crate: ~60 lines, and the register
//! layout is persisted in checkpoints, so it must never change underneath us.

const P: u32 = 12;
pub(crate) const REGISTERS: usize = 1 << P;

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HyperLogLog {
    registers: Box<[u8; REGISTERS]>,
}

impl std::fmt::Debug for HyperLogLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HyperLogLog(~{:.0})", self.estimate())
    }
}

impl HyperLogLog {
    pub(crate) fn new() -> Self {
        HyperLogLog {
            registers: Box::new([0; REGISTERS]),
        }
    }

    pub(crate) fn from_registers(bytes: &[u8]) -> Option<Self> {
        let regs: [u8; REGISTERS] = bytes.try_into().ok()?;
        Some(HyperLogLog {
            registers: Box::new(regs),
        })
    }

    pub(crate) fn registers(&self) -> &[u8] {
        &self.registers[..]
    }

    pub(crate) fn insert(&mut self, hash: u64) {
        let idx = (hash >> (64 - P)) as usize;
        let rest = (hash << P) | (1 << (P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        let r = &mut self.registers[idx];
        if rank > *r {
            *r = rank;
        }
    }

    pub(crate) fn merge(&mut self, other: &HyperLogLog) {
        for (a, b) in self.registers.iter_mut().zip(other.registers.iter()) {
            *a = (*a).max(*b);
        }
    }

    pub(crate) fn estimate(&self) -> f64 {
        let m = REGISTERS as f64;
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in self.registers.iter() {
            sum += 1.0 / f64::from(1u32 << r.min(31));
            zeros += usize::from(r == 0);
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_within_stated_bound() {
        for n in [10u64, 1_000, 20_000, 200_000] {
            let mut h = HyperLogLog::new();
            for i in 0..n {
                h.insert(xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes()));
            }
            let err = (h.estimate() - n as f64).abs() / n as f64;
            assert!(err < 0.05, "n={n} estimate={} err={err}", h.estimate());
        }
    }

    #[test]
    fn merge_equals_union() {
        let (mut a, mut b, mut u) = (HyperLogLog::new(), HyperLogLog::new(), HyperLogLog::new());
        for i in 0..5_000u64 {
            let h = xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
            if i % 2 == 0 {
                a.insert(h)
            } else {
                b.insert(h)
            }
            u.insert(h);
        }
        a.merge(&b);
        assert_eq!(a, u);
    }
}
