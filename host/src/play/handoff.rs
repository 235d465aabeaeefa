//! How a frame leaves the render loop for an output: a [`Handoff`] of two places that drops the
//! oldest waiting frame (and counts it) rather than wait, its buffers recycled; and
//! [`drive_output`], the output's own thread on the far side of it.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::model::budget::OUTPUT_BUFFERS;
use crate::output::{Control, OutputFactory, WireCounts};

/// One frame in a [`Handoff`].
#[derive(Debug, Default)]
pub struct Frame {
    /// Its index.
    pub index: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGBA8 pixels.
    pub pixels: Vec<u8>,
}

/// What [`Handoff::take`] found.
#[derive(Debug)]
pub enum Taken {
    /// The oldest frame waiting.
    Frame(Frame),
    /// Nothing arrived in time.
    Empty,
    /// The producer is done and every frame has been taken.
    Closed,
}

#[derive(Debug, Default)]
struct Places {
    waiting: VecDeque<Frame>,
    free: Vec<Vec<u8>>,
    published: u64,
    dropped: u64,
    closed: bool,
}

/// A two-place latest-frame handoff from the render loop to one output: publishing never waits
/// for the output; when both places are full the oldest frame is dropped and counted. Buffers
/// are recycled, so a steady run allocates nothing.
#[derive(Debug, Default)]
pub struct Handoff {
    places: Mutex<Places>,
    ready: Condvar,
    /// What the output thread reports back, read by the metrics without a lock.
    shown: AtomicU64,
    busy_ns: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
    send_errors: AtomicU64,
}

/// What an output's thread has done so far, as the render loop samples it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputCounts {
    /// Frames shown (sent, for an LED output).
    pub shown: u64,
    /// Time spent showing them, in nanoseconds.
    pub busy_ns: u64,
    /// Packets sent (LED outputs).
    pub packets: u64,
    /// Bytes of payload sent (LED outputs).
    pub bytes: u64,
    /// Sends that failed (LED outputs).
    pub send_errors: u64,
}

impl Handoff {
    /// Buffers a handoff holds, as the memory budget counts them.
    pub const BUFFERS: usize = OUTPUT_BUFFERS;
    /// Frames that may wait for the output: the buffers less the one being shown and the one
    /// being filled.
    pub const PLACES: usize = OUTPUT_BUFFERS - 2;

