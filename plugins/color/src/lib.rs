//! `color`: brightness, contrast, gamma, saturation and hue rotation, in one pass over the frame.
//!
//! Per pixel: first the colour matrix (saturation and hue rotation about the grey axis, one 3×3
//! matrix in 12-bit fixed point, skipped when it is the identity), then per channel one 256-entry
//! lookup table holding brightness, contrast and gamma together. Alpha is untouched.

use marquee_plugin_api::{
    DerivedFields, Factory, InitCtx, PixelOp, PluginDef, PluginError, ProcessorPlugin, declare_plugin,
    fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "color",
    version: env!("CARGO_PKG_VERSION"),
    description: "brightness, contrast, gamma, saturation, hue",
    renderer: None,
    processor: Some(Factory {
        doc: "Rotates hue and scales saturation (one colour matrix), then maps each channel v (0..1) to ((brightness·v − ½)·contrast + ½)^(1/gamma), clamped (one lookup table).",
        fields: fields_of::<Config>,
        new: new_processor,
    }),
    recorder: None,
};

/// Config of a `color` processor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Multiplies every channel.
    #[default(1.0)]
    #[schemars(range(min = 0, max = 8))]
    pub brightness: f64,
    /// Values above 1 brighten mid-tones.
    #[default(1.0)]
    #[schemars(range(min = 0.1, max = 10))]
    pub gamma: f64,
    /// Spreads values away from mid-grey (0: all grey).
    #[default(1.0)]
    #[schemars(range(min = 0, max = 8))]
    pub contrast: f64,
    /// 0 grey, 1 unchanged, above 1 more vivid.
    #[default(1.0)]
    #[schemars(range(min = 0, max = 8))]
    pub saturation: f64,
    /// Rotation of hue in degrees.
    #[default(0.0)]
    #[schemars(range(min = -360, max = 360))]
    pub hue: f64,
}

/// Fixed-point scale of the colour matrix.
const Q: i32 = 1 << 12;

/// A colour matrix and a lookup table, built once as the `PixelOp` that is the processor.
pub struct Color {
    /// The matrix (row-major 3×3 in 12-bit fixed point, left out when it is the identity) and
    /// the table, as the per-pixel operation the frame goes through.
    op: Box<PixelOp>,
}

/// The 3×3 matrix that scales saturation by `sat` and rotates hue by `degrees` about the grey
/// axis, keeping Rec. 601 luma (the usual "hue-rotate" filter matrix combined with saturation).
pub fn color_matrix(sat: f64, degrees: f64) -> [f64; 9] {
    let (lr, lg, lb) = (0.299, 0.587, 0.114);
    let (c, s) = (degrees.to_radians().cos(), degrees.to_radians().sin());
    let hue = [
        lr + c * (1.0 - lr) - s * lr,
        lg - c * lg - s * lg,
        lb - c * lb + s * (1.0 - lb),
        lr - c * lr + s * 0.143,
        lg + c * (1.0 - lg) + s * 0.140,
        lb - c * lb - s * 0.283,
        lr - c * lr - s * (1.0 - lr),
        lg - c * lg + s * lg,
        lb + c * (1.0 - lb) + s * lb,
    ];
    let saturate = [
        lr * (1.0 - sat) + sat,
        lg * (1.0 - sat),
        lb * (1.0 - sat),
        lr * (1.0 - sat),
        lg * (1.0 - sat) + sat,
        lb * (1.0 - sat),
        lr * (1.0 - sat),
        lg * (1.0 - sat),
        lb * (1.0 - sat) + sat,
    ];
    std::array::from_fn(|i| (0..3).map(|k| saturate[i / 3 * 3 + k] * hue[k * 3 + i % 3]).sum())
}

