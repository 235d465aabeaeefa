//! The metrics stream: one JSON object per line, to a file or a loopback TCP socket, written by
//! a thread of its own behind a bounded queue so that the render loop never waits for it.
//!
//! Lines:
//! - first `{"type":"start", "show":…, "fps":…, "width":…, "height":…, "outputs":[…],
//!   "choice":…}`;
//! - `{"type":"layers","ids":[…]}` whenever the set of layers changes (a playlist's next scene);
//! - `{"type":"recorders","recorders":[{"id":…,"plugin":…,"info":{…}}]}` with it: what each
//!   recorder chose at creation (a video recorder's codec, and why it skipped the others);
//! - per frame (or every N frames) `{"type":"frame","frame":…,"ms":…,"sets_ms":{…},
//!   "layers_ms":[…],"outputs":[{"queue":…,"dropped":…}],"recorders":[{"queue":…,
//!   "dropped":…,"written":…,"failed":…}],"skipped":…,"overruns":…,"allocations":…}`, the
//!   layer times in the order of the last `layers` line, the recorders in that of the last
//!   `recorders` line;
//! - last `{"type":"end","frames":…,"lines_dropped":…}`.
//!
//! Frame records are recycled between the two threads: a steady stream allocates nothing.

use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine::SET_NAMES;
use crate::record::thread::RecorderSample;

/// Lines the queue holds before it drops (about four seconds at 1,000 frames per second).
pub const QUEUE: usize = 4096;

/// How long the end of a run waits for the writer to deliver what is queued: a reader that has
/// stopped reading is then cut off (a socket is shut down) and what it missed is reported.
pub const FINISH_DEADLINE: Duration = Duration::from_secs(5);

/// Where the stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// A regular file, created or truncated (FIFOs and devices are refused).
    File(PathBuf),
    /// A TCP listener on this machine.
    Tcp(SocketAddr),
}

impl Sink {
    /// Parses `tcp://127.0.0.1:PORT` (loopback only) or a file path.
    pub fn parse(text: &str) -> Result<Sink, String> {
        match text.strip_prefix("tcp://") {
            Some(addr) => {
                let addr: SocketAddr = addr
                    .parse()
                    .map_err(|e| format!("`{addr}` is not an address like 127.0.0.1:9000: {e}"))?;
                if !addr.ip().is_loopback() {
                    return Err(format!(
                        "metrics go to this machine only; {} is not a loopback address (use 127.0.0.1 or ::1)",
                        addr.ip()
                    ));
                }
                Ok(Sink::Tcp(addr))
            }
            None => Ok(Sink::File(PathBuf::from(text))),
        }
    }

    /// Opens it and starts a stream into it; a socket can be cut off at the finish deadline.
    pub fn open(&self) -> io::Result<MetricsStream> {
        Ok(match self {
            Sink::File(path) => {
                MetricsStream::start(Box::new(marquee_plugin_api::files::create_regular(path)?))
            }
            Sink::Tcp(addr) => {
                let stream = TcpStream::connect_timeout(addr, Duration::from_secs(2))?;
                stream.set_nodelay(true)?;
                let cut = stream.try_clone()?;
                let mut metrics = MetricsStream::start(Box::new(stream));
                metrics.cut = Some(cut);
                metrics
            }
        })
    }
}

/// What one output looked like at the end of a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputSample {
    /// Frames waiting in its handoff.
    pub queue: u32,
    /// Frames it has dropped so far.
    pub dropped: u64,
}

/// One frame's figures. Reused: fill it in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameRecord {
    /// Frame index.
    pub frame: u64,
    /// Time to make the frame.
    pub total: Duration,
    /// Time per frame set.
    pub sets: [Duration; 6],
    /// Time per layer, in the order of the last layer list sent.
    pub layers: Vec<Duration>,
    /// One per output.
    pub outputs: Vec<OutputSample>,
    /// One per recorder, in the order of the last `recorders` line.
    pub recorders: Vec<RecorderSample>,
    /// Frames skipped behind the clock so far.
    pub skipped: u64,
    /// Frames over budget so far.
    pub overruns: u64,
    /// Heap allocations made while making this frame (`None` where they are not counted).
    pub allocations: Option<u64>,
}

enum Message {
    Text(String),
    Frame(Box<FrameRecord>),
}

/// What the stream did, once finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// Lines written.
    pub written: u64,
    /// Lines dropped because the queue was full.
    pub dropped: u64,
}

