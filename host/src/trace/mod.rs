//! Deterministic traces: N frames of a scene or playlist to `trace.gif` plus `index.json` (per-frame hashes),
//! and verification by re-rendering. The format is described in `docs/trace-format.md` and
//! `docs/trace-index.schema.json`.
//!
//! A trace is a pure function of the scene file, its seed and the plugins' versions: the same
//! inputs give byte-identical `index.json` and `trace.gif`, whatever the thread count, build
//! profile, or whether plugins are built in or loaded from `.so` files. Timings, which are not
//! deterministic, go to a separate `timings.json`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use marquee_plugin_api::abi_stable::std_types::RResult;
use marquee_plugin_api::{FrameMeta, InitCtx, PluginError, PluginKind};

use crate::engine::{EngineError, EngineOptions, Failure, instance_seed};
use crate::model::scene::SceneError;
use crate::model::show::Show;
use crate::play::player::Player;
use crate::plugins::registry::Registry;

pub mod gif_blocks;
mod gif_frames;
pub mod merge;
pub mod shard;
pub mod suite;
mod verification;

pub use gif_frames::GifFrames;
use gif_frames::decode_hashes;
use shard::{Shard, ShardInfo};
pub use verification::{DiffImages, Mismatch, VerifyReport, verify, verify_shard, write_diff_images};

/// Version of the `index.json` format written by this host.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the GIF inside a trace directory.
pub const GIF_FILE: &str = "trace.gif";
/// File name of the index inside a trace directory.
pub const INDEX_FILE: &str = "index.json";
/// Every this many frames the trace's GIF stores a frame whole (a key frame); the frames between
/// store what changed since the one before. Decoding can start at a key frame, and a shard
/// starting between two encodes the frames since the last one first (its `lead`).
pub const KEY_FRAME_INTERVAL: u64 = 60;
/// Frames queued to the trace's GIF encoder at most (its thread's pool of frame buffers).
const GIF_QUEUE: usize = 4;
/// File name of the (non-deterministic) timings inside a trace directory.
pub const TIMINGS_FILE: &str = "timings.json";

/// A 64-bit xxh3 hash of `bytes`, as 16 lowercase hex digits.
pub fn hash_hex(bytes: &[u8]) -> String {
    crate::model::hex(xxhash_rust::xxh3::xxh3_64(bytes))
}

/// `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceIndex {
    /// [`FORMAT_VERSION`].
    pub format: u32,
    /// The scene traced.
    pub scene: SceneInfo,
    /// The plugins the scene used, and the GIF recorder.
    pub plugins: Vec<PluginInfo>,
    /// How the GIF was written.
    pub gif: GifInfo,
    /// One entry per frame.
    pub frames: Vec<FrameEntry>,
    /// For a shard (`trace --shard`), which share of which trace it holds; absent from a
    /// whole trace, whose index is then exactly what it was before shards existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

/// The scene part of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneInfo {
    /// The scene file, as given on the command line.
    pub path: String,
    /// xxh3-64 of the scene file's bytes.
    pub hash: String,
    /// Scene name.
    pub name: String,
    /// Scene seed.
    pub seed: u64,
    /// Frames per second.
    pub fps: f64,
    /// Canvas width.
    pub width: u32,
    /// Canvas height.
    pub height: u32,
    /// Panel layout `[columns, rows]`.
    pub panels: [u32; 2],
}

/// One plugin in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginInfo {
    /// Plugin id.
    pub id: String,
    /// Plugin version.
    pub version: String,
    /// ABI version it was built for, `major.minor`.
    pub abi: String,
}

/// The GIF part of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GifInfo {
    /// File name, relative to the trace directory.
    pub file: String,
    /// Frame count.
    pub frames: u64,
    /// Sum of all frame delays, in centiseconds.
    pub total_centis: u64,
}

/// One frame in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameEntry {
    /// Frame index.
    pub index: u64,
    /// Time in seconds (`index / fps`).
    pub time: f64,
    /// GIF delay of this frame in centiseconds.
    pub delay: u16,
    /// xxh3-64 of the exact RGBA8 frame.
    pub rgba: String,
    /// xxh3-64 of the frame as decoded from the GIF (after quantisation), RGBA8.
    pub gif: String,
}

