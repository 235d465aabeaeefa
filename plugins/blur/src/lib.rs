//! `blur`: box or gaussian blur of the frame, separable (a horizontal then a vertical pass), with
//! edges clamped. The box blur keeps running sums, so its cost does not grow with the radius; the
//! gaussian uses integer weights that sum to 2¹⁶. Scratch buffers are allocated once.

use marquee_plugin_api::{
    Factory, Field, FieldType, FrameCtx, InitCtx, PluginDef, PluginError, ProcessorPlugin, check_range,
    declare_plugin, parse_config,
};
use serde::{Deserialize, Serialize};

/// The plugin's definition.
pub const PLUGIN: PluginDef = PluginDef {
    id: "blur",
    version: env!("CARGO_PKG_VERSION"),
    description: "box and gaussian blur",
    renderer: None,
    processor: Some(Factory {
        doc: "Blurs the frame by `radius` pixels; `kind = \"gaussian\"` weights by a bell curve of sigma radius/2, `box` evenly.",
        fields: FIELDS,
        new: new_processor,
    }),
    recorder: None,
};

const FIELDS: &[Field] = &[
    Field::new("kind", FieldType::String, "\"gaussian\"", "gaussian or box"),
    Field::new(
        "radius",
        FieldType::Int,
        "2",
        "pixels on each side; 0 leaves the frame",
    )
    .range(0.0, 64.0),
];

/// The blur's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Bell-shaped weights.
    Gaussian,
    /// Equal weights.
    Box,
}

/// Config of a `blur` processor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Shape.
    pub kind: Kind,
    /// Radius in pixels.
    pub radius: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kind: Kind::Gaussian,
            radius: 2,
        }
    }
}

/// The processor.
pub struct Blur {
    radius: usize,
    /// Weights from −radius to +radius, summing to 2¹⁶ (gaussian), or empty (box).
    weights: Vec<u32>,
    scratch: Vec<u8>,
}

impl Blur {
    /// A blur for `config`, with scratch space for frames of `pixels` pixels.
    pub fn new(config: &Config, pixels: usize) -> Self {
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
        Blur {
            radius,
            weights,
            scratch: vec![0; pixels * 4],
        }
    }

    /// Blurs `n` pixels `stride` bytes apart, starting at `start`, from `src` into `dst`.
    fn pass(&mut self, src: &[u8], dst: &mut [u8], start: usize, n: usize, stride: usize) {
        let r = self.radius;
        let at = |i: isize| start + (i.clamp(0, n as isize - 1) as usize) * stride;
        if self.weights.is_empty() {
            // Box: a running sum per channel over the window [i − r, i + r].
            let span = (2 * r + 1) as u32;
            let mut sum = [0u32; 4];
            for k in -(r as isize)..=r as isize {
                for c in 0..4 {
                    sum[c] += src[at(k) + c] as u32;
                }
            }
            for i in 0..n as isize {
                for c in 0..4 {
                    dst[start + i as usize * stride + c] = ((sum[c] + span / 2) / span) as u8;
                    sum[c] =
                        sum[c] + src[at(i + r as isize + 1) + c] as u32 - src[at(i - r as isize) + c] as u32;
                }
            }
        } else {
            for i in 0..n as isize {
                let mut acc = [0u32; 4];
                for (k, &w) in self.weights.iter().enumerate() {
                    let p = at(i + k as isize - r as isize);
                    for c in 0..4 {
                        acc[c] += src[p + c] as u32 * w;
                    }
                }
                for c in 0..4 {
                    dst[start + i as usize * stride + c] = ((acc[c] + 32768) >> 16) as u8;
                }
            }
        }
    }
}

fn new_processor(json: &str, init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    check_range("radius", config.radius as f64, 0.0, 64.0)?;
    Ok(Box::new(Blur::new(
        &config,
        init.width as usize * init.height as usize,
    )))
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
        for x in 0..w {
            self.pass(&scratch, frame, x * 4, h, w * 4);
        }
        self.scratch = scratch;
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_fields_match_the_config() {
        marquee_plugin_api::check_fields::<Config>(FIELDS).unwrap();
    }

    fn blur(config: Config, w: u32, h: u32, frame: &mut [u8]) {
        let init = InitCtx {
            width: w,
            height: h,
            fps: 10.0,
            seed: 0,
        };
        let mut b = Blur::new(&config, (w * h) as usize);
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
    fn absurd_radius_is_refused() {
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 10.0,
            seed: 0,
        };
        for bad in [
            r#"{"radius": -1}"#,
            r#"{"radius": 1000}"#,
            r#"{"radius": 2.5}"#,
            r#"{"kind": "motion"}"#,
        ] {
            assert!(new_processor(bad, &init).is_err(), "{bad}");
        }
    }
}
