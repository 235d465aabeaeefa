//! `gif`: writes every frame to an animated GIF; the trace writer, usable as any recorder.
//!
//! Each frame gets a palette of its own (`quantize.rs`): exact for frames with at most 256
//! colours; beyond, a median cut (or NeuQuant with `quantizer = "neuquant"`). The first frame,
//! every `key_frames`-th, the one after a frame with transparent pixels and one that differs
//! from what is shown in half its pixels or more are stored whole; the others as differences
//! from what a decoder shows (`delta.rs`): the rectangle around the pixels that need drawing,
//! the rest transparent, in a palette of just the colours drawn (LZW-coded by `lzw.rs`). A frame
//! of at most 256 colours stays exact; one of more redraws a pixel only where its new colour is
//! closer than the one shown, in at most `changed_colors` colours. Buffers are reused between
//! frames. GIF delays are whole centiseconds, so frame `i` gets `round(100·(i+1)/fps) − round(100·i/fps)`:
//! each delay is within half a centisecond of `1/fps` and the total never drifts (30 fps gives
//! 3, 3, 4, 3, 3, 4, ...). The file is written under a temporary name and renamed into place by
//! `finish`, so an interrupted run never leaves a truncated GIF under the final name.

use std::io::BufWriter;
use std::path::PathBuf;

use marquee_plugin_api::{
    DerivedFields, Factory, FrameMeta, InitCtx, PluginDef, PluginError, RecorderPlugin, declare_plugin,
    fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "gif",
    version: env!("CARGO_PKG_VERSION"),
    description: "animated GIF recorder",
    renderer: None,
    processor: None,
    recorder: Some(Factory {
        doc: "Writes every frame to `path` as an animated GIF: a palette per frame, frames between key frames stored as differences.",
        fields: fields_of::<Config>,
        new: new_recorder,
    }),
};

/// How frames with more than 256 colours get their palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Quant {
    /// NeuQuant (`color_quant`) at `speed`.
    Neuquant,
    /// Median cut of a 15-bit colour histogram, each colour mapped to its box's mean.
    MedianCut,
}

/// Config of a `gif` recorder.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The GIF to write (required).
    #[default(PathBuf::new())]
    #[schemars(extend("format" = "path"))]
    pub path: PathBuf,
    /// NeuQuant speed with quantizer = "neuquant": 1 best and slowest, 30 fastest.
    #[default(10)]
    #[schemars(range(min = 1, max = 30))]
    pub speed: i32,
    /// Loop forever when played.
    #[default(true)]
    pub repeat: bool,
    /// The palette of frames over 256 colours: median-cut, or neuquant (at `speed`; slower, lower PSNR on test footage).
    #[default(Quant::MedianCut)]
    pub quantizer: Quant,
    /// Every this many frames (counted by frame index from 0) a frame is stored whole, so that
    /// decoding can start there; the frames between store only what changed. 0: only the first.
    #[default(60)]
    pub key_frames: u64,
    /// Frames over 256 colours only (others stay exact): a pixel is redrawn only where its new
    /// colour is closer to its own than the colour shown, by more than this (a squared RGB
    /// distance). 0 redraws wherever that is better; more leaves near colours showing, for a
    /// smaller file.
    #[default(0)]
    #[schemars(range(max = 195075))]
    pub tolerance: u32,
    /// Frames over 256 colours only: the most colours a frame stored as a difference may draw
    /// in (one stored whole gets 256). 127 keeps the frame's codes to 7 bits
    /// and its palette to 384 bytes; 255 gives the closest colours in a larger file.
    #[default(127)]
    #[schemars(range(min = 1, max = 255))]
    pub changed_colors: u32,
}

/// The GIF delay of frame `index` at `fps`, in centiseconds (see the module docs).
pub fn delay_centis(index: u64, fps: f64) -> u16 {
    let at = |i: u64| (i as f64 * 100.0 / fps).round() as i64;
    (at(index + 1) - at(index)).clamp(0, u16::MAX as i64) as u16
}

/// The recorder. Holds the encoder over the temporary file until `finish`; dropped unfinished,
/// it leaves nothing behind (dropping the [`PartialFile`] removes it).
pub struct GifRecorder {
    config: Config,
    partial: PathBuf,
    encoder: Option<gif::Encoder<BufWriter<PartialFile>>>,
    scratch: Vec<u8>,
    lzw: lzw::Lzw,
    /// The frame's LZW codes, after their minimum code size.
    compressed: Vec<u8>,
    quantizer: Quantizer,
    delta: delta::Delta,
    frames: u64,
}

mod delta;
mod lzw;
mod quantize;

use quantize::Quantizer;

use marquee_plugin_api::files::{PartialFile, commit, io_error as io_err, partial_path};

fn new_recorder(json: &str, init: &InitCtx) -> Result<Box<dyn RecorderPlugin>, PluginError> {
    Ok(Box::new(GifRecorder::create(parse_config(json)?, init)?))
}

