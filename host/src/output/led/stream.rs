//! HUB75 panels through a driver process: a stream socket (Unix or TCP) to a process that owns
//! the panels (an rpi-rgb-led-matrix driver, say), which keeps the latest frame and refreshes at
//! its own rate. Per frame: an 8-byte big-endian header (width u16, height u16, payload length
//! u32), then width × height × 3 RGB bytes; the driver answers `OK` unless acknowledgements are
//! off. Unchanged frames can be skipped. A driver that is not there yet, or goes away, is
//! connected to again on a later frame.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::model::rig::StreamTarget;

/// Header bytes.
pub const HEADER: usize = 8;
/// The driver's acknowledgement.
pub const ACK: &[u8; 2] = b"OK";
/// How long connecting, writing a frame or waiting for its acknowledgement may take.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// An open connection.
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn open(target: &StreamTarget) -> io::Result<Conn> {
        Ok(match target {
            StreamTarget::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, TIMEOUT)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(TIMEOUT))?;
                s.set_write_timeout(Some(TIMEOUT))?;
                Conn::Tcp(s)
            }
            StreamTarget::Unix(path) => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(TIMEOUT))?;
                s.set_write_timeout(Some(TIMEOUT))?;
                Conn::Unix(s)
            }
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.write_all(bytes),
            Conn::Unix(s) => s.write_all(bytes),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.read_exact(buf),
            Conn::Unix(s) => s.read_exact(buf),
        }
    }
}

/// What a frame given to [`StreamLink::send`] became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Written (and acknowledged, if asked): this many bytes.
    Frame(usize),
    /// The same as the last frame sent: not sent.
    Unchanged,
}

/// The stream to one driver.
pub struct StreamLink {
    target: StreamTarget,
    width: u16,
    height: u16,
    ack: bool,
    skip_unchanged: bool,
    conn: Option<Conn>,
    /// The last frame written, if the connection still stands.
    last: Option<Vec<u8>>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for StreamLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamLink")
            .field("target", &self.target)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl StreamLink {
    /// A link to `target` for frames of `width × height`; nothing is connected until the first
    /// frame.
    pub fn new(
        target: StreamTarget,
        (width, height): (u32, u32),
        ack: bool,
        skip_unchanged: bool,
    ) -> StreamLink {
        StreamLink {
            target,
            width: width as u16,
            height: height as u16,
            ack,
            skip_unchanged,
            conn: None,
            last: None,
            buf: Vec::new(),
        }
    }

    /// Where it connects to, for messages.
    pub fn target_name(&self) -> String {
        match &self.target {
            StreamTarget::Tcp(addr) => addr.to_string(),
            StreamTarget::Unix(path) => path.display().to_string(),
        }
    }

    /// Sends `rgb` (width × height × 3 bytes), connecting first if needed. An error drops the
    /// connection; the next frame connects again.
    pub fn send(&mut self, rgb: &[u8]) -> io::Result<Sent> {
        if self.skip_unchanged && self.last.as_deref() == Some(rgb) {
            return Ok(Sent::Unchanged);
        }
        let result = self.write(rgb);
        match result {
            Ok(()) => {
                let last = self.last.get_or_insert_with(Vec::new);
                last.clear();
                last.extend_from_slice(rgb);
                Ok(Sent::Frame(self.buf.len()))
            }
            Err(e) => {
                self.conn = None;
                self.last = None;
                Err(e)
            }
        }
    }

    fn write(&mut self, rgb: &[u8]) -> io::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(Conn::open(&self.target)?);
        }
        let conn = self.conn.as_mut().expect("just opened");
        self.buf.clear();
        self.buf.extend_from_slice(&self.width.to_be_bytes());
        self.buf.extend_from_slice(&self.height.to_be_bytes());
        self.buf.extend_from_slice(&(rgb.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(rgb);
        conn.write_all(&self.buf)?;
        if self.ack {
            let mut answer = [0u8; 2];
            conn.read_exact(&mut answer)?;
            if &answer != ACK {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the driver answered {answer:?} instead of \"OK\""),
                ));
            }
        }
        Ok(())
    }
}
