//! `image`: a still PNG or JPEG placed on the layer (fit, fill, stretch or centre), optionally
//! scrolling with wrap-around. The file is decoded and scaled once, at creation, through a cache
//! shared by every layer showing the same file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::imageops::FilterType;
use marquee_plugin_api::images::{Fit, MAX_DECODED_BYTES, check_size, copy_clipped, decode, placement};
use marquee_plugin_api::{
    AssetCache, Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, RendererPlugin,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "image",
    version: env!("CARGO_PKG_VERSION"),
    description: "a still PNG or JPEG",
    renderer: Some(Factory {
        doc: "Shows the image at `path`, scaled by `fit`; `scroll` moves it at `speed` pixels per second, wrapping around.",
        fields: fields_of::<Config>,
        new: new_renderer,
    }),
    processor: None,
    recorder: None,
};

/// Scrolling direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scroll {
    /// Still.
    None,
    /// Moving left.
    Left,
    /// Moving right.
    Right,
    /// Moving up.
    Up,
    /// Moving down.
    Down,
}

/// Config of an `image` layer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The PNG or JPEG file (required).
    #[default(PathBuf::new())]
    #[schemars(extend("format" = "path"))]
    pub path: PathBuf,
    /// How the image is sized: whole and letterboxed (fit), covering and cropped (fill), stretched, or unscaled (center).
    #[default(Fit::Fit)]
    pub fit: Fit,
    /// The direction the image scrolls in, if any.
    #[default(Scroll::None)]
    pub scroll: Scroll,
    /// Scrolling speed in pixels per second.
    #[default(16.0)]
    #[schemars(range(min = 0, max = 10000))]
    pub speed: f64,
}

/// A decoded image, RGBA8.
pub type Decoded = image::RgbaImage;

static DECODED: AssetCache<Decoded> = AssetCache::new();

/// Decodes `path` (through the shared cache), with errors that name the file.
pub fn load(path: &Path) -> Result<Arc<Decoded>, PluginError> {
    DECODED.get_or_load(path, |p| {
        decode(p, MAX_DECODED_BYTES)
            .map_err(|e| PluginError::config("path", format!("cannot read image {}: {e}", p.display())))
    })
}

/// The renderer: the image already scaled for the layer, and where it sits.
pub struct Image {
    config: Config,
    placed: Arc<Decoded>,
    /// Top-left corner of the placed image on the layer, before scrolling.
    origin: (i64, i64),
}

fn new_renderer(json: &str, init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    if config.path.as_os_str().is_empty() {
        return Err(PluginError::config("path", "an image file is required"));
    }
    let decoded = load(&config.path)?;
    let (sw, sh, ox, oy) = placement(
        config.fit,
        decoded.width(),
        decoded.height(),
        init.width,
        init.height,
    );
    let placed = if (sw, sh) == decoded.dimensions() {
        decoded
    } else {
        check_size("scaled to the layer, the image", sw, sh, MAX_DECODED_BYTES)
            .map_err(|e| PluginError::config("fit", e))?;
        Arc::new(image::imageops::resize(&*decoded, sw, sh, FilterType::Triangle))
    };
    Ok(Box::new(Image {
        config,
        placed,
        origin: (ox, oy),
    }))
}

