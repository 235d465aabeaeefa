//! The metrics stream: one JSON object per line, to a file or a loopback TCP socket, written by
//! a thread of its own behind a bounded queue so that the render loop never waits for it.
//!
//! Every line is a [`Line`], serialised one way (serde); `docs/metrics.schema.json` is its
//! JSON Schema (`marquee schema metrics` prints it; a test keeps the two equal and validates a
//! real run's lines against it). In order: a `start` line; a `layers` line (the layer ids) and
//! a `recorders` line (what each recorder chose at creation) whenever the scene changes (start,
//! reload, a playlist's next entry); a `frame` line per frame or every N frames, its layer
//! times in the order of the last `layers` line and its recorders in that of the last
//! `recorders` line; an `end` line.
//!
//! Changed when the lines became typed (issue 14): the frame set that hands frames to recorders
//! is `record` in `sets_ms` (it was `output`, a name the live outputs also had), and times are
//! written as the shortest number that reads back as the same value to 0.1 µs (`0.15`, not
//! `0.1500`), and a recorder's `info` is always an object (what it said about itself, or
//! `{"text": …}` when that was not a JSON object); every other key and value is as before.
//!
//! Frame records are recycled between the two threads: a steady stream allocates nothing.

use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

use crate::engine::{FrameSet, RecorderInfo, SetTimes};
use crate::isolate::watch::{Counts, Event};
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

/// What one output looked like at the end of a frame (counts since the start: rates are the
/// difference between two lines).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, JsonSchema)]
pub struct OutputSample {
    /// Frames waiting in its handoff.
    pub queue: u32,
    /// Frames it has dropped so far.
    pub dropped: u64,
    /// Frames it has shown (sent, for an LED output) so far.
    pub shown: u64,
    /// Milliseconds it has spent showing (sending) them so far.
    pub busy_ms: f64,
    /// LED outputs: packets sent so far.
    pub packets: u64,
    /// LED outputs: bytes of payload sent so far.
    pub bytes: u64,
    /// LED outputs: sends that failed so far.
    pub send_errors: u64,
}

/// One line of the metrics stream.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    /// The first line: what is running, and where it goes.
    Start(StartLine),
    /// The layers of the scene now showing, bottom first.
    Layers {
        /// Their ids.
        ids: Vec<String>,
    },
    /// The recorders of the scene now showing, in order, with what each chose at creation.
    Recorders {
        /// One per recorder.
        recorders: Vec<RecorderLine>,
    },
    /// One frame's figures.
    Frame(Box<FrameRecord>),
    /// The watchdog saw something of an isolated instance: one line per event.
    Watchdog(WatchdogLine),
    /// The last line.
    End {
        /// Frame lines sent (written or dropped).
        frames: u64,
        /// Lines dropped because the queue was full or the writer had stopped.
        lines_dropped: u64,
    },
}

/// The `start` line.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StartLine {
    /// The show's name.
    pub show: String,
    /// The file it was read from.
    pub path: String,
    /// Frames per second.
    pub fps: f64,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// A frame line every this many frames.
    pub every: u64,
    /// The outputs' names.
    pub outputs: Vec<String>,
    /// How the outputs were chosen.
    pub choice: String,
}

/// A `watchdog` line: one event of one isolated instance.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct WatchdogLine {
    /// `renderer`, `processor` or `recorder`.
    pub kind: String,
    /// The layer or stage id.
    pub id: String,
    /// Its plugin.
    pub plugin: String,
    /// The frame being made.
    pub frame: u64,
    /// `hung`, `died`, `garbled`, `restarted`, `swapped` or `disabled`.
    pub event: String,
    /// What happened, for people.
    pub text: String,
    /// The instance's counts after it.
    pub counts: Counts,
}

impl From<&Event> for WatchdogLine {
    fn from(e: &Event) -> WatchdogLine {
        WatchdogLine {
            kind: e.kind.to_string(),
            id: e.id.clone(),
            plugin: e.plugin.clone(),
            frame: e.frame,
            event: e.name().to_string(),
            text: e.to_string(),
            counts: e.counts,
        }
    }
}

/// A recorder in the `recorders` line.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RecorderLine {
    /// The recorder's id.
    pub id: String,
    /// Its plugin.
    pub plugin: String,
    /// What it said about itself when created (a video recorder's codec and why), `{}` if
    /// nothing, `{"text": …}` if what it said was not a JSON object.
    pub info: serde_json::Map<String, serde_json::Value>,
}

