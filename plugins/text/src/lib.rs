//! `text`: static or scrolling text in an embedded 8×8 bitmap font (the public-domain font8x8
//! glyphs: Basic Latin, Latin-1, Greek, box drawing and blocks), so no system font is needed.
//! A character the font lacks (an emoji, CJK) is drawn as `?`: a visible substitute, not an
//! error, so a stray character never stops a show.
//!
//! Scrolling speed is in pixels per second and positions come from `floor(speed · time)`, so the
//! text moves the same on screen at any frame rate. With `scroll = "left"` the text enters at the
//! right edge; with `repeat`, a new copy follows every `width of the text + gap` pixels.

use font8x8::UnicodeFonts;
use marquee_plugin_api::{
    Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, RendererPlugin, Rgba,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "text",
    version: env!("CARGO_PKG_VERSION"),
    description: "static or scrolling bitmap text",
    renderer: Some(Factory {
        doc: "Draws `text` in an 8×8 pixel font (times `scale`), aligned or scrolling at `speed` pixels per second.",
        fields: fields_of::<Config>,
        new: new_renderer,
    }),
    processor: None,
    recorder: None,
};

/// Horizontal placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    /// Flush left.
    Left,
    /// Centred.
    Center,
    /// Flush right.
    Right,
}

/// Vertical placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VAlign {
    /// At the top.
    Top,
    /// Centred.
    Middle,
    /// At the bottom.
    Bottom,
}

/// Scrolling direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scroll {
    /// Still.
    None,
    /// Moving right to left (a ticker).
    Left,
    /// Moving left to right.
    Right,
}

/// Config of a `text` layer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// What to write (one line; characters the font lacks show as `?`).
    #[default("Marquee".into())]
    pub text: String,
    /// Colour of the letters.
    #[default(Rgba::WHITE)]
    pub color: Rgba,
    /// Colour behind them (transparent by default).
    #[default(Rgba::TRANSPARENT)]
    pub background: Rgba,
    /// Pixels per font pixel.
    #[default(1)]
    #[schemars(range(min = 1, max = 16))]
    pub scale: u32,
    /// Horizontal alignment (when not scrolling).
    #[default(Align::Center)]
    pub align: Align,
    /// Vertical alignment.
    #[default(VAlign::Middle)]
    pub valign: VAlign,
    /// Extra [x, y] shift in pixels.
    #[default([0, 0])]
    pub offset: [i32; 2],
    /// The direction the text scrolls in, if any.
    #[default(Scroll::None)]
    pub scroll: Scroll,
    /// Scrolling speed in pixels per second.
    #[default(32.0)]
    #[schemars(range(min = 0, max = 10000))]
    pub speed: f64,
    /// Scrolling: a new copy follows each one.
    #[default(true)]
    pub repeat: bool,
    /// Scrolling: pixels between copies.
    #[default(32)]
    #[schemars(range(min = 0, max = 100000))]
    pub gap: u32,
}

/// The glyph of `c`, or of `?` if the font has none.
pub fn glyph(c: char) -> [u8; 8] {
    font8x8::BASIC_FONTS
        .get(c)
        .or_else(|| font8x8::LATIN_FONTS.get(c))
        .or_else(|| font8x8::GREEK_FONTS.get(c))
        .or_else(|| font8x8::BOX_FONTS.get(c))
        .or_else(|| font8x8::BLOCK_FONTS.get(c))
        .unwrap_or_else(|| font8x8::BASIC_FONTS.get('?').expect("the font has `?`"))
}

/// The renderer: the text is rasterised once into a mask.
pub struct Text {
    config: Config,
    /// 1 where a letter pixel is, row-major, `mask_w × mask_h`.
    mask: Vec<u8>,
    mask_w: i64,
    mask_h: i64,
    /// Left edges of the visible copies, reused from frame to frame.
    xs: Vec<i64>,
}

impl Text {
    /// Rasterises `config.text`.
    pub fn new(config: Config) -> Self {
        let chars: Vec<char> = config.text.chars().collect();
        let s = config.scale as usize;
        let (w, h) = (chars.len() * 8 * s, 8 * s);
        let mut mask = vec![0u8; w * h];
        for (i, &c) in chars.iter().enumerate() {
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        for dy in 0..s {
                            let y = row * s + dy;
                            let x0 = (i * 8 + col) * s;
                            mask[y * w + x0..y * w + x0 + s].fill(1);
                        }
                    }
                }
            }
        }
        Text {
            config,
            mask,
            mask_w: w as i64,
            mask_h: h as i64,
            xs: Vec::with_capacity(8),
        }
    }

    /// The left edges of the copies visible at `time` on a surface `width` wide, and their top.
    pub fn placements(&self, time: f64, width: u32, height: u32, out: &mut Vec<i64>) -> i64 {
        let (w, h) = (width as i64, height as i64);
        let c = &self.config;
        let y = match c.valign {
            VAlign::Top => 0,
            VAlign::Middle => (h - self.mask_h) / 2,
            VAlign::Bottom => h - self.mask_h,
        } + c.offset[1] as i64;
        out.clear();
        let travelled = (c.speed * time).floor() as i64;
        let period = self.mask_w + c.gap as i64;
        match c.scroll {
            Scroll::None => out.push(
                match c.align {
                    Align::Left => 0,
                    Align::Center => (w - self.mask_w) / 2,
                    Align::Right => w - self.mask_w,
                } + c.offset[0] as i64,
            ),
            Scroll::Left | Scroll::Right => {
                // Copy n starts entering when `n · period` pixels have gone by.
                let started = if c.repeat { travelled / period.max(1) } else { 0 };
                for n in (0..=started).rev() {
                    let moved = travelled - n * period;
                    let x = match c.scroll {
                        Scroll::Left => w - moved,
                        _ => moved - self.mask_w,
                    } + c.offset[0] as i64;
                    if x < w && x + self.mask_w > 0 {
                        out.push(x);
                    } else if (c.scroll == Scroll::Left && x + self.mask_w <= 0)
                        || (c.scroll == Scroll::Right && x >= w)
                    {
                        // This copy has left the surface, and every older one went further.
                        break;
                    }
                }
            }
        }
        y
    }
}

