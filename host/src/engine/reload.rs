//! Hot reload: an edited scene applied to a running engine, keeping every instance whose
//! plugin, config and creation context are unchanged.

use super::instances::{Kept, new_recorder, recorder_init, take_matching};
use super::schedule::report;
use super::world::{
    Clock, Failures, LayerOrder, LayerTarget, Recorders, Recording, RendererSlot, Stats, Triggers,
};
use super::{Engine, EngineError, EngineOptions, Processors};
use crate::model::scene::Scene;
use bevy_ecs::prelude::*;
use marquee_plugin_api::PluginKind;

impl Engine {
    /// Switches to `scene` (an edited version of the one running) without a restart: instances
    /// whose plugin, config and size are unchanged are kept with their state (a recorder goes on
    /// writing the same file), the rest are created anew, and the frame count goes on. Returns
    /// how many instances were kept.
    ///
    /// A bad edit to layers or processors leaves the running scene as it was. Recorders open
    /// their files when created, so they get no trial copy: those the edit removes or changes
    /// are finished (their files complete) before the new ones start, which may write the same
    /// paths. If a new recorder then fails to start, the error is returned and the running scene
    /// goes on with its unchanged recorders.
    pub fn reload(&mut self, scene: &Scene, options: &EngineOptions) -> Result<usize, EngineError> {
        let trial = EngineOptions {
            scene_recorders: false,
            ..options.clone()
        };
        let fresh = Engine::new(scene, &trial)?;
        let (next, frames) = (self.next_frame(), self.world.resource::<Stats>().frames);
        let (recording, triggers) = (
            *self.world.resource::<Recording>(),
            *self.world.resource::<Triggers>(),
        );
        let mut old = std::mem::take(&mut self.world.resource_mut::<Recorders>().0);
        let mut recorders = Vec::new();
        let mut wanted = Vec::new();
        if options.scene_recorders {
            for spec in &scene.recorders {
                let init = recorder_init(scene, spec, fresh.frame_size());
                match take_matching(&mut old, |s| s, (&spec.stage, &spec.identity()), &init) {
                    Some(slot) => recorders.push(slot),
                    None => wanted.push(spec),
                }
            }
        }
        let mut finished = Vec::new();
        for mut slot in old.drain(..) {
            let result = slot.object.finish();
            slot.settle(result);
            report(PluginKind::Recorder, next, &mut slot, &mut finished);
        }
        self.world.resource_mut::<Failures>().0.extend(finished);
        let carried = recorders.len();
        for spec in wanted {
            match new_recorder(scene, spec, options, fresh.frame_size()) {
                Ok(slot) => recorders.push(slot),
                Err(e) => {
                    // Those just made are dropped unfinished: their temporary files go too.
                    recorders.truncate(carried);
                    self.world.resource_mut::<Recorders>().0 = recorders;
                    return Err(e.into());
                }
            }
        }
        let created = recorders.len() - carried;
        let mut kept = self.take_instances();
        kept.recorders = recorders;
        let (mut engine, result) = match Engine::build(scene, options, &mut kept) {
            Ok(engine) => (engine, Ok(kept.reused - created)),
            Err(e) => (fresh, Err(e)),
        };
        let failures = std::mem::take(&mut self.world.resource_mut::<Failures>().0);
        engine.world.resource_mut::<Failures>().0.extend(failures);
        engine.world.resource_mut::<Clock>().next = next;
        engine.world.resource_mut::<Stats>().frames = frames;
        // Recording paused with `r` stays paused; a trigger asked for stays asked for.
        *engine.world.resource_mut::<Recording>() = recording;
        *engine.world.resource_mut::<Triggers>() = triggers;
        *self = engine;
        result
    }

    /// Takes every plugin instance out of this engine (which is not run again).
    pub(super) fn take_instances(&mut self) -> Kept {
        let mut kept = Kept::default();
        let order = std::mem::take(&mut self.world.resource_mut::<LayerOrder>().0);
        for entity in order {
            let mut e = self.world.entity_mut(entity);
            if let (Some(slot), Some(target)) = (e.take::<RendererSlot>(), e.take::<LayerTarget>()) {
                kept.layers.push((slot, target));
            }
        }
        kept.processors = std::mem::take(&mut self.world.resource_mut::<Processors>().slots);
        kept.recorders = std::mem::take(&mut self.world.resource_mut::<Recorders>().0);
        kept
    }
}
