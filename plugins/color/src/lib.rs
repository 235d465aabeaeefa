//! `color`: brightness and gamma for the whole frame, as one 256-entry lookup table.

use marquee_plugin_api::{
    Factory, Field, FieldType, FrameCtx, InitCtx, PluginDef, PluginError, ProcessorPlugin, check_range,
    declare_plugin, parse_config,
};
use serde::Deserialize;

/// The plugin's definition.
pub const PLUGIN: PluginDef = PluginDef {
    id: "color",
    version: env!("CARGO_PKG_VERSION"),
    description: "brightness and gamma",
    renderer: None,
    processor: Some(Factory {
        doc: "Maps every colour channel v (0..1) to (brightness · v)^(1/gamma), clamped, through one lookup table; alpha is untouched.",
        fields: FIELDS,
        new: new_processor,
    }),
    recorder: None,
};

const FIELDS: &[Field] = &[
    Field::new("brightness", FieldType::Float, "1.0", "multiplies every channel").range(0.0, 8.0),
    Field::new(
        "gamma",
        FieldType::Float,
        "1.0",
        "values above 1 brighten mid-tones",
    )
    .range(0.1, 10.0),
];

/// Config of a `color` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Multiplies every channel.
    pub brightness: f64,
    /// Gamma exponent (1 = linear).
    pub gamma: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brightness: 1.0,
            gamma: 1.0,
        }
    }
}

/// The processor: a lookup table built once.
pub struct Color {
    lut: [u8; 256],
}

impl Color {
    /// Builds the lookup table for `config`.
    pub fn new(config: &Config) -> Self {
        let mut lut = [0u8; 256];
        for (i, out) in lut.iter_mut().enumerate() {
            let v = (i as f64 / 255.0 * config.brightness).clamp(0.0, 1.0);
            *out = (v.powf(1.0 / config.gamma) * 255.0).round() as u8;
        }
        Color { lut }
    }
}

fn new_processor(json: &str, _init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    check_range("brightness", config.brightness, 0.0, 8.0)?;
    check_range("gamma", config.gamma, 0.1, 10.0)?;
    Ok(Box::new(Color::new(&config)))
}

impl ProcessorPlugin for Color {
    fn process(&mut self, _ctx: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError> {
        for px in frame.chunks_exact_mut(4) {
            px[0] = self.lut[px[0] as usize];
            px[1] = self.lut[px[1] as usize];
            px[2] = self.lut[px[2] as usize];
        }
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;
    use marquee_plugin_api::defaults_json;

    #[test]
    fn declared_defaults_match_config_default() {
        let parsed: Config = parse_config(&defaults_json(FIELDS)).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn identity_by_default() {
        let c = Color::new(&Config::default());
        assert!(c.lut.iter().enumerate().all(|(i, &v)| v as usize == i));
    }

    #[test]
    fn brightness_and_gamma_leave_alpha() {
        let mut c = Color::new(&Config {
            brightness: 0.5,
            gamma: 1.0,
        });
        let init = InitCtx {
            width: 1,
            height: 1,
            fps: 30.0,
            seed: 0,
        };
        let mut px = [200, 100, 0, 77];
        c.process(&FrameCtx::new(&init, 0), &mut px).unwrap();
        assert_eq!(px, [100, 50, 0, 77]);
        let g = Color::new(&Config {
            brightness: 1.0,
            gamma: 2.0,
        });
        assert_eq!(g.lut[64], 128); // sqrt(64/255) · 255 = 127.75
    }

    #[test]
    fn rejects_out_of_range() {
        let init = InitCtx {
            width: 1,
            height: 1,
            fps: 30.0,
            seed: 0,
        };
        let err = new_processor(r#"{"gamma": 0}"#, &init).err().unwrap();
        assert_eq!(err.field(), Some("gamma"));
    }
}
