//! `blur`: box or gaussian blur of the frame, separable (a horizontal then a vertical pass), with
//! edges clamped. Each pass copies one row or column into a line padded with `radius` copies of
//! its edge pixels, so the inner loops need no bounds logic: the gaussian (integer weights summing
//! to 2¹⁶) adds one weighted, shifted copy of the line per tap in a contiguous loop the compiler
//! vectorises; the box takes differences of prefix sums, so its cost does not grow with the
//! radius. All scratch space is allocated once.

use marquee_plugin_api::{
    DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, ProcessorPlugin, declare_plugin,
    fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "blur",
    version: env!("CARGO_PKG_VERSION"),
    description: "box and gaussian blur",
    renderer: None,
    processor: Some(Factory {
        doc: "Blurs the frame by `radius` pixels; `kind = \"gaussian\"` weights by a bell curve of sigma radius/2, `box` evenly.",
        fields: fields_of::<Config>,
        new: new_processor,
    }),
    recorder: None,
};

/// The blur's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Bell-shaped weights.
    Gaussian,
    /// Equal weights.
    Box,
}

/// Config of a `blur` processor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The weights: a bell curve (sigma radius/2) or even.
    #[default(Kind::Gaussian)]
    pub kind: Kind,
    /// Pixels on each side; 0 leaves the frame.
    #[default(2)]
    #[schemars(range(min = 0, max = 64))]
    pub radius: i64,
}

/// `x / d` for the small sums and spans of a box blur (`x · d < 2³²`), by multiplying with a
/// rounded-up reciprocal instead of dividing: exact in that range.
#[inline(always)]
fn div_by(x: u32, d: u32) -> u8 {
    let recip = (1u64 << 32).div_ceil(d as u64);
    ((x as u64 * recip) >> 32) as u8
}

/// The processor.
pub struct Blur {
    radius: usize,
    /// Weights from −radius to +radius, summing to 2¹⁶ (gaussian), or empty (box).
    weights: Vec<u32>,
    scratch: Vec<u8>,
    /// One padded row or column, RGBA.
    line: Vec<u8>,
    /// Per-byte accumulators (gaussian) or prefix sums (box) for one line.
    acc: Vec<u32>,
}

impl Blur {
    /// A blur for `config`, with scratch space for `width × height` frames.
    pub fn new(config: &Config, width: u32, height: u32) -> Self {
        let radius = config.radius as usize;
        let weights = match config.kind {
            Kind::Box => Vec::new(),
            Kind::Gaussian if radius == 0 => Vec::new(),
            Kind::Gaussian => {
                let sigma = radius as f64 / 2.0;
                let raw: Vec<f64> = (-(radius as i64)..=radius as i64)
                    .map(|x| (-(x * x) as f64 / (2.0 * sigma * sigma)).exp())
                    .collect();
                let total: f64 = raw.iter().sum();
                let mut w: Vec<u32> = raw.iter().map(|v| (v / total * 65536.0).round() as u32).collect();
                // Put the rounding remainder in the centre, so the weights sum to exactly 2¹⁶.
                let sum: u32 = w.iter().sum();
                w[radius] = (w[radius] as i64 + 65536 - sum as i64) as u32;
                w
            }
        };
        let longest = width.max(height) as usize + 2 * radius + 1;
        Blur {
            radius,
            weights,
            scratch: vec![0; width as usize * height as usize * 4],
            line: Vec::with_capacity(longest * 4),
            acc: Vec::with_capacity(longest * 4),
        }
    }

    /// Blurs `n` pixels `stride` bytes apart, starting at `start`, from `src` into `dst`.
    fn pass(&mut self, src: &[u8], dst: &mut [u8], start: usize, n: usize, stride: usize) {
        let r = self.radius;
        let taps = 2 * r + 1;
        self.line.clear();
        for i in 0..n + 2 * r {
            let j = (i as isize - r as isize).clamp(0, n as isize - 1) as usize;
            self.line
                .extend_from_slice(&src[start + j * stride..start + j * stride + 4]);
        }
        self.acc.clear();
        if self.weights.is_empty() {
            // Box: prefix sums per byte, then window sums as differences.
            self.acc.resize((n + 2 * r + 1) * 4, 0);
            for i in 0..(n + 2 * r) * 4 {
                self.acc[i + 4] = self.acc[i] + self.line[i] as u32;
            }
            let span = taps as u32;
            for i in 0..n {
                for c in 0..4 {
                    let sum = self.acc[(i + taps) * 4 + c] - self.acc[i * 4 + c];
                    dst[start + i * stride + c] = div_by(sum + span / 2, span);
                }
            }
        } else {
            // Gaussian: one weighted copy of the shifted line per tap.
            self.acc.resize(n * 4, 32768);
            for (k, &w) in self.weights.iter().enumerate() {
                let shifted = &self.line[k * 4..k * 4 + n * 4];
                for (a, &v) in self.acc.iter_mut().zip(shifted) {
                    *a += v as u32 * w;
                }
            }
            for i in 0..n {
                for c in 0..4 {
                    dst[start + i * stride + c] = (self.acc[i * 4 + c] >> 16) as u8;
                }
            }
        }
    }
}

fn new_processor(json: &str, init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    Ok(Box::new(Blur::new(&config, init.width, init.height)))
}

