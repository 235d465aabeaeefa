//! `gif`: writes every frame to an animated GIF; the trace writer, usable as any recorder.
//!
//! Frames are quantised to a 256-colour palette each: frames with at most 256 colours get an
//! exact palette (sorted by colour), others NeuQuant's (`color_quant`, at `speed`) — the same
//! palettes and indices as the `gif` crate's `Frame::from_rgba_speed`, found faster: colours are
//! counted in a small open-addressing table instead of a B-tree, and NeuQuant's colour search is
//! memoised per frame. Buffers are reused between frames. GIF delays are whole centiseconds, so frame
//! `i` gets `round(100·(i+1)/fps) − round(100·i/fps)`: each delay is within half a centisecond of
//! `1/fps` and the total never drifts (30 fps gives 3, 3, 4, 3, 3, 4, ...). The file is written
//! under a temporary name and renamed into place by `finish`, so an interrupted run never leaves
//! a truncated GIF under the final name.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use marquee_plugin_api::{
    Factory, Field, FieldType, FrameMeta, InitCtx, PluginDef, PluginError, RecorderPlugin, check_range,
    declare_plugin, parse_config,
};
use serde::{Deserialize, Serialize};

/// The plugin's definition.
pub const PLUGIN: PluginDef = PluginDef {
    id: "gif",
    version: env!("CARGO_PKG_VERSION"),
    description: "animated GIF recorder",
    renderer: None,
    processor: None,
    recorder: Some(Factory {
        doc: "Writes every frame to `path` as an animated GIF with a palette per frame.",
        fields: FIELDS,
        new: new_recorder,
    }),
};

const FIELDS: &[Field] = &[
    Field::new("path", FieldType::Path, "\"\"", "the GIF to write (required)"),
    Field::new(
        "speed",
        FieldType::Int,
        "10",
        "quantiser speed: 1 best and slowest, 30 fastest",
    )
    .range(1.0, 30.0),
    Field::new("repeat", FieldType::Bool, "true", "loop forever when played"),
];

/// Config of a `gif` recorder.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where to write.
    pub path: PathBuf,
    /// NeuQuant speed, 1..=30.
    pub speed: i32,
    /// Loop forever.
    pub repeat: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: PathBuf::new(),
            speed: 10,
            repeat: true,
        }
    }
}

/// The GIF delay of frame `index` at `fps`, in centiseconds (see the module docs).
pub fn delay_centis(index: u64, fps: f64) -> u16 {
    let at = |i: u64| (i as f64 * 100.0 / fps).round() as i64;
    (at(index + 1) - at(index)).clamp(0, u16::MAX as i64) as u16
}

/// The recorder. Holds the encoder over the temporary file until `finish`.
pub struct GifRecorder {
    config: Config,
    partial: PathBuf,
    encoder: Option<gif::Encoder<BufWriter<File>>>,
    scratch: Vec<u8>,
    quantizer: Quantizer,
}

/// Slots of the colour table: a power of two comfortably above 256 colours.
const SLOTS: usize = 1024;
/// Entries of the NeuQuant memo.
const MEMO: usize = 4096;

/// Per-frame palette and indices, with the tables that find them, all reused.
struct Quantizer {
    /// Open-addressing set of `0xff000000 | rgb` keys (0: empty), and each key's palette index.
    keys: Vec<u32>,
    slots: Vec<u8>,
    colors: Vec<u32>,
    /// Direct-mapped memo of NeuQuant lookups: `(0xff000000 | rgb, index)`.
    memo: Vec<(u32, u8)>,
    indices: Vec<u8>,
    palette: Vec<u8>,
}

fn slot_of(key: u32, mask: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> 16) as usize & mask
}

impl Quantizer {
    fn new() -> Self {
        Quantizer {
            keys: vec![0; SLOTS],
            slots: vec![0; SLOTS],
            colors: Vec::with_capacity(257),
            memo: vec![(0, 0); MEMO],
            indices: Vec::new(),
            palette: Vec::with_capacity(768),
        }
    }

