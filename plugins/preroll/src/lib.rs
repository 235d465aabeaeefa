//! `preroll`: keeps the last `pre_roll_ms` of frames in a ring buffer and, on a trigger, writes
//! a clip of pre-roll plus `post_roll_ms` of what follows through one of the encoders (`gif`,
//! `video`, `png-sequence`).
//!
//! The ring is sized once, from the frame rate: `P = round(pre_roll_ms × fps / 1000)` frames of
//! pre-roll plus one for the trigger's own frame (a trigger the host could only deliver after
//! that frame still finds it), all allocated at creation and bounded by `max_memory_mb`; it can
//! never grow. A trigger at frame `T` starts a clip at frame `T − P` (or at the oldest frame
//! held, early in a run) that runs through frame `T + Q`, `Q = round(post_roll_ms × fps / 1000)`.
//! A trigger while a clip is being written extends it to its own `T + Q` instead of starting
//! another, and a clip never repeats frames an earlier clip holds. Clip `n` goes to `path` with
//! `{n}` replaced by `n` (from 1, four digits).

use std::path::PathBuf;

use marquee_gif::GifRecorder;
use marquee_plugin_api::{
    DerivedFields, Factory, FrameMeta, InitCtx, PluginDef, PluginError, RecorderPlugin, declare_plugin,
    fields_of, parse_config,
};
use marquee_png_sequence::PngSequence;
use marquee_video::{Fallback, Probed};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "preroll",
    version: env!("CARGO_PKG_VERSION"),
    description: "clips around triggers, with pre-roll",
    renderer: None,
    processor: None,
    recorder: Some(Factory {
        doc: "Holds the last `pre_roll_ms` of frames; on a trigger (key c, SIGUSR1, or a plugin's event) writes pre-roll + `post_roll_ms` as a clip.",
        fields: fields_of::<Config>,
        new: new_recorder,
    }),
};

/// Which encoder writes clips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Encoder {
    /// From the extension of `path`.
    Auto,
    /// Animated GIF.
    Gif,
    /// ffmpeg.
    Video,
    /// Numbered PNGs.
    PngSequence,
}

/// Config of a `preroll` recorder.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Clip file pattern with {n} for the clip number: clips/clip-{n}.gif, .mp4 (video) or with a frame {f} too for PNGs (required).
    #[default(PathBuf::new())]
    #[schemars(extend("format" = "path"))]
    pub path: PathBuf,
    /// Milliseconds kept before a trigger.
    #[default(3000)]
    #[schemars(range(min = 0, max = 600000))]
    pub pre_roll_ms: i64,
    /// Milliseconds recorded after it.
    #[default(2000)]
    #[schemars(range(min = 0, max = 3600000))]
    pub post_roll_ms: i64,
    /// The encoder clips are written with; auto picks it from the extension of `path`.
    #[default(Encoder::Auto)]
    pub encoder: Encoder,
    /// Refuse a ring buffer bigger than this.
    #[default(512)]
    #[schemars(range(min = 1, max = 65536))]
    pub max_memory_mb: i64,
    /// Video: encoders to try (default: video's chain).
    #[default(Vec::new())]
    pub codecs: Vec<String>,
    /// Video: quality, 0 best to 51 worst.
    #[default(23)]
    #[schemars(range(min = 0, max = 51))]
    pub crf: i64,
    /// Video without ffmpeg: none (refuse) or gif.
    #[default(Fallback::None)]
    pub fallback: Fallback,
}

/// A fixed ring of frames: `capacity` buffers allocated at creation, oldest overwritten.
pub struct Ring {
    frames: Vec<(FrameMeta, Vec<u8>)>,
    /// Index of the oldest held frame.
    head: usize,
    len: usize,
}

impl Ring {
    /// `capacity` frames of `bytes` each, allocated now.
    pub fn new(capacity: usize, bytes: usize) -> Ring {
        let meta = FrameMeta {
            index: 0,
            time: 0.0,
            fps: 1.0,
            width: 0,
            height: 0,
        };
        Ring {
            frames: (0..capacity).map(|_| (meta, vec![0u8; bytes])).collect(),
            head: 0,
            len: 0,
        }
    }

    /// Frames it can hold.
    pub fn capacity(&self) -> usize {
        self.frames.len()
    }

    /// Frames it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `frame` in, over the oldest when full.
    pub fn push(&mut self, meta: &FrameMeta, frame: &[u8]) {
        let cap = self.frames.len();
        if cap == 0 {
            return;
        }
        let at = (self.head + self.len) % cap;
        let slot = &mut self.frames[at];
        slot.0 = *meta;
        slot.1.clear();
        slot.1.extend_from_slice(frame);
        if self.len == cap {
            self.head = (self.head + 1) % cap;
        } else {
            self.len += 1;
        }
    }