/// Why a trace or verification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The scene could not be used.
    #[error(transparent)]
    Scene(#[from] SceneError),
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A file of the trace being verified (its index, its GIF) could not be read: bad input.
    #[error("{what} {}: {source}", path.display())]
    Read {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file could not be written (or a directory made): an I/O failure.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The host has no `gif` plugin to write traces with.
    #[error("no `gif` recorder plugin is available; traces need it")]
    NoGifPlugin,
    /// The GIF recorder failed.
    #[error("writing trace.gif failed: {0}")]
    Recorder(Box<Failure>),
    /// More frames were asked for than [`MAX_FRAMES`].
    #[error(
        "{what} would be {frames} frames, more than the {MAX_FRAMES} one run makes; trace a shorter stretch, or several"
    )]
    TooLong {
        /// Where the count came from.
        what: String,
        /// The count.
        frames: u64,
    },
    /// A plugin instance failed (an error or a panic) while tracing or verifying: its layer went
    /// transparent, so the frames are not what the scene makes. A trace is not written, a
    /// verification does not pass.
    #[error("{} while {doing}, so {consequence}: {}; fix the plugin or its config, then run again", plural(failures.len()), failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    PluginFailed {
        /// `"tracing"` or `"verifying"`.
        doing: &'static str,
        /// What that means for the trace.
        consequence: &'static str,
        /// Each failure, with its frame.
        failures: Vec<Failure>,
    },
    /// The trace directory holds something that is not a valid trace.
    #[error("{}: {message}", path.display())]
    BadTrace {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
}

/// "1 plugin failure", "3 plugin failures".
fn plural(n: usize) -> String {
    if n == 1 {
        "1 plugin failure".into()
    } else {
        format!("{n} plugin failures")
    }
}

