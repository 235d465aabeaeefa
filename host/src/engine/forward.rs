//! Fast-forward: an engine brought to a later frame exactly, doing only the work that frame
//! depends on (what a trace shard does before its first frame).
//!
//! The determinism contract says a plugin whose output depends on earlier frames keeps that
//! state and offers it through `snapshot`; one whose `snapshot` gives nothing makes each frame
//! from the frame's context alone. So, per instance:
//! - a renderer or processor whose `snapshot` is `None` is **jumped**: nothing is called;
//! - a renderer with state (its `snapshot` is `Some`), or a persistent layer (its pixels are
//!   state), is **stepped**: its `render` runs for every frame skipped, into its own layer,
//!   with no compositing, processing or recording;
//! - a processor with state sees composited frames, so its presence makes every skipped frame
//!   a **whole** frame (recorders left out).

use marquee_plugin_api::PluginKind;

use super::Engine;
use super::keyframe::{KeyframeError, into_state};
use super::schedule::{draw_one, report};
use super::world::{Failures, Layer, LayerTarget, ProcessorSlot, Recording, RendererSlot};

/// How one instance was brought to the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// It keeps no state: nothing was called.
    Jumped,
    /// Its own calls were made for every frame skipped.
    Stepped,
    /// Whole frames were made (a processor with state was in the chain).
    Whole,
}

impl Reach {
    /// `jumped`, `stepped` or `whole frames`.
    pub fn name(self) -> &'static str {
        match self {
            Reach::Jumped => "jumped",
            Reach::Stepped => "stepped",
            Reach::Whole => "whole frames",
        }
    }
}

/// What a fast-forward did with each instance, layers then processors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Frames skipped.
    pub frames: u64,
    /// Each renderer and processor: kind, id, how.
    pub instances: Vec<(PluginKind, String, Reach)>,
}

impl Engine {
    /// Makes frame `to` the next one [`Engine::step`] makes, with every instance in the state an
    /// engine that made each frame before it would have (see the module docs). Frames before
    /// [`Engine::next_frame`] cannot be gone back to: `to` at or before it changes nothing.
    /// A plugin that fails while stepped is a failure like any other ([`Engine::take_failures`]).
    pub fn fast_forward(&mut self, to: u64) -> Result<Forwarded, KeyframeError> {
        let from = self.next_frame();
        let mut out = Forwarded {
            frames: to.saturating_sub(from),
            instances: Vec::new(),
        };
        let mut stepped = Vec::new();
        let mut layers = self.world.query::<(
            bevy_ecs::entity::Entity,
            &super::world::Order,
            &Layer,
            &RendererSlot,
        )>();
        let mut layers: Vec<_> = layers.iter(&self.world).collect();
        layers.sort_unstable_by_key(|(_, order, ..)| **order);
        for (entity, _, layer, slot) in layers {
            // A failed instance is never called again: its layer stays transparent.
            if slot.0.failed.is_some() {
                out.instances
                    .push((PluginKind::Renderer, layer.id.clone(), Reach::Jumped));
                continue;
            }
            let state = into_state(PluginKind::Renderer, &layer.id, slot.0.object.snapshot())?;
            let reach = if state.is_some() || layer.persist {
                stepped.push(entity);
                Reach::Stepped
            } else {
                Reach::Jumped
            };
            out.instances
                .push((PluginKind::Renderer, layer.id.clone(), reach));
        }
        let mut whole = false;
        let members = self.world.resource::<super::world::Chain>().members.clone();
        for entity in members {
            let Some(ProcessorSlot(slot)) = self.world.get::<ProcessorSlot>(entity) else {
                continue;
            };
            if slot.failed.is_some() {
                out.instances
                    .push((PluginKind::Processor, slot.id.clone(), Reach::Jumped));
                continue;
            }
            let state = into_state(PluginKind::Processor, &slot.id, slot.object.snapshot())?;
            whole |= state.is_some();
            let reach = if state.is_some() {
                Reach::Whole
            } else {
                Reach::Jumped
            };
            out.instances
                .push((PluginKind::Processor, slot.id.clone(), reach));
        }
        if whole {
            for (_, _, reach) in &mut out.instances {
                *reach = Reach::Whole;
            }
        }
        if to <= from {
            return Ok(out);
        }
        if whole {
            let recording = std::mem::replace(&mut self.world.resource_mut::<Recording>().0, false);
            for _ in from..to {
                self.step();
            }
            self.world.resource_mut::<Recording>().0 = recording;
            return Ok(out);
        }
        if !stepped.is_empty() {
            let mut failed = Vec::new();
            let mut query = self
                .world
                .query::<(&Layer, &mut RendererSlot, &mut LayerTarget)>();
            for index in from..to {
                for &entity in &stepped {
                    let Ok((layer, mut slot, mut target)) = query.get_mut(&mut self.world, entity) else {
                        continue;
                    };
                    let persist = layer.persist;
                    draw_one(index, &mut slot, &mut target, persist);
                    report(PluginKind::Renderer, index, &mut slot.0, &mut failed);
                }
            }
            self.world.resource_mut::<Failures>().0.extend(failed);
        }
        self.seek(to);
        Ok(out)
    }
}
