//! `marquee`: the command-line edge. Parses arguments, renders typed errors for people, and sets
//! the exit code: 0 success, 1 a check failed (verify found a difference), 2 bad input.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use marquee::engine::EngineOptions;
use marquee::model::paths::OutDir;
use marquee::model::schema::FileKind;
use marquee::model::show::Show;
use marquee::output::headless::Headless;
use marquee::output::terminal::Terminal;
use marquee::output::{self, Output, OutputKind, Surroundings};
use marquee::play::live::{self, LiveOptions};
use marquee::plugins::registry::{Origin, Registry};
use marquee::trace;
use marquee_plugin_api::ABI_VERSION;

/// Plugin-based scenes and renderers for LED matrices, installations and desktop visuals.
#[derive(Debug, Parser)]
#[command(name = "marquee", version, about, after_help = EXIT_HELP)]
struct Cli {
    /// Directory to load plugin libraries from (repeatable; also $MARQUEE_PLUGIN_PATH, `:`-separated).
    #[arg(long = "plugin-dir", global = true, value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,
    /// How log lines look: human-readable, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a scene or a playlist live: in the terminal, or headless.
    Run {
        /// The scene or playlist file.
        scene: PathBuf,
        /// Render without showing anything (the same as `--output headless`).
        #[arg(long)]
        headless: bool,
        /// Where to show frames: auto picks a window where there is a display, else the terminal
        /// on a TTY, else headless. Repeat it to show in several at once.
        #[arg(long, value_enum, default_values_t = [OutputArg::Auto])]
        output: Vec<OutputArg>,
        /// Do not watch the scene files for edits.
        #[arg(long)]
        no_reload: bool,
        /// Where `s` saves screenshots.
        #[arg(long, default_value = ".")]
        screenshots: PathBuf,
        /// The directory recorders write in: their paths are taken relative to it and may not
        /// leave it (default: the scene file's directory).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Let the scene's recorders write anywhere (absolute paths, `..`), not only inside the
        /// output directory.
        #[arg(long)]
        unconfined_paths: bool,
        /// Stream metrics as JSON lines to this file, or to `tcp://127.0.0.1:PORT`.
        #[arg(long, value_name = "FILE|tcp://HOST:PORT")]
        metrics: Option<String>,
        /// Write a metrics line every this many frames.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        metrics_every: u64,
        /// Stop after this many frames (default: until interrupted, or a playlist's end).
        #[arg(long, conflicts_with = "seconds")]
        frames: Option<u64>,
        /// Stop after this many seconds of scene time.
        #[arg(long, value_parser = positive_seconds)]
        seconds: Option<f64>,
        /// Render as fast as possible instead of at the scene's fps.
        #[arg(long)]
        unpaced: bool,
        /// Worker threads (1: everything on one thread).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Renders a scene or playlist to trace.gif + index.json for later verification.
    Trace {
        /// The scene or playlist file.
        scene: PathBuf,
        /// Seconds of scene time to trace (default for a playlist that does not loop: all of it).
        #[arg(long, conflicts_with = "frames", value_parser = positive_seconds)]
        seconds: Option<f64>,
        /// Frames to trace (at most 1,000,000).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=marquee::trace::MAX_FRAMES))]
        frames: Option<u64>,
        /// The trace directory to write.
        #[arg(long)]
        out: PathBuf,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Trace a scene at this frame rate instead of its own (recorded in the index, which
        /// `verify` follows).
        #[arg(long, value_parser = frame_rate)]
        fps: Option<f64>,
    },
    /// Runs a scene or playlist headless and reports its frame times, memory, CPU and allocations.
    Bench {
        /// The scene or playlist file.
        scene: PathBuf,
        /// Frames to measure (at most 1,000,000).
        #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=marquee::trace::MAX_FRAMES))]
        frames: u64,
        /// Frames to make first, unmeasured (at most 1,000,000).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=marquee::trace::MAX_FRAMES))]
        warmup: u64,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Also write the figures as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Compare with the JSON of an earlier run; exit 1 if the median is slower by more than
        /// `--threshold` times.
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
        /// How much slower than the baseline counts as a regression.
        #[arg(long, default_value_t = 1.2)]
        threshold: f64,
        /// Run the scene's recorders too (they drop frames they cannot keep up with) and report
        /// the render thread's time handing frames to them.
        #[arg(long)]
        recorders: bool,
        /// With `--recorders`: the directory they write in (default: the scene file's).
        #[arg(long, value_name = "DIR", requires = "recorders")]
        out_dir: Option<PathBuf>,
    },
    /// Re-renders a trace and checks it frame by frame.
    Verify {
        /// The trace directory.
        trace: PathBuf,
        /// Use this scene or playlist file instead of the one recorded in the trace.
        #[arg(long)]
        scene: Option<PathBuf>,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Print only the summary, not a line per frame.
        #[arg(long)]
        quiet: bool,
    },
    /// Generates a standalone plugin crate that builds, loads and tests on the first try.
    NewPlugin {
        /// Plugin id and crate name (lowercase letters, digits, `-`).
        name: String,
        /// What kind of plugin.
        #[arg(long, value_enum, default_value_t = KindArg::Renderer)]
        kind: KindArg,
        /// Where to create the crate (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Lists every plugin found, and every plugin file that failed to load.
    Plugins {
        /// Print JSON for tools instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<PluginsAction>,
    },
    /// Snapshot-tests scenes: traces each and compares it frame by frame with the trace stored
    /// beside it (`traces/STEM/`), writing it when none is stored. For a plugin's own CI:
    /// `marquee test tests --plugin-dir target/release`.
    Test {
        /// Scene or playlist files, or directories of them (their `.toml` files).
        #[arg(default_value = "tests")]
        paths: Vec<PathBuf>,
        /// Frames traced per scene.
        #[arg(long, default_value_t = 30)]
        frames: u64,
        /// Rewrite the stored traces with what the scenes make now (after a deliberate change).
        #[arg(long)]
        update: bool,
    },
    /// Prints the JSON Schema of scene files (or playlist files), every loaded plugin's config
    /// included, for an editor's TOML language server (README: "Editor support"); or that of a
    /// line of the `--metrics` stream.
    Schema {
        /// Which files the schema describes.
        #[arg(value_enum, default_value_t = SchemaArg::Scene)]
        files: SchemaArg,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SchemaArg {
    Scene,
    Playlist,
    Metrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OutputArg {
    Auto,
    Window,
    Terminal,
    Headless,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Renderer,
    Processor,
    Recorder,
}

#[derive(Debug, Subcommand)]
enum PluginsAction {
    /// Shows one plugin's factories, every config field (type, default, range, doc) and an example.
    Describe {
        /// The plugin's id.
        id: String,
    },
}

/// Writes a line to stdout; a closed stdout (`marquee plugins | head -1`) ends the command
/// quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(stdout_error)
    }};
}

/// [`outln!`] without the newline.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err(stdout_error)
    }};
}

