//! Snapshot testing of scene traces, for plugin authors' own test suites.
//!
//! ```no_run
//! # use marquee_mandelbrot as my_plugin; // stands in for your own plugin crate
//! use marquee::plugins::registry::{Origin, Registry};
//! let mut registry = Registry::builtin();
//! registry.add_module(my_plugin::module(), Origin::BuiltIn);
//! marquee::testing::check_trace("tests/scenes/demo.toml", 30, "tests/traces/demo", &registry);
//! ```
//!
//! The first run writes the trace (GIF + index); later runs re-render and compare frame by frame.
//! On a difference the test fails naming the first divergent frame and the expected / actual /
//! difference PNGs written beside the stored trace. Set `MARQUEE_UPDATE_TRACES=1` to accept new
//! output. Under CI (`CI` set), a missing trace fails instead of being written.

use std::path::{Path, PathBuf};

use crate::model::show::Show;
use crate::plugins::registry::Registry;
use crate::trace::{self, TraceError};

/// Environment variable that makes [`check_trace`] rewrite stored traces.
pub const UPDATE_ENV: &str = "MARQUEE_UPDATE_TRACES";

/// What [`check_trace`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceCheck {
    /// Every frame matched the stored trace.
    Matched,
    /// No trace was stored (or an update was asked for), so one was written.
    Written,
}

/// Traces `frames` frames of `scene` (a scene or playlist file) and compares them with the trace stored in `dir`.
///
/// # Panics
/// With a readable message, if the scene does not load, a frame differs, or (under CI) no trace is
/// stored. This is a test assertion.
#[track_caller]
pub fn check_trace(
    scene: impl AsRef<Path>,
    frames: u64,
    dir: impl AsRef<Path>,
    registry: &Registry,
) -> TraceCheck {
    match try_check_trace(scene.as_ref(), frames, dir.as_ref(), registry) {
        Ok(outcome) => outcome,
        Err(message) => panic!("{message}"),
    }
}

/// [`check_trace`] without the panic: `Err` holds the message it would panic with.
pub fn try_check_trace(
    scene_path: &Path,
    frames: u64,
    dir: &Path,
    registry: &Registry,
) -> Result<TraceCheck, String> {
    let mode = Mode {
        update: std::env::var_os(UPDATE_ENV).is_some_and(|v| v != "0"),
        ci: std::env::var_os("CI").is_some(),
        how_to_update: format!("{UPDATE_ENV}=1 cargo test"),
    };
    check(scene_path, frames, dir, registry, &mode)
}

/// How a check treats stored traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mode {
    /// Rewrite stored traces with what the scene makes now.
    pub update: bool,
    /// Under CI: a missing trace is an error, never written.
    pub ci: bool,
    /// The command that updates traces, for messages.
    pub how_to_update: String,
}

/// Where the trace of `scene` is stored: `traces/STEM/` beside it (`tests/demo.toml` →
/// `tests/traces/demo/`).
pub fn trace_dir_for(scene: &Path) -> PathBuf {
    let stem = scene.file_stem().unwrap_or_default();
    scene.parent().unwrap_or(Path::new("")).join("traces").join(stem)
}

/// The scene and playlist files `paths` name: each file as given, and each directory's `.toml`
/// files (not those below it), sorted. `Err` names a path that is neither.
pub fn scene_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{} holds no .toml scene files", path.display()));
            }
            out.extend(found);
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(format!(
                "{} is not a scene file or a directory of them",
                path.display()
            ));
        }
    }
    Ok(out)
}

/// Traces `frames` frames of `scene_path` and compares them with the trace stored in `dir`
/// (or writes it: none is stored, or `mode.update`). `Err` says what differs, or failed.
pub fn check(
    scene_path: &Path,
    frames: u64,
    dir: &Path,
    registry: &Registry,
    mode: &Mode,
) -> Result<TraceCheck, String> {
    let update = mode.update;
    let stored = dir.join(trace::INDEX_FILE).exists();
    let shown = |e: TraceError| e.to_string();
    let how = &mode.how_to_update;
    if update || !stored {
        if !stored && !update && mode.ci {
            return Err(format!(
                "no stored trace in {}; run `{how}` locally and commit the trace",
                dir.display()
            ));
        }
        let show = Show::load(scene_path, registry).map_err(|e| e.to_string())?;
        trace::trace(&show, registry, dir, frames, 1).map_err(shown)?;
        return Ok(TraceCheck::Written);
    }
    let index = trace::read_index(dir).map_err(shown)?;
    if index.frames.len() as u64 != frames {
        return Err(format!(
            "the trace in {} has {} frames, the test asks for {frames}; run `{how}` to re-create it",
            dir.display(),
            index.frames.len()
        ));
    }
    let report = trace::verify(dir, registry, Some(scene_path), 1, |_, _| {}).map_err(shown)?;
    match report.mismatch {
        None => Ok(TraceCheck::Matched),
        Some(m) => Err(format!(
            "scene {} diverges from the trace in {} at frame {} ({} pixels differ; hash {} expected, {} found)\n  expected:   {}\n  actual:     {}\n  difference: {}\n{}run `{how}` to accept the new frames",
            scene_path.display(),
            dir.display(),
            m.index,
            m.differing_pixels,
            m.expected,
            m.actual,
            m.images.expected.display(),
            m.images.actual.display(),
            m.images.difference.display(),
            report
                .notes
                .iter()
                .map(|n| format!("  note: {n}\n"))
                .collect::<String>(),
        )),
    }
}
