//! Recorders off the render thread: every recorder instance runs on a thread of its own, fed
//! through a bounded queue of pooled frame buffers.
//!
//! The render thread copies each finished frame into a free buffer of the recorder's pool and
//! queues it; the recorder's thread calls `record` and hands the buffer back. The pool *is* the
//! bound: a recorder holds at most `queue` frames, allocated when it is created, so recording
//! allocates nothing per frame. When every buffer is taken the frame is dropped and counted
//! ([`WhenFull::Drop`], the default) or the render thread waits ([`WhenFull::Wait`], for offline
//! renders that must keep every frame). A recorder that fails stops its thread; the render thread
//! sees that at its next frame and reports it once, and the scene goes on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::model::recording::{QueueSpec, WhenFull};
use marquee_plugin_api::abi_stable::std_types::{RResult, RSlice};
use marquee_plugin_api::{FrameMeta, PluginError, RecorderBox};

enum Job {
    Frame(FrameMeta, Vec<u8>),
    Trigger(FrameMeta),
    Finish,
}

/// What the recorder's thread reports back.
#[derive(Default)]
struct Shared {
    /// Frames recorded.
    written: AtomicU64,
    /// Frames taken off the queue (recorded or not).
    done: AtomicU64,
    /// Set when the recorder failed and its thread stopped.
    failed: AtomicBool,
    error: Mutex<Option<PluginError>>,
    /// The recorder's own counters, refreshed about once a second and at the end.
    counters: Mutex<Vec<(String, u64)>>,
}

/// What one recorder looked like at the end of a frame (for the metrics stream).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct RecorderSample {
    /// Frames queued or being recorded.
    pub queue: u32,
    /// Frames dropped so far because the queue was full.
    pub dropped: u64,
    /// Frames recorded so far.
    pub written: u64,
    /// Whether it has failed and stopped.
    pub failed: bool,
}

/// A recorder instance on its own thread: the render thread's handle to it.
pub struct RecorderThread {
    jobs: Option<SyncSender<Job>>,
    /// Free buffers coming back (a `Mutex` only to make the handle `Sync` for the ECS world;
    /// the render thread alone takes from it, so it is never contended).
    free: Mutex<Receiver<Vec<u8>>>,
    /// A buffer kept back when a control message filled the queue.
    spare: Option<Vec<u8>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<RResult<(), PluginError>>>,
    frames: usize,
    when_full: WhenFull,
    pending_trigger: Option<FrameMeta>,
    offered: u64,
    dropped: u64,
    describe: String,
    finish_deadline: std::time::Duration,
}

/// How long [`RecorderThread::finish`] waits for a recorder to take its last frames and finish
/// unless told otherwise: an encoder flushing a long video takes seconds, a hung one forever.
pub const FINISH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

impl std::fmt::Debug for RecorderThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderThread")
            .field("frames", &self.frames)
            .field("when_full", &self.when_full)
            .field("offered", &self.offered)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// Control messages (triggers, finish) the queue holds beyond its frames.
const CONTROL_SLOTS: usize = 4;

