//! `transform`: mirrors, flips and turns the frame by quarter turns, then scales it (nearest or
//! bilinear) onto an output of another size: to fit a canvas onto the panels it is shown on.
//!
//! Everything per pixel is worked out once, at creation: each output column and row gets the
//! source offsets and the 8-bit weights it samples with, because a quarter turn and a mirror
//! keep the source offset a sum of one term from the column and one from the row. A frame is
//! then one pass of table lookups and integer blends, with no allocation.

use marquee_plugin_api::{
    DerivedFields, Factory, FrameCtx, InitCtx, MAX_SIDE, PluginDef, PluginError, ProcessorPlugin, Rgba,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "transform",
    version: env!("CARGO_PKG_VERSION"),
    description: "flip, mirror, rotate by quarter turns, scale to an output size",
    renderer: None,
    processor: Some(Factory {
        doc: "Mirrors (left-right) and flips (upside down), then rotates clockwise by `rotate` degrees, then scales the result onto a `width`×`height` output (0: the turned frame's own size): `stretch` fills it, `fit` keeps the aspect and pads with `background`, `fill` keeps the aspect and crops. Later processors, recorders and outputs see the output size.",
        fields: fields_of::<Config>,
        new: new_processor,
    }),
    recorder: None,
};

/// How the turned frame is scaled onto the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fill the output, changing the aspect ratio if need be.
    Stretch,
    /// The largest size that fits, centred, aspect kept; the rest is `background`.
    Fit,
    /// The smallest size that covers, centred, aspect kept; the overflow is cropped.
    Fill,
}

/// How pixels are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// The nearest source pixel.
    Nearest,
    /// The four nearest, weighted by distance (8-bit weights).
    Bilinear,
}

/// Config of a `transform` processor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Swap left and right.
    #[default(false)]
    pub mirror: bool,
    /// Turn upside down (swap top and bottom).
    #[default(false)]
    pub flip: bool,
    /// Clockwise quarter turns in degrees: 0, 90, 180 or 270.
    #[default(0)]
    #[schemars(range(min = 0, max = 270))]
    pub rotate: u32,
    /// Output width; 0 keeps the turned frame's.
    #[default(0)]
    #[schemars(range(min = 0, max = MAX_SIDE))]
    pub width: u32,
    /// Output height; 0 keeps the turned frame's.
    #[default(0)]
    #[schemars(range(min = 0, max = MAX_SIDE))]
    pub height: u32,
    /// How a resized frame keeps its aspect: stretched, fit (padded) or fill (cropped).
    #[default(Fit::Stretch)]
    pub fit: Fit,
    /// The resampling filter.
    #[default(Filter::Nearest)]
    pub filter: Filter,
    /// Colour of the padding `fit` leaves.
    #[default(Rgba::BLACK)]
    pub background: Rgba,
}

/// How one output column (or row) samples: its part of the byte offsets of two taps (the second
/// is the first for `nearest`; a column's part may be negative) and the weight of the second,
/// 0..=256. `pad` marks a column or row that shows the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tap {
    near: isize,
    far: isize,
    weight: u32,
    pad: bool,
}

/// The processor: per-column and per-row taps, computed once.
pub struct Transform {
    out: (u32, u32),
    cols: Vec<Tap>,
    rows: Vec<Tap>,
    bilinear: bool,
    background: [u8; 4],
    /// For in-place use when the output is the input's size (allocated on first use).
    scratch: Vec<u8>,
}

