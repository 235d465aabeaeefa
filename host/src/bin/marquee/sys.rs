//! What only the binary may do: count heap allocations (it installs the counting global
//! allocator) and ask the OS for the process's CPU time and peak memory.
#![allow(unsafe_code)]

use std::time::Duration;

#[global_allocator]
static GLOBAL: marquee::observe::alloc_count::Counting = marquee::observe::alloc_count::Counting;

/// Heap allocations made so far by the calling thread.
pub fn allocations() -> u64 {
    marquee::observe::alloc_count::allocations()
}

/// CPU time used by the process (user + system) and its peak resident memory in KiB.
pub fn resources() -> (Duration, u64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `getrusage` fills the struct we own; RUSAGE_SELF is always valid.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    if !ok {
        return (Duration::ZERO, 0);
    }
    // SAFETY: zero-initialised, then filled by a successful call.
    let u = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(u.ru_utime) + tv(u.ru_stime), u.ru_maxrss as u64)
}
