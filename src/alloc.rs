//! The global allocator: the system allocator, except that very large requests are served
//! by `mmap(MAP_NORESERVE)`.
//!
//! Why: kafka-protocol sizes a decoded array's `Vec` from the count on the wire before
//! reading any element, so a tiny malformed frame claiming 2^31 entries asks for hundreds
//! of GiB. `malloc` refuses, and Rust aborts the whole process on allocation failure: one
//! bad frame would kill the broker. Reserving address space without committing memory makes
//! that allocation succeed virtually; decoding then fails on the first missing element, the
//! connection is closed, and the untouched mapping is unmapped. Legitimate allocations that
//! large (none on brokk's paths) still work: pages are committed as they are touched.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at or above this size go to `mmap`.
const HUGE: usize = 1 << 30;

/// See the module docs.
pub struct GuardedAlloc;

fn is_huge(layout: &Layout) -> bool {
    layout.size() >= HUGE && layout.align() <= 4096
}

// SAFETY: every block is returned to the allocator it came from: `is_huge` depends only on
// the layout, which callers must pass unchanged to `dealloc`/`realloc`.
unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_huge(&layout) {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: an anonymous private mapping has no preconditions; failure is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            // SAFETY: fresh anonymous mappings are zero-filled.
            unsafe { self.alloc(layout) }
        } else {
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(&layout) {
            // SAFETY: `ptr` came from our mmap of exactly `layout.size()` bytes.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` forms a valid layout with this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !is_huge(&layout) && !is_huge(&new_layout) {
            // SAFETY: both sides belong to `System`.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: allocate-copy-free across the two allocators, with the caller's layouts.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_huge_unused_reservation_does_not_abort() {
        // ~137 GiB of address space, never touched.
        let v: Vec<[u8; 64]> = Vec::with_capacity(i32::MAX as usize);
        assert!(v.capacity() >= i32::MAX as usize);
        let mut small = Vec::with_capacity(4);
        small.extend_from_slice(&[1u8, 2, 3, 4, 5]);
        assert_eq!(small.len(), 5);
    }
}
