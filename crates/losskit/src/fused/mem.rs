//! The kernels' output buffers: written once without being zeroed first, and backed by
//! huge pages when large.

use core::mem::MaybeUninit;

/// A vector of `n` values written by `write`: the kernels' outputs are never zeroed first,
/// which would cost a whole extra pass over memory.
///
/// # Safety
/// `write` must initialise every one of the `n` elements of the slice it is given (or
/// unwind, which leaks the buffer uninitialised but never exposes it).
pub(crate) unsafe fn written<T: Send>(n: usize, write: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(&mut v);
    write(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: the caller's `write` initialised all `n` elements.
    unsafe { v.set_len(n) };
    v
}

/// The slice once every element has been written.
///
/// # Safety
/// Every element of `g` must have been written.
#[inline(always)]
pub(crate) unsafe fn assume_init<T>(g: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: MaybeUninit<T> has T's layout, and the caller promises initialisation.
    unsafe { &mut *(g as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// Asks Linux to back a large fresh output with 2 MiB pages. glibc maps every buffer over
/// 32 MiB fresh and unmaps it when freed, so each 4 KiB page of an output faults on its
/// first write; with 2 MiB pages there are 512 times fewer faults (docs/performance.md has
/// the measurements). Advice only: contents are unchanged, and nothing happens where huge
/// pages are off or the memory is already mapped.
fn advise_huge_pages<T>(v: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity() * core::mem::size_of::<T>();
        if bytes >= 4 * HUGE {
            let start = v.as_mut_ptr() as usize;
            let (first, end) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
            // SAFETY: [first, end) lies inside `v`'s allocation; MADV_HUGEPAGE changes how
            // its pages are backed, never their contents.
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::written;

    /// Kilobytes of the mapping holding `addr` that are backed by transparent huge pages
    /// (`AnonHugePages` in /proc/self/smaps).
    fn huge_kb_at(addr: usize) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            // A mapping starts with its address range, "lo-hi perms ...", in hex.
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-')
                && let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
            } else if inside && let Some(kb) = line.strip_prefix("AnonHugePages:") {
                return kb.trim().trim_end_matches("kB").trim().parse().unwrap();
            }
        }
        0
    }

    #[test]
    fn large_outputs_are_backed_by_huge_pages() {
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
        if thp.is_empty() || thp.contains("[never]") {
            eprintln!("transparent huge pages are off on this machine: nothing to check");
            return;
        }
        // SAFETY: the closure writes every element.
        let out = unsafe { written::<f32>(8 << 20, |o| o.iter_mut().for_each(|v| _ = v.write(1.0))) };
        assert!(
            huge_kb_at(out.as_ptr() as usize + (16 << 20)) >= 2048,
            "a 32 MiB output has no huge page"
        );
    }
}
