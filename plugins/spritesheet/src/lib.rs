//! `spritesheet`: plays an Aseprite-style sprite sheet (a JSON file of frames with durations and
//! tags, beside a PNG). Phases: the `start` tag plays once, then `loop` repeats, and after
//! `end_after` seconds the `end` tag plays once and its last frame stays. Each tag plays in its
//! own direction (forward, reverse, pingpong). Sheets are decoded once into a cache shared by every
//! instance showing the same file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use marquee_plugin_api::images::MAX_DECODED_BYTES;
use marquee_plugin_api::{
    AssetCache, Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, RendererPlugin,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "spritesheet",
    version: env!("CARGO_PKG_VERSION"),
    description: "Aseprite-style sprite sheet animation",
    renderer: Some(Factory {
        doc: "Plays the sheet described by the JSON at `path`: `start` once, `loop` until `end_after` seconds, then `end` once, holding its last frame.",
        fields: fields_of::<Config>,
        new: new_renderer,
    }),
    processor: None,
    recorder: None,
};

/// Config of a `spritesheet` layer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The sheet's JSON (Aseprite export, array or hash); its PNG is `meta.image` beside it.
    #[default(PathBuf::new())]
    #[schemars(extend("format" = "path"))]
    pub path: PathBuf,
    /// Tag played once at the start (empty: none).
    #[default(String::new())]
    pub start: String,
    /// Tag played over and over (empty: every frame).
    #[serde(rename = "loop")]
    #[default(String::new())]
    pub loop_: String,
    /// Tag played once after `end_after` (empty: none).
    #[default(String::new())]
    pub end: String,
    /// Seconds before the end phase; 0 loops forever.
    #[default(0.0)]
    #[schemars(range(min = 0, max = 1000000))]
    pub end_after: f64,
    /// Playback speed factor.
    #[default(1.0)]
    #[schemars(range(min = 0.01, max = 100))]
    pub speed: f64,
    /// Top-left corner [x, y] on the layer.
    #[default([0, 0])]
    pub position: [i32; 2],
    /// Pixels per sheet pixel.
    #[default(1)]
    #[schemars(range(min = 1, max = 16))]
    pub scale: u32,
}

#[derive(Deserialize, JsonSchema)]
struct RawRect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

#[derive(Deserialize, JsonSchema)]
struct RawFrame {
    #[serde(default)]
    filename: String,
    frame: RawRect,
    #[serde(default = "default_duration")]
    duration: u32,
}

fn default_duration() -> u32 {
    100
}

#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum RawFrames {
    Array(Vec<RawFrame>),
    Hash(std::collections::BTreeMap<String, RawFrame>),
}

#[derive(Deserialize, JsonSchema)]
struct RawTag {
    name: String,
    from: usize,
    to: usize,
    #[serde(default)]
    direction: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    image: String,
    #[serde(default)]
    frame_tags: Vec<RawTag>,
}

#[derive(Deserialize, JsonSchema)]
struct RawSheet {
    frames: RawFrames,
    meta: RawMeta,
}

/// One frame of the sheet: where it is in the image and how long it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Left edge in the image.
    pub x: u32,
    /// Top edge in the image.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
    /// Milliseconds it shows.
    pub duration: u32,
}

/// A decoded sheet: the image and the frames and tags that cut it up.
#[derive(Debug)]
pub struct Sheet {
    /// The whole sheet image, RGBA8.
    pub image: image::RgbaImage,
    /// Frames in order.
    pub frames: Vec<Frame>,
    /// Tag name → the frame indices it plays, in playing order.
    pub tags: Vec<(String, Vec<usize>)>,
}

/// Orders hash keys as people number frames: `walk 2` before `walk 10`.
fn natural_key(s: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                out.push((std::mem::take(&mut text), digits.parse().unwrap_or(u64::MAX)));
                digits.clear();
            }
            text.push(c);
        }
    }
    out.push((text, digits.parse().unwrap_or(0)));
    out
}

/// The frame order a tag plays, by its Aseprite direction.
fn tag_order(from: usize, to: usize, direction: &str) -> Result<Vec<usize>, String> {
    let forward: Vec<usize> = (from..=to).collect();
    let inner = |v: &[usize]| {
        v[1..v.len().saturating_sub(1).max(1)]
            .iter()
            .rev()
            .copied()
            .collect::<Vec<_>>()
    };
    Ok(match direction {
        "" | "forward" => forward,
        "reverse" => forward.into_iter().rev().collect(),
        "pingpong" => {
            let back = if forward.len() > 2 {
                inner(&forward)
            } else {
                vec![]
            };
            forward.into_iter().chain(back).collect()
        }
        "pingpong_reverse" => {
            let rev: Vec<usize> = forward.into_iter().rev().collect();
            let back = if rev.len() > 2 { inner(&rev) } else { vec![] };
            rev.into_iter().chain(back).collect()
        }
        other => {
            return Err(format!(
                "unknown direction `{other}` (expected forward, reverse, pingpong or pingpong_reverse)"
            ));
        }
    })
}

