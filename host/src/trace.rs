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

use marquee_plugin_api::abi_stable::std_types::{RResult, RSlice};
use marquee_plugin_api::{FrameMeta, InitCtx, PluginError, PluginKind};

use crate::engine::{EngineError, EngineOptions, Failure, instance_seed};
use crate::registry::Registry;
use crate::scene::SceneError;
use crate::show::Show;

/// Version of the `index.json` format written by this host.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the GIF inside a trace directory.
pub const GIF_FILE: &str = "trace.gif";
/// File name of the index inside a trace directory.
pub const INDEX_FILE: &str = "index.json";
/// File name of the (non-deterministic) timings inside a trace directory.
pub const TIMINGS_FILE: &str = "timings.json";

/// A 64-bit xxh3 hash of `bytes`, as 16 lowercase hex digits.
pub fn hash_hex(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
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
    /// A file could not be read or written.
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
    /// The trace directory holds something that is not a valid trace.
    #[error("{}: {message}", path.display())]
    BadTrace {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
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
    /// Plugin instances that failed during the run (the trace still completed).
    pub failures: Vec<Failure>,
    /// Milliseconds per frame, in order.
    pub frame_ms: Vec<f64>,
}

/// Frames in `seconds` at `fps`, rounded to the nearest frame, at least 1.
pub fn frames_for(seconds: f64, fps: f64) -> u64 {
    ((seconds * fps).round() as u64).max(1)
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

/// Renders `frames` frames of `show` (a scene or a playlist) into `out_dir/trace.gif` and
/// `out_dir/index.json`. Its path is recorded in the index as given.
pub fn trace(
    show: &Show,
    registry: &Registry,
    out_dir: &Path,
    frames: u64,
    threads: usize,
) -> Result<TraceOutcome, TraceError> {
    trace_with_progress(show, registry, out_dir, frames, threads, |_| {})
}

/// [`trace`], calling `progress` with the number of frames written after each one.
pub fn trace_with_progress(
    show: &Show,
    registry: &Registry,
    out_dir: &Path,
    frames: u64,
    threads: usize,
    mut progress: impl FnMut(u64),
) -> Result<TraceOutcome, TraceError> {
    if frames == 0 {
        return Err(TraceError::BadTrace {
            path: out_dir.to_path_buf(),
            message: "a trace needs at least one frame".into(),
        });
    }
    fs::create_dir_all(out_dir).map_err(io("cannot create trace directory", out_dir))?;
    let gif_path = out_dir.join(GIF_FILE);
    let mut player = show.player(&EngineOptions {
        threads,
        scene_recorders: false,
        ..EngineOptions::default()
    })?;
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
    let config = serde_json::json!({ "path": abs_gif }).to_string();
    let gif_failed = |frame: u64, error: PluginError| {
        TraceError::Recorder(Box::new(Failure {
            kind: PluginKind::Recorder,
            id: "trace".into(),
            plugin: "gif".into(),
            frame,
            error,
        }))
    };
    let mut gif = match (gif_plugin.module.new_recorder())(config.as_str().into(), &init) {
        RResult::ROk(r) => r,
        RResult::RErr(e) => return Err(gif_failed(0, e)),
    };

    let mut rgba = Vec::with_capacity(frames as usize);
    let mut frame_ms = Vec::with_capacity(frames as usize);
    let mut failures = Vec::new();
    for index in 0..frames {
        let t0 = Instant::now();
        let frame = player.step()?;
        let meta = FrameMeta {
            index,
            time: index as f64 / fps,
            fps,
            width,
            height,
        };
        if let RResult::RErr(e) = gif.record(&meta, RSlice::from_slice(frame)) {
            return Err(gif_failed(index, e));
        }
        frame_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        rgba.push(hash_hex(frame));
        failures.extend(player.take_failures());
        progress(index + 1);
    }
    failures.extend(player.finish());
    if let RResult::RErr(e) = gif.finish() {
        return Err(gif_failed(frames, e));
    }

    let decoded = decode_gif(&gif_path)?;
    if decoded.len() as u64 != frames {
        return Err(TraceError::BadTrace {
            path: gif_path,
            message: format!(
                "the GIF decodes to {} frames, but {frames} were written",
                decoded.len()
            ),
        });
    }
    let entries: Vec<FrameEntry> = rgba
        .into_iter()
        .zip(&decoded)
        .enumerate()
        .map(|(i, (rgba, g))| FrameEntry {
            index: i as u64,
            time: i as f64 / fps,
            delay: g.delay,
            rgba,
            gif: hash_hex(&g.rgba),
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
    };
    let index_path = out_dir.join(INDEX_FILE);
    fs::write(&index_path, index_json(&index)).map_err(io("cannot write", &index_path))?;
    let timings = serde_json::json!({ "frame_ms": frame_ms });
    let timings_path = out_dir.join(TIMINGS_FILE);
    fs::write(&timings_path, format!("{timings:#}\n")).map_err(io("cannot write", &timings_path))?;
    Ok(TraceOutcome {
        index,
        failures,
        frame_ms,
    })
}

/// The index as written to disk: pretty JSON with a trailing newline.
pub fn index_json(index: &TraceIndex) -> String {
    let mut s = serde_json::to_string_pretty(index).expect("the index always serialises");
    s.push('\n');
    s
}

/// One frame decoded from a GIF.
#[derive(Debug, Clone)]
pub struct GifFrame {
    /// The full canvas after this frame, RGBA8.
    pub rgba: Vec<u8>,
    /// Its delay in centiseconds.
    pub delay: u16,
}

/// Decodes every frame of the GIF at `path` to full-canvas RGBA8.
pub fn decode_gif(path: &Path) -> Result<Vec<GifFrame>, TraceError> {
    let bad = |message: String| TraceError::BadTrace {
        path: path.to_path_buf(),
        message,
    };
    let file = marquee_plugin_api::files::open_regular(path).map_err(io("cannot open", path))?;
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options
        .read_info(std::io::BufReader::new(file))
        .map_err(|e| bad(format!("not a readable GIF: {e}")))?;
    let (w, h) = (decoder.width() as usize, decoder.height() as usize);
    let mut canvas = vec![0u8; w * h * 4];
    let mut out = Vec::new();
    while let Some(frame) = decoder
        .read_next_frame()
        .map_err(|e| bad(format!("damaged GIF frame: {e}")))?
    {
        let (fl, ft, fw, fh) = (
            frame.left as usize,
            frame.top as usize,
            frame.width as usize,
            frame.height as usize,
        );
        if fl + fw > w || ft + fh > h {
            return Err(bad(format!(
                "frame {} lies outside the {w}×{h} screen",
                out.len()
            )));
        }
        for y in 0..fh {
            for x in 0..fw {
                let s = &frame.buffer[(y * fw + x) * 4..(y * fw + x) * 4 + 4];
                if s[3] != 0 {
                    let d = ((ft + y) * w + fl + x) * 4;
                    canvas[d..d + 4].copy_from_slice(s);
                }
            }
        }
        out.push(GifFrame {
            rgba: canvas.clone(),
            delay: frame.delay,
        });
    }
    Ok(out)
}

/// The largest `index.json` read, in bytes (about two million frames' entries).
pub const MAX_INDEX_BYTES: u64 = 256 << 20;

/// Reads and checks a trace directory's `index.json`.
pub fn read_index(dir: &Path) -> Result<TraceIndex, TraceError> {
    let path = dir.join(INDEX_FILE);
    let text = marquee_plugin_api::files::read_text_bounded(&path, MAX_INDEX_BYTES)
        .map_err(io("cannot read trace index", &path))?;
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

/// The PNGs written beside a trace for a frame that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffImages {
    /// The frame as the trace's GIF stores it.
    pub expected: PathBuf,
    /// The frame as rendered now.
    pub actual: PathBuf,
    /// Where they differ: black where equal, the per-channel difference (boosted) elsewhere.
    pub difference: PathBuf,
}

/// The first frame that differs from the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Frame index.
    pub index: u64,
    /// Hash in the index.
    pub expected: String,
    /// Hash of the frame rendered now.
    pub actual: String,
    /// Pixels that differ from the GIF's version of the frame.
    pub differing_pixels: usize,
    /// The images written.
    pub images: DiffImages,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Frames that matched, from frame 0.
    pub matched: u64,
    /// Frames in the trace.
    pub total: u64,
    /// The first frame that differs, if any.
    pub mismatch: Option<Mismatch>,
    /// Notes for people (plugin versions that changed, ...).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// Whether every frame matched.
    pub fn ok(&self) -> bool {
        self.mismatch.is_none()
    }
}

/// Re-renders the trace in `dir` and compares it frame by frame; `on_frame(index, ok)` is called
/// for each frame checked. Stops at the first difference and writes expected / actual /
/// difference PNGs beside the trace. `scene_path` overrides the scene recorded in the index.
pub fn verify(
    dir: &Path,
    registry: &Registry,
    scene_path: Option<&Path>,
    threads: usize,
    mut on_frame: impl FnMut(u64, bool),
) -> Result<VerifyReport, TraceError> {
    let index = read_index(dir)?;
    let gif_path = dir.join(&index.gif.file);
    let decoded = decode_gif(&gif_path)?;
    if decoded.len() != index.frames.len() {
        return Err(TraceError::BadTrace {
            path: gif_path,
            message: format!(
                "holds {} frames but the index lists {}; the trace is damaged, re-create it",
                decoded.len(),
                index.frames.len()
            ),
        });
    }
    for (entry, g) in index.frames.iter().zip(&decoded) {
        if hash_hex(&g.rgba) != entry.gif || g.delay != entry.delay {
            return Err(TraceError::BadTrace {
                path: gif_path,
                message: format!(
                    "frame {} does not match index.json; the trace is damaged, re-create it",
                    entry.index
                ),
            });
        }
    }
    let scene_file = scene_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&index.scene.path));
    if scene_path.is_none() && !scene_file.exists() {
        return Err(TraceError::BadTrace {
            path: dir.join(INDEX_FILE),
            message: format!(
                "the trace was made from scene {}, which is not found from here; run verify from the directory the trace was made in, or pass --scene PATH",
                scene_file.display()
            ),
        });
    }
    let mut show = Show::load(&scene_file, registry)?;
    let mut notes = Vec::new();
    if show.fps() != index.scene.fps && show.set_fps(index.scene.fps) {
        notes.push(format!(
            "traced at {} fps, not the scene's own rate (trace --fps); verified at {} fps",
            index.scene.fps, index.scene.fps
        ));
    }
    if show.hash_hex() != index.scene.hash {
        notes.push(format!(
            "{} changed since the trace was made (hash {} now, {} then)",
            scene_file.display(),
            show.hash_hex(),
            index.scene.hash
        ));
    }
    for now in plugin_infos(&show, registry) {
        match index.plugins.iter().find(|p| p.id == now.id) {
            Some(then) if then.version != now.version => {
                notes.push(format!(
                    "plugin `{}` is {} now, {} when traced",
                    now.id, now.version, then.version
                ));
            }
            None => notes.push(format!("plugin `{}` was not used when traced", now.id)),
            _ => {}
        }
    }
    let mut player = show.player(&EngineOptions {
        threads,
        scene_recorders: false,
        ..EngineOptions::default()
    })?;
    let total = index.frames.len() as u64;
    for (entry, g) in index.frames.iter().zip(&decoded) {
        let frame = player.step()?;
        let actual = hash_hex(frame);
        let ok = actual == entry.rgba;
        on_frame(entry.index, ok);
        if !ok {
            let (w, h) = (index.scene.width, index.scene.height);
            let images = write_diff_images(dir, entry.index, w, h, &g.rgba, frame)?;
            let differing_pixels = g
                .rgba
                .chunks(4)
                .zip(frame.chunks(4))
                .filter(|(a, b)| a != b)
                .count();
            return Ok(VerifyReport {
                matched: entry.index,
                total,
                mismatch: Some(Mismatch {
                    index: entry.index,
                    expected: entry.rgba.clone(),
                    actual,
                    differing_pixels,
                    images,
                }),
                notes,
            });
        }
    }
    Ok(VerifyReport {
        matched: total,
        total,
        mismatch: None,
        notes,
    })
}

