//! `marquee run`: a show live, into the outputs asked for, and what it did, for people.

use std::path::PathBuf;

use marquee::engine::EngineOptions;
use marquee::isolate::Isolation;
use marquee::model::paths::OutDir;
use marquee::model::show::Show;
use marquee::output::headless::Headless;
use marquee::output::terminal::Terminal;
use marquee::output::{self, Output, OutputKind, Surroundings};
use marquee::play::live::{self, LiveOptions};
use marquee::plugins::registry::Registry;
use marquee::trace;

use crate::exit::{Exit, Outcome};
use crate::{logs, positive_seconds, sys, warn_failures};

/// What `marquee run` takes.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scene or playlist file.
    pub scene: PathBuf,
    /// Render without showing anything (the same as `--output headless`).
    #[arg(long)]
    pub headless: bool,
    /// Where to show frames: auto picks a window where there is a display, else the terminal
    /// on a TTY, else headless. Repeat it to show in several at once.
    #[arg(long, value_enum, default_values_t = [OutputArg::Auto])]
    pub output: Vec<OutputArg>,
    /// Do not watch the scene files for edits.
    #[arg(long)]
    pub no_reload: bool,
    /// Where `s` saves screenshots.
    #[arg(long, default_value = ".")]
    pub screenshots: PathBuf,
    /// The directory recorders write in: their paths are taken relative to it and may not
    /// leave it (default: the scene file's directory).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Let the scene's recorders write anywhere (absolute paths, `..`), not only inside the
    /// output directory.
    #[arg(long)]
    pub unconfined_paths: bool,
    /// Stream metrics as JSON lines to this file, or to `tcp://127.0.0.1:PORT`.
    #[arg(long, value_name = "FILE|tcp://HOST:PORT")]
    pub metrics: Option<String>,
    /// Write a metrics line every this many frames.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub metrics_every: u64,
    /// Stop after this many frames (default: until interrupted, or a playlist's end).
    #[arg(long, conflicts_with = "seconds")]
    pub frames: Option<u64>,
    /// Stop after this many seconds of scene time.
    #[arg(long, value_parser = positive_seconds)]
    pub seconds: Option<f64>,
    /// Render as fast as possible instead of at the scene's fps.
    #[arg(long)]
    pub unpaced: bool,
    /// Drive the LED outputs of this rig file too (DDP, E1.31, Art-Net, HUB75; see rigs/);
    /// wins over a `rig` the scene or playlist names.
    #[arg(long, value_name = "FILE")]
    pub rig: Option<PathBuf>,
    /// Worker threads (1: everything on one thread).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Serve the remote control (a JSON API: docs/control.md) on this address, such as
    /// 127.0.0.1:8080 (port 0: any free one). Beyond loopback it needs a token.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<std::net::SocketAddr>,
    /// The token every request to `--serve` must carry (`Authorization: Bearer TOKEN`).
    /// Beyond loopback one is made up and printed when none is given.
    #[arg(long, value_name = "TOKEN", requires = "serve")]
    pub token: Option<String>,
    /// Take OSC messages (UDP) on this address, such as 127.0.0.1:9000: `/marquee/next`,
    /// `/marquee/brightness 0.5`... (docs/control.md). OSC has no password: beyond loopback,
    /// anyone who reaches the port controls the show.
    #[arg(long, value_name = "ADDR")]
    pub osc: Option<std::net::SocketAddr>,
}

/// Where frames may be shown.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutputArg {
    /// A window where there is a display, else the terminal on a TTY, else headless.
    Auto,
    /// A window.
    Window,
    /// The terminal.
    Terminal,
    /// Nowhere.
    Headless,
}