static SHEETS: AssetCache<Sheet> = AssetCache::new();

/// The largest sheet JSON read, in bytes.
pub const MAX_SHEET_BYTES: u64 = 16 << 20;

fn bad(path: &Path, what: impl std::fmt::Display) -> PluginError {
    PluginError::config("path", format!("sprite sheet {}: {what}", path.display()))
}

/// Reads and checks a sheet (through the shared cache).
pub fn load(path: &Path) -> Result<Arc<Sheet>, PluginError> {
    SHEETS.get_or_load(path, |path| {
        let text = marquee_plugin_api::files::read_text_bounded(path, MAX_SHEET_BYTES)
            .map_err(|e| bad(path, format!("cannot read it: {e}")))?;
        let raw: RawSheet =
            serde_json::from_str(&text).map_err(|e| bad(path, format!("not an Aseprite sheet: {e}")))?;
        let image_path = path.parent().unwrap_or(Path::new("")).join(&raw.meta.image);
        let image = marquee_plugin_api::images::decode(&image_path, MAX_DECODED_BYTES).map_err(|e| {
            bad(
                path,
                format!("cannot read its image {}: {e}", image_path.display()),
            )
        })?;
        let frames: Vec<RawFrame> = match raw.frames {
            RawFrames::Array(v) => v,
            RawFrames::Hash(map) => {
                let mut v: Vec<(String, RawFrame)> = map.into_iter().collect();
                v.sort_by_key(|(k, _)| natural_key(k));
                v.into_iter()
                    .map(|(k, mut f)| {
                        f.filename = k;
                        f
                    })
                    .collect()
            }
        };
        if frames.is_empty() {
            return Err(bad(path, "it has no frames"));
        }
        let mut out = Vec::with_capacity(frames.len());
        for (i, f) in frames.iter().enumerate() {
            let r = &f.frame;
            // Checked: a frame at x = 4294967295 must not wrap around into the image.
            let right = r.x.checked_add(r.w).filter(|&e| e <= image.width());
            let bottom = r.y.checked_add(r.h).filter(|&e| e <= image.height());
            if r.w == 0 || r.h == 0 || right.is_none() || bottom.is_none() {
                return Err(bad(
                    path,
                    format!(
                        "frame {i} (`{}`) is {}×{} at ({}, {}), outside the {}×{} image",
                        f.filename,
                        r.w,
                        r.h,
                        r.x,
                        r.y,
                        image.width(),
                        image.height()
                    ),
                ));
            }
            if f.duration == 0 {
                return Err(bad(path, format!("frame {i} has a duration of 0 ms")));
            }
            out.push(Frame {
                x: r.x,
                y: r.y,
                w: r.w,
                h: r.h,
                duration: f.duration,
            });
        }
        let mut tags = Vec::new();
        for t in &raw.meta.frame_tags {
            if t.from > t.to || t.to >= out.len() {
                return Err(bad(
                    path,
                    format!(
                        "tag `{}` spans frames {} to {}, but there are {}",
                        t.name,
                        t.from,
                        t.to,
                        out.len()
                    ),
                ));
            }
            let order = tag_order(t.from, t.to, &t.direction)
                .map_err(|e| bad(path, format!("tag `{}`: {e}", t.name)))?;
            tags.push((t.name.clone(), order));
        }
        Ok(Sheet {
            image,
            frames: out,
            tags,
        })
    })
}

/// One phase of the animation: the frames it plays and their total length in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Phase {
    frames: Vec<usize>,
    total: u64,
}

impl Phase {
    fn of(sheet: &Sheet, field: &str, tag: &str) -> Result<Option<Phase>, PluginError> {
        let frames = if tag.is_empty() {
            if field != "loop" {
                return Ok(None);
            }
            (0..sheet.frames.len()).collect()
        } else {
            match sheet.tags.iter().find(|(name, _)| name == tag) {
                Some((_, order)) => order.clone(),
                None => {
                    let names: Vec<&str> = sheet.tags.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(PluginError::config(
                        field,
                        format!("the sheet has no tag `{tag}`; its tags: {}", names.join(", ")),
                    ));
                }
            }
        };
        let total = frames.iter().map(|&i| sheet.frames[i].duration as u64).sum();
        Ok(Some(Phase { frames, total }))
    }

    /// The frame showing `ms` into the phase (clamped to the last frame).
    fn at(&self, sheet: &Sheet, mut ms: u64) -> usize {
        for &i in &self.frames {
            let d = sheet.frames[i].duration as u64;
            if ms < d {
                return i;
            }
            ms -= d;
        }
        *self.frames.last().expect("a phase has frames")
    }
}