impl From<&RecorderInfo> for RecorderLine {
    fn from(r: &RecorderInfo) -> RecorderLine {
        let info = match r.about.trim() {
            "" => serde_json::Map::new(),
            text => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => serde_json::Map::from_iter([("text".to_string(), text.into())]),
            },
        };
        RecorderLine {
            id: r.id.clone(),
            plugin: r.plugin.clone(),
            info,
        }
    }
}

/// One frame's figures (times in milliseconds). Reused: fill it in place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct FrameRecord {
    /// Frame index.
    pub frame: u64,
    /// Time to make the frame.
    #[serde(rename = "ms", serialize_with = "ms")]
    #[schemars(with = "f64")]
    pub total: Duration,
    /// Time per frame set, by set name.
    #[serde(rename = "sets_ms", serialize_with = "sets_ms")]
    #[schemars(schema_with = "sets_schema")]
    pub sets: SetTimes,
    /// Time per layer, in the order of the last `layers` line.
    #[serde(rename = "layers_ms", serialize_with = "ms_list")]
    #[schemars(with = "Vec<f64>")]
    pub layers: Vec<Duration>,
    /// One per output.
    pub outputs: Vec<OutputSample>,
    /// One per recorder, in the order of the last `recorders` line.
    pub recorders: Vec<RecorderSample>,
    /// Frames skipped behind the clock so far.
    pub skipped: u64,
    /// Frames over budget so far.
    pub overruns: u64,
    /// Heap allocations made while making this frame (`null` where they are not counted).
    pub allocations: Option<u64>,
}

/// Milliseconds, to 0.1 µs.
fn to_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 1e4
}

fn ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(to_ms(*d))
}

fn ms_list<S: Serializer>(list: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(list.iter().map(|d| to_ms(*d)))
}

fn sets_ms<S: Serializer>(sets: &SetTimes, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(sets.iter().map(|(set, d)| (set.name(), to_ms(d))))
}

fn sets_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = FrameSet::ALL.iter().map(|s| s.name()).collect();
    let properties: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .map(|n| (n.to_string(), serde_json::json!({ "type": "number" })))
        .collect();
    schemars::json_schema!({
        "type": "object",
        "description": "Milliseconds per frame set, in run order.",
        "properties": properties,
        "required": names,
        "additionalProperties": false,
    })
}

/// The JSON Schema of a metrics line.
pub fn schema() -> serde_json::Value {
    marquee_plugin_api::config::schema_of::<Line>()
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
    tx: Option<SyncSender<Line>>,
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

impl MetricsStream {
    /// Starts a stream into `sink`; its first line should be the `start` line.
    pub fn start(sink: Box<dyn Write + Send>) -> MetricsStream {
        MetricsStream::with_queue(sink, QUEUE)
    }

    /// The same with a queue of `capacity` lines.
    pub fn with_queue(sink: Box<dyn Write + Send>, capacity: usize) -> MetricsStream {
        let (tx, rx) = mpsc::sync_channel::<Line>(capacity);
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
                    serde_json::to_writer(&mut out, &message)?;
                    out.write_all(b"\n")?;
                    if let Line::Frame(record) = message {
                        let _ = spare_tx.send(record);
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

    fn send(&mut self, message: Line) {
        let Some(tx) = &self.tx else {
            // The writer stopped: the line is lost, and counted.
            self.dropped += 1;
            return;
        };
        match tx.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(m)) => {
                self.dropped += 1;
                if let Line::Frame(record) = m {
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

    /// Sends a line (a `start`, `layers` or `recorders` line; frames go through
    /// [`MetricsStream::frame`], the `end` line through [`MetricsStream::finish`]).
    pub fn line(&mut self, line: Line) {
        self.send(line);
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
        self.send(Line::Frame(record));
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
        let end = Line::End {
            frames: self.frames,
            lines_dropped: self.dropped,
        };
        if let Some(tx) = self.tx.take() {
            // The end line may wait for room, until the deadline.
            let mut end = end;
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
            outputs: vec![OutputSample {
                queue: 1,
                dropped: 2,
                ..OutputSample::default()
            }],
            allocations: Some(0),
            ..FrameRecord::default()
        };
        serde_json::to_writer(&mut out, &Line::Frame(Box::new(r))).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "frame");
        assert_eq!(v["frame"], 3);
        assert_eq!(v["ms"], 0.15);
        assert_eq!(v["sets_ms"]["render"], 0.0);
        assert_eq!(v["layers_ms"][0], 0.1);
        assert_eq!(v["outputs"][0]["dropped"], 2);
        assert_eq!(v["allocations"], 0);
    }
}
