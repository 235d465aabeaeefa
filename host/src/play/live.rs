//! Running a show live: the render loop on the calling thread, each output on a thread of its
//! own fed through a [`Handoff`], pacing from a monotonic clock, keyboard controls, and hot
//! reload of edited scene files.
//!
//! Live time comes from the clock, not from the frame count: when rendering falls behind, the
//! frames whose time has passed are skipped (and counted), so animation keeps its speed. Traces
//! keep frame-index time. A slow output never stalls rendering: its handoff drops the oldest
//! waiting frame and counts it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use crate::compose::brightness;

mod remote;
use crate::engine::{Counter, EngineError, EngineOptions, Failure, RecorderReport};
use crate::isolate::watch::Event;
use crate::model::rig::Rig;
use crate::model::show::Show;
use crate::observe::metrics::{Line, MetricsStream, OutputSample, RecorderLine, StartLine, WatchdogLine};
use crate::output::{Control, OutputFactory};
use crate::play::control::{Command, Controlled};
use crate::play::handoff::{Handoff, OutputReport, drive_output};
use crate::play::player::{Player, Reloaded};
use crate::plugins::registry::Registry;

/// How to run live.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Engine settings.
    pub engine: EngineOptions,
    /// Keep to the show's frame rate (else as fast as possible, one frame after another).
    pub paced: bool,
    /// Stop after this many frames (counting skipped ones), if set.
    pub limit: Option<u64>,
    /// Watch the show's files and apply edits.
    pub reload: bool,
    /// Where screenshots go.
    pub screenshot_dir: PathBuf,
    /// LED outputs to drive besides `outputs` (`--rig`).
    pub rig: Option<Rig>,
}

/// What a live run reports about itself, besides frames.
#[derive(Debug, Default)]
pub struct Observe {
    /// The metrics stream, if one was asked for.
    pub metrics: Option<MetricsStream>,
    /// A metrics line every this many frames (at least 1).
    pub every: u64,
    /// Reads this thread's count of heap allocations so far, where the binary counts them.
    pub allocations: Option<fn() -> u64>,
    /// The outputs' names, for the `start` line.
    pub outputs: Vec<String>,
    /// How the outputs were chosen, for the `start` line.
    pub choice: String,
    /// A remote control (`--serve`): commands taken once per frame, the status published to it.
    pub remote: Option<Controlled>,
}

/// What a live run did.
#[derive(Debug, Default)]
pub struct LiveReport {
    /// Frames made.
    pub made: u64,
    /// Frames skipped because rendering fell behind the clock.
    pub skipped: u64,
    /// Frames that finished after their time.
    pub overruns: u64,
    /// Time spent making frames.
    pub render: Duration,
    /// Wall time of the run, pauses excluded.
    pub elapsed: Duration,
    /// Clock time from the first frame made to the last, pauses excluded: over it the show
    /// advanced `made + skipped − 1` frames, which gives the pacing error.
    pub span: Duration,
    /// One per output.
    pub outputs: Vec<OutputReport>,
    /// Plugin failures, reloads and their errors, screenshots: what happened, in order (each is
    /// also logged through `tracing` as it happens).
    pub log: Vec<LogLine>,
    /// The layers' and recorders' counters at the end.
    pub counters: Vec<Counter>,
    /// Failures reported by plugins.
    pub failures: Vec<Failure>,
    /// What the watchdog saw of isolated instances, in order.
    pub watchdog: Vec<Event>,
    /// Frame size.
    pub size: (u32, u32),
    /// The show's frame rate.
    pub target_fps: f64,
    /// What the metrics stream wrote and dropped.
    pub metrics: Option<crate::observe::metrics::StreamReport>,
    /// Why the metrics stream failed (a write error), if it did.
    pub metrics_error: Option<String>,
    /// Each recorder of the scene showing at the end: frames written, dropped, queued.
    pub recorders: Vec<RecorderReport>,
}

/// How much a line of the run's log matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// What happened (a reload, a screenshot).
    Info,
    /// Something failed and the show went on without it (a plugin, a recorder).
    Warning,
    /// Something asked for could not be done (a bad edit, a screenshot that could not be saved).
    Error,
}