    /// The held frames, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(FrameMeta, Vec<u8>)> {
        let cap = self.frames.len();
        (0..self.len).map(move |k| &self.frames[(self.head + k) % cap])
    }
}

/// The clip being written.
struct Clip {
    writer: Box<dyn RecorderPlugin>,
    /// Its last frame.
    end: u64,
    /// The last frame written to it.
    last: Option<u64>,
}

/// The recorder.
pub struct Preroll {
    ring: Ring,
    pre: u64,
    post: u64,
    pattern: String,
    encoder: Encoder,
    video: Option<Probed>,
    init: InitCtx,
    clip: Option<Clip>,
    /// The last frame of the last clip written.
    last_end: Option<u64>,
    clips: u64,
    triggers: u64,
    extended: u64,
    clip_frames: u64,
}

/// Frames in `ms` milliseconds at `fps`.
pub fn frames_in(ms: i64, fps: f64) -> u64 {
    (ms as f64 * fps / 1000.0).round() as u64
}

impl Preroll {
    /// Checks `config` and allocates the ring for frames of `init`.
    pub fn create(config: Config, init: &InitCtx) -> Result<Preroll, PluginError> {
        let pattern = config.path.to_string_lossy().into_owned();
        if pattern.is_empty() {
            return Err(PluginError::config(
                "path",
                "a clip file pattern is required, such as \"clips/clip-{n}.gif\"",
            ));
        }
        if !pattern.contains("{n}") {
            return Err(PluginError::config(
                "path",
                format!(
                    "`{pattern}` has no {{n}} for the clip number; write for instance \"clips/clip-{{n}}.gif\""
                ),
            ));
        }
        let ext = config
            .path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let encoder = match config.encoder {
            Encoder::Auto => match ext.as_str() {
                "gif" => Encoder::Gif,
                "png" => Encoder::PngSequence,
                _ => Encoder::Video,
            },
            e => e,
        };
        if encoder == Encoder::PngSequence && !pattern.contains("{f}") {
            return Err(PluginError::config(
                "path",
                "PNG clips need {f} for the frame number too, such as \"clips/clip-{n}/f-{f}.png\"",
            ));
        }
        let pre = frames_in(config.pre_roll_ms, init.fps);
        let post = frames_in(config.post_roll_ms, init.fps);
        let bytes = init.width as usize * init.height as usize * 4;
        let capacity = pre as usize + 1;
        let need = capacity as u64 * bytes as u64;
        let limit = config.max_memory_mb as u64 * 1024 * 1024;
        if need > limit {
            return Err(PluginError::config(
                "pre_roll_ms",
                format!(
                    "{} ms of pre-roll at {} fps is {capacity} frames of {}×{}, {} MB, over max_memory_mb = {}; shorten the pre-roll or raise the limit",
                    config.pre_roll_ms,
                    init.fps,
                    init.width,
                    init.height,
                    need.div_ceil(1024 * 1024),
                    config.max_memory_mb
                ),
            ));
        }
        let video = match encoder {
            Encoder::Video => {
                let mut v = marquee_video::Config {
                    // Probed with the first clip's name; later clips reuse the outcome.
                    path: PathBuf::from(pattern.replace("{n}", "0001")),
                    crf: config.crf,
                    fallback: config.fallback,
                    ..marquee_video::Config::default()
                };
                if !config.codecs.is_empty() {
                    v.codecs = config.codecs.clone();
                }
                Some(Probed::probe(v, init)?)
            }
            _ => None,
        };
        Ok(Preroll {
            ring: Ring::new(capacity, bytes),
            pre,
            post,
            pattern,
            encoder,
            video,
            init: *init,
            clip: None,
            last_end: None,
            clips: 0,
            triggers: 0,
            extended: 0,
            clip_frames: 0,
        })
    }

    /// The ring (for tests and counters).
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The file clip `n` goes to.
    pub fn clip_path(&self, n: u64) -> PathBuf {
        PathBuf::from(self.pattern.replace("{n}", &format!("{n:04}")))
    }

    fn open_clip(&mut self, n: u64) -> Result<Box<dyn RecorderPlugin>, PluginError> {
        let path = self.clip_path(n);
        match self.encoder {
            Encoder::Video => self.video.as_ref().expect("probed for video").start(&path),
            Encoder::Gif => {
                let config = marquee_gif::Config {
                    path,
                    ..marquee_gif::Config::default()
                };
                Ok(Box::new(GifRecorder::create(config, &self.init)?))
            }
            Encoder::PngSequence | Encoder::Auto => {
                let pattern = path.to_string_lossy().replace("{f}", "{n}");
                if let Some(dir) = PathBuf::from(&pattern).parent() {
                    // Made one directory at a time, never through a symbolic link.
                    marquee_plugin_api::files::open_dir(dir, true)
                        .map_err(|e| marquee_plugin_api::files::io_error("cannot create", dir, e))?;
                }
                let config = marquee_png_sequence::Config {
                    path: pattern.into(),
                    ..marquee_png_sequence::Config::default()
                };
                Ok(Box::new(PngSequence::create(config, &self.init)?))
            }
        }
    }

