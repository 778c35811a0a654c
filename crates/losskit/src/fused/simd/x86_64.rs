//! x86-64: prefetch into L2, non-temporal stores of whole cache lines, and the fence that
//! orders them.

use core::arch::x86_64::{_MM_HINT_T1, _mm_loadu_si128, _mm_prefetch, _mm_sfence, _mm_stream_si128};
use core::arch::x86_64::{_mm512_loadu_si512, _mm512_stream_si512};

/// Orders the non-temporal stores of [`stream_lines`] before whatever follows (the
/// hand-off of the written rows to another thread).
#[inline(always)]
pub(crate) fn stream_fence() {
    // SAFETY: `sfence` has no preconditions (SSE is part of x86_64).
    unsafe { _mm_sfence() };
}

/// Asks for the cache line at `p` to be brought into L2: the next row is read from memory
/// while this one is computed. Never faults, whatever `p` points at.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    // SAFETY: a prefetch is a hint; it does not dereference `p` architecturally.
    unsafe { _mm_prefetch::<_MM_HINT_T1>(p.cast()) };
}

/// Copies `bytes` bytes from `src` to `dst` with non-temporal stores: the lines go to
/// memory without first being read for ownership, and without evicting what the kernel
/// still reads. [`stream_fence`] orders them.
///
/// # Safety
/// `src` and `dst` must be valid for `bytes` bytes, `dst` 64-byte aligned, and `bytes` a
/// multiple of 64.
#[inline(always)]
pub(crate) unsafe fn stream_lines(dst: *mut u8, src: *const u8, bytes: usize) {
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the feature is present; the caller guarantees the ranges and alignment.
        unsafe { stream_lines_avx512(dst, src, bytes) };
    } else {
        // SAFETY: as above; SSE2 is part of x86_64.
        unsafe { stream_lines_sse2(dst, src, bytes) };
    }
}

/// One 64-byte non-temporal store a line.
#[target_feature(enable = "avx512f")]
unsafe fn stream_lines_avx512(dst: *mut u8, src: *const u8, bytes: usize) {
    for offset in (0..bytes).step_by(64) {
        // SAFETY: the caller guarantees `bytes` valid bytes at both ends and the alignment.
        unsafe { _mm512_stream_si512(dst.add(offset).cast(), _mm512_loadu_si512(src.add(offset).cast())) };
    }
}

/// Four 16-byte non-temporal stores a line.
unsafe fn stream_lines_sse2(dst: *mut u8, src: *const u8, bytes: usize) {
    for offset in (0..bytes).step_by(16) {
        // SAFETY: the caller guarantees `bytes` valid bytes at both ends and the alignment.
        unsafe { _mm_stream_si128(dst.add(offset).cast(), _mm_loadu_si128(src.add(offset).cast())) };
    }
}