/// The writing end: [`MetricsStream::frame`] never waits.
pub struct MetricsStream {
    tx: Option<SyncSender<Message>>,
    spare: Receiver<Box<FrameRecord>>,
    kept: Option<Box<FrameRecord>>,
    thread: Option<JoinHandle<io::Result<u64>>>,
    /// The socket to shut down if its reader stops reading.
    cut: Option<TcpStream>,
    dropped: u64,
    frames: u64,
}

impl std::fmt::Debug for MetricsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsStream")
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// The `recorders` line: each recorder's id, plugin and what it said about itself when created
/// (a JSON object such as the codec a video recorder chose, or `{}`).
pub fn recorders_line(recorders: &[(String, String, String)]) -> String {
    let list: Vec<serde_json::Value> = recorders
        .iter()
        .map(|(id, plugin, info)| {
            let info = match info.trim() {
                "" => serde_json::json!({}),
                text => serde_json::from_str::<serde_json::Value>(text)
                    .unwrap_or_else(|_| serde_json::json!({ "text": text })),
            };
            serde_json::json!({ "id": id, "plugin": plugin, "info": info })
        })
        .collect();
    serde_json::json!({ "type": "recorders", "recorders": list }).to_string()
}

/// Escapes `s` as a JSON string.
pub fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn write_frame(out: &mut impl Write, r: &FrameRecord) -> io::Result<()> {
    write!(
        out,
        "{{\"type\":\"frame\",\"frame\":{},\"ms\":{:.4},\"sets_ms\":{{",
        r.frame,
        ms(r.total)
    )?;
    for (i, (name, d)) in SET_NAMES.iter().zip(&r.sets).enumerate() {
        write!(out, "{}\"{name}\":{:.4}", if i > 0 { "," } else { "" }, ms(*d))?;
    }
    write!(out, "}},\"layers_ms\":[")?;
    for (i, d) in r.layers.iter().enumerate() {
        write!(out, "{}{:.4}", if i > 0 { "," } else { "" }, ms(*d))?;
    }
    write!(out, "],\"outputs\":[")?;
    for (i, o) in r.outputs.iter().enumerate() {
        write!(
            out,
            "{}{{\"queue\":{},\"dropped\":{}}}",
            if i > 0 { "," } else { "" },
            o.queue,
            o.dropped
        )?;
    }
    write!(out, "],\"recorders\":[")?;
    for (i, o) in r.recorders.iter().enumerate() {
        write!(
            out,
            "{}{{\"queue\":{},\"dropped\":{},\"written\":{},\"failed\":{}}}",
            if i > 0 { "," } else { "" },
            o.queue,
            o.dropped,
            o.written,
            o.failed
        )?;
    }
    write!(out, "],\"skipped\":{},\"overruns\":{}", r.skipped, r.overruns)?;
    match r.allocations {
        Some(a) => writeln!(out, ",\"allocations\":{a}}}"),
        None => writeln!(out, ",\"allocations\":null}}"),
    }
}

impl MetricsStream {
    /// Starts a stream into `sink`; its first line should be the `start` line.
    pub fn start(sink: Box<dyn Write + Send>) -> MetricsStream {
        MetricsStream::with_queue(sink, QUEUE)
    }

    /// The same with a queue of `capacity` lines.
    pub fn with_queue(sink: Box<dyn Write + Send>, capacity: usize) -> MetricsStream {
        let (tx, rx) = mpsc::sync_channel::<Message>(capacity);
        let (spare_tx, spare) = mpsc::channel::<Box<FrameRecord>>();
        let thread = std::thread::Builder::new()
            .name("marquee-metrics".into())
            .spawn(move || -> io::Result<u64> {
                let mut out = BufWriter::with_capacity(64 * 1024, sink);
                let mut written = 0;
                loop {
                    // Flush when the queue runs dry, so a reader sees lines promptly.
                    let message = match rx.try_recv() {
                        Ok(m) => m,
                        Err(mpsc::TryRecvError::Empty) => {
                            out.flush()?;
                            match rx.recv() {
                                Ok(m) => m,
                                Err(_) => break,
                            }
                        }
                        Err(mpsc::TryRecvError::Disconnected) => break,
                    };
                    match message {
                        Message::Text(line) => writeln!(out, "{line}")?,
                        Message::Frame(record) => {
                            write_frame(&mut out, &record)?;
                            let _ = spare_tx.send(record);
                        }
                    }
                    written += 1;
                }
                out.flush()?;
                Ok(written)
            })
            .expect("the metrics thread starts");
        MetricsStream {
            tx: Some(tx),
            spare,
            kept: None,
            thread: Some(thread),
            cut: None,
            dropped: 0,
            frames: 0,
        }
    }