/// One line of a live run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// How much it matters.
    pub severity: Severity,
    /// What happened.
    pub text: String,
}

impl LogLine {
    fn new(severity: Severity, text: impl Into<String>) -> LogLine {
        LogLine {
            severity,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.severity {
            Severity::Info => write!(f, "{}", self.text),
            Severity::Warning => write!(f, "warning: {}", self.text),
            Severity::Error => write!(f, "error: {}", self.text),
        }
    }
}

impl LiveReport {
    /// Logs `line` through `tracing` and keeps it.
    fn log(&mut self, line: LogLine) {
        match line.severity {
            Severity::Info => tracing::info!("{}", line.text),
            Severity::Warning => tracing::warn!("{}", line.text),
            Severity::Error => tracing::error!("{}", line.text),
        }
        self.log.push(line);
    }
}

/// The files a show is read from, with their modification times.
fn stamps(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

/// The most frames one step of a paced run skips to catch up with the clock.
pub const CATCH_UP_SLICE: u64 = 10_000;

/// Runs `show` live into `outputs` until it ends, the limit is reached, or someone quits.
/// `registry` is used to re-read edited files.
pub fn run(
    show: Show,
    registry: &Registry,
    outputs: Vec<OutputFactory>,
    options: &LiveOptions,
    mut observe: Observe,
) -> Result<LiveReport, EngineError> {
    let remote = observe.remote.take();
    // Paced frames make a real-time run: recorders drop what they cannot take, unless told.
    let options = &LiveOptions {
        engine: EngineOptions {
            realtime: options.paced,
            ..options.engine.clone()
        },
        ..options.clone()
    };
    let player = Player::new(&show, &options.engine)?;
    let size = player.frame_size();
    let mut outputs = outputs;
    if let Some(rig) = &options.rig {
        // The rig's regions must lie inside the frames the show makes.
        let regions = rig.check_frame(size.0, size.1)?;
        for (spec, region) in rig.outputs.iter().zip(regions) {
            tracing::info!(
                "output: {} `{}` ({}×{} pixels at {}, {} of the frame; rig {})",
                spec.protocol.as_str(),
                spec.id,
                region.width,
                region.height,
                region.x,
                region.y,
                rig.name
            );
            observe
                .outputs
                .push(format!("{} {}", spec.protocol.as_str(), spec.id));
            outputs.push(crate::output::led::factory(spec.clone(), region));
        }
    }
    let handoffs: Vec<Handoff> = outputs.iter().map(|_| Handoff::new()).collect();
    for h in &handoffs {
        h.reserve(Handoff::BUFFERS, size.0 as usize * size.1 as usize * 4);
    }
    let status = Mutex::new(format!(
        "{} · space pause · n/p entry · s screenshot · r record · c clip · q quit",
        show.name()
    ));
    let (tx, rx) = mpsc::channel();
    let mut report = LiveReport {
        size,
        target_fps: show.fps(),
        ..LiveReport::default()
    };
    let mut live = Live {
        io: Io {
            registry,
            handoffs: &handoffs,
            status: &status,
            controls: &rx,
            remote: remote.as_ref(),
            options,
        },
        watch: Watch::new(&show),
        pacer: Pacer::new(show.fps()),
        show,
        player,
        next: 0,
        recording: true,
        shot_wanted: false,
        trigger_wanted: false,
        announced: None,
        unpublished: Vec::new(),
        brightness: brightness::FULL,
        dimmed: Vec::new(),
        layers_due: true,
        samples: Vec::new(),
    };
    std::thread::scope(|scope| {
        let threads: Vec<_> = outputs
            .into_iter()
            .zip(&handoffs)
            .enumerate()
            .map(|(i, (make, handoff))| {
                let (status, tx) = (&status, tx.clone());
                std::thread::Builder::new()
                    .name(format!("marquee-output-{i}"))
                    .spawn_scoped(scope, move || drive_output(make, size, handoff, status, &tx))
                    .expect("an output thread starts")
            })
            .collect();
        drop(tx);
        let result = live.run(&mut observe, &mut report);
        for h in &handoffs {
            h.close();
        }
        for t in threads {
            report.outputs.push(t.join().unwrap_or_else(|_| OutputReport {
                name: "output".into(),
                error: Some("the output thread panicked".into()),
                ..OutputReport::default()
            }));
        }
        result
    })?;
    let mut player = live.player;
    let finished = player.finish();
    watchdog(player.take_watchdog_events(), &mut observe, &mut report);
    for f in finished {
        // Failures at the end (a final rename, a disk that filled while finishing) are said
        // like those during the run.
        report.log(LogLine::new(Severity::Warning, f.to_string()));
        report.failures.push(f);
    }
    // The recorders of the scene showing at the end are still there after finishing: their
    // final counts.
    report.recorders = player.recorder_report();
    report.counters = player.counters();
    if let Some(stream) = observe.metrics.take() {
        match stream.finish() {
            Ok(r) => report.metrics = Some(r),
            Err(e) => {
                report.log(LogLine::new(
                    Severity::Error,
                    format!("the metrics stream failed: {e}"),
                ));
                report.metrics_error = Some(e.to_string());
            }
        }
    }
    Ok(report)
}

/// Says each of the watchdog's `events` once: in the log (failures as warnings), the report and
/// the metrics stream.
fn watchdog(events: Vec<Event>, observe: &mut Observe, report: &mut LiveReport) {
    for e in events {
        let severity = if e.is_failure() {
            Severity::Warning
        } else {
            Severity::Info
        };
        report.log(LogLine::new(severity, e.to_string()));
        if let Some(stream) = &mut observe.metrics {
            stream.line(Line::Watchdog(WatchdogLine::from(&e)));
        }
        report.watchdog.push(e);
    }
}

/// What the render loop talks to, fixed for the run.
struct Io<'a> {
    registry: &'a Registry,
    handoffs: &'a [Handoff],
    status: &'a Mutex<String>,
    controls: &'a mpsc::Receiver<Control>,
    remote: Option<&'a Controlled>,
    options: &'a LiveOptions,
}

impl Io<'_> {
    fn set_status(&self, text: &str) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = text.to_string();
    }
}