/// A write to stdout failed: a reader that went away (a pipe closed early) is no error of
/// ours, so the command ends with what it had shown; anything else is reported.
fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Exit(Outcome::Ok).into()
    } else {
        anyhow::Error::new(e).context("cannot write to stdout")
    }
}

/// How a command ended: the one map from outcome to exit status, stated in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Done as asked.
    Ok = 0,
    /// A check failed: a trace differs, a snapshot test failed, a bench regressed, a plugin
    /// failed while running or did not load.
    CheckFailed = 1,
    /// Bad input: a scene, playlist, trace or argument that cannot be used as given.
    BadInput = 2,
    /// An I/O or environment failure: a file that cannot be written, a socket that cannot be
    /// opened, something this build or machine lacks.
    Environment = 3,
}

/// The exit statuses, for `--help`.
const EXIT_HELP: &str = "Exit status: 0 done; 1 a check failed (a trace differs, a test or a bench regressed, \
a plugin failed or did not load); 2 bad input (a scene, playlist, trace or argument); 3 an I/O or \
environment failure (a file or socket that cannot be opened or written, a missing program).";

/// An error already shown to the user in full, carrying how the command ended.
#[derive(Debug)]
struct Exit(Outcome);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0 as u8)
    }
}

impl std::error::Error for Exit {}