/// The renderer.
pub struct Sprites {
    config: Config,
    sheet: Arc<Sheet>,
    start: Option<Phase>,
    looped: Phase,
    end: Option<Phase>,
}

impl Sprites {
    /// The sheet frame showing at `time` seconds.
    pub fn frame_at(&self, time: f64) -> usize {
        let ms = (time * 1000.0 * self.config.speed).floor() as u64;
        let start_len = self.start.as_ref().map_or(0, |p| p.total);
        if let Some(start) = self.start.as_ref().filter(|_| ms < start_len) {
            return start.at(&self.sheet, ms);
        }
        let end_at = (self.config.end_after * 1000.0 * self.config.speed).floor() as u64;
        if let Some(end) = self.end.as_ref().filter(|_| self.config.end_after > 0.0) {
            let end_start = end_at.max(start_len);
            if ms >= end_start {
                return end.at(&self.sheet, ms - end_start);
            }
        }
        let in_loop = ms - start_len;
        self.looped.at(&self.sheet, in_loop % self.looped.total.max(1))
    }
}

fn new_renderer(json: &str, _init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    if config.path.as_os_str().is_empty() {
        return Err(PluginError::config(
            "path",
            "a sprite sheet JSON file is required",
        ));
    }
    let sheet = load(&config.path)?;
    let start = Phase::of(&sheet, "start", &config.start)?;
    let looped = Phase::of(&sheet, "loop", &config.loop_)?.expect("the loop phase always has frames");
    let end = Phase::of(&sheet, "end", &config.end)?;
    Ok(Box::new(Sprites {
        config,
        sheet,
        start,
        looped,
        end,
    }))
}

impl RendererPlugin for Sprites {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        let f = self.sheet.frames[self.frame_at(ctx.time)];
        let (lw, lh) = (canvas.width() as i64, canvas.height() as i64);
        let s = self.config.scale as i64;
        let [px0, py0] = self.config.position.map(|v| v as i64);
        let img = &self.sheet.image;
        let pixels = canvas.pixels();
        for sy in 0..f.h as i64 * s {
            let y = py0 + sy;
            if y < 0 || y >= lh {
                continue;
            }
            for sx in 0..f.w as i64 * s {
                let x = px0 + sx;
                if x < 0 || x >= lw {
                    continue;
                }
                let p = img.get_pixel(f.x + (sx / s) as u32, f.y + (sy / s) as u32).0;
                if p[3] != 0 {
                    let at = ((y * lw + x) * 4) as usize;
                    pixels[at..at + 4].copy_from_slice(&p);
                }
            }
        }
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_directions() {
        assert_eq!(tag_order(2, 5, "forward").unwrap(), [2, 3, 4, 5]);
        assert_eq!(tag_order(2, 5, "reverse").unwrap(), [5, 4, 3, 2]);
        assert_eq!(tag_order(2, 5, "pingpong").unwrap(), [2, 3, 4, 5, 4, 3]);
        assert_eq!(tag_order(2, 5, "pingpong_reverse").unwrap(), [5, 4, 3, 2, 3, 4]);
        assert_eq!(tag_order(1, 2, "pingpong").unwrap(), [1, 2]);
        assert!(tag_order(1, 2, "sideways").is_err());
    }

    #[test]
    fn natural_order_of_hash_keys() {
        let mut keys = vec!["walk 10.ase", "walk 2.ase", "walk 1.ase"];
        keys.sort_by_key(|k| natural_key(k));
        assert_eq!(keys, ["walk 1.ase", "walk 2.ase", "walk 10.ase"]);
    }

    /// A 4-frame sheet, 2×2 frames side by side, frame i filled with grey level 60·(i+1).
    fn sheet(dir: &Path, json_frames: &str, tags: &str) -> PathBuf {
        let img = image::RgbaImage::from_fn(8, 2, |x, _| {
            let v = 60 * (x / 2 + 1) as u8;
            image::Rgba([v, v, v, 255])
        });
        img.save(dir.join("s.png")).unwrap();
        let json = format!(
            "{{\"frames\": {json_frames}, \"meta\": {{\"image\": \"s.png\", \"frameTags\": [{tags}]}}}}"
        );
        std::fs::write(dir.join("s.json"), json).unwrap();
        dir.join("s.json")
    }

