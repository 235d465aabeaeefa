//! A running show's remote control, apart from how requests arrive (`serve/` is one way): the
//! commands a live run takes from outside, on a bounded queue its loop drains once per frame,
//! and its status, published as a snapshot readers copy.
//!
//! The render thread never waits for a reader: it publishes with `try_lock` (a frame whose
//! snapshot a reader is copying is published with the next one instead), and a full queue
//! refuses the command at once ([`Remote::send`]) rather than blocking the sender or growing.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::output::Control;

/// Commands waiting for the live loop at most; more are refused until it drains them.
pub const QUEUE: usize = 64;
/// Frame times kept for the status's percentiles (about four seconds at 60 fps).
pub const WINDOW: usize = 256;
/// Failure messages the status keeps, the latest.
pub const LAST_FAILURES: usize = 8;
/// Frames between two refreshes of the status's counters (reading them allocates).
pub const COUNTERS_EVERY: u64 = 30;

/// What a live run can be told from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// What a key does.
    Control(Control),
    /// Pause (`true`) or go on (`false`); already so: nothing changes.
    Pause(bool),
    /// Deliver frames to recorders (`true`) or stop (`false`).
    Recording(bool),
    /// The outputs' brightness, 0 (dark) to 255 (as made: `compose::brightness`).
    Brightness(u8),
    /// Go to this playlist entry (counting from 0).
    Entry(usize),
}

/// Why a command was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The queue is full: the show is behind on commands.
    #[error("the show has {QUEUE} commands waiting; try again")]
    Busy,
    /// The run has ended.
    #[error("the show has ended")]
    Ended,
}

/// How long [`Remote::configure`] waits for the show to apply a change.
pub const CONFIGURE_WAIT: Duration = Duration::from_secs(5);

/// A change to a layer's config, and where its outcome goes.
#[derive(Debug)]
pub struct Configure {
    /// The layer's id.
    pub layer: String,
    /// The fields to change, with their new values.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The outcome: applied, or why not.
    pub reply: SyncSender<Result<(), String>>,
}

/// Why a layer change did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotConfigured {
    /// The change was not taken (the queue is full, the show has ended).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The show refused it: an unknown layer or field, a value the plugin does not take.
    #[error("{0}")]
    Invalid(String),
    /// No answer within [`CONFIGURE_WAIT`].
    #[error("the show did not answer within {} s", CONFIGURE_WAIT.as_secs())]
    TimedOut,
}

/// A layer of the scene playing, as a reader gets it (`GET /api/layers`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerView {
    /// The layer's id.
    pub id: String,
    /// Its plugin.
    pub plugin: String,
    /// Its config now.
    pub config: serde_json::Value,
    /// The JSON Schema of its plugin's config (what a form for it offers).
    pub schema: serde_json::Value,
}

/// The sending side: what a server holds.
#[derive(Debug, Clone)]
pub struct Remote {
    commands: SyncSender<Command>,
    configures: SyncSender<Configure>,
    board: Arc<Board>,
}

/// The live loop's side.
#[derive(Debug)]
pub struct Controlled {
    commands: Receiver<Command>,
    configures: Receiver<Configure>,
    board: Arc<Board>,
}

/// A remote control and the run it controls.
pub fn remote() -> (Remote, Controlled) {
    let (tx, rx) = sync_channel(QUEUE);
    let (ctx, crx) = sync_channel(QUEUE);
    let board = Arc::new(Board::default());
    (
        Remote {
            commands: tx,
            configures: ctx,
            board: Arc::clone(&board),
        },
        Controlled {
            commands: rx,
            configures: crx,
            board,
        },
    )
}