/// How an error ends the command: the first cause in its chain that says.
fn outcome(e: &anyhow::Error) -> Outcome {
    use marquee::engine::EngineError;
    use marquee::model::scene::SceneError;
    use marquee::plugins::new_plugin::NewPluginError;
    use trace::TraceError;
    e.chain()
        .find_map(|c| {
            if let Some(Exit(o)) = c.downcast_ref::<Exit>() {
                Some(*o)
            } else if let Some(t) = c.downcast_ref::<TraceError>() {
                match t {
                    // A plugin that failed while tracing or verifying is a failed check.
                    TraceError::PluginFailed { .. } => Some(Outcome::CheckFailed),
                    TraceError::Io { .. } | TraceError::Recorder(_) | TraceError::NoGifPlugin => {
                        Some(Outcome::Environment)
                    }
                    TraceError::Engine(e) => Some(engine_outcome(e)),
                    _ => Some(Outcome::BadInput),
                }
            } else if let Some(e) = c.downcast_ref::<EngineError>() {
                Some(engine_outcome(e))
            } else if c.is::<SceneError>() {
                Some(Outcome::BadInput)
            } else if let Some(n) = c.downcast_ref::<NewPluginError>() {
                Some(match n {
                    NewPluginError::Io { .. } => Outcome::Environment,
                    _ => Outcome::BadInput,
                })
            } else if c.is::<std::io::Error>() {
                Some(Outcome::Environment)
            } else {
                None
            }
        })
        .unwrap_or(Outcome::CheckFailed)
}

/// A scene an engine cannot be built from is bad input; a schedule it cannot build is the host's.
fn engine_outcome(e: &marquee::engine::EngineError) -> Outcome {
    match e {
        marquee::engine::EngineError::Scene(_) => Outcome::BadInput,
        _ => Outcome::Environment,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logs::init(cli.log_format == LogFormat::Json);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let outcome = outcome(&e);
            if e.downcast_ref::<Exit>().is_none() {
                eprintln!("error: {e}");
                for cause in e.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            ExitCode::from(outcome as u8)
        }
    }
}

fn frame_rate(text: &str) -> Result<f64, String> {
    use marquee::model::scene::{MAX_FPS, MIN_FPS};
    match text.parse::<f64>() {
        Ok(f) if (MIN_FPS..=MAX_FPS).contains(&f) => Ok(f),
        _ => Err(format!(
            "expected a frame rate from {MIN_FPS} to {MAX_FPS}, found `{text}`"
        )),
    }
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(format!("expected a number of seconds above 0, found `{text}`")),
    }
}

