//! `marquee`: the command-line edge. Parses arguments, runs the command asked for (one module
//! each), renders typed errors for people, and sets the exit status through one map (`exit`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use marquee::isolate::{Choice, Isolation};
use marquee::plugins::registry::Registry;

use exit::{EXIT_HELP, Exit, outcome, stdout_error};

/// Writes a line to stdout; a closed stdout (`marquee plugins | head -1`) ends the command
/// quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(crate::stdout_error)
    }};
}

/// [`outln!`] without the newline.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err(crate::stdout_error)
    }};
}

mod bench;
mod exit;
mod logs;
mod plugins;
mod receive;
mod remote;
mod run;
mod sys;
mod trace;
mod traces;

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
    /// Built-in plugins only: no plugin directory is loaded (after a run a plugin brought down).
    #[arg(long, global = true)]
    safe_mode: bool,
    /// Leave out the plugin with this id (repeatable).
    #[arg(long = "disable-plugin", global = true, value_name = "ID")]
    disabled: Vec<String>,
    /// Which instances run in a child process of their own: `all`, `files` (those of plugins
    /// loaded from files: `run`'s default), `none` (only those a scene marks `isolate = true`:
    /// the other commands' default), or a plugin's id (repeatable). See docs/isolation.md.
    #[arg(long = "isolate", global = true, value_name = "all|files|none|PLUGIN")]
    isolate: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a scene or a playlist live: in the terminal, or headless.
    Run(run::RunArgs),
    /// Renders a scene or playlist to trace.gif + index.json for later verification; with
    /// --shard, one share of its frames, for `trace merge` to join.
    Trace(trace::TraceCmd),
    /// Runs a scene or playlist headless and reports its frame times, memory, CPU and allocations.
    Bench(bench::BenchArgs),
    /// Re-renders a trace and checks it frame by frame.
    Verify(trace::VerifyArgs),
    /// Traces every scene of a directory, or verifies each against its trace (--verify), with a
    /// JUnit XML report (--junit); exit 1 if any differs.
    Traces(traces::TracesArgs),
    /// Generates a standalone plugin crate that builds, loads and tests on the first try.
    NewPlugin(plugins::NewPluginArgs),
    /// Lists every plugin found, and every plugin file that failed to load.
    Plugins(plugins::PluginsArgs),
    /// Snapshot-tests scenes: traces each and compares it frame by frame with the trace stored
    /// beside it (`traces/STEM/`), writing it when none is stored. For a plugin's own CI:
    /// `marquee test tests --plugin-dir target/release`.
    Test(trace::TestArgs),
    /// Prints the JSON Schema of scene files (or playlist files), every loaded plugin's config
    /// included, for an editor's TOML language server (README: "Editor support"); or that of a
    /// line of the `--metrics` stream.
    Schema(plugins::SchemaArgs),
    /// Listens for DDP, E1.31 and Art-Net and shows what arrives, with counts per source: to
    /// check a rig at your desk without its LEDs.
    Receive(receive::ReceiveArgs),
    /// Loads one plugin file and exits: the child process of the crash-proof plugin scan
    /// (`plugins::scan`), never run by hand.
    #[command(name = "__scan-plugin", hide = true)]
    ScanPlugin {
        /// The plugin file.
        file: PathBuf,
    },
    /// Serves one isolated plugin instance on standard input: the child process of an isolated
    /// instance (`marquee::isolate`), never run by hand.
    #[command(name = "__plugin-host", hide = true)]
    PluginHost {
        /// The kind of instance (renderer, processor, recorder).
        #[arg(long)]
        kind: String,
        /// A built-in plugin's id.
        #[arg(long, conflicts_with = "file")]
        builtin: Option<String>,
        /// A plugin file.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The heap limit, in MiB.
        #[arg(long)]
        memory_mb: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
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

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::ScanPlugin { file } = &cli.command {
        // Whatever loading says (a typed error included), coming back means it is safe.
        let _ = marquee::plugins::registry::load_file(file);
        return Ok(());
    }
    if let Command::PluginHost {
        builtin,
        file,
        memory_mb,
        ..
    } = &cli.command
    {
        use marquee::isolate::child::{Source, serve};
        let source = match (builtin, file) {
            (Some(id), _) => Source::BuiltIn(id.clone()),
            (None, Some(path)) => Source::File(path.clone()),
            (None, None) => anyhow::bail!("__plugin-host needs --builtin or --file"),
        };
        return serve(&source, *memory_mb).map_err(Into::into);
    }
    let mut registry = if cli.safe_mode {
        tracing::info!("safe mode: built-in plugins only; plugin directories are not loaded");
        Registry::builtin()
    } else {
        registry(&plugin_dirs(&cli))
    };
    for id in &cli.disabled {
        if !registry.disable(id, "--disable-plugin") {
            tracing::warn!("--disable-plugin {id}: no plugin `{id}` was loaded");
        }
    }
    // Commands that run plugins leave a marker while they run (safe mode).
    let runs_plugins = matches!(
        cli.command,
        Command::Run(_)
            | Command::Trace(_)
            | Command::Verify(_)
            | Command::Traces(_)
            | Command::Bench(_)
            | Command::Test(_)
    );
    let marker = match (runs_plugins, marquee::plugins::scan::cache_dir()) {
        (true, Some(cache)) => {
            say_unclean_runs(&cache);
            let live = registry
                .file_plugins()
                .into_iter()
                .map(|(id, file)| marquee::plugins::safe_mode::LivePlugin { id, file })
                .collect();
            marquee::plugins::safe_mode::RunMarker::begin(&cache, live)
        }
        _ => None,
    };
    let result = command(cli, &registry);
    // Ended without a crash, whatever the outcome: the marker goes.
    if let Some(m) = marker {
        m.end();
    }
    result
}