fn read<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TraceError + 'a {
    move |source| TraceError::Read {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TraceError + 'a {
    move |source| TraceError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What a trace run produced.
#[derive(Debug)]
pub struct TraceOutcome {
    /// The index written.
    pub index: TraceIndex,
    /// Milliseconds per frame, in order.
    pub frame_ms: Vec<f64>,
    /// For a shard that does not start at frame 0: how its first frame was reached (each
    /// engine, the outgoing one of a transition first), and how long that took.
    pub reached: Vec<crate::engine::Forwarded>,
    /// Milliseconds spent reaching the first frame.
    pub reach_ms: f64,
}

/// The most frames one trace, verify or bench run makes (over nine hours at 30 fps): each
/// frame keeps a few dozen bytes of index and timing.
pub const MAX_FRAMES: u64 = 1_000_000;

/// Frames in `seconds` at `fps`, rounded to the nearest frame, at least 1 (saturating: a huge
/// number of seconds gives `u64::MAX`, for the caller to refuse against [`MAX_FRAMES`]).
pub fn frames_for(seconds: f64, fps: f64) -> u64 {
    ((seconds * fps).round() as u64).max(1)
}

/// Refuses a frame count over [`MAX_FRAMES`], naming the option it came from.
pub fn check_frames(frames: u64, what: &str) -> Result<u64, TraceError> {
    if frames > MAX_FRAMES {
        return Err(TraceError::TooLong {
            what: what.to_string(),
            frames,
        });
    }
    Ok(frames)
}

fn plugin_infos(show: &Show, registry: &Registry) -> Vec<PluginInfo> {
    let mut ids: Vec<&str> = show
        .scenes()
        .into_iter()
        .flat_map(|scene| {
            scene
                .layers
                .iter()
                .map(|l| l.stage.plugin.id())
                .chain(scene.processors.iter().map(|p| p.plugin.id()))
        })
        .chain(Some("gif"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| registry.get(id))
        .map(|p| PluginInfo {
            id: p.id().to_string(),
            version: p.manifest.version.to_string(),
            abi: p.manifest.abi.to_string(),
        })
        .collect()
}

/// How a trace or a verification runs its scenes: worker threads, and which instances run in
/// child processes of their own. A number of threads alone is the common case.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Worker threads (see [`EngineOptions::threads`]).
    pub threads: usize,
    /// Which instances run isolated. Whatever it says of recovery, a failure of an isolated
    /// instance fails the trace: a frame made without it is never recorded as its frame.
    pub isolation: crate::isolate::Isolation,
}

impl From<usize> for Run {
    fn from(threads: usize) -> Run {
        Run {
            threads,
            ..Run::default()
        }
    }
}

impl Run {
    fn engine(self) -> EngineOptions {
        EngineOptions {
            threads: self.threads,
            scene_recorders: false,
            isolation: crate::isolate::Isolation {
                recover: false,
                ..self.isolation
            },
            ..EngineOptions::default()
        }
    }
}

/// Renders `frames` frames of `show` (a scene or a playlist) into `out_dir/trace.gif` and
/// `out_dir/index.json`. Its path is recorded in the index as given.
pub fn trace(
    show: &Show,
    registry: &Registry,
    out_dir: &Path,
    frames: u64,
    threads: impl Into<Run>,
) -> Result<TraceOutcome, TraceError> {
    trace_with_progress(show, registry, out_dir, frames, threads, |_| {})
}

/// [`trace`], calling `progress` with the number of frames written after each one.
pub fn trace_with_progress(
    show: &Show,
    registry: &Registry,
    out_dir: &Path,
    frames: u64,
    run: impl Into<Run>,
    progress: impl FnMut(u64),
) -> Result<TraceOutcome, TraceError> {
    trace_shard(show, registry, out_dir, frames, None, run, progress)
}

/// One shard of a `frames`-frame trace (the whole trace with `None`): its frames only, in a
/// trace directory whose index says which shard it holds. A shard that does not start at frame
/// 0 first reaches its first frame exactly ([`Player::seek_exact`]). `marquee trace merge`
/// ([`merge::merge`]) joins the shards into the whole trace, byte for byte.
pub fn trace_shard(
    show: &Show,
    registry: &Registry,
    out_dir: &Path,
    frames: u64,
    shard: Option<Shard>,
    run: impl Into<Run>,
    mut progress: impl FnMut(u64),
) -> Result<TraceOutcome, TraceError> {
    if frames == 0 {
        return Err(TraceError::BadTrace {
            path: out_dir.to_path_buf(),
            message: "a trace needs at least one frame".into(),
        });
    }
    let total = check_frames(frames, "the trace")?;
    let range = match shard {
        Some(s) => s.frames_checked(total).map_err(|message| TraceError::BadTrace {
            path: out_dir.to_path_buf(),
            message,
        })?,
        None => 0..total,
    };
    fs::create_dir_all(out_dir).map_err(io("cannot create trace directory", out_dir))?;
    let gif_path = out_dir.join(GIF_FILE);
    let mut player = Player::new(show, &run.into().engine())?;
    // A shard's first frame is stored as a difference from the frames since the last key frame,
    // so those are encoded first (its lead): its frames' bytes are then the whole trace's.
    let lead = range.start % KEY_FRAME_INTERVAL;
    let t0 = Instant::now();
    let reached = player.seek_exact(range.start - lead)?;
    let (width, height) = player.frame_size();
    let fps = show.fps();
    let gif_plugin = registry.get("gif").ok_or(TraceError::NoGifPlugin)?;
    let abs_gif = std::path::absolute(&gif_path).map_err(io("cannot resolve", &gif_path))?;
    let init = InitCtx {
        width,
        height,
        fps,
        seed: instance_seed(show.seed(), "trace"),
    };
    let config = serde_json::json!({ "path": abs_gif, "key_frames": KEY_FRAME_INTERVAL }).to_string();
    let gif_failed = |frame: u64, error: PluginError| {
        TraceError::Recorder(Box::new(Failure {
            kind: PluginKind::Recorder,
            id: "trace".into(),
            plugin: "gif".into(),
            frame,
            error,
        }))
    };
    let gif = match (gif_plugin.module.new_recorder())(config.as_str().into(), &init) {
        RResult::ROk(r) => r,
        RResult::RErr(e) => return Err(gif_failed(0, e)),
    };
    // The GIF is encoded on a thread of its own while the next frames render; the render
    // thread waits for a free buffer rather than drop a frame. A recorder's failure is seen at
    // the next frame offered (or at the end), which is the frame the error names.
    let frame_bytes = width as usize * height as usize * 4;
    let mut gif = crate::record::thread::RecorderThread::spawn(
        "trace",
        gif,
        (frame_bytes, GIF_QUEUE),
        crate::model::recording::WhenFull::Wait,
        std::time::Duration::from_secs(60),
    );

    let frames = range.end - range.start;
    let mut rgba = Vec::with_capacity(frames as usize);
    let mut frame_ms = Vec::with_capacity(frames as usize);
    // A failed instance leaves its layer transparent: such frames must never become the
    // reference. The recorder is dropped unfinished, which removes its partial GIF, and an
    // earlier trace in `out_dir` is left as it was.
    let refuse = |failures: Vec<Failure>| TraceError::PluginFailed {
        doing: "tracing",
        consequence: "the trace was not written",
        failures,
    };
    let failures = player.take_failures();
    if !failures.is_empty() {
        return Err(refuse(failures));
    }
    let mut reach_ms = 0.0;
    for index in range.start - lead..range.end {
        if index == range.start {
            reach_ms = t0.elapsed().as_secs_f64() * 1e3;
        }
        let t0 = Instant::now();
        let frame = player.step()?;
        let meta = FrameMeta {
            index,
            time: index as f64 / fps,
            fps,
            width,
            height,
        };
        if let Some(e) = gif.offer(&meta, frame) {
            return Err(gif_failed(index, e));
        }
        let hash = hash_hex(frame);
        let failures = player.take_failures();
        if !failures.is_empty() {
            return Err(refuse(failures));
        }
        if index >= range.start {
            frame_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            rgba.push(hash);
            progress(index + 1 - range.start);
        }
    }
    let failures = player.finish();
    if !failures.is_empty() {
        return Err(refuse(failures));
    }
    if let RResult::RErr(e) = gif.finish() {
        return Err(gif_failed(range.end, e));
    }

    let decoded = decode_hashes(&gif_path, (width, height), lead + frames)?;
    let entries: Vec<FrameEntry> = range
        .clone()
        .zip(rgba)
        .zip(decoded.into_iter().skip(lead as usize))
        .map(|((i, rgba), (delay, gif))| FrameEntry {
            index: i,
            time: i as f64 / fps,
            delay,
            rgba,
            gif,
        })
        .collect();
    let first = show.scenes()[0].canvas;
    let index = TraceIndex {
        format: FORMAT_VERSION,
        scene: SceneInfo {
            path: show.path().to_string_lossy().into_owned(),
            hash: show.hash_hex(),
            name: show.name().to_string(),
            seed: show.seed(),
            fps,
            width,
            height,
            panels: [first.panels.0, first.panels.1],
        },
        plugins: plugin_infos(show, registry),
        gif: GifInfo {
            file: GIF_FILE.into(),
            frames,
            total_centis: entries.iter().map(|e| e.delay as u64).sum(),
        },
        frames: entries,
        shard: match shard {
            None => None,
            Some(s) => Some(ShardInfo {
                index: s.index,
                count: s.count,
                total,
                gif_bytes: hash_file(&gif_path)?,
                lead,
            }),
        },
    };
    let index_path = out_dir.join(INDEX_FILE);
    fs::write(&index_path, index_json(&index)).map_err(io("cannot write", &index_path))?;
    let timings = serde_json::json!({ "frame_ms": frame_ms });
    let timings_path = out_dir.join(TIMINGS_FILE);
    fs::write(&timings_path, format!("{timings:#}\n")).map_err(io("cannot write", &timings_path))?;
    Ok(TraceOutcome {
        index,
        frame_ms,
        reached,
        reach_ms,
    })
}

/// xxh3-64 of a file's bytes, read in blocks, as 16 hex digits.
fn hash_file(path: &Path) -> Result<String, TraceError> {
    let mut reader =
        HashingReader::new(marquee_plugin_api::files::open_regular(path).map_err(read("cannot open", path))?);
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(read("cannot read", path))?;
    Ok(reader.hex())
}

/// A reader that hashes (xxh3-64) every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: xxhash_rust::xxh3::Xxh3,
}

