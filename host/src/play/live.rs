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

use crate::engine::{EngineError, EngineOptions, Failure};
use crate::model::show::Show;
use crate::observe::metrics::MetricsStream;
use crate::output::{Control, OutputFactory};
use crate::play::handoff::{Handoff, OutputReport, drive_output};
use crate::play::player::Player;
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
    pub log: Vec<String>,
    /// The layers' counters at the end.
    pub counters: Vec<(String, String, u64)>,
    /// Failures reported by plugins.
    pub failures: Vec<Failure>,
    /// Frame size.
    pub size: (u32, u32),
    /// The show's frame rate.
    pub target_fps: f64,
    /// What the metrics stream wrote and dropped.
    pub metrics: Option<crate::observe::metrics::StreamReport>,
    /// Why the metrics stream failed (a write error), if it did.
    pub metrics_error: Option<String>,
    /// Each recorder of the scene showing at the end, by id: frames written, dropped, queued.
    pub recorders: Vec<(String, crate::record::thread::RecorderSample)>,
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
    // Paced frames make a real-time run: recorders drop what they cannot take, unless told.
    let options = &LiveOptions {
        engine: EngineOptions {
            realtime: options.paced,
            ..options.engine.clone()
        },
        ..options.clone()
    };
    let mut show = show;
    let mut player = Player::new(&show, &options.engine)?;
    let size = player.frame_size();
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
        let result = render_loop(
            &mut show,
            &mut player,
            registry,
            (&handoffs, &status, &rx),
            options,
            &mut observe,
            &mut report,
        );
        for h in &handoffs {
            h.close();
        }
        for t in threads {
            report.outputs.push(t.join().unwrap_or_else(|_| OutputReport {
                name: "output",
                error: Some("the output thread panicked".into()),
                ..OutputReport::default()
            }));
        }
        result
    })?;
    report.counters = player.counters();
    report.recorders = player.recorder_samples();
    for f in player.finish() {
        // Failures at the end (a final rename, a disk that filled while finishing) are said
        // like those during the run.
        tracing::warn!("{f}");
        report.log.push(format!("warning: {f}"));
        report.failures.push(f);
    }
    if let Player::Scene(engine) = &mut player {
        // A scene's recorders are still there after finishing: their final counts.
        report.recorders = engine.recorder_report();
        report.counters = player.counters();
    }
    if let Some(stream) = observe.metrics.take() {
        match stream.finish() {
            Ok(r) => report.metrics = Some(r),
            Err(e) => {
                tracing::error!("the metrics stream failed: {e}");
                report.log.push(format!("error: the metrics stream failed: {e}"));
                report.metrics_error = Some(e.to_string());
            }
        }
    }
    Ok(report)
}

