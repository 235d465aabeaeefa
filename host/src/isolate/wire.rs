//! The control channel between the host and an isolated instance's child: small binary
//! messages, each a little-endian `u32` length and a body, over a Unix stream socket.
//!
//! Pixels never travel here (they live in [`super::shm`]); a message carries a call and its
//! frame context, or an answer. Every message the host reads is checked (its length against
//! [`MAX_MESSAGE`], each field against what may follow), so a child that writes garbage is
//! found out and killed instead of believed.

use marquee_plugin_api::abi_stable::std_types::{ROption, RString};
use marquee_plugin_api::{ErrorKind, FrameCtx, FrameMeta, InitCtx, PluginError, PluginKind};

/// The longest message either side accepts (a snapshot's bytes included).
pub const MAX_MESSAGE: usize = 64 << 20;

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Garbled(pub String);

fn garbled(what: impl Into<String>) -> Garbled {
    Garbled(what.into())
}

/// A call from the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Create the instance of `kind` with `config`: the first message a child reads.
    Create {
        /// The kind of instance.
        kind: PluginKind,
        /// What it is created with.
        init: InitCtx,
        /// Its config as JSON text.
        config: String,
    },
    /// Map the memory file sent with this message (`len` bytes).
    Map {
        /// Its length.
        len: u64,
    },
    /// Draw frame `ctx` into the memory.
    Render(FrameCtx),
    /// Transform the frame in the memory in place.
    Process(FrameCtx),
    /// Read the frame at the start of the memory, write the resized one right after it.
    ProcessInto(FrameCtx),
    /// Record the frame at the start of the memory.
    Record(FrameMeta),
    /// A clip trigger for frame `meta.index`.
    Trigger(FrameMeta),
    /// Flush and close (recorders).
    Finish,
    /// The instance's state.
    Snapshot,
    /// Restore state.
    Restore(Vec<u8>),
    /// The instance's counters.
    Counters,
}

/// An answer from the child.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Done; with the events the instance raised (renderers and processors).
    Ok(u32),
    /// The call failed.
    Err(PluginError),
    /// The instance exists: the size it makes (resizing processors) and what it says about
    /// itself (recorders).
    Created {
        /// A resizing processor's output size.
        output: Option<(u32, u32)>,
        /// A recorder's `describe`.
        about: String,
    },
    /// A snapshot.
    State(Option<Vec<u8>>),
    /// Counters, by name.
    Counters(Vec<(String, u64)>),
}

/// Writes messages into a reusable buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn begin(&mut self, tag: u8) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.push(tag);
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.buf.extend_from_slice(b);
    }
    fn end(&mut self) -> &[u8] {
        let len = (self.buf.len() - 4) as u32;
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        &self.buf
    }
    fn ctx(&mut self, c: &FrameCtx) {
        self.u64(c.index);
        self.f64(c.time);
        self.f64(c.dt);
        self.f64(c.fps);
        self.u32(c.width);
        self.u32(c.height);
        self.u64(c.seed);
    }
    fn meta(&mut self, m: &FrameMeta) {
        self.u64(m.index);
        self.f64(m.time);
        self.f64(m.fps);
        self.u32(m.width);
        self.u32(m.height);
    }

    /// `request` as one message, length first.
    pub fn request(&mut self, request: &Request) -> &[u8] {
        match request {
            Request::Create { kind, init, config } => {
                self.begin(1);
                self.buf.push(kind_code(*kind));
                self.u32(init.width);
                self.u32(init.height);
                self.f64(init.fps);
                self.u64(init.seed);
                self.bytes(config.as_bytes());
            }
            Request::Map { len } => {
                self.begin(2);
                self.u64(*len);
            }
            Request::Render(c) => {
                self.begin(3);
                self.ctx(c);
            }
            Request::Process(c) => {
                self.begin(4);
                self.ctx(c);
            }
            Request::ProcessInto(c) => {
                self.begin(5);
                self.ctx(c);
            }
            Request::Record(m) => {
                self.begin(6);
                self.meta(m);
            }
            Request::Trigger(m) => {
                self.begin(7);
                self.meta(m);
            }
            Request::Finish => self.begin(8),
            Request::Snapshot => self.begin(9),
            Request::Restore(b) => {
                self.begin(10);
                self.bytes(b);
            }
            Request::Counters => self.begin(11),
        }
        self.end()
    }

    /// `reply` as one message, length first.
    pub fn reply(&mut self, reply: &Reply) -> &[u8] {
        match reply {
            Reply::Ok(events) => {
                self.begin(128);
                self.u32(*events);
            }
            Reply::Err(e) => {
                self.begin(129);
                self.buf.push(error_code(e.kind));
                match &e.field {
                    ROption::RSome(f) => {
                        self.buf.push(1);
                        self.bytes(f.as_bytes());
                    }
                    ROption::RNone => self.buf.push(0),
                }
                self.bytes(e.message.as_bytes());
            }
            Reply::Created { output, about } => {
                self.begin(130);
                match output {
                    Some((w, h)) => {
                        self.buf.push(1);
                        self.u32(*w);
                        self.u32(*h);
                    }
                    None => self.buf.push(0),
                }
                self.bytes(about.as_bytes());
            }
            Reply::State(state) => {
                self.begin(131);
                match state {
                    Some(b) => {
                        self.buf.push(1);
                        self.bytes(b);
                    }
                    None => self.buf.push(0),
                }
            }
            Reply::Counters(list) => {
                self.begin(132);
                self.u32(list.len() as u32);
                for (name, value) in list {
                    self.bytes(name.as_bytes());
                    self.u64(*value);
                }
            }
        }
        self.end()
    }
}

