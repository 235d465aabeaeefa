//! `solid`: one colour over the whole layer, optionally pulsing in brightness.

use marquee_plugin_api::{
    Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, RendererPlugin, Rgba,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "solid",
    version: env!("CARGO_PKG_VERSION"),
    description: "a solid colour, optionally pulsing",
    renderer: Some(Factory {
        doc: "Fills the layer with `color`; with `pulse_hz` above 0 the brightness dips by `pulse_depth` and back, `pulse_hz` times a second.",
        fields: fields_of::<Config>,
        new: new_renderer,
    }),
    processor: None,
    recorder: None,
};

/// Config of a `solid` layer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The colour (its alpha makes the layer translucent).
    #[default(Rgba::WHITE)]
    pub color: Rgba,
    /// Pulses per second; 0 for a steady colour.
    #[default(0.0)]
    #[schemars(range(min = 0, max = 60))]
    pub pulse_hz: f64,
    /// How far the brightness dips, 0 to 1.
    #[default(0.5)]
    #[schemars(range(min = 0, max = 1))]
    pub pulse_depth: f64,
}

/// The renderer.
pub struct Solid(Config);

impl Solid {
    /// The colour at `time` seconds.
    pub fn color_at(&self, time: f64) -> Rgba {
        let c = self.0.color;
        if self.0.pulse_hz == 0.0 {
            return c;
        }
        let dip = self.0.pulse_depth * (1.0 - (std::f64::consts::TAU * self.0.pulse_hz * time).cos()) / 2.0;
        let k = ((1.0 - dip) * 256.0).round() as u32; // 0..=256
        let scale = |v: u8| ((v as u32 * k + 128) >> 8) as u8;
        Rgba {
            r: scale(c.r),
            g: scale(c.g),
            b: scale(c.b),
            a: c.a,
        }
    }
}

fn new_renderer(json: &str, _init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    Ok(Box::new(Solid(config)))
}

impl RendererPlugin for Solid {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        canvas.clear(self.color_at(ctx.time));
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_dips_and_returns() {
        let s = Solid(Config {
            color: Rgba::rgb(200, 100, 0),
            pulse_hz: 1.0,
            pulse_depth: 1.0,
        });
        assert_eq!(s.color_at(0.0), Rgba::rgb(200, 100, 0));
        assert_eq!(s.color_at(0.5), Rgba::rgb(0, 0, 0));
        assert_eq!(s.color_at(1.0), Rgba::rgb(200, 100, 0));
        assert_eq!(s.color_at(0.25), Rgba::rgb(100, 50, 0));
    }
}
