//! Searches that start from a guess: a sorted buffer is searched outward
//! from where the answer is expected (a window's last range start, where a
//! uniform hash falls in a seen set, the newest end for in-order events)
//! rather than by bisection, so a search touches the one or two cache lines
//! near the guess, which the look-ahead has pulled in, instead of a binary
//! search's scattered probes.

use std::collections::VecDeque;

/// The first index in `0..n` where `below` is false (`below` true then false
/// along the range, as for `partition_point`), found by galloping outward
/// from `h`: O(log d) probes for a boundary `d` places away, all near `h`
/// when it is close.
pub(crate) fn partition_point_from(n: usize, h: usize, below: impl Fn(usize) -> bool) -> usize {
    let h = h.min(n);
    // The boundary lies in `lo..=hi`.
    let (mut lo, mut hi) = if h < n && below(h) {
        let mut step = 1;
        while h + step < n && below(h + step) {
            step *= 2;
        }
        (h + step / 2 + 1, (h + step).min(n))
    } else {
        let mut step = 1;
        while step <= h && !below(h - step) {
            step *= 2;
        }
        ((h + 1).saturating_sub(step), h - step / 2)
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `d.partition_point(pred)`, galloping outward from `h`.
pub(crate) fn point_from<T>(d: &VecDeque<T>, h: usize, pred: impl Fn(&T) -> bool) -> usize {
    partition_point_from(d.len(), h, |i| pred(&d[i]))
}

/// `partition_point` for a boundary expected at the back (a query at the
/// newest time): O(1) when every element satisfies `pred`.
pub(crate) fn back_point<T>(d: &VecDeque<T>, pred: impl Fn(&T) -> bool) -> usize {
    match d.back() {
        Some(x) if !pred(x) => d.partition_point(pred),
        _ => d.len(),
    }
}

/// Where the last query of a window found the lower end of its range (a
/// position in its buffer): the next query's end is usually there or a
/// step later, so it searches outward from it, touching the one line the
/// look-ahead pulled in rather than a binary search's scattered probes. A
/// stale cursor only costs a longer search. Not part of the state: equal
/// whatever its value, not stored.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cursor(u32);

impl PartialEq for Cursor {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Cursor {
    /// `d.partition_point(pred)`, searched from the cursor, which moves there.
    pub(crate) fn point<T>(&mut self, d: &VecDeque<T>, pred: impl Fn(&T) -> bool) -> usize {
        let p = point_from(d, self.0 as usize, pred);
        self.0 = p.min(u32::MAX as usize) as u32;
        p
    }

    /// The buffer's first element was dropped.
    pub(crate) fn shift(&mut self) {
        self.0 = self.0.saturating_sub(1);
    }

    pub(crate) fn get(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The search from a cursor answers as a binary search does, from
        /// any cursor, in a buffer that wrapped around its allocation.
        #[test]
        fn a_search_from_any_cursor_agrees_with_partition_point(
            mut values in proptest::collection::vec(0i64..50, 0..80),
            rotate in 0usize..80,
            cursor in 0usize..100,
            bound in -1i64..52,
        ) {
            values.sort_unstable();
            let mut d: VecDeque<i64> = VecDeque::with_capacity(values.len() + 1);
            // Wrap the ring: push and pop some before the real values.
            for _ in 0..rotate.min(values.len()) {
                d.push_back(-1);
                d.pop_front();
            }
            d.extend(values);
            let expected = d.partition_point(|&v| v <= bound);
            proptest::prop_assert_eq!(point_from(&d, cursor, |&v| v <= bound), expected);
        }
    }
}