    fn write(&mut self, meta: &FrameMeta, frame: &[u8]) -> Result<(), PluginError> {
        let Some(clip) = &mut self.clip else { return Ok(()) };
        if clip.last.is_some_and(|l| meta.index <= l) || meta.index > clip.end {
            return Ok(());
        }
        clip.writer.record(meta, frame)?;
        clip.last = Some(meta.index);
        self.clip_frames += 1;
        if meta.index >= clip.end {
            self.close()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), PluginError> {
        if let Some(mut clip) = self.clip.take() {
            self.last_end = clip.last.or(self.last_end);
            clip.writer.finish()?;
        }
        Ok(())
    }
}

fn new_recorder(json: &str, init: &InitCtx) -> Result<Box<dyn RecorderPlugin>, PluginError> {
    Ok(Box::new(Preroll::create(parse_config(json)?, init)?))
}

impl RecorderPlugin for Preroll {
    fn record(&mut self, meta: &FrameMeta, frame: &[u8]) -> Result<(), PluginError> {
        if let Some(clip) = &self.clip
            && meta.index > clip.end
        {
            // Frames up to the end were dropped before reaching us: the clip ends here.
            self.close()?;
        }
        self.ring.push(meta, frame);
        self.write(meta, frame)
    }

    fn trigger(&mut self, meta: &FrameMeta) -> Result<(), PluginError> {
        self.triggers += 1;
        let end = meta.index + self.post;
        if let Some(clip) = &mut self.clip {
            clip.end = clip.end.max(end);
            self.extended += 1;
            return Ok(());
        }
        let mut start = meta.index.saturating_sub(self.pre);
        if let Some(last) = self.last_end {
            start = start.max(last + 1);
        }
        self.clips += 1;
        let writer = self.open_clip(self.clips)?;
        self.clip = Some(Clip {
            writer,
            end,
            last: None,
        });
        // The pre-roll: held frames from `start` on, oldest first. The ring is taken out while
        // they are written (writing borrows `self`) and put back whatever happens.
        let ring = std::mem::replace(&mut self.ring, Ring::new(0, 0));
        let mut result = Ok(());
        for (m, pixels) in ring.iter().filter(|(m, _)| m.index >= start) {
            result = self.write(m, pixels);
            if result.is_err() || self.clip.is_none() {
                break;
            }
        }
        self.ring = ring;
        result
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        // A clip still open keeps what it has: it ends at the last frame.
        self.close()
    }

    fn describe(&self) -> String {
        let encoder = match (&self.video, self.encoder) {
            (Some(v), _) => serde_json::from_str(&v.describe()).unwrap_or_default(),
            (None, Encoder::Gif) => serde_json::json!({ "encoder": "gif" }),
            (None, _) => serde_json::json!({ "encoder": "png-sequence" }),
        };
        serde_json::json!({
            "ring_frames": self.ring.capacity(),
            "ring_bytes": self.ring.capacity() * self.init.width as usize * self.init.height as usize * 4,
            "pre_roll_frames": self.pre,
            "post_roll_frames": self.post,
            "clips": encoder,
        })
        .to_string()
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("held", self.ring.len() as u64),
            ("capacity", self.ring.capacity() as u64),
            ("triggers", self.triggers),
            ("extended", self.extended),
            ("clips", self.clips),
            ("clip_frames", self.clip_frames),
        ]
    }
}