impl<R> HashingReader<R> {
    /// Hashes what `inner` gives.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: xxhash_rust::xxh3::Xxh3::new(),
        }
    }

    /// The hash of every byte read so far, as 16 hex digits.
    pub fn hex(&self) -> String {
        crate::model::hex(self.hasher.digest())
    }
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The index as written to disk: pretty JSON with a trailing newline.
pub fn index_json(index: &TraceIndex) -> String {
    let mut s = serde_json::to_string_pretty(index).expect("the index always serialises");
    s.push('\n');
    s
}

/// The largest `index.json` read, in bytes (about two million frames' entries).
pub const MAX_INDEX_BYTES: u64 = 256 << 20;

/// Reads and checks a trace directory's `index.json`.
pub fn read_index(dir: &Path) -> Result<TraceIndex, TraceError> {
    let path = dir.join(INDEX_FILE);
    let text = marquee_plugin_api::files::read_text_bounded(&path, MAX_INDEX_BYTES)
        .map_err(read("cannot read trace index", &path))?;
    let index: TraceIndex = serde_json::from_str(&text).map_err(|e| TraceError::BadTrace {
        path: path.clone(),
        message: format!("not a trace index ({e}); make one with `marquee trace`"),
    })?;
    if index.format != FORMAT_VERSION {
        return Err(TraceError::BadTrace {
            path,
            message: format!(
                "index format {} is not the {FORMAT_VERSION} this host reads; re-create the trace",
                index.format
            ),
        });
    }
    Ok(index)
}
