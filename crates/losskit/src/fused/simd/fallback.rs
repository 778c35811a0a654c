//! Other architectures: no prefetch hint, plain stores.

/// Nothing to order: the stores are plain.
#[inline(always)]
pub(crate) fn stream_fence() {}

/// No hint on this architecture.
#[inline(always)]
pub(crate) fn prefetch<T>(_: *const T) {}

/// Copies `bytes` bytes from `src` to `dst`.
///
/// # Safety
/// `src` and `dst` must be valid for `bytes` bytes and not overlap.
#[inline(always)]
pub(crate) unsafe fn stream_lines(dst: *mut u8, src: *const u8, bytes: usize) {
    // SAFETY: the caller guarantees both ranges.
    unsafe { core::ptr::copy_nonoverlapping(src, dst, bytes) };
}