/// Runs the show `args` names live.
pub fn run(args: RunArgs, registry: &Registry, isolation: Isolation) -> anyhow::Result<()> {
    let RunArgs {
        scene,
        headless,
        output,
        no_reload,
        screenshots,
        out_dir,
        unconfined_paths,
        metrics,
        metrics_every,
        frames,
        seconds,
        unpaced,
        rig,
        threads,
        serve,
        token,
        osc,
    } = args;
    warn_failures(registry);
    let show = Show::load(&scene, registry)?;
    // `--rig` wins over the rig the scene or playlist names.
    let rig = rig
        .as_deref()
        .or(show.rig())
        .map(marquee::model::rig::Rig::load)
        .transpose()?;
    let limit = frames.or(seconds.map(|s| trace::frames_for(s, show.fps())));
    let requested = if headless {
        vec![OutputArg::Headless]
    } else {
        output
    };
    let mut outputs: Vec<output::OutputFactory> = Vec::new();
    let mut kinds = Vec::new();
    let mut choices = Vec::new();
    for arg in requested {
        let (kind, why, factory) = chosen_output(arg, show.name())?;
        choices.push(format!("{}: {why}", kind.as_str()));
        outputs.push(factory);
        kinds.push(kind);
    }
    marquee::play::signals::handle_interrupts();
    let options = LiveOptions {
        engine: EngineOptions {
            threads,
            out_dir: OutDir {
                dir: out_dir,
                unconfined: unconfined_paths,
            },
            isolation,
            ..EngineOptions::default()
        },
        paced: !unpaced,
        limit,
        reload: !no_reload,
        screenshot_dir: screenshots,
        rig,
    };
    let metrics = match metrics {
        None => None,
        Some(text) => {
            let sink = match marquee::observe::metrics::Sink::parse(&text) {
                Ok(sink) => sink,
                Err(e) => {
                    eprintln!("error: --metrics {text}: {e}");
                    return Err(Exit(Outcome::BadInput).into());
                }
            };
            match sink.open() {
                Ok(stream) => Some(stream),
                Err(e) => {
                    eprintln!("error: --metrics {text}: cannot open it: {e}");
                    // Not a regular file is a bad argument; anything else the machine's.
                    return Err(Exit(if e.kind() == std::io::ErrorKind::InvalidInput {
                        Outcome::BadInput
                    } else {
                        Outcome::Environment
                    })
                    .into());
                }
            }
        }
    };
    let mut names: Vec<String> = kinds.iter().map(|k| k.as_str().to_string()).collect();
    let (remotes, remote) = match crate::remote::start(&show, serve, token, osc, &mut outputs, &mut names)? {
        Some((remotes, controlled)) => (Some(remotes), Some(controlled)),
        None => (None, None),
    };
    let observe = live::Observe {
        metrics,
        every: metrics_every,
        allocations: Some(sys::allocations),
        outputs: names,
        choice: choices.join("; "),
        remote,
    };
    // The terminal output owns the screen: log lines wait until it is restored.
    let terminal = kinds.contains(&OutputKind::Terminal);
    logs::hold(terminal);
    let report = live::run(show, registry, outputs, &options, observe);
    drop(remotes);
    logs::hold(false);
    let report = report?;
    print_live_report(&report, &scene);
    let mut failed: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
    failed.extend(
        report
            .outputs
            .iter()
            .filter_map(|o| o.error.clone())
            .map(|e| format!("an output failed: {e}")),
    );
    failed.extend(
        report
            .metrics_error
            .iter()
            .map(|e| format!("the metrics stream failed: {e}")),
    );
    if failed.is_empty() {
        return Ok(());
    }
    eprintln!(
        "error: {} failure{} during the run; what it made may be incomplete:",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" }
    );
    for f in &failed {
        eprintln!("  - {f}");
    }
    Err(Exit(Outcome::CheckFailed).into())
}