    const FRAMES: &str = r#"[{"frame": {"x": 0, "y": 0, "w": 2, "h": 2}, "duration": 100},
        {"frame": {"x": 2, "y": 0, "w": 2, "h": 2}, "duration": 100},
        {"frame": {"x": 4, "y": 0, "w": 2, "h": 2}, "duration": 200},
        {"frame": {"x": 6, "y": 0, "w": 2, "h": 2}, "duration": 100}]"#;
    const TAGS: &str = r#"{"name": "intro", "from": 0, "to": 0}, {"name": "walk", "from": 1, "to": 2, "direction": "pingpong"}, {"name": "bow", "from": 3, "to": 3}"#;

    fn sprites(dir: &Path, extra: &str) -> Result<Box<dyn RendererPlugin>, PluginError> {
        let path = sheet(dir, FRAMES, TAGS);
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 10.0,
            seed: 0,
        };
        new_renderer(
            &format!("{{\"path\": {:?}{extra}}}", path.to_str().unwrap()),
            &init,
        )
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("marquee-sprites-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn phases_follow_durations() {
        let dir = scratch("phases");
        let path = sheet(&dir, FRAMES, TAGS);
        let config = Config {
            path,
            start: "intro".into(),
            loop_: "walk".into(),
            end: "bow".into(),
            end_after: 1.0,
            ..Config::default()
        };
        let sheet = load(&config.path).unwrap();
        let s = Sprites {
            start: Phase::of(&sheet, "start", &config.start).unwrap(),
            looped: Phase::of(&sheet, "loop", &config.loop_).unwrap().unwrap(),
            end: Phase::of(&sheet, "end", &config.end).unwrap(),
            sheet,
            config,
        };
        // intro 0–100 ms; walk (1: 100, 2: 200) once over 300 ms: 100–200 → 1, 200–400 → 2, then 1 again.
        let at = |t: f64| s.frame_at(t);
        assert_eq!(
            [at(0.0), at(0.099), at(0.1), at(0.25), at(0.399), at(0.4)],
            [0, 0, 1, 2, 2, 1]
        );
        // End phase from 1 s on: bow, held.
        assert_eq!([at(0.999), at(1.0), at(50.0)], [2, 3, 3]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn draws_the_current_frame_scaled() {
        let dir = scratch("draw");
        let mut r = sprites(&dir, r#", "loop": "bow", "scale": 2, "position": [1, 1]"#).unwrap();
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 10.0,
            seed: 0,
        };
        let mut px = vec![0u8; 64];
        let mut q = marquee_plugin_api::DrawQueue::new();
        r.render(&FrameCtx::new(&init, 0), &mut Canvas::new(4, 4, &mut px, &mut q))
            .unwrap();
        let lit: Vec<usize> = (0..16).filter(|&i| px[i * 4 + 3] != 0).collect();
        assert_eq!(lit, [5, 6, 7, 9, 10, 11, 13, 14, 15]);
        assert_eq!(&px[5 * 4..5 * 4 + 4], &[240, 240, 240, 255]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_sheets_are_config_errors_naming_the_problem() {
        let dir = scratch("bad");
        let err = sprites(&dir, r#", "loop": "run""#).err().unwrap();
        assert_eq!(err.field(), Some("loop"));
        assert!(err.message.contains("intro, walk, bow"), "{err}");
        let outside = r#"[{"frame": {"x": 6, "y": 0, "w": 4, "h": 2}}]"#;
        let path = sheet(&dir, outside, "");
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 10.0,
            seed: 0,
        };
        let err = new_renderer(&format!("{{\"path\": {:?}}}", path.to_str().unwrap()), &init)
            .err()
            .unwrap();
        assert!(
            err.message.contains("frame 0") && err.message.contains("outside the 8×2 image"),
            "{err}"
        );
        // Sizes from the file that would wrap around in unchecked arithmetic.
        let wrap = scratch("wrap");
        let wraps = r#"[{"frame": {"x": 4294967295, "y": 0, "w": 2, "h": 2}}]"#;
        let path = sheet(&wrap, wraps, "");
        let err = new_renderer(&format!("{{\"path\": {:?}}}", path.to_str().unwrap()), &init)
            .err()
            .unwrap();
        assert!(err.message.contains("outside the 8×2 image"), "{err}");
        std::fs::remove_dir_all(&wrap).unwrap();
        std::fs::write(dir.join("broken.json"), "{\"frames\": ").unwrap();
        let err = new_renderer(
            &format!("{{\"path\": {:?}}}", dir.join("broken.json").to_str().unwrap()),
            &init,
        )
        .err()
        .unwrap();
        assert!(err.message.contains("not an Aseprite sheet"), "{err}");
        std::fs::write(
            dir.join("noimg.json"),
            r#"{"frames": [], "meta": {"image": "nope.png"}}"#,
        )
        .unwrap();
        let err = new_renderer(
            &format!("{{\"path\": {:?}}}", dir.join("noimg.json").to_str().unwrap()),
            &init,
        )
        .err()
        .unwrap();
        assert!(err.message.contains("nope.png"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