fn new_renderer(json: &str, _init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    if config.text.contains('\n') {
        return Err(PluginError::config(
            "text",
            "one line only; use one text layer per line",
        ));
    }
    if config.text.chars().count() > 10_000 {
        return Err(PluginError::config("text", "at most 10000 characters"));
    }
    Ok(Box::new(Text::new(config)))
}

impl RendererPlugin for Text {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        let (w, h) = (canvas.width() as i64, canvas.height() as i64);
        let mut xs = std::mem::take(&mut self.xs);
        let y0 = self.placements(ctx.time, canvas.width(), canvas.height(), &mut xs);
        let px = canvas.pixels();
        if self.config.background.a != 0 {
            let bg = self.config.background.to_array();
            for p in px.chunks_exact_mut(4) {
                p.copy_from_slice(&bg);
            }
        }
        let fg = self.config.color.to_array();
        for &x0 in &xs {
            for my in 0..self.mask_h {
                let y = y0 + my;
                if y < 0 || y >= h {
                    continue;
                }
                let (from, to) = ((-x0).max(0), (w - x0).min(self.mask_w));
                for mx in from..to {
                    if self.mask[(my * self.mask_w + mx) as usize] == 1 {
                        let at = ((y * w + x0 + mx) * 4) as usize;
                        px[at..at + 4].copy_from_slice(&fg);
                    }
                }
            }
        }
        self.xs = xs;
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(config: Config, w: u32, h: u32, time: f64) -> Vec<u8> {
        let init = InitCtx {
            width: w,
            height: h,
            fps: 100.0,
            seed: 0,
        };
        marquee_plugin_api::render_frame(&mut Text::new(config), &init, (time * 100.0).round() as u64)
            .unwrap()
    }

    /// The lit pixels as text art, for readable assertions.
    fn art(px: &[u8], w: u32) -> Vec<String> {
        px.chunks(w as usize * 4)
            .map(|row| row.chunks(4).map(|p| if p[3] != 0 { '#' } else { '.' }).collect())
            .collect()
    }

    #[test]
    fn the_letter_l_is_drawn_left_stroke_and_foot() {
        let px = draw(
            Config {
                text: "L".into(),
                align: Align::Left,
                valign: VAlign::Top,
                ..Config::default()
            },
            8,
            8,
            0.0,
        );
        let a = art(&px, 8);
        assert!(a[0..6].iter().all(|r| &r[1..3] == "##"), "{a:#?}");
        assert_eq!(a[6], "#######.");
        assert_eq!(a[7], "........");
    }

    #[test]
    fn scale_and_alignment() {
        let px = draw(
            Config {
                text: "I".into(),
                scale: 2,
                align: Align::Right,
                valign: VAlign::Bottom,
                ..Config::default()
            },
            20,
            20,
            0.0,
        );
        let a = art(&px, 20);
        assert!(a[..4].iter().all(|r| !r.contains('#')), "top is empty: {a:#?}");
        assert!(
            a[4..].iter().all(|r| !r[..4].contains('#')),
            "text is flush right"
        );
    }

    #[test]
    fn scrolling_is_in_pixels_per_second() {
        let config = Config {
            text: "I".into(),
            scroll: Scroll::Left,
            speed: 10.0,
            repeat: false,
            ..Config::default()
        };
        let t = Text::new(config);
        let mut xs = Vec::new();
        t.placements(0.0, 32, 8, &mut xs);
        assert!(xs.is_empty(), "starts just off the right edge");
        t.placements(1.0, 32, 8, &mut xs);
        assert_eq!(xs, [22]);
        t.placements(1.05, 32, 8, &mut xs);
        assert_eq!(xs, [22], "floor(10.5) = 10 pixels");
        t.placements(5.0, 32, 8, &mut xs);
        assert!(xs.is_empty(), "gone and not repeating");
    }

    #[test]
    fn repeating_copies_follow_each_other() {
        let config = Config {
            text: "AB".into(),
            scroll: Scroll::Left,
            speed: 1.0,
            gap: 4,
            ..Config::default()
        };
        let t = Text::new(config);
        let mut xs = Vec::new();
        // period = 16 + 4; after 45 px copy 0 is at 64 - 45 = 19, copy 1 at 39, copy 2 at 59.
        t.placements(45.0, 64, 8, &mut xs);
        assert_eq!(xs, [59, 39, 19]);
        let right = Text::new(Config {
            scroll: Scroll::Right,
            ..t.config.clone()
        });
        right.placements(45.0, 64, 8, &mut xs);
        assert_eq!(xs, [-11, 9, 29]);
    }

    #[test]
    fn unknown_characters_fall_back_and_bad_config_is_refused() {
        assert_eq!(glyph('\u{1F600}'), glyph('?'));
        assert_ne!(glyph('é'), glyph('?'));
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 30.0,
            seed: 0,
        };
        assert_eq!(
            new_renderer(r#"{"text": "a\nb"}"#, &init).err().unwrap().field(),
            Some("text")
        );
        assert_eq!(
            new_renderer(r#"{"align": "justify"}"#, &init)
                .err()
                .unwrap()
                .field(),
            Some("align")
        );
    }
}
