//! The process's global allocator: the system one, counting per thread the bytes allocated
//! minus the bytes freed, so the engine can stop a script call that holds too much memory.
//!
//! Rhai's size limits see strings, arrays and maps one value at a time, not what a call holds
//! in all its variables, function pointers and call frames together; this sees everything. The
//! budget is armed and checked in `engine.rs`; a call runs start to finish on one thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread. Memory freed on another thread than
    /// the one that allocated it makes one counter too high and the other too low: only the
    /// difference over one call on one thread means anything, which is all the budget uses.
    static HELD: Cell<isize> = const { Cell::new(0) };
}

/// [`System`], counting into [`HELD`]. The counter is a plain `Cell` in a constant-initialised
/// thread-local without a destructor: reading it never allocates and never fails, so the
/// allocator cannot recurse into itself or panic.
struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn add(bytes: usize) {
    let _ = HELD.try_with(|held| held.set(held.get().wrapping_add_unsigned(bytes)));
}

fn sub(bytes: usize) {
    let _ = HELD.try_with(|held| held.set(held.get().wrapping_sub_unsigned(bytes)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only
// counts sizes on the side, so `System`'s guarantees are this allocator's.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; see the impl.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            add(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; see the impl.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            add(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; see the impl.
        unsafe { System.dealloc(ptr, layout) };
        sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; see the impl.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            sub(layout.size());
            add(new_size);
        }
        moved
    }
}

/// Bytes this thread has allocated and not freed, give or take what other threads freed for
/// it; compare two readings on one thread.
pub(super) fn held() -> isize {
    HELD.try_with(Cell::get).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_this_thread_holds() {
        let before = held();
        let block = vec![0u8; 1 << 20];
        let during = held();
        assert!(during - before >= 1 << 20, "{before} → {during}");
        drop(block);
        assert!(held() - before < 1 << 10, "{before} → {}", held());
        // Another thread's allocations are its own.
        let other = std::thread::spawn(|| {
            let start = held();
            let kept = vec![1u8; 4 << 20];
            (held() - start, kept.len())
        })
        .join();
        assert!(held() - before < 1 << 10);
        assert!(matches!(other, Ok((n, _)) if n >= 4 << 20));
    }
}