fn plugin_dirs(cli: &Cli) -> Vec<PathBuf> {
    let mut dirs = cli.plugin_dirs.clone();
    if let Some(path) = std::env::var_os("MARQUEE_PLUGIN_PATH") {
        dirs.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs
}

fn warn_failures(registry: &Registry) {
    let failures = registry.failures();
    if !failures.is_empty() {
        eprintln!(
            "warning: {} plugin file(s) failed to load; running without them:",
            failures.len()
        );
        for f in failures {
            eprintln!("  - {f}");
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let registry = Registry::discover(&plugin_dirs(&cli));
    match cli.command {
        Command::NewPlugin { name, kind, dir } => {
            let kind = match kind {
                KindArg::Renderer => marquee_plugin_api::PluginKind::Renderer,
                KindArg::Processor => marquee_plugin_api::PluginKind::Processor,
                KindArg::Recorder => marquee_plugin_api::PluginKind::Recorder,
            };
            let spec = marquee::plugins::new_plugin::NewPlugin {
                dir: dir.unwrap_or_else(|| PathBuf::from(&name)),
                name,
                kind,
            };
            let written = marquee::plugins::new_plugin::generate(&spec)?;
            let api = spec.dir.join(marquee::plugins::new_plugin::API_DIR);
            for f in written.iter().filter(|f| !f.starts_with(&api)) {
                outln!("created {}", f.display())?;
            }
            outln!(
                "created {}/ (the crate's own copy of the plugin API)",
                api.display()
            )?;
            outln!(
                "\nnext:\n  cd {}\n  cargo build --release && cargo test\n  marquee run tests/scene.toml --plugin-dir target/release\n  marquee test --plugin-dir target/release   # the first run writes tests/traces/; commit it",
                spec.dir.display()
            )?;
            Ok(())
        }
        Command::Test {
            paths,
            frames,
            update,
        } => {
            warn_failures(&registry);
            let scenes = marquee::testing::scene_files(&paths).map_err(|e| {
                eprintln!("error: {e}");
                Exit(Outcome::BadInput)
            })?;
            let mode = marquee::testing::Mode {
                update,
                ci: std::env::var_os("CI").is_some(),
                how_to_update: "marquee test --update".into(),
            };
            let mut failed = 0;
            for scene in &scenes {
                let dir = marquee::testing::trace_dir_for(scene);
                match marquee::testing::check(scene, frames, &dir, &registry, &mode) {
                    Ok(marquee::testing::TraceCheck::Matched) => outln!(
                        "ok       {} ({frames} frames match {})",
                        scene.display(),
                        dir.display()
                    )?,
                    Ok(marquee::testing::TraceCheck::Written) => outln!(
                        "written  {} ({frames} frames to {})",
                        scene.display(),
                        dir.display()
                    )?,
                    Err(message) => {
                        failed += 1;
                        outln!("FAILED   {}\n{message}", scene.display())?;
                    }
                }
            }
            outln!("{} scenes, {failed} failed", scenes.len())?;
            if failed == 0 {
                Ok(())
            } else {
                Err(Exit(Outcome::CheckFailed).into())
            }
        }
        Command::Schema { files } => {
            let schema = match files {
                SchemaArg::Scene => marquee::model::schema::schema(FileKind::Scene, &registry),
                SchemaArg::Playlist => marquee::model::schema::schema(FileKind::Playlist, &registry),
                SchemaArg::Metrics => marquee::observe::metrics::schema(),
            };
            outln!("{schema:#}")?;
            Ok(())
        }
        Command::Plugins { json, action: None } => {
            if json {
                outln!("{:#}", marquee::plugins::describe::registry_json(&registry))?;
            } else {
                list_plugins(&registry)?;
            }
            // A plugin file that did not load is a failed check: scripts and CI see it.
            if registry.failures().is_empty() {
                Ok(())
            } else {
                Err(Exit(Outcome::CheckFailed).into())
            }
        }
        Command::Plugins {
            json,
            action: Some(PluginsAction::Describe { id }),
        } => {
            let Some(plugin) = registry.get(&id) else {
                let ids: Vec<&str> = registry.plugins().iter().map(|p| p.id()).collect();
                let hint = marquee::model::diag::nearest(&id, ids.iter().copied())
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                eprintln!("error: no plugin `{id}`; {hint}known plugins: {}", ids.join(", "));
                return Err(Exit(Outcome::BadInput).into());
            };
            if json {
                outln!("{:#}", marquee::plugins::describe::plugin_json(plugin))?;
            } else {
                out!("{}", marquee::plugins::describe::describe(plugin))?;
            }
            Ok(())
        }
        Command::Run {
            scene,
            headless,
            output,
            frames,
            seconds,
            unpaced,
            threads,
            no_reload,
            screenshots,
            out_dir,
            unconfined_paths,
            metrics,
            metrics_every,
        } => {
            warn_failures(&registry);
            let show = Show::load(&scene, &registry)?;
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
                let (kind, why) = match arg {
                    OutputArg::Headless => (OutputKind::Headless, "asked for".to_string()),
                    OutputArg::Terminal => (OutputKind::Terminal, "asked for".to_string()),
                    OutputArg::Window => (OutputKind::Window, "asked for".to_string()),
                    OutputArg::Auto => output::auto(Surroundings::detect()),
                };
                tracing::info!("output: {} ({why})", kind.as_str());
                choices.push(format!("{}: {why}", kind.as_str()));
                let title = show.name().to_string();
                outputs.push(match kind {
                    OutputKind::Headless => Box::new(|_, _| Ok(Box::new(Headless) as Box<dyn Output>)),
                    OutputKind::Terminal => {
                        Box::new(|_, _| Ok(Box::new(Terminal::stdout()?) as Box<dyn Output>))
                    }
                    OutputKind::Window => window_output(title)?,
                });
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
                    ..EngineOptions::default()
                },
                paced: !unpaced,
                limit,
                reload: !no_reload,
                screenshot_dir: screenshots,
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
            let observe = live::Observe {
                metrics,
                every: metrics_every,
                allocations: Some(sys::allocations),
                outputs: kinds.iter().map(|k| k.as_str().to_string()).collect(),
                choice: choices.join("; "),
            };
            // The terminal output owns the screen: log lines wait until it is restored.
            let terminal = kinds.contains(&OutputKind::Terminal);
            logs::hold(terminal);
            let report = live::run(show, &registry, outputs, &options, observe);
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
        Command::Trace {
            scene,
            seconds,
            frames,
            out,
            threads,
            fps,
        } => {
            warn_failures(&registry);
            let mut show = Show::load(&scene, &registry)?;
            if let Some(fps) = fps
                && !show.set_fps(fps)
            {
                eprintln!("error: --fps applies to scenes; every scene of a playlist keeps its own rate");
                return Err(Exit(Outcome::BadInput).into());
            }
            let frames = match (frames, seconds, show.length()) {
                (Some(n), _, _) => n,
                (None, Some(s), _) => trace::check_frames(trace::frames_for(s, show.fps()), "--seconds")?,
                (None, None, Some(n)) => n,
                (None, None, None) => {
                    eprintln!(
                        "error: {} loops forever; say how much to trace with --seconds or --frames",
                        show.path().display()
                    );
                    return Err(Exit(Outcome::BadInput).into());
                }
            };
            let bar = progress_bar(frames, "tracing");
            let outcome =
                trace::trace_with_progress(&show, &registry, &out, frames, threads, |n| bar.set_position(n));
            bar.finish_and_clear();
            let outcome = outcome?;
            let mut ms = outcome.frame_ms.clone();
            ms.sort_by(f64::total_cmp);
            outln!(
                "traced {} frames of {} ({}×{} at {} fps) to {} and {}; median {:.3} ms per frame",
                frames,
                show.path().display(),
                outcome.index.scene.width,
                outcome.index.scene.height,
                show.fps(),
                out.join(trace::GIF_FILE).display(),
                out.join(trace::INDEX_FILE).display(),
                ms[ms.len() / 2]
            )?;
            Ok(())
        }
        Command::Bench {
            scene,
            frames,
            warmup,
            threads,
            json,
            baseline,
            threshold,
            recorders,
            out_dir,
        } => {
            warn_failures(&registry);
            let baseline = match &baseline {
                None => None,
                Some(path) => {
                    let text = marquee_plugin_api::files::read_text_bounded(
                        path,
                        marquee::model::scene::MAX_FILE_BYTES,
                    )
                    .with_context(|| format!("cannot read the baseline {}", path.display()))?;
                    match serde_json::from_str::<marquee::play::bench::BenchReport>(&text) {
                        Ok(b) => Some(b),
                        Err(e) => {
                            eprintln!(
                                "error: {}:{}:{}: not a `marquee bench --json` file: {e}",
                                path.display(),
                                e.line(),
                                e.column()
                            );
                            return Err(Exit(Outcome::BadInput).into());
                        }
                    }
                }
            };
            let show = Show::load(&scene, &registry)?;
            let bar = progress_bar(frames, "measuring");
            let report = marquee::play::bench::run(
                &show,
                frames,
                warmup,
                threads,
                recorders.then_some(OutDir {
                    dir: out_dir,
                    unconfined: false,
                }),
                Some(sys::allocations),
                Some(sys::resources),
                |n| bar.set_position(n),
            );
            bar.finish_and_clear();
            let report = report?;
            outln!(
                "{}: {}×{}, {} frames after {} of warm-up, {} thread(s)\n  median {:.4} ms, p95 {:.4} ms, p99 {:.4} ms, {:.1} fps\n  peak memory {} KiB, CPU {:.0} % of a core, {:.2} allocations per frame",
                report.scene,
                report.width,
                report.height,
                report.frames,
                report.warmup,
                report.threads,
                report.median_ms,
                report.p95_ms,
                report.p99_ms,
                report.fps,
                report.peak_rss_kib.unwrap_or(0),
                report.cpu_percent.unwrap_or(0.0),
                report.allocations_per_frame.unwrap_or(0.0)
            )?;
            if let Some((median, p99)) = report.recording_ms {
                outln!("  recording: median {median:.4} ms, p99 {p99:.4} ms of the render thread per frame")?;
                for r in &report.recorders {
                    outln!(
                        "    {}: {} frames recorded, {} dropped",
                        r.id,
                        r.recorded,
                        r.dropped
                    )?;
                }
            }
            if let Some(path) = &json {
                let text = serde_json::to_string_pretty(&report).context("serialising the figures")? + "\n";
                std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
            }
            match baseline {
                Some(b) => {
                    let c = marquee::play::bench::compare(&report, &b, threshold);
                    outln!("  {}", c.summary)?;
                    if c.regressed {
                        Err(Exit(Outcome::CheckFailed).into())
                    } else {
                        Ok(())
                    }
                }
                None => Ok(()),
            }
        }
        Command::Verify {
            trace: dir,
            scene,
            threads,
            quiet,
        } => {
            warn_failures(&registry);
            let stdout = std::io::stdout();
            let total = trace::read_index(&dir).map_or(0, |i| i.frames.len() as u64);
            let bar = progress_bar(total, "verifying");
            let report = trace::verify(&dir, &registry, scene.as_deref(), threads, |i, ok| {
                bar.set_position(i + 1);
                if !quiet {
                    bar.suspend(|| {
                        let _ = writeln!(stdout.lock(), "frame {i:5} {}", if ok { "ok" } else { "DIFFERS" });
                    });
                }
            });
            bar.finish_and_clear();
            let report = report?;
            for note in &report.notes {
                tracing::info!("note: {note}");
            }
            match &report.mismatch {
                None => {
                    outln!("ok: all {} frames of {} match", report.total, dir.display())?;
                    Ok(())
                }
                Some(m) => {
                    outln!(
                        "FAILED: frame {} of {} differs (hash {} expected, {} found; {} pixels differ from the GIF's copy); {} frames matched before it",
                        m.index,
                        dir.display(),
                        m.expected,
                        m.actual,
                        m.differing_pixels,
                        report.matched
                    )?;
                    outln!("  expected:   {}", m.images.expected.display())?;
                    outln!("  actual:     {}", m.images.actual.display())?;
                    outln!("  difference: {}", m.images.difference.display())?;
                    Err(Exit(Outcome::CheckFailed).into())
                }
            }
        }
    }
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

fn list_plugins(registry: &Registry) -> anyhow::Result<()> {
    outln!("host ABI {ABI_VERSION}")?;
    outln!(
        "{:<16} {:<9} {:<28} {:<5} origin",
        "id",
        "version",
        "kinds",
        "abi"
    )?;
    for p in registry.plugins() {
        let kinds: Vec<&str> = p.manifest.kinds().iter().map(|k| k.as_str()).collect();
        outln!(
            "{:<16} {:<9} {:<28} {:<5} {}",
            p.id(),
            p.manifest.version,
            kinds.join(", "),
            p.manifest.abi.to_string(),
            p.origin
        )?;
    }
    for (p, by) in registry.shadowed() {
        if let Origin::BuiltIn = p.origin {
            outln!(
                "(built-in `{}` {} is replaced by {by})",
                p.id(),
                p.manifest.version
            )?;
        }
    }
    let failures = registry.failures();
    if failures.is_empty() {
        outln!("no plugin failed to load")?;
    } else {
        outln!("{} plugin file(s) failed to load:", failures.len())?;
        for f in failures {
            outln!("  {}: {f}", f.path().display())?;
        }
    }
    Ok(())
}

/// What only the binary may do: count heap allocations (it installs the counting global
/// allocator) and ask the OS for the process's CPU time and peak memory.
#[allow(unsafe_code)]
mod sys {
    use std::time::Duration;

    #[global_allocator]
    static GLOBAL: marquee::observe::alloc_count::Counting = marquee::observe::alloc_count::Counting;

    /// Heap allocations made so far by the calling thread.
    pub fn allocations() -> u64 {
        marquee::observe::alloc_count::allocations()
    }

    /// CPU time used by the process (user + system) and its peak resident memory in KiB.
    pub fn resources() -> (Duration, u64) {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `getrusage` fills the struct we own; RUSAGE_SELF is always valid.
        let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
        if !ok {
            return (Duration::ZERO, 0);
        }
        // SAFETY: zero-initialised, then filled by a successful call.
        let u = unsafe { usage.assume_init() };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        (tv(u.ru_utime) + tv(u.ru_stime), u.ru_maxrss as u64)
    }
}

/// Where log lines go: standard error, except while a terminal output owns the screen, when they
/// wait in a buffer that is written out once the terminal is restored.
mod logs {
    use std::io::{self, Write};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    static HELD: AtomicBool = AtomicBool::new(false);
    static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    /// Holds log lines back (the terminal shows frames) or lets them through and writes out what
    /// was held.
    pub fn hold(on: bool) {
        HELD.store(on, Ordering::SeqCst);
        if !on {
            let held = std::mem::take(&mut *BUFFER.lock().unwrap_or_else(|e| e.into_inner()));
            let _ = io::stderr().write_all(&held);
        }
    }

    /// A writer for `tracing_subscriber`.
    pub struct Writer;

    impl Write for Writer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if HELD.load(Ordering::SeqCst) {
                BUFFER
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(buf);
                Ok(buf.len())
            } else {
                io::stderr().write(buf)
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            io::stderr().flush()
        }
    }

    /// Sets up `tracing`: human-readable lines, or JSON objects with `json`.
    pub fn init(json: bool) {
        let builder = tracing_subscriber::fmt()
            .with_writer(|| Writer)
            .with_target(false)
            .with_max_level(tracing::Level::INFO);
        let _ = if json {
            builder.json().try_init()
        } else {
            builder
                .without_time()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .try_init()
        };
    }
}

/// A progress bar on standard error, redrawn at most ten times a second, and silent when
/// standard error is not a terminal.
fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr_with_hz(10),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} frames, {per_sec}, {eta} left")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}