/// Live time: the monotonic clock less the time spent paused.
struct Pacer {
    start: Instant,
    period: Duration,
    fps: f64,
    paused_total: Duration,
    paused_since: Option<Instant>,
    /// When the first frame was made, and the pause total then.
    first: Option<(Instant, Duration)>,
}

impl Pacer {
    fn new(fps: f64) -> Pacer {
        Pacer {
            start: Instant::now(),
            period: Duration::from_secs_f64(1.0 / fps),
            fps,
            paused_total: Duration::ZERO,
            paused_since: None,
            first: None,
        }
    }

    fn toggle_pause(&mut self) {
        match self.paused_since.take() {
            Some(t) => self.paused_total += t.elapsed(),
            None => self.paused_since = Some(Instant::now()),
        }
    }

    fn paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// Live time now.
    fn now(&self) -> Duration {
        self.start.elapsed().saturating_sub(self.paused_total)
    }

    /// The frame the clock says is due.
    fn due(&self) -> u64 {
        (self.now().as_secs_f64() * self.fps).floor() as u64
    }

    /// When frame `index` is due.
    fn time_of(&self, index: u64) -> Duration {
        self.period.mul_f64(index as f64)
    }

    /// Live time from the first frame made to `t0`, when a frame is being made.
    fn span_to(&mut self, t0: Instant) -> Duration {
        let (first, paused_then) = *self.first.get_or_insert((t0, self.paused_total));
        t0.duration_since(first)
            .saturating_sub(self.paused_total - paused_then)
    }
}

/// The show's files and their modification times, looked at every 250 ms.
struct Watch {
    files: Vec<PathBuf>,
    stamped: Vec<Option<SystemTime>>,
    last_check: Instant,
    /// Edits applied so far.
    reloads: u64,
}

impl Watch {
    const EVERY: Duration = Duration::from_millis(250);

