//! A global allocator that can count live bytes and their peak, for `losskit bench`.
//!
//! `main` installs it for every subcommand (a `#[global_allocator]` is static), but it only
//! counts once `bench` switches it on: `eval` and `train` pay one relaxed load per call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

/// The system allocator, counting while [`start_counting`] is in effect.
pub struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
// Signed: memory allocated before counting started is freed while counting, which takes
// the live count below its start. Only differences from `BASE` are reported.
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static BASE: AtomicIsize = AtomicIsize::new(0);

fn grow(bytes: usize) {
    if COUNTING.load(Relaxed) {
        let bytes = bytes as isize;
        let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
        PEAK.fetch_max(live, Relaxed);
    }
}

fn shrink(bytes: usize) {
    if COUNTING.load(Relaxed) {
        LIVE.fetch_sub(bytes as isize, Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grow(new_size - layout.size());
            } else {
                shrink(layout.size() - new_size);
            }
        }
        p
    }
}

/// Counts every allocation from now on.
pub fn start_counting() {
    COUNTING.store(true, Relaxed);
}

/// Starts a new peak measurement from the bytes live now.
pub fn reset_peak() {
    let live = LIVE.load(Relaxed);
    BASE.store(live, Relaxed);
    PEAK.store(live, Relaxed);
}

/// The most bytes live at once since [`reset_peak`], above what was live then.
pub fn peak_above_reset() -> usize {
    (PEAK.load(Relaxed) - BASE.load(Relaxed)).max(0) as usize
}

/// Keeps freed memory in the process (glibc): large tensors are otherwise `mmap`ed fresh
/// for every call and unmapped after it, so each call pays a page fault per 4 KiB touched,
/// several times what a pass over the data costs. For `bench` alone: a long-running
/// `eval` or `train` must give memory back.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_MAX: i32 = -4;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes allocator tuning.
        unsafe {
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_once_switched_on() {
        // The test binary's own allocator is the system's; `Counting` is called directly.
        let layout = Layout::from_size_align(1 << 20, 8).unwrap();
        let round_trip = || unsafe {
            let p = Counting.alloc(layout);
            assert!(!p.is_null());
            Counting.dealloc(p, layout);
        };
        reset_peak();
        round_trip();
        assert_eq!(peak_above_reset(), 0, "counted while off");
        start_counting();
        reset_peak();
        round_trip();
        assert_eq!(peak_above_reset(), 1 << 20);
    }
}
