//! Both ends of the control channel, as bytes: the host's end reads and writes against
//! deadlines (a child that hangs is found out, never waited for), the child's end blocks and
//! receives the memory file the host sends with a message.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags, recvmsg, sendmsg,
};

use super::wire::{Garbled, Reply, Request, length, read_reply, read_request};

/// Why the host got no message from a child.
#[derive(Debug, thiserror::Error)]
pub enum Silence {
    /// No whole message before the deadline.
    #[error("no answer in time")]
    TimedOut,
    /// The child's end closed: it exited or was killed.
    #[error("its process ended")]
    Closed,
    /// What arrived is not a message.
    #[error("it wrote garbage on its control channel: {0}")]
    Garbled(#[from] Garbled),
    /// The socket failed.
    #[error("its control channel failed: {0}")]
    Io(#[from] io::Error),
}

/// The host's end: non-blocking, every wait bounded by a deadline.
#[derive(Debug)]
pub struct HostEnd {
    stream: UnixStream,
    /// Bytes read and not yet taken as a message.
    buf: Vec<u8>,
}

impl HostEnd {
    /// The host's end of `stream`.
    pub fn new(stream: UnixStream) -> io::Result<HostEnd> {
        stream.set_nonblocking(true)?;
        Ok(HostEnd {
            stream,
            buf: Vec::with_capacity(256),
        })
    }

    /// Waits until `stream` is ready for `flags` or `deadline` passes (`false` then).
    fn wait(&self, flags: PollFlags, deadline: Instant) -> io::Result<bool> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            };
            let mut fds = [PollFd::new(&self.stream, flags)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends `message` whole before `deadline`, with `fd` attached if given.
    pub fn send(
        &mut self,
        message: &[u8],
        fd: Option<BorrowedFd<'_>>,
        deadline: Instant,
    ) -> Result<(), Silence> {
        let mut sent = 0;
        if let Some(fd) = fd {
            let fds = [fd];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            control.push(SendAncillaryMessage::ScmRights(&fds));
            loop {
                match sendmsg(
                    &self.stream,
                    &[IoSlice::new(message)],
                    &mut control,
                    SendFlags::NOSIGNAL,
                ) {
                    Ok(n) => {
                        sent = n;
                        break;
                    }
                    Err(rustix::io::Errno::AGAIN) => {
                        if !self.wait(PollFlags::OUT, deadline)? {
                            return Err(Silence::TimedOut);
                        }
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(rustix::io::Errno::PIPE) => return Err(Silence::Closed),
                    Err(e) => return Err(Silence::Io(e.into())),
                }
            }
        }
        while sent < message.len() {
            match self.stream.write(&message[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.wait(PollFlags::OUT, deadline)? {
                        return Err(Silence::TimedOut);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Err(Silence::Closed),
                Err(e) => return Err(Silence::Io(e)),
            }
        }
        Ok(())
    }

    /// The next whole reply, waiting until `deadline` at most (a deadline already past only
    /// takes what has arrived).
    pub fn receive(&mut self, deadline: Instant) -> Result<Reply, Silence> {
        // Right after a call nothing has come yet: wait before the first read (one system call
        // fewer per call than reading to find nothing).
        if self.buf.is_empty() && !self.wait(PollFlags::IN, deadline)? {
            return Err(Silence::TimedOut);
        }
        loop {
            if let Some(n) = self.whole()? {
                let reply = read_reply(&self.buf[4..4 + n]);
                self.buf.drain(..4 + n);
                return Ok(reply?);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Silence::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.wait(PollFlags::IN, deadline)? {
                        return Err(Silence::TimedOut);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Err(Silence::Closed),
                Err(e) => return Err(Silence::Io(e)),
            }
        }
    }

    /// The body length of a whole message at the front of the buffer, if one has arrived.
    fn whole(&self) -> Result<Option<usize>, Garbled> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let n = length(self.buf[..4].try_into().expect("4 bytes"))?;
        Ok((self.buf.len() >= 4 + n).then_some(n))
    }
}

/// The child's end: blocking; keeps the memory files that arrive with messages.
#[derive(Debug)]
pub struct ChildEnd {
    stream: UnixStream,
    buf: Vec<u8>,
    fds: Vec<OwnedFd>,
}

impl ChildEnd {
    /// The child's end of `stream`.
    pub fn new(stream: UnixStream) -> ChildEnd {
        ChildEnd {
            stream,
            buf: Vec::with_capacity(256),
            fds: Vec::new(),
        }
    }

    /// The next request, or `None` once the host has closed its end. Allocates nothing for a
    /// frame's call.
    pub fn receive(&mut self) -> io::Result<Option<Request>> {
        let invalid = |e: Garbled| io::Error::new(io::ErrorKind::InvalidData, e);
        loop {
            if self.buf.len() >= 4 {
                let n = length(self.buf[..4].try_into().expect("4 bytes")).map_err(invalid)?;
                if self.buf.len() >= 4 + n {
                    let request = read_request(&self.buf[4..4 + n]).map_err(invalid)?;
                    self.buf.drain(..4 + n);
                    return Ok(Some(request));
                }
            }
            let mut chunk = [0u8; 4096];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let got = match recvmsg(
                &self.stream,
                &mut [IoSliceMut::new(&mut chunk)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(got) => got,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            for message in control.drain() {
                if let RecvAncillaryMessage::ScmRights(fds) = message {
                    self.fds.extend(fds);
                }
            }
            if got.bytes == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..got.bytes]);
        }
    }

    /// The oldest memory file received and not yet taken.
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        (!self.fds.is_empty()).then(|| self.fds.remove(0))
    }

    /// Sends `message` whole.
    pub fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.stream.write_all(message)
    }

    /// The socket, for a fixture that writes garbage on purpose.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}
