//! `image-sequence`: a folder of PNG or JPEG frames played at its own images-per-second,
//! independent of the render rate, looping, ping-ponging or once.
//!
//! Frames are decoded ahead by a small pool of worker threads into a bounded prefetch buffer
//! (`prefetch` frames past the one showing; frames behind the playhead are evicted, their buffers
//! reused). With `wait = true` (the default) a frame that is not decoded yet is waited for, so the
//! output is exactly the same on every run, which traces need. With `wait = false` (live shows on
//! slow machines) the nearest decoded frame within `tolerance` positions is shown instead, and the
//! miss is counted; if none is near, the previous frame stays and that is counted too.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use image::imageops::FilterType;
use marquee_plugin_api::images::{Fit, copy_clipped, placement};
use marquee_plugin_api::{
    Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, RendererPlugin,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "image-sequence",
    version: env!("CARGO_PKG_VERSION"),
    description: "a folder of frames played at its own rate",
    renderer: Some(Factory {
        doc: "Plays the PNG/JPEG files in the folder `path`, in file-name order, at `fps` images per second; decodes ahead on `workers` threads.",
        fields: fields_of::<Config>,
        new: new_renderer,
    }),
    processor: None,
    recorder: None,
};

/// How the sequence plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// From the first frame again after the last.
    Loop,
    /// Forwards, then backwards, and so on.
    Pingpong,
    /// Once, then the last frame stays.
    Once,
}

/// Config of an `image-sequence` layer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The folder of frames (required).
    #[default(PathBuf::new())]
    #[schemars(extend("format" = "path"))]
    pub path: PathBuf,
    /// Images per second, independent of the scene's fps.
    #[default(12.0)]
    #[schemars(range(min = 0.01, max = 1000))]
    pub fps: f64,
    /// How playback continues at the end (once holds the last frame).
    #[default(Mode::Loop)]
    pub mode: Mode,
    /// How frames are sized to the layer, as for `image`.
    #[default(Fit::Fit)]
    pub fit: Fit,
    /// Wait for late frames (exact, for traces) instead of showing a near one.
    #[default(true)]
    pub wait: bool,
    /// With wait = false: how many positions away a shown frame may be.
    #[default(2)]
    #[schemars(range(min = 0, max = 1000))]
    pub tolerance: u32,
    /// Frames decoded ahead of the one showing.
    #[default(8)]
    #[schemars(range(min = 1, max = 256))]
    pub prefetch: u32,
    /// Decoding threads.
    #[default(2)]
    #[schemars(range(min = 1, max = 16))]
    pub workers: u32,
}

/// The file shown at play position `k` (the k-th image since the start) of `n` files.
pub fn file_at(mode: Mode, k: u64, n: usize) -> usize {
    let n64 = n as u64;
    match mode {
        Mode::Loop => (k % n64) as usize,
        Mode::Once => k.min(n64 - 1) as usize,
        Mode::Pingpong if n < 2 => 0,
        Mode::Pingpong => {
            let period = 2 * n64 - 2;
            let p = k % period;
            (if p < n64 { p } else { period - p }) as usize
        }
    }
}

/// The PNG and JPEG files of `dir`, sorted by name.
pub fn list_frames(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| PluginError::config("path", format!("cannot read the folder {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(PluginError::config(
            "path",
            format!("the folder {} holds no PNG or JPEG frames", dir.display()),
        ));
    }
    Ok(files)
}

/// How decoded frames are placed on the layer, and how large one may decode.
#[derive(Debug, Clone, Copy)]
struct Placing {
    fit: Fit,
    width: u32,
    height: u32,
    /// The most one frame may take as RGBA8 while a worker decodes it.
    max_bytes: u64,
}

/// The most memory a sequence's decoding takes at once, in bytes, shared by its workers: each
/// decodes frames of at most `DECODE_BUDGET / workers` as RGBA8 (see
/// [`marquee_plugin_api::images::MAX_DECODED_BYTES`] for the peak of one decode).
pub const DECODE_BUDGET: u64 = marquee_plugin_api::images::MAX_DECODED_BYTES;

/// The most the decoded frames a sequence keeps (the prefetch window, the frame on show, one
/// per worker) may take, in bytes.
pub const FRAMES_BUDGET: u64 = 1 << 30;