/// Says which earlier runs ended uncleanly while plugins from files were loaded.
fn say_unclean_runs(cache: &std::path::Path) {
    for run in marquee::plugins::safe_mode::unclean_runs(cache) {
        let names: Vec<String> = run
            .plugins
            .iter()
            .map(|p| format!("`{}` ({})", p.id, p.file.display()))
            .collect();
        tracing::warn!(
            "an earlier run (process {}) ended uncleanly while these plugins from files were loaded: {}; if one of them brought it down, start with --safe-mode (built-in plugins only) or --disable-plugin ID",
            run.pid,
            names.join(", ")
        );
    }
}

/// Runs the command `cli` names with the plugins of `registry`.
fn command(cli: Cli, registry: &Registry) -> anyhow::Result<()> {
    let isolation = |default| isolation(&cli.isolate, default);
    match cli.command {
        Command::Run(args) => run::run(args, registry, isolation(Choice::Files)),
        Command::Trace(args) => trace::trace(args, registry, isolation(Choice::Marked)),
        Command::Verify(args) => trace::verify(args, registry, isolation(Choice::Marked)),
        Command::Traces(args) => traces::traces(args, registry, isolation(Choice::Marked)),
        Command::Test(args) => trace::test(args, registry),
        Command::Bench(args) => bench::bench(args, registry, isolation(Choice::Marked)),
        Command::Plugins(args) => plugins::plugins(args, registry),
        Command::NewPlugin(args) => plugins::new_plugin(args),
        Command::Schema(args) => plugins::schema(args, registry),
        Command::Receive(args) => receive::receive(args),
        Command::ScanPlugin { .. } | Command::PluginHost { .. } => unreachable!("handled above"),
    }
}

/// How instances are isolated: `--isolate` says which (`marquee run` isolates plugins from files
/// unless told otherwise; the other commands only what scenes mark); children are started from
/// this program. Live runs restart failed children (traces never do).
fn isolation(isolate: &[String], default: Choice) -> Isolation {
    Isolation {
        exe: std::env::current_exe().ok(),
        choice: Choice::from_args(isolate, default),
        recover: true,
    }
}

/// The built-in plugins and those in `dirs`, each file loaded in a child process first (the
/// crash-proof scan, cached).
fn registry(dirs: &[PathBuf]) -> Registry {
    if dirs.is_empty() {
        return Registry::builtin();
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::warn!(
                "cannot find this program ({e}) to scan plugin files in a child; loading them here"
            );
            return Registry::discover(dirs);
        }
    };
    let scanner = marquee::plugins::scan::Scanner::new(exe, marquee::plugins::scan::cache_dir());
    let (registry, scanner) = Registry::discover_scanned(dirs, scanner);
    if scanner.scanned > 0 {
        tracing::info!(
            "plugin scan: {} file(s) loaded in a child process first, {} known from the cache",
            scanner.scanned,
            scanner.cached
        );
    }
    registry
}

/// Parses a frame rate within the scene limits.
fn frame_rate(text: &str) -> Result<f64, String> {
    use marquee::model::scene::{MAX_FPS, MIN_FPS};
    match text.parse::<f64>() {
        Ok(f) if (MIN_FPS..=MAX_FPS).contains(&f) => Ok(f),
        _ => Err(format!(
            "expected a frame rate from {MIN_FPS} to {MAX_FPS}, found `{text}`"
        )),
    }
}

/// Parses a number of seconds above 0.
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(format!("expected a number of seconds above 0, found `{text}`")),
    }
}

/// The plugin directories: `--plugin-dir`s, then `$MARQUEE_PLUGIN_PATH`.
fn plugin_dirs(cli: &Cli) -> Vec<PathBuf> {
    let mut dirs = cli.plugin_dirs.clone();
    if let Some(path) = std::env::var_os("MARQUEE_PLUGIN_PATH") {
        dirs.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs
}

/// Says which plugin files failed to load; the command goes on without them.
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