fn kind_code(kind: PluginKind) -> u8 {
    match kind {
        PluginKind::Renderer => 0,
        PluginKind::Processor => 1,
        PluginKind::Recorder => 2,
    }
}

const ERROR_KINDS: [ErrorKind; 6] = [
    ErrorKind::Config,
    ErrorKind::Unsupported,
    ErrorKind::Frame,
    ErrorKind::Io,
    ErrorKind::State,
    ErrorKind::Panic,
];

fn error_code(kind: ErrorKind) -> u8 {
    ERROR_KINDS.iter().position(|k| *k == kind).unwrap_or(2) as u8
}

/// Reads the fields of one message body, every read checked.
struct Fields<'a> {
    body: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Garbled> {
        if self.body.len() < n {
            return Err(garbled("a message ends early"));
        }
        let (head, rest) = self.body.split_at(n);
        self.body = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Garbled> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Garbled> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, Garbled> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn f64(&mut self) -> Result<f64, Garbled> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn bytes(&mut self) -> Result<&'a [u8], Garbled> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn text(&mut self) -> Result<String, Garbled> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| garbled("a text is not UTF-8"))
    }
    fn flag(&mut self) -> Result<bool, Garbled> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(garbled(format!("a flag reads {b}"))),
        }
    }
    fn ctx(&mut self) -> Result<FrameCtx, Garbled> {
        let (index, time, dt, fps) = (self.u64()?, self.f64()?, self.f64()?, self.f64()?);
        Ok(FrameCtx {
            index,
            time,
            dt,
            fps,
            width: self.u32()?,
            height: self.u32()?,
            seed: self.u64()?,
        })
    }
    fn meta(&mut self) -> Result<FrameMeta, Garbled> {
        Ok(FrameMeta {
            index: self.u64()?,
            time: self.f64()?,
            fps: self.f64()?,
            width: self.u32()?,
            height: self.u32()?,
        })
    }
    fn done(&self) -> Result<(), Garbled> {
        match self.body.len() {
            0 => Ok(()),
            n => Err(garbled(format!("{n} bytes follow a message"))),
        }
    }
}

/// The body of a request (after its length).
pub fn read_request(body: &[u8]) -> Result<Request, Garbled> {
    let mut f = Fields { body };
    let request = match f.u8()? {
        1 => {
            let kind = match f.u8()? {
                0 => PluginKind::Renderer,
                1 => PluginKind::Processor,
                2 => PluginKind::Recorder,
                k => return Err(garbled(format!("no kind {k}"))),
            };
            let init = InitCtx {
                width: f.u32()?,
                height: f.u32()?,
                fps: f.f64()?,
                seed: f.u64()?,
            };
            Request::Create {
                kind,
                init,
                config: f.text()?,
            }
        }
        2 => Request::Map { len: f.u64()? },
        3 => Request::Render(f.ctx()?),
        4 => Request::Process(f.ctx()?),
        5 => Request::ProcessInto(f.ctx()?),
        6 => Request::Record(f.meta()?),
        7 => Request::Trigger(f.meta()?),
        8 => Request::Finish,
        9 => Request::Snapshot,
        10 => Request::Restore(f.bytes()?.to_vec()),
        11 => Request::Counters,
        t => return Err(garbled(format!("no request {t}"))),
    };
    f.done()?;
    Ok(request)
}

