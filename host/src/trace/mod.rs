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
pub mod merge;
pub mod shard;
pub mod suite;
mod verification;

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

/// Each frame of the GIF at `path` decoded (the screen after it, `size`), as its delay and the
/// hash of the screen, checking that it holds `frames` frames. Two threads share the work when
/// the GIF has a frame that stands alone (a key frame) past its first: one decodes up to the one
/// nearest the middle, the other from there.
fn decode_hashes(path: &Path, size: (u32, u32), frames: u64) -> Result<Vec<(u16, String)>, TraceError> {
    let standing = standing_frames(path)?;
    if standing.total != frames {
        return Err(TraceError::BadTrace {
            path: path.to_path_buf(),
            message: format!(
                "the GIF holds {} frames, but {frames} were written",
                standing.total
            ),
        });
    }
    let middle = frames / 2;
    let split = (standing.alone.iter().copied())
        .filter(|&k| k > 0)
        .min_by_key(|&k| k.abs_diff(middle));
    // Where each thread starts: at 0, and at the split.
    let starts: Vec<u64> = std::iter::once(0).chain(split).collect();
    let spans: Vec<std::ops::Range<u64>> = (starts.iter().enumerate())
        .map(|(i, &start)| start..starts.get(i + 1).copied().unwrap_or(frames))
        .collect();
    let decode = |span: std::ops::Range<u64>| -> Result<Vec<(u16, String)>, TraceError> {
        let mut gif = GifFrames::open_at(path, size, span.start)?;
        let mut out = Vec::with_capacity((span.end - span.start) as usize);
        for _ in span {
            let Some((screen, delay)) = gif.next_frame()? else {
                return Err(TraceError::BadTrace {
                    path: path.to_path_buf(),
                    message: "the GIF ends before the frames its blocks hold; it is damaged".into(),
                });
            };
            out.push((delay, hash_hex(screen)));
        }
        Ok(out)
    };
    let parts: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = spans
            .into_iter()
            .map(|span| scope.spawn(move || decode(span)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let mut all = Vec::with_capacity(frames as usize);
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
}

/// A GIF's frames counted without decoding: how many, and which stand alone (cover the whole
/// screen with no transparent colour, so decoding can start there).
pub(crate) struct Standing {
    /// Frames in the file.
    pub total: u64,
    /// Positions of the frames that stand alone, in order.
    pub alone: Vec<u64>,
}

/// Counts the frames of the GIF at `path` without decoding them ([`Standing`]).
pub(crate) fn standing_frames(path: &Path) -> Result<Standing, TraceError> {
    let damaged = |e: std::io::Error| TraceError::BadTrace {
        path: path.to_path_buf(),
        message: format!("{e}; the trace is damaged, re-create it"),
    };
    let file = marquee_plugin_api::files::open_regular(path).map_err(read("cannot open", path))?;
    let (mut blocks, _) = gif_blocks::GifBlocks::open(std::io::BufReader::new(file)).map_err(damaged)?;
    let mut alone = Vec::new();
    while blocks.copy_frame(&mut std::io::sink()).map_err(damaged)? {
        if blocks.last_stands_alone() {
            alone.push(blocks.frames() - 1);
        }
    }
    Ok(Standing {
        total: blocks.frames(),
        alone,
    })
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

/// The frames of a GIF, decoded one at a time onto one full-canvas RGBA8 buffer: memory is one
/// canvas whatever the length. The GIF's declared size is checked against the size expected
/// before anything is allocated, and the decoder's own allocations are bounded by it, so a
/// small hostile file cannot claim gigabytes.
pub struct GifFrames {
    decoder: gif::Decoder<Box<dyn std::io::Read>>,
    /// The global colour table (RGB), for frames without their own.
    global: Vec<u8>,
    canvas: Vec<u8>,
    size: (u32, u32),
    path: PathBuf,
    read: u64,
}

impl GifFrames {
    /// Opens the GIF at `path` (a regular file), which must be `width × height`.
    pub fn open(path: &Path, size: (u32, u32)) -> Result<GifFrames, TraceError> {
        let file = marquee_plugin_api::files::open_regular(path).map_err(read("cannot open", path))?;
        GifFrames::from_reader(Box::new(std::io::BufReader::new(file)), path, size)
    }

    /// Opens the GIF at `path` (a regular file, `width × height`) at its frame `from`, which
    /// must stand alone (or be 0): the frames before it are skipped without decoding.
    pub fn open_at(path: &Path, size: (u32, u32), from: u64) -> Result<GifFrames, TraceError> {
        if from == 0 {
            return GifFrames::open(path, size);
        }
        let damaged = |e: std::io::Error| TraceError::BadTrace {
            path: path.to_path_buf(),
            message: format!("{e}; the trace is damaged, re-create it"),
        };
        let file = marquee_plugin_api::files::open_regular(path).map_err(read("cannot open", path))?;
        let (mut skipping, header) =
            gif_blocks::GifBlocks::open(std::io::BufReader::new(file)).map_err(damaged)?;
        for _ in 0..from {
            skipping.copy_frame(&mut std::io::sink()).map_err(damaged)?;
        }
        GifFrames::from_reader(Box::new(skipping.into_gif_from_here(header)), path, size)
    }

    /// Decodes the GIF `reader` gives (read from `path`, which messages name), which must be
    /// `width × height`.
    pub fn from_reader(
        reader: Box<dyn std::io::Read>,
        path: &Path,
        (width, height): (u32, u32),
    ) -> Result<GifFrames, TraceError> {
        let bad = |message: String| TraceError::BadTrace {
            path: path.to_path_buf(),
            message,
        };
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        // A frame's buffer is at most the screen's, plus the decoder's own tables.
        let limit = (width as u64 * height as u64 * 4).max(1) + (1 << 20);
        options.set_memory_limit(gif::MemoryLimit::Bytes(limit.try_into().expect("above 0")));
        let decoder = options
            .read_info(reader)
            .map_err(|e| bad(format!("not a readable GIF: {e}")))?;
        let declared = (decoder.width() as u32, decoder.height() as u32);
        if declared != (width, height) {
            return Err(bad(format!(
                "the GIF is {}×{}, but the index says {width}×{height}; the trace is damaged, re-create it",
                declared.0, declared.1
            )));
        }
        Ok(GifFrames {
            global: decoder.global_palette().map(<[u8]>::to_vec).unwrap_or_default(),
            decoder,
            canvas: vec![0u8; width as usize * height as usize * 4],
            size: (width, height),
            path: path.to_path_buf(),
            read: 0,
        })
    }

    /// The next frame: the full canvas after it, RGBA8, and its delay in centiseconds.
    pub fn next_frame(&mut self) -> Result<Option<(&[u8], u16)>, TraceError> {
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        let read = self.read;
        let path = &self.path;
        let bad = |message: String| TraceError::BadTrace {
            path: path.clone(),
            message,
        };
        let Some(frame) = self
            .decoder
            .read_next_frame()
            .map_err(|e| bad(format!("damaged GIF frame {read}: {e}")))?
        else {
            return Ok(None);
        };
        let (fl, ft, fw, fh) = (
            frame.left as usize,
            frame.top as usize,
            frame.width as usize,
            frame.height as usize,
        );
        if fl + fw > w || ft + fh > h || frame.buffer.len() < fw * fh {
            return Err(bad(format!("frame {read} lies outside the {w}×{h} screen")));
        }
        // Each pixel's colour drawn over the screen, but where it is the transparent index (or
        // an index past the palette): disposal "keep", as traces are written.
        let palette = frame.palette.as_deref().unwrap_or(&self.global);
        let transparent = frame.transparent.map_or(256, usize::from);
        if fw > 0 {
            for (row, out) in frame.buffer[..fw * fh]
                .chunks_exact(fw)
                .zip(self.canvas.chunks_exact_mut(w * 4).skip(ft))
            {
                for (&i, d) in row.iter().zip(out[fl * 4..(fl + fw) * 4].chunks_exact_mut(4)) {
                    let i = i as usize;
                    if let Some(c) = palette.get(i * 3..i * 3 + 3).filter(|_| i != transparent) {
                        d.copy_from_slice(&[c[0], c[1], c[2], 255]);
                    }
                }
            }
        }
        let delay = frame.delay;
        self.read += 1;
        Ok(Some((&self.canvas, delay)))
    }

    /// Frames read so far.
    pub fn read(&self) -> u64 {
        self.read
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4×1 GIF: a whole frame, then a frame of the middle two pixels, one transparent, and
    /// indices past its two-colour palette.
    fn gif() -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = gif::Encoder::new(&mut out, 4, 1, &[]).unwrap();
        let palette = vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120];
        let whole = gif::Frame {
            width: 4,
            height: 1,
            buffer: std::borrow::Cow::Owned(vec![0, 1, 2, 3]),
            palette: Some(palette),
            ..gif::Frame::default()
        };
        e.write_frame(&whole).unwrap();
        let part = gif::Frame {
            left: 1,
            width: 3,
            height: 1,
            transparent: Some(0),
            buffer: std::borrow::Cow::Owned(vec![0, 1, 3]),
            palette: Some(vec![0, 0, 0, 200, 201, 202]),
            ..gif::Frame::default()
        };
        e.write_frame(&part).unwrap();
        drop(e);
        out
    }

    #[test]
    fn frames_are_drawn_over_the_screen_leaving_transparent_and_unknown_indices() {
        let bytes = gif();
        let reader = Box::new(std::io::Cursor::new(bytes));
        let mut frames = GifFrames::from_reader(reader, Path::new("t.gif"), (4, 1)).unwrap();
        let (first, _) = frames.next_frame().unwrap().unwrap();
        assert_eq!(
            first,
            [
                10, 20, 30, 255, 40, 50, 60, 255, 70, 80, 90, 255, 100, 110, 120, 255
            ]
        );
        let (second, _) = frames.next_frame().unwrap().unwrap();
        // Pixel 1 transparent, pixel 2 drawn, pixel 3's index past the palette left as it was.
        assert_eq!(
            second,
            [
                10, 20, 30, 255, 40, 50, 60, 255, 200, 201, 202, 255, 100, 110, 120, 255
            ]
        );
        assert!(frames.next_frame().unwrap().is_none());
        assert_eq!(frames.read(), 2);
    }
}