/// Decodes `file` and places it on a transparent layer buffer as `place` says.
fn decode_into(file: &Path, place: &Placing, out: &mut Vec<u8>) -> Result<(), String> {
    let Placing {
        fit,
        width,
        height,
        max_bytes,
    } = *place;
    let img = marquee_plugin_api::images::decode(file, max_bytes)
        .map_err(|e| format!("cannot decode {}: {e}", file.display()))?;
    let (sw, sh, ox, oy) = placement(fit, img.width(), img.height(), width, height);
    let img = if (sw, sh) == img.dimensions() {
        img
    } else {
        marquee_plugin_api::images::check_size("scaled to the layer, it", sw, sh, max_bytes)?;
        image::imageops::resize(&img, sw, sh, FilterType::Triangle)
    };
    out.clear();
    out.resize(width as usize * height as usize * 4, 0);
    copy_clipped(
        img.as_raw(),
        sw as i64,
        sh as i64,
        ox,
        oy,
        out,
        width as i64,
        height as i64,
    );
    Ok(())
}

/// Where one file is in the pipeline.
#[derive(Debug)]
enum Slot {
    Empty,
    Queued,
    Decoding,
    Ready(Vec<u8>),
    Failed(String),
}

/// What the render thread and the workers share.
struct State {
    slots: Vec<Slot>,
    jobs: VecDeque<usize>,
    spare: Vec<Vec<u8>>,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How often playback had to make do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames shown after waiting for their decode (`wait = true`).
    pub waits: u64,
    /// Frames replaced by a near decoded one (`wait = false`).
    pub misses: u64,
    /// Frames where nothing near was decoded, so the previous one stayed (`wait = false`).
    pub stale: u64,
}

/// The renderer: the worker pool and its shared buffer.
pub struct ImageSequence {
    config: Config,
    files: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Positions the prefetch window wants, reused each frame.
    window: Vec<usize>,
    shown: Option<usize>,
    counters: Counters,
}

/// How a worker decodes one file onto a layer buffer ([`decode_into`]; tests pass others).
type Decode = fn(&Path, &Placing, &mut Vec<u8>) -> Result<(), String>;

fn worker(shared: Arc<Shared>, files: Arc<Vec<PathBuf>>, decode: Decode, place: Placing) {
    loop {
        let (index, mut buf) = {
            let mut state = shared.lock();
            loop {
                if state.shutdown {
                    return;
                }
                if let Some(i) = state.jobs.pop_front() {
                    state.slots[i] = Slot::Decoding;
                    let buf = state.spare.pop().unwrap_or_default();
                    break (i, buf);
                }
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        // A panic while decoding fails this file, as an error would: `render` returns it and
        // the layer goes transparent, instead of the render thread waiting forever.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            decode(&files[index], &place, &mut buf)
        }))
        .unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            buf = Vec::new();
            Err(format!("decoding {} panicked: {why}", files[index].display()))
        });
        let mut state = shared.lock();
        state.slots[index] = match result {
            Ok(()) => Slot::Ready(buf),
            Err(e) => Slot::Failed(e),
        };
        drop(state);
        shared.done.notify_all();
    }
}

impl ImageSequence {
    /// The playback counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Queues the files of positions `k ..= k + prefetch` not yet decoded, and evicts decoded
    /// files outside that window, keeping their buffers for reuse.
    fn schedule(&mut self, state: &mut State, k: u64) {
        self.window.clear();
        for p in k..=k + self.config.prefetch as u64 {
            let i = file_at(self.config.mode, p, self.files);
            if !self.window.contains(&i) {
                self.window.push(i);
            }
        }
        for i in 0..state.slots.len() {
            // The frame on show stays: with `wait = false` it may have to be shown again.
            if !self.window.contains(&i)
                && Some(i) != self.shown
                && matches!(state.slots[i], Slot::Ready(_))
                && let Slot::Ready(buf) = std::mem::replace(&mut state.slots[i], Slot::Empty)
            {
                state.spare.push(buf);
            }
        }
        for &i in &self.window {
            if matches!(state.slots[i], Slot::Empty) {
                state.slots[i] = Slot::Queued;
                state.jobs.push_back(i);
            }
        }
    }
}

