//! `gradient`: linear or radial colour gradients through any number of stops, optionally moving.
//!
//! The gradient position of every pixel is computed once, at creation, as a 16.16 fixed-point
//! number; a frame only shifts it by `speed · time`, folds it by the `extend` rule with integer
//! operations, and looks the colour up in a 1024-entry table: one pass, no floating point.

use marquee_plugin_api::{
    Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, RendererPlugin, Rgba,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "gradient",
    version: env!("CARGO_PKG_VERSION"),
    description: "linear and radial gradients",
    renderer: Some(Factory {
        doc: "Blends evenly spaced `colors` along a line at `angle`, or outwards from `center`; `speed` moves the pattern, `extend` says what lies past the ends.",
        fields: fields_of::<Config>,
        new: new_renderer,
    }),
    processor: None,
    recorder: None,
};

/// Linear or radial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Along a line.
    Linear,
    /// Outwards from a centre.
    Radial,
}

/// What lies past the ends of the gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Extend {
    /// The end colours continue.
    Clamp,
    /// The gradient starts over.
    Repeat,
    /// The gradient runs back and forth.
    Mirror,
}

/// Config of a `gradient` layer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Two or more colour stops, evenly spaced.
    #[default(vec![Rgba::BLACK, Rgba::WHITE])]
    #[schemars(length(min = 2))]
    pub colors: Vec<Rgba>,
    /// The gradient's shape.
    #[default(Shape::Linear)]
    pub shape: Shape,
    /// Linear: direction in degrees, 0 left to right, 90 top to bottom.
    #[default(0.0)]
    #[schemars(range(min = -360, max = 360))]
    pub angle: f64,
    /// Radial: centre as fractions of width and height.
    #[default([0.5, 0.5])]
    #[schemars(inner(range(min = -10, max = 10)))]
    pub center: [f64; 2],
    /// Radial: radius as a fraction of the larger side.
    #[default(0.5)]
    #[schemars(range(min = 0.001, max = 100))]
    pub radius: f64,
    /// Gradient lengths the pattern moves per second.
    #[default(0.0)]
    #[schemars(range(min = -100, max = 100))]
    pub speed: f64,
    /// What lies past the ends: the end colours, the gradient again, or it mirrored.
    #[default(Extend::Clamp)]
    pub extend: Extend,
}

const LUT: usize = 1024;
/// 1.0 in 16.16 fixed point.
const ONE: i32 = 1 << 16;

/// The table index of a folded position `t` in `0..=ONE`, rounded to nearest.
#[inline]
fn lut_index(t: i32) -> usize {
    ((t as u32 * (LUT as u32 - 1) + (ONE as u32 / 2)) >> 16) as usize
}

/// The renderer.
pub struct Gradient {
    config: Config,
    /// Gradient position of every pixel in 16.16 fixed point (0 at the start, `ONE` at the end).
    position: Vec<i32>,
    lut: Vec<[u8; 4]>,
}

/// The colour at `t` in `[0, 1]` between evenly spaced `stops`, rounded per channel.
pub fn blend_stops(stops: &[Rgba], t: f64) -> [u8; 4] {
    let x = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (x as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let (a, b) = (stops[i].to_array(), stops[i + 1].to_array());
    std::array::from_fn(|c| (a[c] as f64 + (b[c] as f64 - a[c] as f64) * f).round() as u8)
}

impl Gradient {
    /// A gradient for `config` on a `width × height` surface.
    pub fn new(config: Config, width: u32, height: u32) -> Self {
        let (w, h) = (width as f64, height as f64);
        let mut position = Vec::with_capacity(width as usize * height as usize);
        let (dx, dy) = (config.angle.to_radians().cos(), config.angle.to_radians().sin());
        // Linear: project pixel centres on the direction, normalised so the surface spans 0..1.
        let corners = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)].map(|(x, y)| x * dx + y * dy);
        let lo = corners.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = corners.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let (cx, cy, r) = (
            config.center[0] * w,
            config.center[1] * h,
            config.radius * w.max(h),
        );
        for y in 0..height {
            for x in 0..width {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let t = match config.shape {
                    Shape::Linear => (px * dx + py * dy - lo) / (hi - lo),
                    Shape::Radial => ((px - cx).powi(2) + (py - cy).powi(2)).sqrt() / r,
                };
                position.push(
                    (t * ONE as f64)
                        .round()
                        .clamp(i32::MIN as f64 / 2.0, i32::MAX as f64 / 2.0) as i32,
                );
            }
        }
        let lut = (0..LUT)
            .map(|i| blend_stops(&config.colors, i as f64 / (LUT - 1) as f64))
            .collect();
        Gradient {
            config,
            position,
            lut,
        }
    }
}