    /// Fills `indices` and `palette` for an opaque RGBA8 frame.
    fn quantize(&mut self, rgba: &[u8], speed: i32) {
        let key = |p: &[u8]| 0xff00_0000 | (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
        self.keys.fill(0);
        self.colors.clear();
        let mask = SLOTS - 1;
        let mut last = 0;
        let mut exact = true;
        for p in rgba.chunks_exact(4) {
            let k = key(p);
            if k == last {
                continue;
            }
            last = k;
            let mut i = slot_of(k, mask);
            while self.keys[i] != 0 && self.keys[i] != k {
                i = (i + 1) & mask;
            }
            if self.keys[i] == 0 {
                if self.colors.len() == 256 {
                    exact = false;
                    break;
                }
                self.keys[i] = k;
                self.colors.push(k);
            }
        }
        self.indices.clear();
        self.palette.clear();
        if exact {
            // Sorted by (r, g, b), as the gif crate orders an exact palette.
            self.colors.sort_unstable();
            for (n, &c) in self.colors.iter().enumerate() {
                self.palette
                    .extend_from_slice(&[(c >> 16) as u8, (c >> 8) as u8, c as u8]);
                let mut i = slot_of(c, mask);
                while self.keys[i] != c {
                    i = (i + 1) & mask;
                }
                self.slots[i] = n as u8;
            }
            let (keys, slots) = (&self.keys, &self.slots);
            self.indices.extend(rgba.chunks_exact(4).map(|p| {
                let k = key(p);
                let mut i = slot_of(k, mask);
                while keys[i] != k {
                    i = (i + 1) & mask;
                }
                slots[i]
            }));
        } else {
            let nq = color_quant::NeuQuant::new(speed, 256, rgba);
            self.palette.extend_from_slice(&nq.color_map_rgb());
            self.memo.fill((0, 0));
            let memo = &mut self.memo;
            self.indices.extend(rgba.chunks_exact(4).map(|p| {
                let k = key(p);
                let m = &mut memo[slot_of(k, MEMO - 1)];
                if m.0 != k {
                    *m = (k, nq.index_of(p) as u8);
                }
                m.1
            }));
        }
    }
}

fn io_err(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> PluginError {
    PluginError::io(format!("{what} {}: {e}", path.display()))
}

fn new_recorder(json: &str, init: &InitCtx) -> Result<Box<dyn RecorderPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    if config.path.as_os_str().is_empty() {
        return Err(PluginError::config(
            "path",
            "a path to write the GIF to is required",
        ));
    }
    check_range("speed", config.speed as f64, 1.0, 30.0)?;
    if init.width > u16::MAX as u32 || init.height > u16::MAX as u32 {
        return Err(PluginError::config(
            "",
            format!(
                "GIF frames are at most 65535×65535; the canvas is {}×{}",
                init.width, init.height
            ),
        ));
    }
    let name = config
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = config.path.with_file_name(format!(".{name}.partial"));
    let file = File::create(&partial).map_err(|e| io_err("cannot create", &partial, e))?;
    let mut encoder = gif::Encoder::new(BufWriter::new(file), init.width as u16, init.height as u16, &[])
        .map_err(|e| io_err("cannot write", &partial, e))?;
    if config.repeat {
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(|e| io_err("cannot write", &partial, e))?;
    }
    Ok(Box::new(GifRecorder {
        config,
        partial,
        encoder: Some(encoder),
        scratch: Vec::new(),
        quantizer: Quantizer::new(),
    }))
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
            return encoder
                .write_frame(&f)
                .map_err(|e| io_err("cannot write", &self.partial, e));
        }
        let q = &mut self.quantizer;
        q.quantize(frame, self.config.speed);
        let mut f = gif::Frame {
            width: w,
            height: h,
            delay,
            buffer: std::borrow::Cow::Borrowed(&q.indices),
            palette: Some(std::mem::take(&mut q.palette)),
            ..gif::Frame::default()
        };
        let written = encoder.write_frame(&f);
        if let Some(p) = f.palette.take() {
            q.palette = p;
        }
        written.map_err(|e| io_err("cannot write", &self.partial, e))
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(());
        };
        let writer = encoder
            .into_inner()
            .map_err(|e| io_err("cannot finish", &self.partial, e))?;
        writer
            .into_inner()
            .map_err(|e| io_err("cannot flush", &self.partial, e.error()))?
            .sync_all()
            .map_err(|e| io_err("cannot sync", &self.partial, e))?;
        std::fs::rename(&self.partial, &self.config.path)
            .map_err(|e| io_err("cannot rename into", &self.config.path, e))
    }
}

impl Drop for GifRecorder {
    fn drop(&mut self) {
        if self.encoder.is_some() {
            // Never finished: leave nothing behind, neither half a GIF nor its temporary file.
            self.encoder = None;
            let _ = std::fs::remove_file(&self.partial);
        }
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
