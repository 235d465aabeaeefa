//! `motion`: watches the frame for change and raises a clip trigger ([`Events::TRIGGER`]) when
//! enough of the picture moved, for clip recorders: a motion-triggered camera.
//!
//! Every `step`th pixel of every `step`th row is sampled as luma (integer Rec. 601 weights) and
//! compared with the same sample of the frame before; when the mean absolute change reaches
//! `threshold` (a fraction of full scale) a trigger is raised, then none again for `cooldown_ms`.
//! The frame passes through unchanged. Memory: one byte per sample, allocated at creation.

use marquee_plugin_api::{
    DerivedFields, Events, Factory, FrameCtx, InitCtx, PluginDef, PluginError, ProcessorPlugin,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "motion",
    version: env!("CARGO_PKG_VERSION"),
    description: "clip trigger on picture change",
    renderer: None,
    processor: Some(Factory {
        doc: "Raises a clip trigger when the mean luma change between frames reaches `threshold`; leaves the frame as it is.",
        fields: fields_of::<Config>,
        new: new_processor,
    }),
    recorder: None,
};

/// Config of a `motion` processor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Mean absolute luma change that counts as motion, 0 to 1 of full scale.
    #[default(0.05)]
    #[schemars(range(min = 0, max = 1))]
    pub threshold: f64,
    /// Sample every Nth pixel of every Nth row.
    #[default(4)]
    #[schemars(range(min = 1, max = 64))]
    pub step: i64,
    /// After a trigger, milliseconds before another.
    #[default(1000)]
    #[schemars(range(min = 0, max = 3600000))]
    pub cooldown_ms: i64,
}

/// The processor.
pub struct Motion {
    threshold: f64,
    step: usize,
    cooldown: u64,
    previous: Vec<u8>,
    current: Vec<u8>,
    primed: bool,
    /// The frame the last trigger was raised at.
    last: Option<u64>,
    pending: bool,
    raised: u64,
}

fn new_processor(json: &str, init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
    let c: Config = parse_config(json)?;
    if c.cooldown_ms < 0 {
        return Err(PluginError::config(
            "cooldown_ms",
            "a duration cannot be negative",
        ));
    }
    let step = c.step as usize;
    let samples = (init.width as usize).div_ceil(step) * (init.height as usize).div_ceil(step);
    Ok(Box::new(Motion {
        threshold: c.threshold,
        step,
        cooldown: (c.cooldown_ms as f64 * init.fps / 1000.0).round() as u64,
        previous: vec![0; samples],
        current: vec![0; samples],
        primed: false,
        last: None,
        pending: false,
        raised: 0,
    }))
}

impl ProcessorPlugin for Motion {
    fn process(&mut self, ctx: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError> {
        let (w, h, step) = (ctx.width as usize, ctx.height as usize, self.step);
        let mut k = 0;
        let mut sum = 0u64;
        for y in (0..h).step_by(step) {
            let row = &frame[y * w * 4..(y + 1) * w * 4];
            for px in row.chunks_exact(4).step_by(step) {
                let luma = ((px[0] as u32 * 77 + px[1] as u32 * 150 + px[2] as u32 * 29) >> 8) as u8;
                sum += luma.abs_diff(self.previous[k]) as u64;
                self.current[k] = luma;
                k += 1;
            }
        }
        std::mem::swap(&mut self.previous, &mut self.current);
        let change = sum as f64 / (k.max(1) as f64 * 255.0);
        let cooled = self.last.is_none_or(|l| ctx.index >= l + self.cooldown.max(1));
        if self.primed && change >= self.threshold && cooled {
            self.pending = true;
            self.last = Some(ctx.index);
            self.raised += 1;
        }
        self.primed = true;
        Ok(())
    }

    fn events(&mut self) -> Events {
        if std::mem::take(&mut self.pending) {
            Events::TRIGGER
        } else {
            Events::NONE
        }
    }

    fn snapshot(&self) -> Result<Option<Vec<u8>>, PluginError> {
        Ok(None)
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_raises_one_trigger_then_cools_down() {
        let init = InitCtx {
            width: 8,
            height: 8,
            fps: 10.0,
            seed: 0,
        };
        let mut m = new_processor(r#"{"threshold": 0.1, "step": 2, "cooldown_ms": 500}"#, &init).unwrap();
        let dark = vec![0u8; 8 * 8 * 4];
        let light = vec![200u8; 8 * 8 * 4];
        let mut raised = Vec::new();
        for i in 0..20u64 {
            // Still until 5, then it flickers every frame.
            let mut f = if i >= 5 && i % 2 == 1 {
                light.clone()
            } else {
                dark.clone()
            };
            let before = f.clone();
            m.process(&FrameCtx::new(&init, i), &mut f).unwrap();
            assert_eq!(f, before, "the frame passes unchanged");
            if m.events().contains(Events::TRIGGER) {
                raised.push(i);
            }
        }
        // Cooldown 500 ms = 5 frames at 10 fps.
        assert_eq!(raised, vec![5, 10, 15]);
    }
}
