//! The C allocator's two settings that decide how much memory a flood leaves behind (glibc
//! only; elsewhere both are no-ops). The counting that the script's memory budget needs sits
//! on top of it, in `script/alloc.rs`.
//!
//! glibc gives every thread that allocates an arena of its own and keeps freed memory for
//! reuse: after a 200,000-message flood the listener held 183 MB it no longer used, most of
//! it in the arenas of the socket, personality and file threads. One arena ([`tune`], at
//! start) cuts that by two thirds; [`release`] hands what is free back to the system once a
//! burst is over.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    /// `M_ARENA_MAX` in glibc's `malloc.h`.
    const M_ARENA_MAX: c_int = -8;

    unsafe extern "C" {
        // Both only adjust the allocator's bookkeeping; neither has a precondition to uphold.
        safe fn mallopt(param: c_int, value: c_int) -> c_int;
        safe fn malloc_trim(pad: usize) -> c_int;
    }

    pub fn tune() {
        mallopt(M_ARENA_MAX, 1);
    }

    pub fn release() {
        malloc_trim(0);
    }
}

/// One allocator arena for the whole process. Call before any thread starts: arenas already
/// handed out stay.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::tune();
}

/// Give free memory back to the system. Takes a few milliseconds on a large heap: call it
/// when a burst is over, off the threads that answer viewers.
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::release();
}