impl Color {
    /// Builds the lookup table for `config`.
    pub fn new(config: &Config) -> Self {
        let mut lut = [0u8; 256];
        for (i, out) in lut.iter_mut().enumerate() {
            let mut v = (i as f64 / 255.0 * config.brightness).clamp(0.0, 1.0);
            if config.contrast != 1.0 {
                v = ((v - 0.5) * config.contrast + 0.5).clamp(0.0, 1.0);
            }
            *out = (v.powf(1.0 / config.gamma) * 255.0).round() as u8;
        }
        let matrix = (config.saturation != 1.0 || config.hue.rem_euclid(360.0) != 0.0)
            .then(|| color_matrix(config.saturation, config.hue).map(|m| (m * Q as f64).round() as i32));
        let mut op = Box::new(PixelOp::identity());
        op.set_table(&lut);
        if let Some(m) = matrix {
            op.has_matrix = true;
            op.matrix = m;
        }
        Color { op }
    }
}

fn new_processor(json: &str, _init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    // The operation is the same every frame: the `PixelOp` itself is the processor.
    Ok(Color::new(&config).op)
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;
    use marquee_plugin_api::FrameCtx;

    #[test]
    fn identity_by_default() {
        let c = Color::new(&Config::default());
        assert!(
            c.op.tables[0][0]
                .iter()
                .enumerate()
                .all(|(i, &v)| v as usize == i)
        );
    }

    #[test]
    fn brightness_and_gamma_leave_alpha() {
        let mut c = Color::new(&Config {
            brightness: 0.5,
            ..Config::default()
        });
        let init = InitCtx {
            width: 1,
            height: 1,
            fps: 30.0,
            seed: 0,
        };
        let mut px = [200, 100, 0, 77];
        c.op.process(&FrameCtx::new(&init, 0), &mut px).unwrap();
        assert_eq!(px, [100, 50, 0, 77]);
        let g = Color::new(&Config {
            gamma: 2.0,
            ..Config::default()
        });
        assert_eq!(g.op.tables[0][0][64], 128); // sqrt(64/255) · 255 = 127.75
    }

    fn apply(config: Config, px: [u8; 4]) -> [u8; 4] {
        let mut c = Color::new(&config);
        let init = InitCtx {
            width: 1,
            height: 1,
            fps: 30.0,
            seed: 0,
        };
        let mut px = px;
        c.op.process(&FrameCtx::new(&init, 0), &mut px).unwrap();
        px
    }

    #[test]
    fn saturation_zero_is_grey_and_keeps_luma() {
        let px = apply(
            Config {
                saturation: 0.0,
                ..Config::default()
            },
            [200, 100, 50, 9],
        );
        assert_eq!((px[0], px[1], px[2], px[3]), (px[0], px[0], px[0], 9));
        let luma = 0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0;
        assert!((px[0] as f64 - luma).abs() <= 1.0, "{px:?}");
    }

    #[test]
    fn hue_rotation_keeps_grey_and_a_full_turn_is_identity() {
        assert_eq!(
            apply(
                Config {
                    hue: 120.0,
                    ..Config::default()
                },
                [90, 90, 90, 255]
            ),
            [90, 90, 90, 255]
        );
        let c = Color::new(&Config {
            hue: 360.0,
            ..Config::default()
        });
        assert!(!c.op.has_matrix);
        let m = color_matrix(1.0, 0.0);
        for (i, v) in m.iter().enumerate() {
            assert!((v - if i % 4 == 0 { 1.0 } else { 0.0 }).abs() < 1e-12);
        }
        // Rotating hue moves red towards green, keeping it bright.
        let px = apply(
            Config {
                hue: 120.0,
                ..Config::default()
            },
            [255, 0, 0, 255],
        );
        assert!(px[1] > px[0] && px[1] > px[2], "{px:?}");
    }

    #[test]
    fn contrast_spreads_from_mid_grey() {
        let c = Color::new(&Config {
            contrast: 2.0,
            ..Config::default()
        });
        // (64/255 − ½)·2 + ½ = 0.00196: 0.4999… of a step, rounded down.
        assert_eq!(
            (
                c.op.tables[0][0][64],
                c.op.tables[0][0][128],
                c.op.tables[0][0][192]
            ),
            (0, 129, 255)
        );
        let flat = Color::new(&Config {
            contrast: 0.0,
            ..Config::default()
        });
        assert!(flat.op.tables[0][0].iter().all(|&v| v == 128));
    }
}