/// The body of a reply (after its length).
pub fn read_reply(body: &[u8]) -> Result<Reply, Garbled> {
    let mut f = Fields { body };
    let reply = match f.u8()? {
        128 => Reply::Ok(f.u32()?),
        129 => {
            let kind = *ERROR_KINDS
                .get(f.u8()? as usize)
                .ok_or_else(|| garbled("no such error kind"))?;
            let field = if f.flag()? { Some(f.text()?) } else { None };
            let message = f.text()?;
            Reply::Err(PluginError {
                kind,
                message: RString::from(message),
                field: field.map(RString::from).into(),
            })
        }
        130 => {
            let output = if f.flag()? {
                Some((f.u32()?, f.u32()?))
            } else {
                None
            };
            Reply::Created {
                output,
                about: f.text()?,
            }
        }
        131 => Reply::State(if f.flag()? {
            Some(f.bytes()?.to_vec())
        } else {
            None
        }),
        132 => {
            let n = f.u32()? as usize;
            // Each counter takes at least 12 bytes: a count that cannot fit is garbage.
            if n > f.body.len() / 12 {
                return Err(garbled(format!("{n} counters in {} bytes", f.body.len())));
            }
            let mut list = Vec::with_capacity(n);
            for _ in 0..n {
                list.push((f.text()?, f.u64()?));
            }
            Reply::Counters(list)
        }
        t => return Err(garbled(format!("no reply {t}"))),
    };
    f.done()?;
    Ok(reply)
}

/// The length a message's first four bytes state, checked against [`MAX_MESSAGE`].
pub fn length(head: [u8; 4]) -> Result<usize, Garbled> {
    let n = u32::from_le_bytes(head) as usize;
    if n == 0 || n > MAX_MESSAGE {
        return Err(garbled(format!("a message of {n} bytes (at most {MAX_MESSAGE})")));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_request(r: Request) {
        let mut w = Writer::default();
        let bytes = w.request(&r).to_vec();
        let n = length(bytes[..4].try_into().unwrap()).unwrap();
        assert_eq!(n, bytes.len() - 4);
        assert_eq!(read_request(&bytes[4..]).unwrap(), r);
    }

    fn round_trip_reply(r: Reply) {
        let mut w = Writer::default();
        let bytes = w.reply(&r).to_vec();
        assert_eq!(read_reply(&bytes[4..]).unwrap(), r);
    }

    #[test]
    fn every_message_reads_back_as_written() {
        let init = InitCtx::new(256, 64, 60.0, 7);
        let ctx = FrameCtx::new(&init, 12);
        let meta = FrameMeta {
            index: 3,
            time: 0.05,
            fps: 60.0,
            width: 4,
            height: 2,
        };
        for r in [
            Request::Create {
                kind: PluginKind::Processor,
                init,
                config: "{\"zoom\":2}".into(),
            },
            Request::Map { len: 65536 },
            Request::Render(ctx),
            Request::Process(ctx),
            Request::ProcessInto(ctx),
            Request::Record(meta),
            Request::Trigger(meta),
            Request::Finish,
            Request::Snapshot,
            Request::Restore(vec![1, 2, 3]),
            Request::Counters,
        ] {
            round_trip_request(r);
        }
        for r in [
            Reply::Ok(5),
            Reply::Err(PluginError::config("zoom.speed", "too fast")),
            Reply::Err(PluginError::frame("no")),
            Reply::Created {
                output: Some((8, 4)),
                about: "{}".into(),
            },
            Reply::Created {
                output: None,
                about: String::new(),
            },
            Reply::State(Some(vec![9; 10])),
            Reply::State(None),
            Reply::Counters(vec![("misses".into(), 4), ("held".into(), 0)]),
        ] {
            round_trip_reply(r);
        }
    }

    #[test]
    fn garbage_is_refused_not_believed() {
        assert!(length([0xff; 4]).is_err());
        assert!(length([0; 4]).is_err());
        for body in [
            &[0xffu8; 64][..],
            &[128][..],
            &[128, 1, 0, 0, 0, 9][..],
            &[129, 77, 0, 0, 0, 0, 0][..],
            &[132, 0xff, 0xff, 0xff, 0x0f][..],
            &[131, 2][..],
        ] {
            assert!(read_reply(body).is_err(), "{body:?}");
        }
    }
}
