//! `plasma`: the classic demo-scene plasma, as an external plugin crate.
//!
//! Build it (`cargo build -p marquee-example-plasma`) and point the host at the `.so`:
//! `marquee run my-scene.toml --plugin-dir target/debug`. Its test (`tests/trace.rs`) snapshots a
//! short trace with the host's test helper.
//!
//! Determinism: the sine table is computed once from `f64::sin` and rounded to bytes, so frames
//! depend only on the frame index, the seed and the config.

use marquee_plugin_api::{
    Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, RendererPlugin,
    declare_plugin, export_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "plasma",
    version: env!("CARGO_PKG_VERSION"),
    description: "demo-scene plasma",
    renderer: Some(Factory {
        doc: "Sum of four sine waves over x, y and time, mapped through a cyclic palette.",
        fields: fields_of::<Config>,
        new,
    }),
    processor: None,
    recorder: None,
};

/// The config: each field stated once (doc, default, range); the host shows and checks these.
#[derive(Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// Time scale.
    #[default(1.0)]
    #[schemars(range(min = 0, max = 100))]
    speed: f64,
    /// Spatial frequency.
    #[default(1.0)]
    #[schemars(range(min = 0.01, max = 100))]
    scale: f64,
}

struct Plasma {
    config: Config,
    sine: [u8; 256],
    phase: u8,
}

fn new(json: &str, init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    let mut sine = [0u8; 256];
    for (i, s) in sine.iter_mut().enumerate() {
        *s = (127.5 + 127.5 * (i as f64 / 256.0 * std::f64::consts::TAU).sin()).round() as u8;
    }
    Ok(Box::new(Plasma {
        config,
        sine,
        phase: init.seed as u8,
    }))
}

impl RendererPlugin for Plasma {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        let t = (ctx.time * self.config.speed * 64.0) as u32;
        let k = (self.config.scale * 4.0 * 256.0 / ctx.width.max(1) as f64) as u32;
        let w = canvas.width();
        let s = &self.sine;
        for (i, px) in canvas.pixels().chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            let v = s[((x * k + t) & 255) as usize] as u32
                + s[((y * k + 2 * t) & 255) as usize] as u32
                + s[(((x + y) * k / 2 + 3 * t) & 255) as usize] as u32
                + s[((x * k / 3 + y * k / 2 + t / 2 + self.phase as u32) & 255) as usize] as u32;
            let c = (v / 4) as u8;
            px.copy_from_slice(&[
                s[c as usize],
                s[c.wrapping_add(85) as usize],
                s[c.wrapping_add(170) as usize],
                255,
            ]);
        }
        Ok(())
    }
}

declare_plugin!(PLUGIN);
export_plugin!(module);