impl Transform {
    /// The transform of a `width × height` input under `config`.
    pub fn new(config: &Config, width: u32, height: u32) -> Self {
        let (w, h) = (width.max(1) as i64, height.max(1) as i64);
        let turned = if config.rotate % 180 == 90 { (h, w) } else { (w, h) };
        let out = (
            if config.width == 0 {
                turned.0 as u32
            } else {
                config.width
            },
            if config.height == 0 {
                turned.1 as u32
            } else {
                config.height
            },
        );
        // Source pixel of turned pixel (u, v): undo the turn, then the mirror and flip.
        let source = |u: i64, v: i64| -> i64 {
            let (p, q) = match config.rotate {
                90 => (v, h - 1 - u),
                180 => (w - 1 - u, h - 1 - v),
                270 => (w - 1 - v, u),
                _ => (u, v),
            };
            let x = if config.mirror { w - 1 - p } else { p };
            let y = if config.flip { h - 1 - q } else { q };
            (y * w + x) * 4
        };
        // The offset is affine in u and in v separately: source(u, v) = along_u(u) + along_v(v).
        let origin = source(0, 0);
        let along_u = |u: i64| (source(u, 0) - origin) as isize;
        let along_v = |v: i64| source(0, v) as isize;
        // The placed size of the turned frame on the output, and where it starts.
        let (sx, sy) = (out.0 as f64 / turned.0 as f64, out.1 as f64 / turned.1 as f64);
        let (scale_x, scale_y) = match config.fit {
            Fit::Stretch => (sx, sy),
            Fit::Fit => (sx.min(sy), sx.min(sy)),
            Fit::Fill => (sx.max(sy), sx.max(sy)),
        };
        let bilinear = config.filter == Filter::Bilinear;
        let axis = |outputs: u32, len: i64, scale: f64, map: &dyn Fn(i64) -> isize| -> Vec<Tap> {
            let placed = ((len as f64 * scale).round() as i64).max(1);
            let start = (outputs as i64 - placed).div_euclid(2);
            (0..outputs as i64)
                .map(|o| {
                    let i = o - start;
                    if !(0..placed).contains(&i) {
                        return Tap {
                            near: 0,
                            far: 0,
                            weight: 0,
                            pad: true,
                        };
                    }
                    // Centre of output pixel i, in source pixels.
                    let c = (i as f64 + 0.5) * len as f64 / placed as f64;
                    if bilinear {
                        let c = (c - 0.5).clamp(0.0, (len - 1) as f64);
                        let a = c.floor() as i64;
                        let weight = ((c - a as f64) * 256.0).round() as u32;
                        Tap {
                            near: map(a),
                            far: map((a + 1).min(len - 1)),
                            weight,
                            pad: false,
                        }
                    } else {
                        let a = (c.floor() as i64).clamp(0, len - 1);
                        Tap {
                            near: map(a),
                            far: map(a),
                            weight: 0,
                            pad: false,
                        }
                    }
                })
                .collect()
        };
        let cols = axis(out.0, turned.0, scale_x, &along_u);
        let rows = axis(out.1, turned.1, scale_y, &along_v);
        Transform {
            out,
            cols,
            rows,
            bilinear,
            background: config.background.to_array(),
            scratch: Vec::new(),
        }
    }

    /// The output size.
    pub fn output(&self) -> (u32, u32) {
        self.out
    }

    fn run(&self, src: &[u8], dst: &mut [u8]) -> Result<(), PluginError> {
        let (w, h) = (self.out.0 as usize, self.out.1 as usize);
        if dst.len() != w * h * 4 {
            return Err(PluginError::frame(format!(
                "output buffer holds {} bytes, a {w}×{h} frame needs {}",
                dst.len(),
                w * h * 4
            )));
        }
        // Row part plus column part is a pixel of `src` by construction; `get` keeps a bad
        // table from reading out of bounds all the same.
        let px = |row: isize, col: isize| -> [u8; 4] {
            let off = (row + col) as usize;
            src.get(off..off + 4)
                .and_then(|p| p.try_into().ok())
                .unwrap_or([0; 4])
        };
        for (row, line) in self.rows.iter().zip(dst.chunks_exact_mut(w * 4)) {
            for (col, out) in self.cols.iter().zip(line.chunks_exact_mut(4)) {
                if row.pad || col.pad {
                    out.copy_from_slice(&self.background);
                } else if !self.bilinear {
                    out.copy_from_slice(&px(row.near, col.near));
                } else {
                    let (p00, p01) = (px(row.near, col.near), px(row.near, col.far));
                    let (p10, p11) = (px(row.far, col.near), px(row.far, col.far));
                    let (fx, fy) = (col.weight, row.weight);
                    for c in 0..4 {
                        let top = p00[c] as u32 * (256 - fx) + p01[c] as u32 * fx;
                        let bottom = p10[c] as u32 * (256 - fx) + p11[c] as u32 * fx;
                        out[c] = ((top * (256 - fy) + bottom * fy + (1 << 15)) >> 16) as u8;
                    }
                }
            }
        }
        Ok(())
    }
}