    /// An empty handoff.
    pub fn new() -> Self {
        Handoff::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Places> {
        // A panicking output thread poisons nothing we rely on: the data stays consistent.
        self.places.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `buffers` buffers of `bytes` bytes in the pool: enough for the two places, the frame
    /// being shown and the one being filled means publishing never allocates, even the first
    /// time an output holds on to a frame.
    pub fn reserve(&self, buffers: usize, bytes: usize) {
        let mut s = self.lock();
        s.waiting.reserve(Self::PLACES);
        while s.free.len() < buffers {
            s.free.push(Vec::with_capacity(bytes));
        }
    }

    /// Queues a copy of `pixels` as frame `index`, dropping the oldest waiting frame if both
    /// places are full. The copy is made outside the lock.
    pub fn publish(&self, index: u64, width: u32, height: u32, pixels: &[u8]) {
        let mut buf = self.lock().free.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(pixels);
        let mut s = self.lock();
        if s.waiting.len() >= Self::PLACES
            && let Some(old) = s.waiting.pop_front()
        {
            s.free.push(old.pixels);
            s.dropped += 1;
        }
        s.waiting.push_back(Frame {
            index,
            width,
            height,
            pixels: buf,
        });
        s.published += 1;
        drop(s);
        self.ready.notify_one();
    }

    /// The oldest waiting frame, waiting up to `timeout` for one.
    pub fn take(&self, timeout: Duration) -> Taken {
        let mut s = self.lock();
        if s.waiting.is_empty() && !s.closed {
            s = self
                .ready
                .wait_timeout_while(s, timeout, |s| s.waiting.is_empty() && !s.closed)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        match s.waiting.pop_front() {
            Some(f) => Taken::Frame(f),
            None if s.closed => Taken::Closed,
            None => Taken::Empty,
        }
    }

    /// Gives a frame's buffer back for reuse.
    pub fn recycle(&self, frame: Frame) {
        self.lock().free.push(frame.pixels);
    }

    /// Tells the output no more frames will come (those waiting are still delivered).
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Frames published so far.
    pub fn published(&self) -> u64 {
        self.lock().published
    }

    /// Frames dropped because the output was still busy.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Frames waiting now.
    pub fn depth(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Records what the output thread has done so far (called by it after each frame).
    pub fn report(&self, shown: u64, busy: Duration, wire: Option<WireCounts>) {
        self.shown.store(shown, Ordering::Relaxed);
        self.busy_ns.store(busy.as_nanos() as u64, Ordering::Relaxed);
        if let Some(w) = wire {
            self.packets.store(w.packets, Ordering::Relaxed);
            self.bytes.store(w.bytes, Ordering::Relaxed);
            self.send_errors.store(w.send_errors, Ordering::Relaxed);
        }
    }

    /// What the output thread has reported so far.
    pub fn counts(&self) -> OutputCounts {
        OutputCounts {
            shown: self.shown.load(Ordering::Relaxed),
            busy_ns: self.busy_ns.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
        }
    }
}

/// What one output thread did.
#[derive(Debug, Clone, Default)]
pub struct OutputReport {
    /// The output's name.
    pub name: String,
    /// Frames shown.
    pub shown: u64,
    /// Frames dropped before it could show them.
    pub dropped: u64,
    /// Time spent showing frames, in total.
    pub busy: Duration,
    /// The error that stopped it, if any.
    pub error: Option<String>,
    /// What the output counted, at the end.
    pub counters: Vec<(&'static str, u64)>,
}

/// Makes an output with `make` and runs it on the current thread until `handoff` closes: shows
/// each frame taken, passes controls on, and finishes the output at the end, also after an
/// error. An output that cannot start or fails asks the show to quit.
pub fn drive_output(
    make: OutputFactory,
    size: (u32, u32),
    handoff: &Handoff,
    status: &Mutex<String>,
    controls: &mpsc::Sender<Control>,
) -> OutputReport {
    let mut report = OutputReport {
        name: "output".into(),
        ..OutputReport::default()
    };
    let mut output = match make(size.0, size.1) {
        Ok(o) => o,
        Err(e) => {
            report.error = Some(format!("cannot start: {e}"));
            let _ = controls.send(Control::Quit);
            // Keep taking frames so the handoff closes normally.
            while !matches!(handoff.take(Duration::from_millis(20)), Taken::Closed) {}
            report.dropped = handoff.dropped();
            return report;
        }
    };
    report.name = output.name().to_string();
    let mut asked = Vec::new();
    let mut line = String::new();
    let result = (|| -> io::Result<()> {
        loop {
            // Wake at least every 20 ms for controls, sooner when the output has a frame due.
            let mut wait = Duration::from_millis(20);
            if let Some(at) = output.wake_at() {
                wait = wait.min(at.saturating_duration_since(Instant::now()));
            }
            match handoff.take(wait) {
                Taken::Frame(frame) => {
                    line.clear();
                    line.push_str(&status.lock().unwrap_or_else(|e| e.into_inner()));
                    let t0 = Instant::now();
                    let shown = output.show(&frame.pixels, frame.width, frame.height, &line);
                    report.busy += t0.elapsed();
                    report.shown += 1;
                    handoff.recycle(frame);
                    handoff.report(report.shown, report.busy, output.wire());
                    shown?;
                }
                Taken::Empty => {}
                Taken::Closed => return Ok(()),
            }
            output.poll(&mut asked)?;
            for c in asked.drain(..) {
                let _ = controls.send(c);
            }
        }
    })();
    if let Err(e) = result {
        report.error = Some(e.to_string());
        // The render loop stops when its outputs are gone.
        let _ = controls.send(Control::Quit);
        while !matches!(handoff.take(Duration::from_millis(20)), Taken::Closed) {}
    }
    if let Err(e) = output.finish() {
        report.error.get_or_insert(e.to_string());
    }
    report.counters = output.counters();
    report.dropped = handoff.dropped();
    report
}