impl RecorderThread {
    /// Moves `object` onto a thread named after `id`, with a pool of `frames` buffers of
    /// `frame_bytes` each, allocated now. [`RecorderThread::finish`] gives it `finish_deadline`.
    pub fn spawn(
        id: &str,
        object: RecorderBox,
        (frame_bytes, frames): (usize, usize),
        when_full: WhenFull,
        finish_deadline: std::time::Duration,
    ) -> RecorderThread {
        let frames = QueueSpec::buffers(frames);
        let describe = object.describe().to_string();
        let (jobs, rx) = mpsc::sync_channel::<Job>(frames + CONTROL_SLOTS);
        let (free_tx, free) = mpsc::sync_channel::<Vec<u8>>(frames);
        for _ in 0..frames {
            free_tx
                .send(Vec::with_capacity(frame_bytes))
                .expect("the pool channel holds every buffer");
        }
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("marquee-rec-{id}"))
            .spawn(move || record_loop(object, rx, free_tx, &worker))
            .expect("a recorder thread starts");
        RecorderThread {
            jobs: Some(jobs),
            free: Mutex::new(free),
            spare: None,
            shared,
            thread: Some(thread),
            frames,
            when_full,
            pending_trigger: None,
            offered: 0,
            dropped: 0,
            describe,
            finish_deadline,
        }
    }

    /// What the recorder said about itself when created (a JSON object, or empty).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Asks for a clip around the frame `meta`; delivered before the next frame, never dropped.
    pub fn trigger(&mut self, meta: FrameMeta) {
        self.pending_trigger = Some(meta);
        self.flush_trigger();
    }

    fn flush_trigger(&mut self) {
        let (Some(jobs), Some(meta)) = (&self.jobs, self.pending_trigger) else {
            return;
        };
        match jobs.try_send(Job::Trigger(meta)) {
            Ok(()) => self.pending_trigger = None,
            // Full: it stays pending and goes with the next frame.
            Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => self.jobs = None,
        }
    }

    /// Queues a copy of `frame`; never waits with [`WhenFull::Drop`]. Returns the error the
    /// recorder stopped with, once, when its thread has failed.
    pub fn offer(&mut self, meta: &FrameMeta, frame: &[u8]) -> Option<PluginError> {
        if let Some(e) = self.take_error() {
            return Some(e);
        }
        // Stopped (finished, or its thread gone): nothing more to deliver.
        self.jobs.as_ref()?;
        self.flush_trigger();
        let free = self.free.get_mut().unwrap_or_else(|e| e.into_inner());
        let buffer = match self.spare.take().map_or_else(|| free.try_recv(), Ok) {
            Ok(b) => Some(b),
            Err(TryRecvError::Empty) => match self.when_full {
                WhenFull::Drop => None,
                WhenFull::Wait => free.recv().ok(),
            },
            Err(TryRecvError::Disconnected) => None,
        };
        let Some(mut buffer) = buffer else {
            // No buffer: the pool is empty, or the thread has stopped (then it says why, and
            // the frame was never the queue's to drop).
            if let Some(e) = self.take_error() {
                return Some(e);
            }
            self.dropped += 1;
            return None;
        };
        buffer.clear();
        buffer.extend_from_slice(frame);
        let jobs = self.jobs.as_ref().expect("checked above");
        match jobs.try_send(Job::Frame(*meta, buffer)) {
            Ok(()) => self.offered += 1,
            Err(TrySendError::Full(Job::Frame(_, b))) => {
                self.dropped += 1;
                self.spare = Some(b);
            }
            Err(_) => {
                // The thread has stopped: it failed (and says why) or was finished.
                self.jobs = None;
                return self.take_error();
            }
        }
        None
    }

    fn take_error(&mut self) -> Option<PluginError> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        self.jobs = None;
        self.shared.error.lock().ok()?.take()
    }

    /// The queue depth and counts now.
    pub fn sample(&self) -> RecorderSample {
        let done = self.shared.done.load(Ordering::Acquire);
        RecorderSample {
            queue: self.offered.saturating_sub(done) as u32,
            dropped: self.dropped,
            written: self.shared.written.load(Ordering::Acquire),
            failed: self.shared.failed.load(Ordering::Acquire),
        }
    }

    /// The recorder's own counters as last reported (about once a second, and at the end).
    pub fn counters(&self) -> Vec<(String, u64)> {
        self.shared.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Delivers what is queued, finishes the recorder and waits for its thread, for at most the
    /// finish deadline: a recorder hung in `record` or `finish` is then left behind (its thread
    /// detached, its temporary file unfinished) and the error says so, so an exit never hangs.
    pub fn finish(&mut self) -> RResult<(), PluginError> {
        if let Some(e) = self.take_error() {
            return RResult::RErr(e);
        }
        let deadline = std::time::Instant::now() + self.finish_deadline;
        let late = |what: &str| {
            PluginError::io(format!(
                "it did not {what} within {:.0} s, so it was left unfinished (its temporary file remains)",
                self.finish_deadline.as_secs_f64()
            ))
        };
        // The render loop is over: waiting for room is fine now, up to the deadline.
        let send = |jobs: &SyncSender<Job>, mut job: Job| loop {
            match jobs.try_send(job) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return true,
                Err(TrySendError::Full(j)) if std::time::Instant::now() < deadline => {
                    job = j;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(TrySendError::Full(_)) => return false,
            }
        };
        let mut sent = true;
        if let (Some(jobs), Some(meta)) = (&self.jobs, self.pending_trigger.take()) {
            sent &= send(jobs, Job::Trigger(meta));
        }
        if let Some(jobs) = self.jobs.take() {
            sent &= send(&jobs, Job::Finish);
        }
        let Some(thread) = self.thread.take() else {
            return RResult::ROk(());
        };
        while sent && !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        if !thread.is_finished() {
            // Dropping the handle detaches the thread; the process ends without it.
            return RResult::RErr(late(if sent { "finish" } else { "take its last frames" }));
        }
        let result = match thread.join() {
            Ok(result) => result,
            Err(_) => RResult::RErr(PluginError::frame("the recorder's thread panicked")),
        };
        match (result, self.take_error()) {
            (_, Some(e)) => RResult::RErr(e),
            (r, None) => r,
        }
    }
}

impl Drop for RecorderThread {
    fn drop(&mut self) {
        // Not finished: close the queue; the thread drops the recorder, which abandons its
        // temporary files instead of renaming them into place.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn record_loop(
    mut object: RecorderBox,
    jobs: Receiver<Job>,
    free: SyncSender<Vec<u8>>,
    shared: &Shared,
) -> RResult<(), PluginError> {
    let refresh = |object: &RecorderBox| {
        let list = object.counters();
        if let Ok(mut c) = shared.counters.lock() {
            c.clear();
            c.extend(list.iter().map(|c| (c.name.to_string(), c.value)));
        }
    };
    let fail = |e: PluginError| {
        if let Ok(mut slot) = shared.error.lock() {
            *slot = Some(e);
        }
        shared.failed.store(true, Ordering::Release);
    };
    let mut since_refresh = 0u64;
    for job in jobs.iter() {
        let result = match job {
            Job::Frame(meta, buffer) => {
                let result = object.record(&meta, RSlice::from_slice(&buffer));
                // Counted before the buffer goes back, so that a sample never sees more frames
                // in flight than the pool holds.
                if result.is_ok() {
                    shared.written.fetch_add(1, Ordering::AcqRel);
                }
                shared.done.fetch_add(1, Ordering::AcqRel);
                let _ = free.send(buffer);
                since_refresh += 1;
                if since_refresh as f64 >= meta.fps {
                    since_refresh = 0;
                    refresh(&object);
                }
                result
            }
            Job::Trigger(meta) => {
                let result = object.trigger(&meta);
                refresh(&object);
                result
            }
            Job::Finish => {
                let result = object.finish();
                refresh(&object);
                return result;
            }
        };
        if let RResult::RErr(e) = result {
            refresh(&object);
            fail(e);
            // Stops here: dropping the recorder abandons its temporary files.
            return RResult::ROk(());
        }
    }
    RResult::ROk(())
}