    fn send(&mut self, message: Message) {
        let Some(tx) = &self.tx else {
            // The writer stopped: the line is lost, and counted.
            self.dropped += 1;
            return;
        };
        match tx.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(m)) => {
                self.dropped += 1;
                if let Message::Frame(record) = m {
                    self.kept = Some(record);
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                // The writer stopped (its sink failed): everything from now on is lost.
                self.dropped += 1;
                self.tx = None;
            }
        }
    }

    /// Sends a line of text as it is (a JSON object, such as a `layers` line).
    pub fn line(&mut self, json: String) {
        self.send(Message::Text(json));
    }

    /// Queues one frame's record, filled by `fill` in a recycled buffer; never waits. If the
    /// queue is full the line is dropped and counted.
    pub fn frame(&mut self, fill: impl FnOnce(&mut FrameRecord)) {
        let mut record = self
            .kept
            .take()
            .or_else(|| self.spare.try_recv().ok())
            .unwrap_or_default();
        fill(&mut record);
        self.frames += 1;
        self.send(Message::Frame(record));
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Writes the `end` line, waits for the writer (at most [`FINISH_DEADLINE`]) and returns
    /// what it did.
    pub fn finish(self) -> io::Result<StreamReport> {
        self.finish_within(FINISH_DEADLINE)
    }

    /// [`MetricsStream::finish`] with a deadline of `limit`. Past it, a socket is shut down and
    /// the writer given a moment to notice; a writer still stuck (a file on a hung disk) is left
    /// behind. Either way the error says so.
    pub fn finish_within(mut self, limit: Duration) -> io::Result<StreamReport> {
        let deadline = Instant::now() + limit;
        let end = format!(
            "{{\"type\":\"end\",\"frames\":{},\"lines_dropped\":{}}}",
            self.frames, self.dropped
        );
        if let Some(tx) = self.tx.take() {
            // The end line may wait for room, until the deadline.
            let mut end = Message::Text(end);
            loop {
                match tx.try_send(end) {
                    Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                        end = m;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => break,
                }
            }
        }
        if !self.wait_for_writer(deadline) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "its reader did not take the last lines within {:.0?}, so it was cut off; {} lines dropped before that",
                    limit, self.dropped
                ),
            ));
        }
        let written = match self.thread.take().map(|t| t.join()) {
            Some(Ok(Ok(written))) => written,
            Some(Ok(Err(e))) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e}; {} lines dropped after it", self.dropped),
                ));
            }
            _ => return Err(io::Error::other("the metrics thread panicked")),
        };
        Ok(StreamReport {
            written,
            dropped: self.dropped,
        })
    }
}

impl MetricsStream {
    /// Waits until the writer has ended or `deadline` has passed; then shuts a socket down and
    /// waits one more second. A writer still stuck after that is left behind (it ends with the
    /// process). True if the writer ended in time.
    fn wait_for_writer(&mut self, deadline: Instant) -> bool {
        let Some(t) = &self.thread else { return true };
        let ended = |until| {
            while !t.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            t.is_finished()
        };
        if ended(deadline) {
            return true;
        }
        if let Some(socket) = &self.cut {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        if !ended(Instant::now() + Duration::from_secs(1)) {
            self.thread = None;
        }
        false
    }
}

impl Drop for MetricsStream {
    fn drop(&mut self) {
        self.tx = None;
        self.wait_for_writer(Instant::now() + FINISH_DEADLINE);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_are_files_or_loopback_sockets() {
        assert_eq!(Sink::parse("m.jsonl"), Ok(Sink::File("m.jsonl".into())));
        assert!(matches!(Sink::parse("tcp://127.0.0.1:9000"), Ok(Sink::Tcp(_))));
        let e = Sink::parse("tcp://10.0.0.1:9000").unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        assert!(Sink::parse("tcp://nowhere").is_err());
    }

    #[test]
    fn frame_lines_are_json() {
        let mut out = Vec::new();
        let r = FrameRecord {
            frame: 3,
            total: Duration::from_micros(150),
            layers: vec![Duration::from_micros(100)],
            outputs: vec![OutputSample { queue: 1, dropped: 2 }],
            allocations: Some(0),
            ..FrameRecord::default()
        };
        write_frame(&mut out, &r).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["frame"], 3);
        assert_eq!(v["ms"], 0.15);
        assert_eq!(v["sets_ms"]["render"], 0.0);
        assert_eq!(v["layers_ms"][0], 0.1);
        assert_eq!(v["outputs"][0]["dropped"], 2);
        assert_eq!(v["allocations"], 0);
    }
}
