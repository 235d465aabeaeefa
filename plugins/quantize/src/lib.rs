//! `quantize`: reduces each colour channel to `bits` bits, as LED panels with few PWM bits show
//! it, optionally with 4×4 ordered (Bayer) dithering so gradients keep their shape.

use marquee_plugin_api::{
    DerivedFields, Factory, InitCtx, PixelOp, PluginDef, PluginError, ProcessorPlugin, declare_plugin,
    fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "quantize",
    version: env!("CARGO_PKG_VERSION"),
    description: "fewer bits per channel, with ordered dithering",
    renderer: None,
    processor: Some(Factory {
        doc: "Rounds every channel to one of 2^bits levels (spread over 0..255); `dither = \"ordered\"` offsets the rounding by a 4×4 Bayer pattern.",
        fields: fields_of::<Config>,
        new: new_processor,
    }),
    recorder: None,
};

/// Dithering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dither {
    /// Plain rounding.
    None,
    /// 4×4 Bayer thresholds.
    Ordered,
}

/// Config of a `quantize` processor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Bits per channel.
    #[default(4)]
    #[schemars(range(min = 1, max = 8))]
    pub bits: u32,
    /// Dithering: none, or an ordered (Bayer) pattern.
    #[default(Dither::None)]
    pub dither: Dither,
}

/// The 4×4 Bayer matrix, thresholds 0..16.
const BAYER: [[u8; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];

/// One table per Bayer cell (16 tables of 256), or one table without dithering, built once as
/// the `PixelOp` that is the processor.
pub struct Quantize {
    /// The tables as the per-pixel operation the frame goes through.
    op: Box<PixelOp>,
}

impl Quantize {
    /// Tables for `config`.
    pub fn new(config: &Config) -> Self {
        let levels = ((1u32 << config.bits) - 1) as f64;
        let table = |offset: f64| {
            let mut t = [0u8; 256];
            for (v, out) in t.iter_mut().enumerate() {
                let q = (v as f64 / 255.0 * levels + offset).floor().clamp(0.0, levels);
                *out = (q / levels * 255.0).round() as u8;
            }
            t
        };
        let tables = match config.dither {
            Dither::None => vec![table(0.5)],
            // Threshold (t + 0.5) / 16 replaces the plain ½ of rounding.
            Dither::Ordered => (0..16)
                .map(|i| table((BAYER[i / 4][i % 4] as f64 + 0.5) / 16.0))
                .collect(),
        };
        let mut op = Box::new(PixelOp::identity());
        op.cells = tables.len() as u8;
        for (cell, t) in op.tables.iter_mut().zip(&tables) {
            *cell = [*t; 3];
        }
        Quantize { op }
    }
}

fn new_processor(json: &str, _init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    // The operation is the same every frame: the `PixelOp` itself is the processor.
    Ok(Quantize::new(&config).op)
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;
    use marquee_plugin_api::FrameCtx;

    fn run(config: Config, w: u32, frame: &mut [u8]) {
        let init = InitCtx {
            width: w,
            height: (frame.len() / 4) as u32 / w,
            fps: 10.0,
            seed: 0,
        };
        Quantize::new(&config)
            .op
            .process(&FrameCtx::new(&init, 0), frame)
            .unwrap();
    }

    #[test]
    fn eight_bits_is_identity_and_one_bit_is_black_or_white() {
        let mut all: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v, 7]).collect();
        let orig = all.clone();
        run(
            Config {
                bits: 8,
                dither: Dither::None,
            },
            16,
            &mut all,
        );
        assert_eq!(all, orig);
        run(
            Config {
                bits: 1,
                dither: Dither::None,
            },
            16,
            &mut all,
        );
        assert!(all.chunks(4).all(|p| (p[0] == 0 || p[0] == 255) && p[3] == 7));
        assert_eq!((all[127 * 4], all[128 * 4]), (0, 255));
    }

    #[test]
    fn two_bits_has_four_levels() {
        let mut all: Vec<u8> = (0..=255u8).flat_map(|v| [v, 0, 0, 255]).collect();
        run(
            Config {
                bits: 2,
                dither: Dither::None,
            },
            16,
            &mut all,
        );
        let mut levels: Vec<u8> = all.chunks(4).map(|p| p[0]).collect();
        levels.dedup();
        assert_eq!(levels, [0, 85, 170, 255]);
    }

    #[test]
    fn ordered_dither_renders_mid_grey_as_half_lit() {
        let mut grey: Vec<u8> = [128, 128, 128, 255].repeat(16);
        run(
            Config {
                bits: 1,
                dither: Dither::Ordered,
            },
            4,
            &mut grey,
        );
        let lit = grey.chunks(4).filter(|p| p[0] == 255).count();
        assert_eq!(lit, 8, "{grey:?}");
        let mut black: Vec<u8> = [0, 0, 0, 255].repeat(16);
        run(
            Config {
                bits: 1,
                dither: Dither::Ordered,
            },
            4,
            &mut black,
        );
        assert!(black.chunks(4).all(|p| p[0] == 0));
    }

    #[test]
    fn bad_bits_are_refused() {
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 10.0,
            seed: 0,
        };
        for bad in [r#"{"bits": -1}"#, r#"{"dither": "floyd"}"#] {
            assert!(new_processor(bad, &init).is_err(), "{bad}");
        }
    }
}