/// The output `arg` asks for, why, and its factory (the window titled `title`).
pub fn chosen_output(
    arg: OutputArg,
    title: &str,
) -> anyhow::Result<(OutputKind, String, output::OutputFactory)> {
    let (kind, why) = match arg {
        OutputArg::Headless => (OutputKind::Headless, "asked for".to_string()),
        OutputArg::Terminal => (OutputKind::Terminal, "asked for".to_string()),
        OutputArg::Window => (OutputKind::Window, "asked for".to_string()),
        OutputArg::Auto => output::auto(Surroundings::detect()),
    };
    tracing::info!("output: {} ({why})", kind.as_str());
    let factory: output::OutputFactory = match kind {
        OutputKind::Headless => Box::new(|_, _| Ok(Box::new(Headless) as Box<dyn Output>)),
        OutputKind::Terminal => Box::new(|_, _| Ok(Box::new(Terminal::stdout()?) as Box<dyn Output>)),
        OutputKind::Window => window_output(title.to_string())?,
    };
    Ok((kind, why, factory))
}

fn print_live_report(report: &live::LiveReport, path: &std::path::Path) {
    if let Some(m) = &report.metrics {
        tracing::info!(
            "metrics: {} lines written, {} dropped because the reader fell behind",
            m.written,
            m.dropped
        );
    }
    if !report.counters.is_empty() {
        let shown: Vec<String> = report
            .counters
            .iter()
            .map(|c| format!("{}.{}={}", c.owner, c.name, c.value))
            .collect();
        tracing::info!("counters: {}", shown.join(", "));
    }
    for marquee::engine::RecorderReport { id, sample: r } in &report.recorders {
        let line = format!(
            "recorder `{id}`: {} frames recorded, {} dropped because its queue was full{}",
            r.written,
            r.dropped,
            if r.failed { "; it failed and stopped" } else { "" }
        );
        if r.dropped > 0 {
            tracing::warn!(
                "{line} (a bigger `queue`, or `when_full = \"wait\"` for offline renders, keeps them)"
            );
        } else {
            tracing::info!("{line}");
        }
    }
    let name = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let per_frame = |d: std::time::Duration, n: u64| d.as_secs_f64() * 1e3 / n.max(1) as f64;
    let span = report.span.as_secs_f64();
    let advanced = (report.made + report.skipped).saturating_sub(1);
    if span > 0.0 && advanced > 0 {
        let rate = advanced as f64 / span;
        tracing::info!(
            "{name}: {:.2} s of clock time; the show advanced at {rate:.3} fps for {} ({:+.3} %), {:.2} fps made",
            report.elapsed.as_secs_f64(),
            report.target_fps,
            (rate / report.target_fps - 1.0) * 100.0,
            (report.made.saturating_sub(1)) as f64 / span,
        );
    }
    for o in &report.outputs {
        tracing::info!(
            "{name}: {} frames of {}×{} ({}), {:.3} ms to render, {:.3} ms to show a frame; {} shown, {} dropped by the output, {} skipped behind the clock, {} over budget{}",
            report.made,
            report.size.0,
            report.size.1,
            o.name,
            per_frame(report.render, report.made),
            per_frame(o.busy, o.shown),
            o.shown,
            o.dropped,
            report.skipped,
            report.overruns,
            o.error
                .as_ref()
                .map_or(String::new(), |e| format!("; output error: {e}"))
        );
        if !o.counters.is_empty() {
            let shown: Vec<String> = o.counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let failed = o.counters.iter().any(|&(k, v)| k == "send_errors" && v > 0);
            if failed {
                tracing::warn!("{}: {}", o.name, shown.join(", "));
            } else {
                tracing::info!("{}: {}", o.name, shown.join(", "));
            }
        }
    }
}

#[cfg(not(feature = "window"))]
fn window_output(_title: String) -> anyhow::Result<output::OutputFactory> {
    eprintln!("error: this marquee was built without the window output; rebuild with `--features window`");
    Err(Exit(Outcome::Environment).into())
}

#[cfg(feature = "window")]
fn window_output(title: String) -> anyhow::Result<output::OutputFactory> {
    Ok(Box::new(move |w, h| {
        Ok(Box::new(marquee::output::window::Window::open(&title, w, h)?) as Box<dyn Output>)
    }))
}