impl Remote {
    /// Queues `command` for the next frame, never waiting.
    pub fn send(&self, command: Command) -> Result<(), Refused> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Busy,
            TrySendError::Disconnected(_) => Refused::Ended,
        })
    }

    /// The show's status as last published.
    pub fn status(&self) -> StatusView {
        self.board.lock().view()
    }

    /// The layers of the scene playing, as last published.
    pub fn layers(&self) -> Vec<LayerView> {
        self.board
            .layers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks the show to change `fields` of layer `layer`'s config, and waits (up to
    /// [`CONFIGURE_WAIT`]) for it to check and apply them, or say why not.
    pub fn configure(
        &self,
        layer: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), NotConfigured> {
        let (reply, outcome) = sync_channel(1);
        let request = Configure {
            layer: layer.to_string(),
            fields,
            reply,
        };
        self.configures.try_send(request).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Busy,
            TrySendError::Disconnected(_) => Refused::Ended,
        })?;
        match outcome.recv_timeout(CONFIGURE_WAIT) {
            Ok(result) => result.map_err(NotConfigured::Invalid),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(NotConfigured::TimedOut),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(Refused::Ended.into()),
        }
    }
}

impl Controlled {
    /// The next command waiting, if any.
    pub fn next_command(&self) -> Option<Command> {
        self.commands.try_recv().ok()
    }

    /// The next layer change waiting, if any.
    pub fn next_configure(&self) -> Option<Configure> {
        self.configures.try_recv().ok()
    }

    /// Publishes the layers of the scene playing, unless a reader is copying them right now:
    /// then they come back, to publish with a later frame. Never waits.
    pub fn publish_layers(&self, layers: Vec<LayerView>) -> Result<(), Vec<LayerView>> {
        match self.board.layers.try_lock() {
            Ok(mut held) => {
                *held = layers;
                Ok(())
            }
            Err(_) => Err(layers),
        }
    }

    /// Updates the status with `update`, unless a reader is copying it right now (then the
    /// next frame's update carries the news). Never waits.
    pub fn publish(&self, update: impl FnOnce(&mut Status)) {
        if let Ok(mut status) = self.board.status.try_lock() {
            update(&mut status);
        }
    }
}

/// Where the status lives.
#[derive(Debug, Default)]
struct Board {
    status: Mutex<Status>,
    layers: Mutex<Vec<LayerView>>,
}

impl Board {
    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The status as the live loop keeps it: the figures readers get ([`StatusView`], reached
/// through `Deref`), updated in place each frame, and the frame times behind their
/// percentiles. Allocates only when something new happens (an entry, an output, a failure).
#[derive(Debug, Clone, Default)]
pub struct Status {
    figures: StatusView,
    /// The last [`WINDOW`] frame times (microseconds), a ring.
    times_us: Vec<u32>,
    /// Where the next frame time goes in the ring.
    next_time: usize,
}

impl std::ops::Deref for Status {
    type Target = StatusView;
    fn deref(&self) -> &StatusView {
        &self.figures
    }
}

impl std::ops::DerefMut for Status {
    fn deref_mut(&mut self) -> &mut StatusView {
        &mut self.figures
    }
}

impl Status {
    /// Records one frame's time in the ring (allocates once, to fill the ring).
    pub fn frame_time(&mut self, d: Duration) {
        let us = d.as_micros().min(u32::MAX as u128) as u32;
        if self.times_us.len() < WINDOW {
            self.times_us.reserve_exact(WINDOW - self.times_us.len());
            self.times_us.push(us);
        } else {
            self.times_us[self.next_time] = us;
        }
        self.next_time = (self.next_time + 1) % WINDOW;
    }

    /// Records a failure's message.
    pub fn failure(&mut self, message: String) {
        self.figures.failures += 1;
        let last = &mut self.figures.last_failures;
        if last.len() == LAST_FAILURES {
            last.remove(0);
        }
        last.push(message);
    }

    /// What a reader sees: the figures, with percentiles of the frame times kept.
    fn view(&self) -> StatusView {
        let mut times = self.times_us.clone();
        times.sort_unstable();
        let at = |q: f64| -> f64 {
            match times.len() {
                0 => 0.0,
                n => times[((n - 1) as f64 * q).round() as usize] as f64 / 1e3,
            }
        };
        StatusView {
            frame_ms: Percentiles {
                p50: at(0.5),
                p95: at(0.95),
                p99: at(0.99),
                frames: times.len(),
            },
            ..self.figures.clone()
        }
    }
}

/// The status as a reader gets it (`GET /api/status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusView {
    /// The show's name.
    pub show: String,
    /// The playlist entry playing (0 for a scene).
    pub entry: usize,
    /// The scene each entry shows, in the playlist's order (one for a scene).
    pub entries: Vec<String>,
    /// The scene playing.
    pub scene: String,
    /// The last frame made.
    pub frame: u64,
    /// Frames per second the show asks for.
    pub target_fps: f64,
    /// Whether it is paused.
    pub paused: bool,
    /// Whether recorders get frames.
    pub recording: bool,
    /// The outputs' brightness, 0 to 1 (recorders get frames as made).
    pub brightness: f64,
    /// Time to make a frame over the last [`WINDOW`] frames.
    pub frame_ms: Percentiles,
    /// Frames skipped behind the clock so far.
    pub skipped: u64,
    /// Frames over budget so far.
    pub overruns: u64,
    /// Frames made per second of clock time so far (pauses excluded).
    pub fps: f64,
    /// Each output.
    pub outputs: Vec<OutputView>,
    /// Each recorder of the scene playing: frames written, dropped, queued.
    pub recorders: Vec<RecorderView>,
    /// The instances' counters (an image sequence's missed frames, a recorder's clips, an
    /// isolated instance's restarts), as `owner.name`, refreshed every [`COUNTERS_EVERY`]
    /// frames.
    pub counters: std::collections::BTreeMap<String, u64>,
    /// Failures so far.
    pub failures: u64,
    /// The latest [`LAST_FAILURES`] failures' messages, oldest first.
    pub last_failures: Vec<String>,
}

/// Percentiles of the frame times kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median, in milliseconds.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Over this many frames.
    pub frames: usize,
}

