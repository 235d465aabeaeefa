//! `fade`: global brightness moving from `from` to `to` over `duration` seconds starting at
//! `start`, along a curve: sleep (fade to black) and wake (fade in) for installations.

use marquee_plugin_api::{
    DerivedFields, Factory, FrameCtx, InitCtx, PixelOp, PluginDef, PluginError, ProcessorPlugin,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "fade",
    version: env!("CARGO_PKG_VERSION"),
    description: "global brightness over time",
    renderer: None,
    processor: Some(Factory {
        doc: "Scales every channel by a brightness that goes from `from` to `to` between `start` and `start + duration` seconds, along `curve`.",
        fields: fields_of::<Config>,
        new: new_processor,
    }),
    recorder: None,
};

/// How brightness moves between the two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Curve {
    /// Straight line.
    Linear,
    /// Smoothstep: gentle at both ends.
    Smooth,
    /// Cubic on the way up (and its mirror down): steps look even to the eye.
    Exponential,
}

/// Config of a `fade` processor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Brightness before the fade.
    #[default(0.0)]
    #[schemars(range(min = 0, max = 1))]
    pub from: f64,
    /// Brightness after it.
    #[default(1.0)]
    #[schemars(range(min = 0, max = 1))]
    pub to: f64,
    /// Seconds into the scene when it begins.
    #[default(0.0)]
    #[schemars(range(min = 0, max = 10000000))]
    pub start: f64,
    /// Seconds it takes.
    #[default(2.0)]
    #[schemars(range(min = 0, max = 10000000))]
    pub duration: f64,
    /// How the level moves: evenly, easing in and out (smooth), or evenly to the eye (exponential).
    #[default(Curve::Smooth)]
    pub curve: Curve,
}

/// The processor.
pub struct Fade {
    config: Config,
    lut: [u8; 256],
    /// The brightness the table was built for, in 1/4096ths.
    built_for: Option<u32>,
}

impl Fade {
    /// A fade for `config`.
    pub fn new(config: Config) -> Self {
        Fade {
            config,
            lut: [0; 256],
            built_for: None,
        }
    }

    /// The brightness at `time` seconds.
    pub fn level(&self, time: f64) -> f64 {
        let c = &self.config;
        let x = if c.duration == 0.0 {
            if time >= c.start { 1.0 } else { 0.0 }
        } else {
            ((time - c.start) / c.duration).clamp(0.0, 1.0)
        };
        let y = match c.curve {
            Curve::Linear => x,
            Curve::Smooth => x * x * (3.0 - 2.0 * x),
            Curve::Exponential if c.to >= c.from => x * x * x,
            Curve::Exponential => 1.0 - (1.0 - x).powi(3),
        };
        c.from + (c.to - c.from) * y
    }
}

impl Fade {
    /// The table for `time`, rebuilt only when the level changes; `None` at full brightness.
    fn table(&mut self, time: f64) -> Option<&[u8; 256]> {
        let k = (self.level(time) * 4096.0).round() as u32;
        if k == 4096 {
            return None;
        }
        if self.built_for != Some(k) {
            for (v, out) in self.lut.iter_mut().enumerate() {
                *out = ((v as u32 * k + 2048) >> 12) as u8;
            }
            self.built_for = Some(k);
        }
        Some(&self.lut)
    }
}

fn new_processor(json: &str, _init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    Ok(Box::new(Fade::new(config)))
}

impl ProcessorPlugin for Fade {
    fn process(&mut self, ctx: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError> {
        self.process_rows(ctx, 0, frame)
    }

    fn pointwise(&self) -> bool {
        true
    }

    fn process_rows(&mut self, ctx: &FrameCtx, _first_row: u32, frame: &mut [u8]) -> Result<(), PluginError> {
        if let Some(lut) = self.table(ctx.time) {
            marquee_plugin_api::map_rgb(frame, lut);
        }
        Ok(())
    }

    fn pixel_op(&mut self, ctx: &FrameCtx, op: &mut PixelOp) -> Result<bool, PluginError> {
        match self.table(ctx.time) {
            Some(lut) => op.set_table(lut),
            None => op.reset(),
        }
        Ok(true)
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_along_each_curve() {
        let f = |curve| {
            Fade::new(Config {
                from: 1.0,
                to: 0.0,
                start: 1.0,
                duration: 2.0,
                curve,
            })
        };
        for curve in [Curve::Linear, Curve::Smooth, Curve::Exponential] {
            let fade = f(curve);
            assert_eq!(
                (fade.level(0.0), fade.level(1.0), fade.level(3.0), fade.level(9.0)),
                (1.0, 1.0, 0.0, 0.0),
                "{curve:?}"
            );
        }
        assert_eq!(f(Curve::Linear).level(2.0), 0.5);
        assert_eq!(f(Curve::Smooth).level(2.0), 0.5);
        assert!(
            f(Curve::Exponential).level(2.0) < 0.5,
            "fading out drops fast first"
        );
    }

    #[test]
    fn scales_colour_and_leaves_alpha() {
        let init = InitCtx {
            width: 1,
            height: 1,
            fps: 10.0,
            seed: 0,
        };
        let mut fade = Fade::new(Config {
            from: 0.0,
            to: 1.0,
            start: 0.0,
            duration: 2.0,
            curve: Curve::Linear,
        });
        let mut px = [200, 100, 10, 77];
        fade.process(&FrameCtx::new(&init, 10), &mut px).unwrap(); // t = 1 s: half
        assert_eq!(px, [100, 50, 5, 77]);
        let mut px = [200, 100, 10, 77];
        fade.process(&FrameCtx::new(&init, 25), &mut px).unwrap(); // past the end: full
        assert_eq!(px, [200, 100, 10, 77]);
    }

    #[test]
    fn bad_values_are_refused() {
        let init = InitCtx {
            width: 1,
            height: 1,
            fps: 10.0,
            seed: 0,
        };
        // Ranges are the host's to check (declared on `Config`); parsing refuses the rest.
        for bad in [r#"{"from": "half"}"#, r#"{"curve": "bounce"}"#] {
            assert!(new_processor(bad, &init).is_err(), "{bad}");
        }
    }
}
