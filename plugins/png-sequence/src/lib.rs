//! `png-sequence`: writes frames as numbered PNG files, every frame or every Nth.
//!
//! The file of frame `i` is `path` with `{n}` replaced by `i`, zero-padded to `digits`; each
//! file is written under a temporary name and renamed into place, so every PNG a reader finds
//! is complete. Opaque frames (every frame the host makes) are written as RGB, anything else
//! as RGBA; either decodes to exactly the pixels recorded.

use std::path::{Path, PathBuf};

use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use marquee_plugin_api::files::write_whole;
use marquee_plugin_api::{
    DerivedFields, Factory, FrameMeta, InitCtx, PluginDef, PluginError, RecorderPlugin, declare_plugin,
    fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "png-sequence",
    version: env!("CARGO_PKG_VERSION"),
    description: "numbered PNG files",
    renderer: None,
    processor: None,
    recorder: Some(Factory {
        doc: "Writes frame i to `path` with `{n}` replaced by i (zero-padded), every `every`th frame.",
        fields: fields_of::<Config>,
        new: new_recorder,
    }),
};

/// How hard to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// Quickest.
    Fast,
    /// The `png` crate's default.
    Default,
    /// Smallest.
    Best,
}

/// Config of a `png-sequence` recorder.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// File name pattern with {n} for the frame number, such as frames/f-{n}.png (required).
    #[default(PathBuf::new())]
    #[schemars(extend("format" = "path"))]
    pub path: PathBuf,
    /// Write every Nth frame (frames 0, N, 2N, ...).
    #[default(1)]
    #[schemars(range(min = 1, max = 1000000000))]
    pub every: i64,
    /// Zero-padding of the frame number.
    #[default(6)]
    #[schemars(range(min = 1, max = 12))]
    pub digits: i64,
    /// PNG compression: fast (bigger files, quicker), default, or best (smallest, slowest).
    #[default(Compression::Fast)]
    pub compression: Compression,
}

/// The recorder.
pub struct PngSequence {
    config: Config,
    /// `path` split around `{n}`.
    head: String,
    tail: String,
    encoded: Vec<u8>,
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    written: u64,
}

impl PngSequence {
    /// Checks `config` and makes a recorder for frames of `init`'s size.
    pub fn create(config: Config, init: &InitCtx) -> Result<PngSequence, PluginError> {
        let pattern = config.path.to_string_lossy().into_owned();
        if pattern.is_empty() {
            return Err(PluginError::config(
                "path",
                "a file name pattern is required, such as \"frames/frame-{n}.png\"",
            ));
        }
        let Some((head, tail)) = pattern.split_once("{n}") else {
            return Err(PluginError::config(
                "path",
                format!(
                    "`{pattern}` has no {{n}} for the frame number; write for instance \"frames/frame-{{n}}.png\""
                ),
            ));
        };
        if tail.contains("{n}") {
            return Err(PluginError::config("path", "write {n} once"));
        }
        if tail.contains('/') {
            // Frames would go to a directory per frame, none of which exists.
            return Err(PluginError::config(
                "path",
                format!(
                    "`{pattern}` puts {{n}} in a directory name; write it in the file name, such as \"frames/frame-{{n}}.png\""
                ),
            ));
        }
        if let Some(dir) = Path::new(&head)
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
        {
            return Err(PluginError::config(
                "path",
                format!("the directory {} does not exist", dir.display()),
            ));
        }
        let (head, tail) = (head.to_string(), tail.to_string());
        Ok(PngSequence {
            config,
            head,
            tail,
            encoded: Vec::new(),
            rgb: Vec::new(),
            width: init.width,
            height: init.height,
            written: 0,
        })
    }

    /// The file frame `index` goes to.
    pub fn file_for(&self, index: u64) -> PathBuf {
        let digits = self.config.digits as usize;
        PathBuf::from(format!("{}{index:0digits$}{}", self.head, self.tail))
    }
}

fn new_recorder(json: &str, init: &InitCtx) -> Result<Box<dyn RecorderPlugin>, PluginError> {
    Ok(Box::new(PngSequence::create(parse_config(json)?, init)?))
}