/// One recorder in the status.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecorderView {
    /// Its id.
    pub id: String,
    /// Frames recorded so far.
    pub written: u64,
    /// Frames dropped so far because its queue was full.
    pub dropped: u64,
    /// Frames queued or being recorded.
    pub queue: u32,
    /// Whether it has failed and stopped.
    pub failed: bool,
}

/// One output in the status.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutputView {
    /// Its name.
    pub name: String,
    /// Frames shown (sent) so far.
    pub shown: u64,
    /// Frames it dropped so far.
    pub dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_at_once_and_an_ended_run_says_so() {
        let (remote, run) = remote();
        for _ in 0..QUEUE {
            remote.send(Command::Pause(true)).unwrap();
        }
        assert_eq!(remote.send(Command::Pause(false)), Err(Refused::Busy));
        assert_eq!(run.next_command(), Some(Command::Pause(true)));
        remote.send(Command::Pause(false)).unwrap();
        drop(run);
        assert_eq!(remote.send(Command::Pause(false)), Err(Refused::Ended));
    }

    #[test]
    fn publishing_never_waits_for_a_reader() {
        let (remote, run) = remote();
        run.publish(|s| s.frame = 1);
        let held = remote.board.lock();
        // A reader holds the status: this frame's update is skipped, not waited for.
        run.publish(|s| s.frame = 2);
        drop(held);
        assert_eq!(remote.status().frame, 1);
        run.publish(|s| s.frame = 3);
        assert_eq!(remote.status().frame, 3);
    }

    #[test]
    fn percentiles_come_from_the_last_frames() {
        let mut s = Status::default();
        for ms in 1..=(WINDOW as u64 + 100) {
            s.frame_time(Duration::from_millis(ms));
        }
        assert_eq!(s.times_us.len(), WINDOW);
        assert_eq!(s.next_time, 100);
        let v = s.view();
        assert_eq!(v.frame_ms.frames, WINDOW);
        // The oldest 100 were overwritten: the least kept is 101 ms.
        assert_eq!(v.frame_ms.p50, 101.0 + ((WINDOW - 1) as f64 * 0.5).round());
        assert_eq!(v.frame_ms.p99, 101.0 + ((WINDOW - 1) as f64 * 0.99).round());
        for i in 0..LAST_FAILURES + 2 {
            s.failure(format!("f{i}"));
        }
        assert_eq!(s.failures, LAST_FAILURES as u64 + 2);
        assert_eq!(s.last_failures.first().unwrap(), "f2");
    }
}