fn render_loop(
    show: &mut Show,
    player: &mut Player,
    registry: &Registry,
    (handoffs, status, controls): (&[Handoff], &Mutex<String>, &mpsc::Receiver<Control>),
    options: &LiveOptions,
    observe: &mut Observe,
    report: &mut LiveReport,
) -> Result<(), EngineError> {
    let every = observe.every.max(1);
    if let Some(stream) = &mut observe.metrics {
        let (w, h) = player.frame_size();
        let outputs: Vec<String> = observe
            .outputs
            .iter()
            .map(|o| crate::observe::metrics::json_str(o))
            .collect();
        stream.line(format!(
            "{{\"type\":\"start\",\"show\":{},\"path\":{},\"fps\":{},\"width\":{w},\"height\":{h},\"every\":{every},\"outputs\":[{}],\"choice\":{}}}",
            crate::observe::metrics::json_str(show.name()),
            crate::observe::metrics::json_str(&show.path().to_string_lossy()),
            show.fps(),
            outputs.join(","),
            crate::observe::metrics::json_str(&observe.choice),
        ));
    }
    // Which layers the metrics' `layers_ms` refer to: sent again when the scene changes.
    let mut layers_of: Option<(u64, u64)> = None;
    let mut reloads = 0u64;
    let fps = show.fps();
    let period = Duration::from_secs_f64(1.0 / fps);
    let mut files = show.files();
    let mut stamped = stamps(&files);
    let mut last_check = Instant::now();
    let start = Instant::now();
    let mut paused_total = Duration::ZERO;
    let mut paused_since: Option<Instant> = None;
    let mut recording = true;
    let mut shot_wanted = false;
    let mut trigger_wanted = false;
    let mut next: u64 = 0;
    let mut first_frame = start;
    let mut paused_at_first = Duration::ZERO;
    let set_status = |text: String| *status.lock().unwrap_or_else(|e| e.into_inner()) = text;
    let log = |report: &mut LiveReport, line: String| {
        if let Some(text) = line.strip_prefix("error: ") {
            tracing::error!("{text}");
        } else if let Some(text) = line.strip_prefix("warning: ") {
            tracing::warn!("{text}");
        } else {
            tracing::info!("{line}");
        }
        report.log.push(line);
    };
    loop {
        let mut quit = super::signals::interrupted();
        while let Ok(c) = controls.try_recv() {
            match c {
                Control::Quit => quit = true,
                Control::TogglePause => match paused_since.take() {
                    Some(t) => paused_total += t.elapsed(),
                    None => paused_since = Some(Instant::now()),
                },
                Control::Next => player.next_entry()?,
                Control::Previous => player.previous_entry()?,
                Control::Screenshot => shot_wanted = true,
                Control::ToggleRecording => {
                    recording = !recording;
                    player.set_recording(recording);
                    let state = if recording { "resumed" } else { "paused" };
                    log(report, format!("recording {state}"));
                }
                Control::Trigger => trigger_wanted = true,
            }
        }
        if super::signals::take_trigger() {
            trigger_wanted = true;
        }
        if trigger_wanted && paused_since.is_none() {
            trigger_wanted = false;
            player.trigger();
            let message = format!("clip triggered at frame {next}");
            set_status(message.clone());
            log(report, message);
        }
        if quit || player.is_done() || options.limit.is_some_and(|n| next >= n) {
            break;
        }
        if options.reload && last_check.elapsed() >= Duration::from_millis(250) {
            last_check = Instant::now();
            let now = stamps(&files);
            if now != stamped {
                stamped = now;
                let message = match reload(show, player, registry, &options.engine) {
                    Ok(m) => {
                        reloads += 1;
                        // A playlist may now name other files.
                        files = show.files();
                        stamped = stamps(&files);
                        m
                    }
                    Err(e) => format!("error: {e} (still showing the last good version)"),
                };
                set_status(message.lines().next().unwrap_or("").to_string());
                log(report, message);
            }
        }
        if paused_since.is_some() {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        if options.paced {
            // Which frame the clock says is due; catch up by skipping, or wait for it.
            let now = start.elapsed().saturating_sub(paused_total);
            let due = (now.as_secs_f64() * fps).floor() as u64;
            let last = options.limit.map_or(u64::MAX, |n| n - 1);
            if due > next {
                // Catching up a long way (a playlist skips frame by frame) happens in slices,
                // each followed by a frame and a look at the interrupt flag.
                let skip = (due.min(last) - next).min(CATCH_UP_SLICE);
                player.skip(skip)?;
                report.skipped += skip;
                next += skip;
            } else if due < next {
                let wait = period.mul_f64(next as f64).saturating_sub(now);
                std::thread::sleep(wait.min(Duration::from_millis(20)));
                continue;
            }
        }
        let allocated = observe.allocations.map(|count| count());
        let t0 = Instant::now();
        if report.made == 0 {
            (first_frame, paused_at_first) = (t0, paused_total);
        }
        report.span = t0
            .duration_since(first_frame)
            .saturating_sub(paused_total - paused_at_first);
        let size = player.frame_size();
        let frame = player.step()?;
        report.render += t0.elapsed();
        let (w, h) = size;
        for handoff in handoffs {
            handoff.publish(next, w, h, frame);
        }
        if shot_wanted {
            shot_wanted = false;
            let message = screenshot(&options.screenshot_dir, show.name(), next, frame, w, h);
            set_status(message.clone());
            log(report, message);
        }
        for f in player.take_failures() {
            log(report, format!("warning: {f}"));
            report.failures.push(f);
        }
        // A new scene (start, reload, playlist entry): say what its recorders chose.
        let scene_changed = layers_of != Some((reloads, player.epoch()));
        if scene_changed {
            layers_of = Some((reloads, player.epoch()));
            if let Some(chain) = player.engine().and_then(|e| e.chain_summary()) {
                log(report, chain);
            }
            let recorders = player.engine().map(|e| e.recorder_info()).unwrap_or_default();
            for (id, plugin, info) in &recorders {
                if !info.is_empty() {
                    log(report, format!("recorder `{id}` ({plugin}): {info}"));
                }
            }
            if let Some(stream) = &mut observe.metrics {
                let engine = player.engine();
                let ids: Vec<String> = engine
                    .map(|e| e.layer_ids())
                    .unwrap_or_default()
                    .iter()
                    .map(|id| crate::observe::metrics::json_str(id))
                    .collect();
                stream.line(format!("{{\"type\":\"layers\",\"ids\":[{}]}}", ids.join(",")));
                stream.line(crate::observe::metrics::recorders_line(&recorders));
            }
        }
        if let Some(stream) = &mut observe.metrics
            && next.is_multiple_of(every)
        {
            let engine = player.engine();
            let allocations = match (observe.allocations, allocated) {
                (Some(count), Some(before)) => Some(count() - before),
                _ => None,
            };
            stream.frame(|r| {
                r.frame = next;
                (r.total, r.sets) = engine.map_or((t0.elapsed(), [Duration::ZERO; 6]), |e| e.timings());
                match engine {
                    Some(e) => e.layer_times(&mut r.layers),
                    None => r.layers.clear(),
                }
                r.outputs.clear();
                r.outputs
                    .extend(handoffs.iter().map(|h| crate::observe::metrics::OutputSample {
                        queue: h.depth() as u32,
                        dropped: h.dropped(),
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
        next += 1;
        if options.paced {
            let deadline = period.mul_f64(next as f64);
            if start.elapsed().saturating_sub(paused_total) > deadline {
                report.overruns += 1;
            }
        }
    }
    report.elapsed = start.elapsed().saturating_sub(paused_total);
    Ok(())
}

/// Re-reads the show's files and applies them: a scene in place (unchanged instances keep their
/// state), a playlist from its first entry. Returns what happened, for the status line and log.
fn reload(
    show: &mut Show,
    player: &mut Player,
    registry: &Registry,
    options: &EngineOptions,
) -> Result<String, String> {
    let fresh = Show::load(show.path(), registry).map_err(|e| e.to_string())?;
    let message = match (&fresh, &mut *player) {
        (Show::Scene(scene), Player::Scene(engine)) => {
            let kept = engine.reload(scene, options).map_err(|e| e.to_string())?;
            format!("reloaded {} (kept {kept} instances)", fresh.path().display())
        }
        _ => {
            *player = Player::new(&fresh, options).map_err(|e| e.to_string())?;
            format!("reloaded {} (from its start)", fresh.path().display())
        }
    };
    *show = fresh;
    Ok(message)
}

/// Saves `frame` as `<dir>/<name>-<index>.png`; returns what happened.
pub fn screenshot(dir: &Path, name: &str, index: u64, frame: &[u8], width: u32, height: u32) -> String {
    let path = dir.join(format!("{name}-{index:06}.png"));
    match image::save_buffer(&path, frame, width, height, image::ExtendedColorType::Rgba8) {
        Ok(()) => format!("saved {}", path.display()),
        Err(e) => format!("error: cannot save {}: {e}", path.display()),
    }
}