fn new_renderer(json: &str, init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    Ok(Box::new(Gradient::new(config, init.width, init.height)))
}

impl RendererPlugin for Gradient {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        // The pattern is periodic with period 2 under every rule that moves, so the shift stays small.
        let shift = ((self.config.speed * ctx.time).rem_euclid(2.0) * ONE as f64).round() as i32;
        let (lut, pos) = (&self.lut, &self.position);
        let pixels = canvas.pixels().chunks_exact_mut(4).zip(pos);
        // One loop per rule, so each inner loop is branch-free integer work.
        match self.config.extend {
            Extend::Clamp => {
                pixels.for_each(|(px, &p)| px.copy_from_slice(&lut[lut_index((p - shift).clamp(0, ONE))]))
            }
            Extend::Repeat => {
                pixels.for_each(|(px, &p)| px.copy_from_slice(&lut[lut_index((p - shift) & (ONE - 1))]))
            }
            Extend::Mirror => pixels.for_each(|(px, &p)| {
                let m = (p - shift) & (2 * ONE - 1);
                px.copy_from_slice(&lut[lut_index(if m > ONE { 2 * ONE - m } else { m })]);
            }),
        }
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(config: Config, w: u32, h: u32, time: f64) -> Vec<u8> {
        let init = InitCtx {
            width: w,
            height: h,
            fps: 10.0,
            seed: 0,
        };
        marquee_plugin_api::render_frame(&mut Gradient::new(config, w, h), &init, (time * 10.0) as u64)
            .unwrap()
    }

    #[test]
    fn linear_runs_from_first_to_last_stop() {
        let px = pixels(Config::default(), 256, 1, 0.0);
        assert_eq!(&px[..4], &[0, 0, 0, 255]);
        assert_eq!(&px[255 * 4..], &[255, 255, 255, 255]);
        let reds: Vec<u8> = px.chunks(4).map(|p| p[0]).collect();
        assert!(reds.windows(2).all(|w| w[0] <= w[1]), "monotonic");
    }

    #[test]
    fn angle_90_runs_top_to_bottom() {
        let px = pixels(
            Config {
                angle: 90.0,
                ..Config::default()
            },
            2,
            8,
            0.0,
        );
        for row in px.chunks(8) {
            assert_eq!(row[..4], row[4..], "rows are uniform");
        }
        assert!(px[0] < px[7 * 8], "darker at the top");
    }

    #[test]
    fn radial_is_symmetric_about_the_centre() {
        let px = pixels(
            Config {
                shape: Shape::Radial,
                ..Config::default()
            },
            9,
            9,
            0.0,
        );
        let at = |x: usize, y: usize| px[(y * 9 + x) * 4];
        assert_eq!(at(0, 4), at(8, 4));
        assert_eq!(at(4, 0), at(4, 8));
        assert!(at(4, 4) < at(0, 0));
    }

    #[test]
    fn moving_repeat_pattern_is_periodic() {
        let config = Config {
            speed: 0.5,
            extend: Extend::Repeat,
            ..Config::default()
        };
        assert_eq!(
            pixels(config.clone(), 16, 2, 0.0),
            pixels(config.clone(), 16, 2, 2.0)
        );
        assert_ne!(pixels(config.clone(), 16, 2, 0.0), pixels(config, 16, 2, 0.5));
    }

    #[test]
    fn needs_two_stops() {
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 30.0,
            seed: 0,
        };
        let err = new_renderer(r##"{"colors": ["red"]}"##, &init).err().unwrap();
        assert_eq!(err.field(), Some("colors[0]"));
        let err = new_renderer(r#"{"extend": "wrap"}"#, &init).err().unwrap();
        assert_eq!(err.field(), Some("extend"));
    }
}