fn new_renderer(json: &str, init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    Ok(Box::new(ImageSequence::new(parse_config(json)?, init)?))
}

impl ImageSequence {
    /// Lists the folder, decodes the first frame and starts the workers.
    pub fn new(config: Config, init: &InitCtx) -> Result<Self, PluginError> {
        Self::with_decoder(config, init, decode_into)
    }

    /// [`ImageSequence::new`] with the workers decoding through `decode`.
    fn with_decoder(config: Config, init: &InitCtx, decode: Decode) -> Result<Self, PluginError> {
        if config.path.as_os_str().is_empty() {
            return Err(PluginError::config("path", "a folder of frames is required"));
        }
        let held = config.prefetch as u64 + config.workers as u64 + 2;
        let frame = init.width as u64 * init.height as u64 * 4;
        if held * frame > FRAMES_BUDGET {
            return Err(PluginError::config(
                "prefetch",
                format!(
                    "{held} frames of this {}×{} layer (prefetch, the one showing, one per worker) would take {} MiB, more than the {} MiB a sequence may keep; lower prefetch or workers",
                    init.width,
                    init.height,
                    (held * frame).div_ceil(1 << 20),
                    FRAMES_BUDGET >> 20
                ),
            ));
        }
        let place = Placing {
            fit: config.fit,
            width: init.width,
            height: init.height,
            max_bytes: DECODE_BUDGET / config.workers as u64,
        };
        let files = Arc::new(list_frames(&config.path)?);
        // Decode the first frame now, so a broken sequence is a scene error, not a failure later.
        let mut first = Vec::new();
        decode_into(&files[0], &place, &mut first).map_err(|e| PluginError::config("path", e))?;
        let mut slots: Vec<Slot> = files.iter().map(|_| Slot::Empty).collect();
        slots[0] = Slot::Ready(first);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                slots,
                jobs: VecDeque::with_capacity(files.len().min(config.prefetch as usize + 1)),
                // Every buffer ever made is in a slot, with a worker, or here; their number is
                // bounded by the window, the frame on show and the workers, so this never grows.
                spare: Vec::with_capacity(config.prefetch as usize + config.workers as usize + 2),
                shutdown: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let workers = (0..config.workers)
            .map(|n| {
                let (shared, files) = (shared.clone(), files.clone());
                std::thread::Builder::new()
                    .name(format!("image-sequence-decode-{n}"))
                    .spawn(move || worker(shared, files, decode, place))
                    .map_err(|e| PluginError::frame(format!("cannot start a decoding thread: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ImageSequence {
            files: files.len(),
            window: Vec::with_capacity(config.prefetch as usize + 1),
            config,
            shared,
            workers,
            shown: None,
            counters: Counters::default(),
        })
    }
}

impl RendererPlugin for ImageSequence {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        // Image k shows from scene time k / fps. Computed from the frame index, not from
        // `ctx.time · fps`, whose rounding put 4.1 s · 30 just below 123; the small margin keeps
        // whole ratios exact.
        let k = (ctx.index as f64 * self.config.fps / ctx.fps + 1e-9).floor() as u64;
        let wanted = file_at(self.config.mode, k, self.files);
        let shared = self.shared.clone();
        let mut state = shared.lock();
        self.schedule(&mut state, k);
        drop(state);
        shared.work.notify_all();
        let mut state = shared.lock();
        let mut waited = false;
        let show = loop {
            match &state.slots[wanted] {
                Slot::Ready(_) => break Some(wanted),
                Slot::Failed(e) => return Err(PluginError::frame(e.clone())),
                _ if self.config.wait => {
                    waited = true;
                    state = shared
                        .done
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                _ => {
                    // The nearest decoded position within the tolerance, earlier ones first.
                    let tol = self.config.tolerance as u64;
                    let near = (1..=tol)
                        .flat_map(|d| [k.checked_sub(d), Some(k + d)])
                        .flatten()
                        .map(|p| file_at(self.config.mode, p, self.files))
                        .find(|&i| matches!(state.slots[i], Slot::Ready(_)));
                    break near;
                }
            }
        };
        if waited {
            self.counters.waits += 1;
        }
        match show {
            Some(i) => {
                if i != wanted {
                    self.counters.misses += 1;
                }
                if let Slot::Ready(buf) = &state.slots[i] {
                    canvas.pixels().copy_from_slice(buf);
                }
                self.shown = Some(i);
            }
            None => {
                self.counters.stale += 1;
                if let Some(Slot::Ready(buf)) = self.shown.map(|i| &state.slots[i]) {
                    canvas.pixels().copy_from_slice(buf);
                }
            }
        }
        Ok(())
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.counter_list()
    }
}

impl ImageSequence {
    fn counter_list(&self) -> Vec<(&'static str, u64)> {
        let c = self.counters;
        vec![("waits", c.waits), ("misses", c.misses), ("stale", c.stale)]
    }
}

impl Drop for ImageSequence {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;
    use marquee_plugin_api::DrawQueue;

    #[test]
    fn play_modes() {
        let seq = |mode| (0..9).map(|k| file_at(mode, k, 4)).collect::<Vec<_>>();
        assert_eq!(seq(Mode::Loop), [0, 1, 2, 3, 0, 1, 2, 3, 0]);
        assert_eq!(seq(Mode::Pingpong), [0, 1, 2, 3, 2, 1, 0, 1, 2]);
        assert_eq!(seq(Mode::Once), [0, 1, 2, 3, 3, 3, 3, 3, 3]);
        assert_eq!(file_at(Mode::Pingpong, 5, 1), 0);
    }

    fn folder(name: &str, frames: usize) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("marquee-seq-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..frames {
            let v = (i * 40) as u8;
            image::RgbaImage::from_pixel(2, 2, image::Rgba([v, 0, 0, 255]))
                .save(dir.join(format!("f{i:03}.png")))
                .unwrap();
        }
        std::fs::write(dir.join("notes.txt"), "not a frame").unwrap();
        dir
    }

    /// The red value of the first pixel of each of `frames` frames at `fps`.
    fn play(json: &str, fps: f64, frames: u64) -> Vec<u8> {
        let init = InitCtx {
            width: 2,
            height: 2,
            fps,
            seed: 0,
        };
        let mut r = new_renderer(json, &init).unwrap();
        let (mut px, mut q) = (vec![0u8; 16], DrawQueue::new());
        (0..frames)
            .map(|i| {
                r.render(&FrameCtx::new(&init, i), &mut Canvas::new(2, 2, &mut px, &mut q))
                    .unwrap();
                px[0]
            })
            .collect()
    }

    #[test]
    fn a_panicking_decoder_fails_the_frame_instead_of_hanging_it() {
        fn panics(_: &Path, _: &Placing, _: &mut Vec<u8>) -> Result<(), String> {
            panic!("decoder exploded")
        }
        let dir = folder("panic", 3);
        let init = InitCtx::new(2, 2, 10.0, 0);
        let config = Config {
            path: dir.clone(),
            fps: 10.0,
            ..Config::default()
        };
        // The first frame is decoded at creation (by the real decoder); the workers panic.
        let mut r = ImageSequence::with_decoder(config, &init, panics).unwrap();
        let (mut px, mut q) = (vec![0u8; 16], DrawQueue::new());
        let mut canvas = Canvas::new(2, 2, &mut px, &mut q);
        assert!(r.render(&FrameCtx::new(&init, 0), &mut canvas).is_ok());
        let e = r.render(&FrameCtx::new(&init, 1), &mut canvas).unwrap_err();
        assert!(e.message.contains("panicked: decoder exploded"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_a_sequence_keeps_and_decodes_is_bounded() {
        let dir = folder("bounded", 2);
        let init = |width, height| InitCtx::new(width, height, 10.0, 0);
        let config = |prefetch, workers| Config {
            path: dir.clone(),
            prefetch,
            workers,
            ..Config::default()
        };
        // 256 + 2 + 2 frames of 4096² would be 16 GiB.
        let e = ImageSequence::new(config(256, 2), &init(4096, 4096))
            .err()
            .unwrap();
        assert_eq!(e.field(), Some("prefetch"));
        assert!(e.message.contains("260 frames of this 4096×4096 layer"), "{e}");
        assert!(ImageSequence::new(config(256, 2), &init(64, 64)).is_ok());
        // Filling a 4096×16 layer with a 2×2 frame scales it to 4096², over what one of 16
        // workers may decode (a sixteenth of the budget), but within what one worker may.
        let fill = |workers| Config {
            fit: Fit::Fill,
            ..config(1, workers)
        };
        let e = ImageSequence::new(fill(16), &init(4096, 16)).err().unwrap();
        assert!(e.message.contains("4096×4096 pixels, 64 MiB"), "{e}");
        assert!(ImageSequence::new(fill(1), &init(4096, 16)).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plays_at_its_own_rate_whatever_the_render_rate() {
        let dir = folder("rate", 4);
        let json = format!("{{\"path\": {:?}, \"fps\": 2.0}}", dir.to_str().unwrap());
        // At 10 render fps, each image shows for 5 frames; at 4 render fps, for 2.
        assert_eq!(play(&json, 10.0, 12), [0, 0, 0, 0, 0, 40, 40, 40, 40, 40, 80, 80]);
        assert_eq!(play(&json, 4.0, 10), [0, 0, 40, 40, 80, 80, 120, 120, 0, 0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn at_the_scene_rate_frame_n_shows_image_n() {
        // 4.1 s · 30 fps is just below 123 in floating point: frame 123 once showed image 122.
        let dir = std::env::temp_dir().join(format!("marquee-seq-same-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..130u8 {
            image::RgbaImage::from_pixel(2, 2, image::Rgba([i, 0, 0, 255]))
                .save(dir.join(format!("f{i:03}.png")))
                .unwrap();
        }
        let json = format!(
            "{{\"path\": {:?}, \"fps\": 30.0, \"mode\": \"once\"}}",
            dir.to_str().unwrap()
        );
        let shown = play(&json, 30.0, 130);
        assert_eq!(shown, (0..130u8).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn waiting_playback_is_exact_with_a_tiny_prefetch_and_one_worker() {
        let dir = folder("exact", 7);
        let json = format!(
            "{{\"path\": {:?}, \"fps\": 30.0, \"mode\": \"pingpong\", \"prefetch\": 1, \"workers\": 1}}",
            dir.to_str().unwrap()
        );
        let want: Vec<u8> = (0..30)
            .map(|k| (file_at(Mode::Pingpong, k, 7) * 40) as u8)
            .collect();
        assert_eq!(play(&json, 30.0, 30), want);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn live_playback_shows_something_and_counts() {
        let dir = folder("live", 5);
        let json = format!(
            "{{\"path\": {:?}, \"fps\": 1000.0, \"wait\": false, \"tolerance\": 1}}",
            dir.to_str().unwrap()
        );
        let init = InitCtx::new(2, 2, 1000.0, 0);
        let mut r = ImageSequence::new(parse_config(&json).unwrap(), &init).unwrap();
        let (mut px, mut q) = (vec![0u8; 16], DrawQueue::new());
        for i in 0..50 {
            r.render(&FrameCtx::new(&init, i), &mut Canvas::new(2, 2, &mut px, &mut q))
                .unwrap();
            assert_eq!(px[3], 255, "frame {i} shows a decoded image");
        }
        let c = r.counters();
        assert_eq!(c.waits, 0, "never waits in live mode");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_folder_or_a_broken_first_frame_is_a_config_error() {
        let dir = folder("empty", 0);
        let init = InitCtx::new(2, 2, 10.0, 0);
        let err = new_renderer(&format!("{{\"path\": {:?}}}", dir.to_str().unwrap()), &init)
            .err()
            .unwrap();
        assert_eq!(err.field(), Some("path"));
        assert!(err.message.contains("holds no PNG or JPEG frames"), "{err}");
        std::fs::write(dir.join("a.png"), b"broken").unwrap();
        let err = new_renderer(&format!("{{\"path\": {:?}}}", dir.to_str().unwrap()), &init)
            .err()
            .unwrap();
        assert!(err.message.contains("a.png"), "{err}");
        let err = new_renderer(r#"{"path": "/nonexistent/frames"}"#, &init)
            .err()
            .unwrap();
        assert!(err.message.contains("cannot read the folder"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