fn new_processor(json: &str, init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    if !matches!(config.rotate, 0 | 90 | 180 | 270) {
        return Err(PluginError::config(
            "rotate",
            format!("expected 0, 90, 180 or 270 degrees, found {}", config.rotate),
        ));
    }
    Ok(Box::new(Transform::new(&config, init.width, init.height)))
}

impl ProcessorPlugin for Transform {
    /// In place: only when the output has the input's size (the host always calls
    /// `process_into`, because `output_size` is always given).
    fn process(&mut self, ctx: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError> {
        if (ctx.width, ctx.height) != self.out {
            return Err(PluginError::frame(format!(
                "cannot turn a {}×{} frame into {}×{} in place",
                ctx.width, ctx.height, self.out.0, self.out.1
            )));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(frame);
        let result = self.run(&scratch, frame);
        self.scratch = scratch;
        result
    }

    fn output_size(&self) -> Option<(u32, u32)> {
        Some(self.out)
    }

    fn process_into(&mut self, ctx: &FrameCtx, src: &[u8], dst: &mut [u8]) -> Result<(), PluginError> {
        let need = ctx.width as usize * ctx.height as usize * 4;
        if src.len() != need {
            return Err(PluginError::frame(format!(
                "input holds {} bytes, a {}×{} frame needs {need}",
                src.len(),
                ctx.width,
                ctx.height
            )));
        }
        self.run(src, dst)
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w × h` frame whose pixel (x, y) is `[x, y, 0, 255]`.
    fn coords(w: u32, h: u32) -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [x as u8, y as u8, 0, 255]))
            .collect()
    }

    fn apply(config: &Config, w: u32, h: u32, src: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut t = Transform::new(config, w, h);
        let (ow, oh) = t.output();
        let mut dst = vec![0; ow as usize * oh as usize * 4];
        let init = InitCtx {
            width: w,
            height: h,
            fps: 30.0,
            seed: 0,
        };
        t.process_into(&FrameCtx::new(&init, 0), src, &mut dst).unwrap();
        (ow, oh, dst)
    }

    fn at(frame: &[u8], w: u32, x: u32, y: u32) -> [u8; 2] {
        let i = ((y * w + x) * 4) as usize;
        [frame[i], frame[i + 1]]
    }

    #[test]
    fn turns_mirrors_and_flips_like_the_definitions() {
        let (w, h) = (5, 3);
        let src = coords(w, h);
        for rotate in [0, 90, 180, 270] {
            for mirror in [false, true] {
                for flip in [false, true] {
                    let config = Config {
                        rotate,
                        mirror,
                        flip,
                        ..Config::default()
                    };
                    let (ow, oh, out) = apply(&config, w, h, &src);
                    assert_eq!((ow, oh), if rotate % 180 == 90 { (h, w) } else { (w, h) });
                    for oy in 0..oh {
                        for ox in 0..ow {
                            // Forward: mirror/flip, then turn clockwise, as written in the doc.
                            let expect = (0..h)
                                .flat_map(|y| (0..w).map(move |x| (x, y)))
                                .find(|&(x, y)| {
                                    let (p, q) = (
                                        if mirror { w - 1 - x } else { x },
                                        if flip { h - 1 - y } else { y },
                                    );
                                    let (u, v) = match rotate {
                                        90 => (h - 1 - q, p),
                                        180 => (w - 1 - p, h - 1 - q),
                                        270 => (q, w - 1 - p),
                                        _ => (p, q),
                                    };
                                    (u, v) == (ox, oy)
                                })
                                .unwrap();
                            assert_eq!(
                                at(&out, ow, ox, oy),
                                [expect.0 as u8, expect.1 as u8],
                                "rotate {rotate} mirror {mirror} flip {flip} at ({ox}, {oy})"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn nearest_doubling_repeats_each_pixel() {
        let src = coords(4, 2);
        let config = Config {
            width: 8,
            height: 4,
            ..Config::default()
        };
        let (ow, _, out) = apply(&config, 4, 2, &src);
        for y in 0..4 {
            for x in 0..8 {
                assert_eq!(at(&out, ow, x, y), [(x / 2) as u8, (y / 2) as u8]);
            }
        }
    }

    #[test]
    fn bilinear_of_a_ramp_stays_a_ramp_and_keeps_flat_colour() {
        // A horizontal ramp 0, 100, 200 scaled to 6 wide: monotone, ends kept, midpoints blended.
        let src: Vec<u8> = [0u8, 100, 200].iter().flat_map(|&v| [v, 7, 7, 255]).collect();
        let config = Config {
            width: 6,
            height: 1,
            filter: Filter::Bilinear,
            ..Config::default()
        };
        let (_, _, out) = apply(&config, 3, 1, &src);
        let reds: Vec<u8> = out.chunks(4).map(|p| p[0]).collect();
        assert_eq!(reds, vec![0, 25, 75, 125, 175, 200]);
        assert!(out.chunks(4).all(|p| p[1] == 7 && p[2] == 7 && p[3] == 255));
    }

    #[test]
    fn fit_pads_and_fill_crops_keeping_the_aspect() {
        let src = coords(4, 2);
        let fit = Config {
            width: 4,
            height: 4,
            fit: Fit::Fit,
            background: Rgba::rgb(9, 9, 9),
            ..Config::default()
        };
        let (ow, _, out) = apply(&fit, 4, 2, &src);
        // 4×2 placed on rows 1..3 of a 4×4 output.
        assert_eq!(&out[..4], &[9, 9, 9, 255]);
        assert_eq!(at(&out, ow, 3, 1), [3, 0]);
        assert_eq!(at(&out, ow, 0, 3), [9, 9]);
        let fill = Config {
            fit: Fit::Fill,
            ..fit
        };
        let (ow, _, out) = apply(&fill, 4, 2, &src);
        // Scaled to 8×4 and cropped to the middle: columns 1..3 of the source, each twice.
        assert_eq!(at(&out, ow, 0, 0), [1, 0]);
        assert_eq!(at(&out, ow, 3, 3), [2, 1]);
    }

    #[test]
    fn in_place_works_for_same_size_and_refuses_otherwise() {
        let init = InitCtx {
            width: 3,
            height: 3,
            fps: 30.0,
            seed: 0,
        };
        let mut frame = coords(3, 3);
        let mut t = Transform::new(
            &Config {
                rotate: 180,
                ..Config::default()
            },
            3,
            3,
        );
        t.process(&FrameCtx::new(&init, 0), &mut frame).unwrap();
        assert_eq!(at(&frame, 3, 0, 0), [2, 2]);
        let mut t = Transform::new(
            &Config {
                width: 6,
                ..Config::default()
            },
            3,
            3,
        );
        assert!(t.process(&FrameCtx::new(&init, 0), &mut frame).is_err());
    }

    #[test]
    fn bad_rotation_names_the_field() {
        let init = InitCtx {
            width: 3,
            height: 3,
            fps: 30.0,
            seed: 0,
        };
        let e = new_processor(r#"{"rotate": 45}"#, &init).err().unwrap();
        assert_eq!(e.field(), Some("rotate"));
        let e = new_processor(r#"{"filter": "cubic"}"#, &init).err().unwrap();
        assert_eq!(e.field(), Some("filter"));
    }
}