    fn new(show: &Show) -> Watch {
        let files = show.files();
        Watch {
            stamped: stamps(&files),
            files,
            last_check: Instant::now(),
            reloads: 0,
        }
    }

    /// Whether a file changed since the last look (looking at most every [`Watch::EVERY`]).
    fn changed(&mut self) -> bool {
        if self.last_check.elapsed() < Watch::EVERY {
            return false;
        }
        self.last_check = Instant::now();
        let now = stamps(&self.files);
        let changed = now != self.stamped;
        self.stamped = now;
        changed
    }

    /// An edit was applied: watch the files `show` is read from now (a playlist may name others).
    fn applied(&mut self, show: &Show) {
        self.reloads += 1;
        self.files = show.files();
        self.stamped = stamps(&self.files);
    }
}

/// The render loop's state: the show, its player, the live clock, the files watched, and what
/// the keys asked for.
struct Live<'a> {
    io: Io<'a>,
    show: Show,
    player: Player,
    pacer: Pacer,
    watch: Watch,
    /// The index of the next frame shown (skipped frames count).
    next: u64,
    recording: bool,
    shot_wanted: bool,
    trigger_wanted: bool,
    /// The scene last announced (reloads, player epoch): a change sends its layers again.
    announced: Option<(u64, u64)>,
    /// Failures the remote's status has not taken yet (it was being read).
    unpublished: Vec<String>,
    /// The outputs' brightness (`compose::brightness`), and the dimmed frame when below full.
    brightness: u8,
    dimmed: Vec<u8>,
    /// The scene's layers, when the remote's list of them is out of date.
    layers_due: bool,
    /// The recorders' counts, taken for the remote's status.
    samples: Vec<crate::record::thread::RecorderSample>,
}

/// What one turn of the loop does next.
enum Turn {
    Stop,
    Wait,
    Frame,
}