impl ProcessorPlugin for Blur {
    fn process(&mut self, ctx: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError> {
        if self.radius == 0 {
            return Ok(());
        }
        let (w, h) = (ctx.width as usize, ctx.height as usize);
        let mut scratch = std::mem::take(&mut self.scratch);
        for y in 0..h {
            self.pass(frame, &mut scratch, y * w * 4, w, 4);
        }
        self.vertical(&scratch, frame, w, h);
        self.scratch = scratch;
        Ok(())
    }
}

impl Blur {
    /// The vertical pass, a whole row at a time (cache-friendly, vectorisable): each output row
    /// is the weighted sum (gaussian) or window sum (box) of the input rows around it.
    fn vertical(&mut self, src: &[u8], dst: &mut [u8], w: usize, h: usize) {
        let (r, row) = (self.radius as isize, w * 4);
        let at = |y: isize| y.clamp(0, h as isize - 1) as usize * row;
        self.acc.clear();
        self.acc.resize(row, 0);
        if self.weights.is_empty() {
            let span = (2 * r + 1) as u32;
            for k in -r..=r {
                let from = at(k);
                for (a, &v) in self.acc.iter_mut().zip(&src[from..from + row]) {
                    *a += v as u32;
                }
            }
            for y in 0..h as isize {
                let out = &mut dst[y as usize * row..(y as usize + 1) * row];
                for (o, &a) in out.iter_mut().zip(&self.acc) {
                    *o = div_by(a + span / 2, span);
                }
                let (add, sub) = (at(y + r + 1), at(y - r));
                for ((a, &v), &u) in self
                    .acc
                    .iter_mut()
                    .zip(&src[add..add + row])
                    .zip(&src[sub..sub + row])
                {
                    *a = *a + v as u32 - u as u32;
                }
            }
        } else {
            for y in 0..h as isize {
                self.acc.fill(32768);
                for (k, &wt) in self.weights.iter().enumerate() {
                    let from = at(y + k as isize - r);
                    for (a, &v) in self.acc.iter_mut().zip(&src[from..from + row]) {
                        *a += v as u32 * wt;
                    }
                }
                let out = &mut dst[y as usize * row..(y as usize + 1) * row];
                for (o, &a) in out.iter_mut().zip(&self.acc) {
                    *o = (a >> 16) as u8;
                }
            }
        }
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    fn blur(config: Config, w: u32, h: u32, frame: &mut [u8]) {
        let init = InitCtx {
            width: w,
            height: h,
            fps: 10.0,
            seed: 0,
        };
        let mut b = Blur::new(&config, w, h);
        b.process(&FrameCtx::new(&init, 0), frame).unwrap();
    }

    fn dot(w: u32, h: u32) -> Vec<u8> {
        let mut f: Vec<u8> = [0, 0, 0, 255].repeat((w * h) as usize);
        let c = ((h / 2 * w + w / 2) * 4) as usize;
        f[c..c + 3].copy_from_slice(&[255, 255, 255]);
        f
    }

    #[test]
    fn a_dot_spreads_symmetrically_and_keeps_its_energy() {
        for kind in [Kind::Box, Kind::Gaussian] {
            let mut f = dot(9, 9);
            blur(Config { kind, radius: 2 }, 9, 9, &mut f);
            let v = |x: usize, y: usize| f[(y * 9 + x) * 4] as i32;
            assert_eq!(v(3, 4), v(5, 4), "{kind:?}");
            assert_eq!(v(4, 3), v(4, 5), "{kind:?}");
            assert!(v(4, 4) > v(3, 4) || kind == Kind::Box, "{kind:?}");
            assert_eq!(v(0, 0), 0, "{kind:?}: outside the radius");
            let total: i32 = (0..81).map(|i| f[i * 4] as i32).sum();
            assert!((total - 255).abs() <= 25, "{kind:?}: {total}");
            assert!(f.chunks(4).all(|p| p[3] == 255), "alpha stays opaque");
        }
    }

    #[test]
    fn flat_frames_and_radius_zero_are_unchanged() {
        let flat: Vec<u8> = [40, 90, 200, 255].repeat(35);
        for kind in [Kind::Box, Kind::Gaussian] {
            let mut f = flat.clone();
            blur(Config { kind, radius: 3 }, 7, 5, &mut f);
            assert_eq!(f, flat, "{kind:?}");
        }
        let mut f = dot(5, 5);
        blur(
            Config {
                kind: Kind::Gaussian,
                radius: 0,
            },
            5,
            5,
            &mut f,
        );
        assert_eq!(f, dot(5, 5));
    }

    #[test]
    fn reciprocal_division_is_exact_for_box_sums() {
        for d in 1..=129u32 {
            // The largest input is a window of 255s plus the rounding half.
            for x in 0..=255 * d + d / 2 {
                assert_eq!(div_by(x, d) as u32, x / d, "{x} / {d}");
            }
        }
    }

    #[test]
    fn absurd_radius_is_refused() {
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 10.0,
            seed: 0,
        };
        // Ranges are the host's to check (declared on `Config`); parsing refuses the rest.
        for bad in [r#"{"radius": 2.5}"#, r#"{"kind": "motion"}"#] {
            assert!(new_processor(bad, &init).is_err(), "{bad}");
        }
    }
}