impl Drop for Preroll {
    fn drop(&mut self) {
        // Unfinished: the clip's writer drops too, abandoning its temporary file.
        self.clip = None;
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    const FPS: f64 = 50.0;

    fn init() -> InitCtx {
        InitCtx {
            width: 2,
            height: 2,
            fps: FPS,
            seed: 0,
        }
    }

    fn meta(index: u64) -> FrameMeta {
        FrameMeta {
            index,
            time: index as f64 / FPS,
            fps: FPS,
            width: 2,
            height: 2,
        }
    }

    fn frame(index: u64) -> Vec<u8> {
        (0..16)
            .map(|k| (index as u8).wrapping_mul(3).wrapping_add(k))
            .collect()
    }

    /// A PNG-clip preroll in a fresh directory: each clip's files are named by frame index.
    fn preroll(name: &str, pre_ms: i64, post_ms: i64) -> (Preroll, PathBuf) {
        let dir = std::env::temp_dir().join(format!("marquee-preroll-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = Config {
            path: dir.join("clip-{n}/f-{f}.png"),
            pre_roll_ms: pre_ms,
            post_roll_ms: post_ms,
            ..Config::default()
        };
        (Preroll::create(config, &init()).unwrap(), dir)
    }

    /// The frame indices clip `n` holds, from its file names.
    fn clip_frames(dir: &std::path::Path, n: u64) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(dir.join(format!("clip-{n:04}")))
            .map(|d| {
                d.filter_map(|e| {
                    let name = e.ok()?.file_name().to_string_lossy().into_owned();
                    name.strip_prefix("f-")?.strip_suffix(".png")?.parse().ok()
                })
                .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn the_ring_holds_exactly_the_window_and_never_more() {
        // 200 ms at 50 fps: 10 frames of pre-roll, plus the trigger's own frame.
        let (mut p, dir) = preroll("ring", 200, 0);
        assert_eq!(p.ring().capacity(), 11);
        for i in 0..5 {
            p.record(&meta(i), &frame(i)).unwrap();
        }
        assert_eq!(p.ring().len(), 5);
        for i in 5..500 {
            p.record(&meta(i), &frame(i)).unwrap();
            assert!(p.ring().len() <= 11);
        }
        assert_eq!(p.ring().len(), 11);
        let held: Vec<u64> = p.ring().iter().map(|(m, _)| m.index).collect();
        assert_eq!(held, (489..500).collect::<Vec<_>>());
        assert!(p.ring().iter().all(|(m, px)| *px == frame(m.index)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_clip_starts_pre_roll_before_the_trigger_and_runs_post_roll_after() {
        let (mut p, dir) = preroll("clip", 200, 100);
        for i in 0..100 {
            if i == 60 {
                p.trigger(&meta(i)).unwrap();
            }
            p.record(&meta(i), &frame(i)).unwrap();
        }
        p.finish().unwrap();
        // 200 ms = 10 frames before frame 60, 100 ms = 5 frames after it.
        assert_eq!(clip_frames(&dir, 1), (50..=65).collect::<Vec<_>>());
        let first = image::open(dir.join("clip-0001/f-000050.png"))
            .unwrap()
            .to_rgba8();
        assert_eq!(first.as_raw(), &frame(50));
        assert_eq!(p.counters()[4], ("clips", 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn overlapping_triggers_extend_the_clip_and_clips_never_share_frames() {
        let (mut p, dir) = preroll("overlap", 200, 100);
        for i in 0..200 {
            // 60 and 63 overlap (one clip to 68); 72 comes after that clip ended, its pre-roll
            // reaching back into it (a second clip from 69); 150 stands alone.
            if [60, 63, 72, 150].contains(&i) {
                p.trigger(&meta(i)).unwrap();
            }
            p.record(&meta(i), &frame(i)).unwrap();
        }
        p.finish().unwrap();
        assert_eq!(clip_frames(&dir, 1), (50..=68).collect::<Vec<_>>());
        assert_eq!(clip_frames(&dir, 2), (69..=77).collect::<Vec<_>>());
        assert_eq!(clip_frames(&dir, 3), (140..=155).collect::<Vec<_>>());
        assert!(clip_frames(&dir, 4).is_empty());
        let counters = p.counters();
        assert!(counters.contains(&("triggers", 4)));
        assert!(counters.contains(&("extended", 1)));
        assert!(counters.contains(&("clips", 3)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_trigger_early_in_a_run_takes_what_there_is() {
        let (mut p, dir) = preroll("early", 200, 40);
        p.record(&meta(0), &frame(0)).unwrap();
        p.record(&meta(1), &frame(1)).unwrap();
        p.trigger(&meta(2)).unwrap();
        for i in 2..10 {
            p.record(&meta(i), &frame(i)).unwrap();
        }
        p.finish().unwrap();
        assert_eq!(clip_frames(&dir, 1), (0..=4).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_configs_are_refused_clearly() {
        let bad = |c: Config| Preroll::create(c, &init()).err().expect("refused");
        let base = Config {
            path: "c-{n}.gif".into(),
            ..Config::default()
        };
        let e = bad(Config {
            path: "clip.gif".into(),
            ..base.clone()
        });
        assert_eq!(e.field(), Some("path"));
        let big = InitCtx {
            width: 1920,
            height: 1080,
            fps: 60.0,
            seed: 0,
        };
        let e = Preroll::create(
            Config {
                pre_roll_ms: 10_000,
                ..base
            },
            &big,
        )
        .err()
        .unwrap();
        assert!(e.message.contains("max_memory_mb"), "{}", e.message);
    }
}