impl GifRecorder {
    /// Checks `config` and starts writing a GIF of frames the size of `init` (under a temporary
    /// name until [`RecorderPlugin::finish`]).
    pub fn create(config: Config, init: &InitCtx) -> Result<GifRecorder, PluginError> {
        if config.path.as_os_str().is_empty() {
            return Err(PluginError::config(
                "path",
                "a path to write the GIF to is required",
            ));
        }
        if init.width > u16::MAX as u32 || init.height > u16::MAX as u32 {
            return Err(PluginError::config(
                "",
                format!(
                    "GIF frames are at most 65535×65535; the canvas is {}×{}",
                    init.width, init.height
                ),
            ));
        }
        let partial = partial_path(&config.path);
        let file = PartialFile::create(&config.path).map_err(|e| io_err("cannot create", &config.path, e))?;
        let mut encoder = gif::Encoder::new(BufWriter::new(file), init.width as u16, init.height as u16, &[])
            .map_err(|e| io_err("cannot write", &partial, e))?;
        if config.repeat {
            encoder
                .set_repeat(gif::Repeat::Infinite)
                .map_err(|e| io_err("cannot write", &partial, e))?;
        }
        Ok(GifRecorder {
            config,
            partial,
            encoder: Some(encoder),
            scratch: Vec::new(),
            lzw: lzw::Lzw::default(),
            compressed: Vec::new(),
            quantizer: Quantizer::new(),
            delta: delta::Delta::default(),
            frames: 0,
        })
    }
}

impl RecorderPlugin for GifRecorder {
    fn record(&mut self, meta: &FrameMeta, frame: &[u8]) -> Result<(), PluginError> {
        let encoder = self
            .encoder
            .as_mut()
            .ok_or_else(|| PluginError::frame("the GIF was already finished"))?;
        let (w, h) = (meta.width as u16, meta.height as u16);
        let delay = delay_centis(meta.index, meta.fps);
        if frame.chunks_exact(4).any(|p| p[3] == 0) {
            // Transparent pixels: the gif crate's own path folds them into one colour.
            self.scratch.clear();
            self.scratch.extend_from_slice(frame);
            let mut f = gif::Frame::from_rgba_speed(w, h, &mut self.scratch, self.config.speed);
            f.delay = delay;
            encoder
                .write_frame(&f)
                .map_err(|e| io_err("cannot write", &self.partial, e))?;
            // What shows through its transparent pixels is older than the frame before.
            self.delta.forget();
            self.frames += 1;
            return Ok(());
        }
        let (q, d, config) = (&mut self.quantizer, &mut self.delta, &self.config);
        let width = w as usize;
        let key = !d.knows(frame.len() / 4)
            || (config.key_frames > 0 && meta.index.is_multiple_of(config.key_frames));
        let selected = if key { None } else { d.select(frame, width) };
        // A frame that differs from what is shown in half its pixels or more is a new picture:
        // stored whole, as a key frame is.
        let whole = key || selected.is_some_and(|(count, _)| count * 2 >= frame.len() / 4);
        let (rect, transparent, from_delta) = if whole {
            q.quantize(frame, config.speed, config.quantizer, 256);
            d.shown_whole(&q.indices, &q.palette);
            let rect = delta::Rect {
                left: 0,
                top: 0,
                width,
                height: h as usize,
            };
            (rect, None, false)
        } else {
            // A frame of at most 256 colours stays exact; one of more is quantised, and redraws
            // a pixel only where that makes it closer.
            let exact = q.count_colours(frame, 256);
            let colours = match exact {
                true => 255,
                false => config.changed_colors.clamp(1, 255) as usize,
            };
            let slack = (!exact).then_some(config.tolerance);
            // The pixels that need drawing, with one index left over to be transparent...
            if selected.is_some() {
                d.gather(frame, width);
            }
            let fits = selected.is_some()
                && (q.quantize(&d.pixels, config.speed, config.quantizer, colours) || !exact);
            match selected {
                Some(_) if fits => match d.compose(width, &q.indices, &q.palette, slack) {
                    Some((rect, t)) => (rect, Some(t), true),
                    None => (d.unchanged(), Some(0), true),
                },
                // ...unless they need all 256 colours of an exact frame: then the rectangle whole.
                Some((_, rect)) => {
                    d.select_all(frame, width);
                    q.quantize(&d.pixels, config.speed, config.quantizer, 256);
                    d.opaque(width, &q.indices, &q.palette);
                    (rect, None, true)
                }
                None => (d.unchanged(), Some(0), true),
            }
        };
        let (indices, palette) = if from_delta {
            (&d.indices, &mut d.palette)
        } else {
            (&q.indices, &mut q.palette)
        };
        self.compressed.clear();
        let size = lzw::min_code_size(palette.len() / 3);
        self.lzw.encode(indices, size, &mut self.compressed);
        let mut f = gif::Frame {
            left: rect.left as u16,
            top: rect.top as u16,
            width: rect.width as u16,
            height: rect.height as u16,
            transparent,
            delay,
            buffer: std::borrow::Cow::Borrowed(&self.compressed),
            palette: Some(std::mem::take(palette)),
            ..gif::Frame::default()
        };
        let written = encoder.write_lzw_pre_encoded_frame(&f);
        // The palette lent to the frame goes back to its buffer.
        *palette = f.palette.take().unwrap_or_default();
        written.map_err(|e| io_err("cannot write", &self.partial, e))?;
        self.frames += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(());
        };
        let writer = encoder
            .into_inner()
            .map_err(|e| io_err("cannot finish", &self.partial, e))?;
        let file = writer
            .into_inner()
            .map_err(|e| io_err("cannot flush", &self.partial, e.error()))?;
        commit(file)
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![("frames", self.frames)]
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_do_not_drift() {
        let total: u32 = (0..300).map(|i| delay_centis(i, 30.0) as u32).sum();
        assert_eq!(total, 1000);
        assert_eq!([0, 1, 2].map(|i| delay_centis(i, 30.0)), [3, 4, 3]);
        assert_eq!(delay_centis(0, 50.0), 2);
        assert_eq!(delay_centis(5, 25.0), 4);
    }

