//! Software prefetch primitives: pull cache lines toward the core ahead of
//! their use. A prefetch is only a hint to the CPU: it reads nothing
//! architecturally and never faults, whatever the address, so these take
//! any pointer and length. What is prefetched when is the look-ahead
//! protocol's business (the `lookahead` module).

/// Pulls the cache line holding `p` toward the core.
#[inline(always)]
pub(crate) fn prefetch_line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing architecturally and
    // never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Pulls every cache line of `s` toward the core.
pub(crate) fn prefetch_slice<T>(s: &[T]) {
    prefetch_span(s.as_ptr(), std::mem::size_of_val(s));
}

/// Pulls every cache line of the `len` bytes from `p` toward the core
/// (the bytes need not belong to one object: a prefetch never faults).
pub(crate) fn prefetch_span<T>(p: *const T, len: usize) {
    let start = p.cast::<u8>();
    let first = start as usize & !63;
    let end = (start as usize).wrapping_add(len);
    let mut line = first;
    while line < end {
        prefetch_line(start.wrapping_add(line.wrapping_sub(start as usize)));
        line += 64;
    }
}