impl RecorderPlugin for PngSequence {
    fn record(&mut self, meta: &FrameMeta, frame: &[u8]) -> Result<(), PluginError> {
        if !meta.index.is_multiple_of(self.config.every as u64) {
            return Ok(());
        }
        if (meta.width, meta.height) != (self.width, self.height) {
            return Err(PluginError::frame(format!(
                "frames are {}×{}, not the {}×{} this sequence started with",
                meta.width, meta.height, self.width, self.height
            )));
        }
        let (compression, filter) = match self.config.compression {
            Compression::Fast => (CompressionType::Fast, FilterType::Adaptive),
            Compression::Default => (CompressionType::Default, FilterType::Adaptive),
            Compression::Best => (CompressionType::Best, FilterType::Adaptive),
        };
        self.encoded.clear();
        let encoder = PngEncoder::new_with_quality(&mut self.encoded, compression, filter);
        let opaque = frame.chunks_exact(4).all(|p| p[3] == 255);
        let result = if opaque {
            self.rgb.clear();
            self.rgb
                .extend(frame.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]));
            encoder.write_image(&self.rgb, meta.width, meta.height, image::ExtendedColorType::Rgb8)
        } else {
            encoder.write_image(frame, meta.width, meta.height, image::ExtendedColorType::Rgba8)
        };
        result.map_err(|e| PluginError::frame(format!("cannot encode frame {}: {e}", meta.index)))?;
        write_whole(&self.file_for(meta.index), &self.encoded)?;
        self.written += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        Ok(())
    }

    fn describe(&self) -> String {
        serde_json::json!({
            "pattern": self.config.path.to_string_lossy(),
            "every": self.config.every,
        })
        .to_string()
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![("files", self.written)]
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> InitCtx {
        InitCtx {
            width: 3,
            height: 2,
            fps: 10.0,
            seed: 0,
        }
    }

    fn config(path: &str) -> Config {
        Config {
            path: path.into(),
            ..Config::default()
        }
    }

    #[test]
    fn patterns_need_one_number() {
        let e = PngSequence::create(config("out.png"), &init()).err().unwrap();
        assert_eq!(e.field(), Some("path"));
        assert!(e.message.contains("{n}"), "{}", e.message);
        let e = PngSequence::create(config("f-{n}/a.png"), &init()).err().unwrap();
        assert!(e.message.contains("directory name"), "{}", e.message);
        let e = PngSequence::create(config("no-such-dir/a-{n}.png"), &init())
            .err()
            .unwrap();
        assert!(e.message.contains("does not exist"), "{}", e.message);
        assert!(PngSequence::create(config(""), &init()).is_err());
        let dir = std::env::temp_dir();
        let s = PngSequence::create(config(&format!("{}/a-{{n}}.png", dir.display())), &init()).unwrap();
        assert_eq!(s.file_for(42), dir.join("a-000042.png"));
    }

    #[test]
    fn every_nth_frame_is_written_and_decodes_exactly() {
        let dir = std::env::temp_dir().join(format!("marquee-png-seq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pattern = dir.join("f-{n}.png");
        let mut s = PngSequence::create(
            Config {
                every: 2,
                digits: 3,
                ..config(pattern.to_str().unwrap())
            },
            &init(),
        )
        .unwrap();
        for i in 0..5u64 {
            let frame: Vec<u8> = (0..24).map(|k| (k as u64 * 7 + i * 13) as u8 | 1).collect();
            let frame: Vec<u8> = frame
                .chunks(4)
                .flat_map(|p| [p[0], p[1], p[2], if i == 4 { 128 } else { 255 }])
                .collect();
            let meta = FrameMeta {
                index: i,
                time: i as f64 / 10.0,
                fps: 10.0,
                width: 3,
                height: 2,
            };
            s.record(&meta, &frame).unwrap();
            let file = dir.join(format!("f-{i:03}.png"));
            assert_eq!(file.exists(), i % 2 == 0, "{}", file.display());
            if i % 2 == 0 {
                let decoded = image::open(&file).unwrap().to_rgba8();
                assert_eq!(decoded.as_raw(), &frame, "frame {i}");
            }
        }
        assert_eq!(s.counters(), vec![("files", 3)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
