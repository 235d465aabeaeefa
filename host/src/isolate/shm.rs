//! Shared frame memory: an anonymous memory file (memfd) mapped into the host and into the
//! child that serves an isolated instance, so pixels never travel through a pipe.
//!
//! The one place of the isolation room that needs `unsafe`: mapping and unmapping memory.

// Mapping memory is `unsafe` by nature; this module keeps it to `map` and `Drop`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, fstat, ftruncate, memfd_create};
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

/// A memory file and its mapping in this process, read and written as bytes.
///
/// Both processes write it, but never at once: the host touches it only while no call into the
/// child is in flight, and the child only while serving one (the control channel's messages
/// order the two, and a system call on each side is a full barrier).
#[derive(Debug)]
pub struct SharedMemory {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone (no other Rust reference to it exists in this
// process), so moving it or sharing `&self` across threads is as safe as for a `Vec<u8>`.
unsafe impl Send for SharedMemory {}
// SAFETY: as above: `&self` gives only shared reads of memory this value owns.
unsafe impl Sync for SharedMemory {}

impl SharedMemory {
    /// A new zeroed memory file of `len` bytes (at least 1), mapped here.
    pub fn create(name: &str, len: usize) -> io::Result<SharedMemory> {
        let fd = memfd_create(name, MemfdFlags::CLOEXEC)?;
        ftruncate(&fd, len.max(1) as u64)?;
        SharedMemory::map(fd)
    }

    /// Maps the whole memory file `fd` (one made by [`SharedMemory::create`], received from the
    /// host).
    pub fn map(fd: OwnedFd) -> io::Result<SharedMemory> {
        let len = usize::try_from(fstat(&fd)?.st_size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "shared memory size"))?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "empty shared memory"));
        }
        // SAFETY: a fresh shared mapping of a file we hold, at an address the kernel picks; no
        // Rust reference to it exists yet.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "null mapping"))?;
        Ok(SharedMemory { fd, ptr, len })
    }

    /// The memory file, to hand to a child.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A second handle to the memory file.
    pub fn try_clone_fd(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }
}

impl std::ops::Deref for SharedMemory {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives (unmapped in
        // `Drop` only), and `&self` rules out a `&mut` to them in this process.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for SharedMemory {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, and `&mut self` makes this the only reference in this process.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `map` with this address and length, and no reference
        // into it outlives `self`.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A layer's pixels: on the heap, or in memory shared with the child that draws them.
#[derive(Debug)]
pub enum Pixels {
    /// An in-process renderer's buffer.
    Heap(Vec<u8>),
    /// An isolated renderer's buffer: its child draws straight into it.
    Shared(SharedMemory),
}

impl Pixels {
    /// `len` zeroed bytes on the heap.
    pub fn zeroed(len: usize) -> Pixels {
        Pixels::Heap(vec![0; len])
    }
}

impl std::ops::Deref for Pixels {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Pixels::Heap(v) => v,
            Pixels::Shared(m) => m,
        }
    }
}

impl std::ops::DerefMut for Pixels {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Pixels::Heap(v) => v,
            Pixels::Shared(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_of_one_file_see_each_others_writes() {
        let mut a = SharedMemory::create("test", 64).unwrap();
        let mut b = SharedMemory::map(a.try_clone_fd().unwrap()).unwrap();
        assert_eq!(b.len(), 64);
        a[3] = 7;
        assert_eq!(b[3], 7);
        b[63] = 9;
        assert_eq!(a[63], 9);
    }
}