    #[test]
    fn frames_are_differences_between_whole_ones() {
        // 8×4 frames of a few colours, one pixel moving; frame 2 has a transparent pixel, frame
        // 6 changes everywhere.
        let (w, h) = (8usize, 4usize);
        let frame = |i: usize| -> Vec<u8> {
            let mut f: Vec<u8> = (0..w * h)
                .flat_map(|p| [(p % 3 * 80) as u8, 20, 30, 255])
                .collect();
            f[(i * 5 % (w * h)) * 4..][..4].copy_from_slice(&[255, 255, 255, 255]);
            if i == 2 {
                f[3] = 0;
            }
            if i == 6 {
                f.chunks_exact_mut(4).for_each(|p| p[1] = 99);
            }
            f
        };
        let dir = tempfile_dir("differences");
        let path = dir.join("d.gif");
        let config = Config {
            path: path.clone(),
            key_frames: 4,
            ..Config::default()
        };
        let init = InitCtx {
            width: w as u32,
            height: h as u32,
            fps: 10.0,
            seed: 0,
        };
        let mut rec = GifRecorder::create(config, &init).unwrap();
        for i in 0..7 {
            let meta = FrameMeta {
                index: i as u64,
                time: 0.0,
                fps: 10.0,
                width: w as u32,
                height: h as u32,
            };
            rec.record(&meta, &frame(i)).unwrap();
        }
        rec.finish().unwrap();
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = options.read_info(std::fs::File::open(&path).unwrap()).unwrap();
        let mut screen = vec![0u8; w * h * 4];
        let mut kinds = Vec::new();
        for i in 0..7 {
            let f = decoder.read_next_frame().unwrap().unwrap();
            let whole = (f.width as usize, f.height as usize) == (w, h) && f.transparent.is_none();
            kinds.push(if whole { 'W' } else { 'd' });
            for y in 0..f.height as usize {
                for x in 0..f.width as usize {
                    let p = &f.buffer[(y * f.width as usize + x) * 4..][..4];
                    if p[3] != 0 {
                        let at = ((f.top as usize + y) * w + f.left as usize + x) * 4;
                        screen[at..at + 4].copy_from_slice(p);
                    }
                }
            }
            if i != 2 {
                assert_eq!(screen, frame(i), "frame {i} shows exactly");
            }
        }
        // Whole: the first, the one after a frame with transparent pixels, every 4th, and one
        // that differs from the frame before in half its pixels or more.
        assert_eq!(kinds.iter().collect::<String>(), "WddWWdW");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("marquee-gif-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_under_final_name_only_when_finished() {
        let dir = std::env::temp_dir().join(format!("marquee-gif-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.gif");
        let init = InitCtx {
            width: 2,
            height: 2,
            fps: 10.0,
            seed: 0,
        };
        let json = serde_json_path(&path);
        let mut rec = new_recorder(&json, &init).unwrap();
        let meta = FrameMeta {
            index: 0,
            time: 0.0,
            fps: 10.0,
            width: 2,
            height: 2,
        };
        rec.record(&meta, &[255; 16]).unwrap();
        assert!(!path.exists());
        rec.finish().unwrap();
        assert!(path.exists());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..6], b"GIF89a");

        // Dropped unfinished: no final file, no temporary file.
        std::fs::remove_file(&path).unwrap();
        let mut rec = new_recorder(&json, &init).unwrap();
        rec.record(&meta, &[255; 16]).unwrap();
        drop(rec);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir(&dir).unwrap();
    }

    fn serde_json_path(path: &std::path::Path) -> String {
        format!("{{\"path\": {:?}}}", path.to_str().unwrap())
    }

    #[test]
    fn requires_a_path() {
        let init = InitCtx {
            width: 2,
            height: 2,
            fps: 10.0,
            seed: 0,
        };
        assert_eq!(new_recorder("{}", &init).err().unwrap().field(), Some("path"));
    }
}