impl Live<'_> {
    fn run(&mut self, observe: &mut Observe, report: &mut LiveReport) -> Result<(), EngineError> {
        // Live time starts with the loop, the outputs' threads started.
        self.pacer = Pacer::new(self.show.fps());
        let every = observe.every.max(1);
        if let Some(stream) = &mut observe.metrics {
            let (width, height) = self.player.frame_size();
            stream.line(Line::Start(StartLine {
                show: self.show.name().to_string(),
                path: self.show.path().to_string_lossy().into_owned(),
                fps: self.show.fps(),
                width,
                height,
                every,
                outputs: observe.outputs.clone(),
                choice: observe.choice.clone(),
            }));
        }
        self.remote_start();
        loop {
            match self.turn(report)? {
                Turn::Stop => break,
                Turn::Wait => continue,
                Turn::Frame => self.frame(observe, every, report)?,
            }
        }
        report.elapsed = self.pacer.now();
        Ok(())
    }

    /// Takes the controls, looks for edits and keeps time: whether to make a frame now.
    fn turn(&mut self, report: &mut LiveReport) -> Result<Turn, EngineError> {
        if self.controls(report)? {
            return Ok(Turn::Stop);
        }
        let options = self.io.options;
        if options.reload && self.watch.changed() {
            let line = self.reload();
            self.io.set_status(line.text.lines().next().unwrap_or(""));
            report.log(line);
        }
        if self.pacer.paused() {
            std::thread::sleep(Duration::from_millis(10));
            return Ok(Turn::Wait);
        }
        if options.paced {
            // Which frame the clock says is due; catch up by skipping, or wait for it.
            let due = self.pacer.due();
            let last = options.limit.map_or(u64::MAX, |n| n - 1);
            if due > self.next {
                // Catching up a long way happens in slices, each followed by a frame and a
                // look at the interrupt flag.
                let skip = (due.min(last) - self.next).min(CATCH_UP_SLICE);
                self.player.skip(skip)?;
                report.skipped += skip;
                self.next += skip;
            } else if due < self.next {
                let wait = self.pacer.time_of(self.next).saturating_sub(self.pacer.now());
                std::thread::sleep(wait.min(Duration::from_millis(20)));
                return Ok(Turn::Wait);
            }
        }
        Ok(Turn::Frame)
    }

    /// Acts on the keys and signals; returns whether the show should end.
    fn controls(&mut self, report: &mut LiveReport) -> Result<bool, EngineError> {
        let mut quit = super::signals::interrupted();
        // The keys' and signals' controls, then the remote's commands: all of them, each frame.
        let io = &self.io;
        let keys = std::iter::from_fn(|| io.controls.try_recv().ok()).map(Command::Control);
        let remote = io
            .remote
            .into_iter()
            .flat_map(|r| std::iter::from_fn(|| r.next_command()));
        for command in keys.chain(remote) {
            let c = match command {
                Command::Control(c) => c,
                Command::Pause(p) if p != self.pacer.paused() => Control::TogglePause,
                Command::Recording(r) if r != self.recording => Control::ToggleRecording,
                Command::Brightness(level) => {
                    self.brightness = level;
                    continue;
                }
                Command::Entry(entry) => {
                    self.player.jump_to(entry)?;
                    continue;
                }
                Command::Pause(_) | Command::Recording(_) => continue,
            };
            match c {
                Control::Quit => quit = true,
                Control::TogglePause => self.pacer.toggle_pause(),
                Control::Next => self.player.next_entry()?,
                Control::Previous => self.player.previous_entry()?,
                Control::Screenshot => self.shot_wanted = true,
                Control::ToggleRecording => {
                    self.recording = !self.recording;
                    self.player.set_recording(self.recording);
                    let state = if self.recording { "resumed" } else { "paused" };
                    report.log(LogLine::new(Severity::Info, format!("recording {state}")));
                }
                Control::Trigger => self.trigger_wanted = true,
            }
        }
        if super::signals::take_trigger() {
            self.trigger_wanted = true;
        }
        if self.trigger_wanted && !self.pacer.paused() {
            self.trigger_wanted = false;
            self.player.trigger();
            let message = format!("clip triggered at frame {}", self.next);
            self.io.set_status(&message);
            report.log(LogLine::new(Severity::Info, message));
        }
        self.remote_turn(report);
        let limit = self.io.options.limit;
        Ok(quit || self.player.is_done() || limit.is_some_and(|n| self.next >= n))
    }

    /// Re-reads the show's files and applies them; says what happened.
    fn reload(&mut self) -> LogLine {
        let options = &self.io.options.engine;
        let fresh = match Show::load(self.show.path(), self.io.registry) {
            Ok(fresh) => fresh,
            Err(e) => return edit_refused(e),
        };
        match self.player.reload(&fresh, options) {
            Ok(how) => {
                self.show = fresh;
                self.watch.applied(&self.show);
                let path = self.show.path().display();
                LogLine::new(
                    Severity::Info,
                    match how {
                        Reloaded::InPlace { kept } => format!("reloaded {path} (kept {kept} instances)"),
                        Reloaded::FromStart => format!("reloaded {path} (from its start)"),
                    },
                )
            }
            Err(e) => edit_refused(e),
        }
    }

    /// Makes frame `next`, hands it to the outputs, and reports on it.
    fn frame(
        &mut self,
        observe: &mut Observe,
        every: u64,
        report: &mut LiveReport,
    ) -> Result<(), EngineError> {
        let allocated = observe.allocations.map(|count| count());
        let t0 = Instant::now();
        report.span = self.pacer.span_to(t0);
        let (w, h) = self.player.frame_size();
        let made = self.player.step()?;
        // Below full brightness the outputs get a dimmed copy; the engine's frame (which its
        // recorders got) stays as made.
        let frame = if self.brightness == brightness::FULL {
            made
        } else {
            brightness::dim(made, self.brightness, &mut self.dimmed);
            &self.dimmed
        };
        report.render += t0.elapsed();
        for handoff in self.io.handoffs {
            handoff.publish(self.next, w, h, frame);
        }
        if self.shot_wanted {
            self.shot_wanted = false;
            let options = self.io.options;
            let line = screenshot(&options.screenshot_dir, self.show.name(), self.next, frame, w, h);
            self.io.set_status(&line.text);
            report.log(line);
        }
        // What the watchdog saw first: a failure it ends in (an instance disabled) comes after.
        watchdog(self.player.take_watchdog_events(), observe, report);
        for f in self.player.take_failures() {
            report.log(LogLine::new(Severity::Warning, f.to_string()));
            if self.io.remote.is_some() {
                self.unpublished.push(f.to_string());
            }
            report.failures.push(f);
        }
        self.publish(observe, report, t0.elapsed());
        self.announce(observe, report);
        if let Some(stream) = &mut observe.metrics
            && self.next.is_multiple_of(every)
        {
            let engine = self.player.engine();
            let allocations = match (observe.allocations, allocated) {
                (Some(count), Some(before)) => Some(count() - before),
                _ => None,
            };
            let handoffs = self.io.handoffs;
            stream.frame(|r| {
                r.frame = self.next;
                (r.total, r.sets) = engine.map_or((t0.elapsed(), Default::default()), |e| e.timings());
                match engine {
                    Some(e) => e.layer_times(&mut r.layers),
                    None => r.layers.clear(),
                }
                r.outputs.clear();
                r.outputs.extend(handoffs.iter().map(|h| {
                    let c = h.counts();
                    OutputSample {
                        queue: h.depth() as u32,
                        dropped: h.dropped(),
                        shown: c.shown,
                        busy_ms: (c.busy_ns as f64 / 1e4).round() / 100.0,
                        packets: c.packets,
                        bytes: c.bytes,
                        send_errors: c.send_errors,
                    }
                }));
                match engine {
                    Some(e) => e.recorder_samples(&mut r.recorders),
                    None => r.recorders.clear(),
                }
                r.skipped = report.skipped;
                r.overruns = report.overruns;
                r.allocations = allocations;
            });
        }
        report.made += 1;
        self.next += 1;
        if self.io.options.paced && self.pacer.now() > self.pacer.time_of(self.next) {
            report.overruns += 1;
        }
        Ok(())
    }

    /// A new scene (start, reload, playlist entry): says how its chain runs and what its
    /// recorders chose, and sends its layers and recorders to the metrics stream.
    fn announce(&mut self, observe: &mut Observe, report: &mut LiveReport) {
        let now = Some((self.watch.reloads, self.player.epoch()));
        if self.announced == now {
            return;
        }
        self.announced = now;
        self.layers_due = true;
        let Some(engine) = self.player.engine() else {
            return;
        };
        if let Some(chain) = engine.chain_summary() {
            report.log(LogLine::new(Severity::Info, chain));
        }
        let isolated = engine.isolated();
        if !isolated.is_empty() {
            let line = format!(
                "isolated, each in a process of its own: {} (`--isolate none` or `isolate = false` keeps an instance in this process)",
                isolated.join(", ")
            );
            report.log(LogLine::new(Severity::Info, line));
        }
        let recorders = engine.recorder_info();
        for r in recorders.iter().filter(|r| !r.about.is_empty()) {
            let line = format!("recorder `{}` ({}): {}", r.id, r.plugin, r.about);
            report.log(LogLine::new(Severity::Info, line));
        }
        if let Some(stream) = &mut observe.metrics {
            stream.line(Line::Layers {
                ids: engine.layer_ids(),
            });
            stream.line(Line::Recorders {
                recorders: recorders.iter().map(RecorderLine::from).collect(),
            });
        }
    }
}

/// An edit that could not be applied: the show goes on as it was.
fn edit_refused(e: impl std::fmt::Display) -> LogLine {
    LogLine::new(
        Severity::Error,
        format!("{e} (still showing the last good version)"),
    )
}

/// Saves `frame` as `<dir>/<name>-<index>.png`; returns what happened.
pub fn screenshot(dir: &Path, name: &str, index: u64, frame: &[u8], width: u32, height: u32) -> LogLine {
    let path = dir.join(format!("{name}-{index:06}.png"));
    match image::save_buffer(&path, frame, width, height, image::ExtendedColorType::Rgba8) {
        Ok(()) => LogLine::new(Severity::Info, format!("saved {}", path.display())),
        Err(e) => LogLine::new(Severity::Error, format!("cannot save {}: {e}", path.display())),
    }
}