/// Writes `expected-NNNNN.png`, `actual-NNNNN.png` and `difference-NNNNN.png` into `dir`.
pub fn write_diff_images(
    dir: &Path,
    index: u64,
    w: u32,
    h: u32,
    expected: &[u8],
    actual: &[u8],
) -> Result<DiffImages, TraceError> {
    let name = |kind: &str| dir.join(format!("{kind}-{index:05}.png"));
    let images = DiffImages {
        expected: name("expected"),
        actual: name("actual"),
        difference: name("difference"),
    };
    let diff: Vec<u8> = expected
        .chunks_exact(4)
        .zip(actual.chunks_exact(4))
        .flat_map(|(e, a)| {
            if e == a {
                [0, 0, 0, 255]
            } else {
                let d = |c: usize| (e[c].abs_diff(a[c]) as u32 * 4).clamp(64, 255) as u8;
                [d(0), d(1), d(2), 255]
            }
        })
        .collect();
    for (path, data) in [
        (&images.expected, expected),
        (&images.actual, actual),
        (&images.difference, &diff[..]),
    ] {
        image::save_buffer(path, data, w, h, image::ExtendedColorType::Rgba8).map_err(|e| {
            TraceError::Io {
                what: "cannot write",
                path: path.clone(),
                source: std::io::Error::other(e),
            }
        })?;
    }
    Ok(images)
}