impl RendererPlugin for Image {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        let (lw, lh) = (canvas.width() as i64, canvas.height() as i64);
        let (sw, sh) = (self.placed.width() as i64, self.placed.height() as i64);
        let moved = (self.config.speed * ctx.time).floor() as i64;
        let (dx, dy) = match self.config.scroll {
            Scroll::None => (0, 0),
            Scroll::Left => (-moved.rem_euclid(sw), 0),
            Scroll::Right => (moved.rem_euclid(sw), 0),
            Scroll::Up => (0, -moved.rem_euclid(sh)),
            Scroll::Down => (0, moved.rem_euclid(sh)),
        };
        // Along the scrolling axis the image repeats: copies from just left of (or above) the
        // layer until past its far edge. Still images are drawn once.
        let (x0, y0) = (self.origin.0 + dx, self.origin.1 + dy);
        let horizontal = matches!(self.config.scroll, Scroll::Left | Scroll::Right);
        let vertical = matches!(self.config.scroll, Scroll::Up | Scroll::Down);
        let first_x = if horizontal { x0.rem_euclid(sw) - sw } else { x0 };
        let first_y = if vertical { y0.rem_euclid(sh) - sh } else { y0 };
        let xs = (0..)
            .map(|k| first_x + k * sw)
            .take_while(|&x| x < lw && (horizontal || x == first_x));
        let src = self.placed.as_raw();
        let px = canvas.pixels();
        for y in (0..)
            .map(|k| first_y + k * sh)
            .take_while(|&y| y < lh && (vertical || y == first_y))
        {
            for x in xs.clone() {
                copy_clipped(src, sw, sh, x, y, px, lw, lh);
            }
        }
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
        let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8 * 40, y as u8 * 40, 200, 255]));
        let path = dir.join(name);
        img.save(&path).unwrap();
        path
    }

    fn render(json: &str, w: u32, h: u32, time: f64) -> Vec<u8> {
        let init = InitCtx {
            width: w,
            height: h,
            fps: 10.0,
            seed: 0,
        };
        let mut r = new_renderer(json, &init).unwrap();
        marquee_plugin_api::render_frame(r.as_mut(), &init, (time * 10.0).round() as u64).unwrap()
    }

    #[test]
    fn centred_unscaled_and_scrolling_with_wrap() {
        let dir = std::env::temp_dir().join(format!("marquee-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = write_png(&dir, "a.png", 4, 2);
        let json = |extra: &str| {
            format!(
                "{{\"path\": {:?}, \"fit\": \"center\"{extra}}}",
                png.to_str().unwrap()
            )
        };
        let px = render(&json(""), 8, 2, 0.0);
        let at = |px: &[u8], x: usize, y: usize| px[(y * 8 + x) * 4..(y * 8 + x) * 4 + 4].to_vec();
        assert_eq!(at(&px, 2, 0), [0, 0, 200, 255]);
        assert_eq!(at(&px, 5, 1), [120, 40, 200, 255]);
        assert_eq!(at(&px, 1, 0), [0, 0, 0, 0], "outside the image stays transparent");
        // Scrolling left by 1 px after 1 s at 1 px/s, wrapping the 4-px-wide image around.
        let px = render(&json(", \"scroll\": \"left\", \"speed\": 1.0"), 8, 2, 1.0);
        assert_eq!(at(&px, 2, 0), [40, 0, 200, 255]);
        assert_eq!(at(&px, 5, 0), [0, 0, 200, 255], "the next copy follows");
        // A narrow image scrolling across a wide layer tiles the whole row.
        let narrow = write_png(&dir, "n.png", 2, 2);
        let json = format!(
            "{{\"path\": {:?}, \"fit\": \"center\", \"scroll\": \"right\", \"speed\": 3.0}}",
            narrow.to_str().unwrap()
        );
        let px = render(&json, 8, 2, 1.0);
        assert!((0..8).all(|x| at(&px, x, 0)[3] == 255), "{px:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_and_corrupt_files_are_config_errors_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("marquee-image-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 10.0,
            seed: 0,
        };
        let missing = dir.join("missing.png");
        let err = new_renderer(&format!("{{\"path\": {:?}}}", missing.to_str().unwrap()), &init)
            .err()
            .unwrap();
        assert_eq!(err.field(), Some("path"));
        assert!(err.message.contains("missing.png"), "{err}");
        let corrupt = dir.join("corrupt.png");
        std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nthis is not really a png").unwrap();
        let err = new_renderer(&format!("{{\"path\": {:?}}}", corrupt.to_str().unwrap()), &init)
            .err()
            .unwrap();
        assert!(err.message.contains("corrupt.png"), "{err}");
        assert_eq!(new_renderer("{}", &init).err().unwrap().field(), Some("path"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_image_scaled_past_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // One pixel wide and 4000 high: filling a 256-wide layer scales it to 256×1024000.
        let tall = dir.path().join("tall.png");
        image::RgbaImage::from_pixel(1, 4000, image::Rgba([9, 9, 9, 255]))
            .save(&tall)
            .unwrap();
        let init = InitCtx::new(256, 64, 10.0, 0);
        let json = |fit: &str| format!("{{\"path\": {:?}, \"fit\": \"{fit}\"}}", tall.to_str().unwrap());
        let err = new_renderer(&json("fill"), &init).err().unwrap();
        assert_eq!(err.field(), Some("fit"));
        assert!(err.message.contains("256×1024000 pixels"), "{err}");
        assert!(new_renderer(&json("fit"), &init).is_ok());
    }
}
