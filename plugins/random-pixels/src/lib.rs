//! `random-pixels`: N seeded random pixels per frame, in one colour or random colours.

use marquee_plugin_api::{
    Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, Point, RendererPlugin, Rgba,
    Rng, declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "random-pixels",
    version: env!("CARGO_PKG_VERSION"),
    description: "N seeded random pixels per frame",
    renderer: Some(Factory {
        doc: "Sets `count` random pixels each frame; the positions and colours depend only on the seed and the frame index.",
        fields: fields_of::<Config>,
        new: new_renderer,
    }),
    processor: None,
    recorder: None,
};

/// Config of a `random-pixels` layer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Pixels set per frame.
    #[default(64)]
    #[schemars(range(min = 0, max = 1000000))]
    pub count: u32,
    /// Colour of the pixels when `random_color` is false.
    #[default(Rgba::WHITE)]
    pub color: Rgba,
    /// Give every pixel a random hue.
    #[default(true)]
    pub random_color: bool,
    /// Scales the colour.
    #[default(1.0)]
    #[schemars(range(min = 0, max = 1))]
    pub brightness: f64,
}

/// The renderer: holds a reusable point buffer so frames do not allocate.
pub struct RandomPixels {
    config: Config,
    points: Vec<Point>,
}

fn new_renderer(json: &str, _init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    Ok(Box::new(RandomPixels {
        points: Vec::with_capacity(config.count as usize),
        config,
    }))
}

fn scale(c: u8, k: u32) -> u8 {
    ((c as u32 * k + 127) / 255) as u8
}

impl RendererPlugin for RandomPixels {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        let mut rng = Rng::for_frame(ctx.seed, ctx.index);
        let k = (self.config.brightness * 255.0).round() as u32;
        self.points.clear();
        for _ in 0..self.config.count {
            let x = rng.below(ctx.width) as i32;
            let y = rng.below(ctx.height) as i32;
            let base = if self.config.random_color {
                let bits = rng.next_u64();
                Rgba::rgb(bits as u8, (bits >> 8) as u8, (bits >> 16) as u8)
            } else {
                self.config.color
            };
            let color = Rgba {
                r: scale(base.r, k),
                g: scale(base.g, k),
                b: scale(base.b, k),
                a: base.a,
            };
            self.points.push(Point { x, y, color });
        }
        canvas.set_pixels(&self.points);
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: &str, seed: u64, index: u64) -> Vec<u8> {
        let init = InitCtx {
            width: 16,
            height: 8,
            fps: 30.0,
            seed,
        };
        let mut r = new_renderer(json, &init).unwrap();
        marquee_plugin_api::render_frame(r.as_mut(), &init, index).unwrap()
    }

    #[test]
    fn same_seed_same_frame_other_seed_other_frame() {
        assert_eq!(frame("{}", 1, 5), frame("{}", 1, 5));
        assert_ne!(frame("{}", 1, 5), frame("{}", 2, 5));
        assert_ne!(frame("{}", 1, 5), frame("{}", 1, 6));
    }

    #[test]
    fn sets_at_most_count_pixels_in_the_given_colour() {
        let px = frame(
            r##"{"count": 10, "random_color": false, "color": "#ff0000"}"##,
            3,
            0,
        );
        let lit: Vec<_> = px.chunks(4).filter(|p| p[3] != 0).collect();
        assert!(!lit.is_empty() && lit.len() <= 10);
        assert!(lit.iter().all(|p| p == &[255, 0, 0, 255]));
    }

    #[test]
    fn bad_config_names_the_field() {
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 30.0,
            seed: 0,
        };
        let err = new_renderer(r#"{"count": "many"}"#, &init).err().unwrap();
        assert_eq!(err.field(), Some("count"));
    }
}
