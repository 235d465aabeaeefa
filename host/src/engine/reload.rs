//! Building and hot reload as one operation: a scene's difference from the running world,
//! applied as entity and component changes. Only instances whose plugin, config or creation
//! context changed are made anew; the rest keep their entity and their state.

use bevy_ecs::prelude::*;
use marquee_plugin_api::{InitCtx, PluginKind};

use super::chain::{Processors, Shape, new_processor};
use super::instances::{
    Slot, check_budget, check_isolated, layer_init, matches, new_layer, new_recorder, recorder_init,
};
use super::schedule::report;
use super::world::{
    Chain, Clock, Failures, Layer, LayerTarget, Order, ProcessorSlot, RecorderSlot, RenderTime, RendererSlot,
};
use super::{Engine, EngineError, EngineOptions};
use crate::compose::accumulator::Accumulator;
use crate::model::scene::{Scene, SceneError, StageSpec};

/// One instance of the edited scene: one the running world keeps (its entity), or one made
/// for the edit.
enum Planned<T> {
    Keep(Entity),
    New(T),
}

/// The instances of one kind the edited scene has, in order, and the entities it drops.
struct Plan<T> {
    entries: Vec<Planned<T>>,
    gone: Vec<Entity>,
}

impl<T> Plan<T> {
    fn kept(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Planned::Keep(_)))
            .count()
    }
}

/// The entities holding a `C`, in [`Order`]: the candidates a reload may keep.
fn candidates<C: Component>(world: &mut World) -> Vec<Entity> {
    let mut query = world.query_filtered::<(Entity, &Order), With<C>>();
    let mut all: Vec<(Order, Entity)> = query.iter(world).map(|(e, o)| (*o, e)).collect();
    all.sort_unstable();
    all.into_iter().map(|(_, e)| e).collect()
}

/// Takes from `free` the first entity whose instance `spec` with `config` and `init` would
/// create anew.
fn claim<C: Component, O>(
    world: &World,
    free: &mut Vec<Entity>,
    slot: fn(&C) -> &Slot<O>,
    wanted: (&StageSpec, &str),
    init: &InitCtx,
) -> Option<Entity> {
    let i = free
        .iter()
        .position(|&e| world.get::<C>(e).is_some_and(|c| matches(slot(c), wanted, init)))?;
    Some(free.remove(i))
}

impl Engine {
    /// Switches to `scene` (an edited version of the one running) without a restart: instances
    /// whose plugin, config and size are unchanged are kept with their state (a recorder goes on
    /// writing the same file), the rest are created anew, and the frame count goes on. Returns
    /// how many instances were kept.
    ///
    /// A bad edit to layers or processors leaves the running scene as it was: every new
    /// instance is made before anything running changes. Recorders open their files when
    /// created, so those the edit removes or changes are finished (their files complete) before
    /// the new ones start, which may write the same paths. If a new recorder then fails to
    /// start, the error is returned and the running scene goes on with its unchanged recorders.
    pub fn reload(&mut self, scene: &Scene, options: &EngineOptions) -> Result<usize, EngineError> {
        Ok(self.apply(scene, options)?)
    }

    /// Makes the world run `scene`: plans every kind, then applies the plans.
    pub(super) fn apply(&mut self, scene: &Scene, options: &EngineOptions) -> Result<usize, SceneError> {
        check_isolated(scene, options)?;
        let layers = self.plan_layers(scene, options)?;
        let (chain, processors) = self.plan_chain(scene, options)?;
        check_budget(scene, &chain)?;
        let size = chain.final_size((scene.canvas.width, scene.canvas.height));
        let recorders = self.replace_recorders(scene, options, size)?;
        let kept = layers.kept() + processors.kept() + recorders;
        self.apply_layers(scene, layers);
        self.apply_chain(chain, processors);
        if *self.world.resource::<Accumulator>().canvas() != scene.canvas {
            self.world.insert_resource(Accumulator::new(scene.canvas));
        }
        self.world.resource_mut::<Clock>().fps = scene.fps;
        self.views.update(&self.world);
        Ok(kept)
    }

    fn plan_layers(
        &mut self,
        scene: &Scene,
        options: &EngineOptions,
    ) -> Result<Plan<(RendererSlot, LayerTarget)>, SceneError> {
        let mut free = candidates::<RendererSlot>(&mut self.world);
        let mut entries = Vec::with_capacity(scene.layers.len());
        for layer in &scene.layers {
            let init = layer_init(scene, layer);
            let spec = &layer.stage;
            let wanted = (spec, spec.config_json.as_str());
            entries.push(
                match claim(&self.world, &mut free, |s: &RendererSlot| &s.0, wanted, &init) {
                    Some(entity) => Planned::Keep(entity),
                    None => Planned::New(new_layer(scene, layer, init, options)?),
                },
            );
        }
        Ok(Plan { entries, gone: free })
    }

    fn plan_chain(
        &mut self,
        scene: &Scene,
        options: &EngineOptions,
    ) -> Result<(Processors, Plan<ProcessorSlot>), SceneError> {
        let mut free = candidates::<ProcessorSlot>(&mut self.world);
        let world = &self.world;
        let (chain, entries) = Processors::plan(scene, options.fuse, |spec, init| {
            let wanted = (spec, spec.config_json.as_str());
            Ok(
                match claim(world, &mut free, |s: &ProcessorSlot| &s.0, wanted, &init) {
                    Some(entity) => {
                        let slot = world
                            .get::<ProcessorSlot>(entity)
                            .expect("claimed from processors");
                        (Planned::Keep(entity), Shape::of(&slot.0.object))
                    }
                    None => {
                        let slot = new_processor(scene, spec, init, options)?;
                        let shape = Shape::of(&slot.object);
                        (Planned::New(ProcessorSlot(slot)), shape)
                    }
                },
            )
        })?;
        Ok((chain, Plan { entries, gone: free }))
    }

    /// Keeps the recorders the edit leaves unchanged, finishes the others, then starts the new
    /// ones for frames of `size`; returns how many were kept.
    fn replace_recorders(
        &mut self,
        scene: &Scene,
        options: &EngineOptions,
        size: (u32, u32),
    ) -> Result<usize, SceneError> {
        let mut free = candidates::<RecorderSlot>(&mut self.world);
        let mut entries = Vec::new();
        if options.scene_recorders {
            for spec in &scene.recorders {
                let init = recorder_init(scene, spec, size);
                let identity = spec.identity();
                let wanted = (&spec.stage, identity.as_str());
                entries.push(
                    match claim(&self.world, &mut free, |s: &RecorderSlot| &s.0, wanted, &init) {
                        Some(entity) => Planned::Keep(entity),
                        None => Planned::New(spec),
                    },
                );
            }
        }
        let frame = self.next_frame();
        let mut finished = Vec::new();
        for entity in free {
            if let Some(RecorderSlot(mut slot)) = self.world.entity_mut(entity).take::<RecorderSlot>() {
                let result = slot.object.finish();
                slot.settle(result);
                report(PluginKind::Recorder, frame, &mut slot, &mut finished);
            }
            self.world.despawn(entity);
        }
        self.world.resource_mut::<Failures>().0.extend(finished);
        let mut made = Vec::new();
        for entry in &entries {
            if let Planned::New(spec) = entry {
                match new_recorder(scene, spec, options, size) {
                    Ok(slot) => made.push(slot),
                    Err(e) => {
                        // Those just made are dropped unfinished: their temporary files go too.
                        drop(made);
                        self.renumber::<RecorderSlot>();
                        self.views.update(&self.world);
                        return Err(e);
                    }
                }
            }
        }
        let mut made = made.into_iter();
        let mut kept = 0;
        for (i, entry) in entries.into_iter().enumerate() {
            let order = Order(i as u32);
            match entry {
                Planned::Keep(entity) => {
                    kept += 1;
                    self.set_order(entity, order);
                }
                Planned::New(_) => {
                    let slot = made.next().expect("one made per new recorder");
                    self.world.spawn((order, RecorderSlot(slot)));
                }
            }
        }
        Ok(kept)
    }

    fn apply_layers(&mut self, scene: &Scene, plan: Plan<(RendererSlot, LayerTarget)>) {
        for entity in plan.gone {
            self.world.despawn(entity);
        }
        for ((i, entry), spec) in plan.entries.into_iter().enumerate().zip(&scene.layers) {
            let (order, layer) = (
                Order(i as u32),
                Layer {
                    id: spec.stage.id.clone(),
                    blend: spec.blend,
                    opacity: spec.opacity,
                    placement: spec.placement,
                    persist: spec.persist,
                },
            );
            match entry {
                Planned::Keep(entity) => {
                    self.set_order(entity, order);
                    if let Some(mut old) = self.world.get_mut::<Layer>(entity) {
                        old.set_if_neq(layer);
                    }
                }
                Planned::New((slot, target)) => {
                    self.world
                        .spawn((layer, order, slot, target, RenderTime::default()));
                }
            }
        }
    }

    fn apply_chain(&mut self, plan: Processors, processors: Plan<ProcessorSlot>) {
        for entity in processors.gone {
            self.world.despawn(entity);
        }
        let mut members = Vec::with_capacity(processors.entries.len());
        for (i, entry) in processors.entries.into_iter().enumerate() {
            let order = Order(i as u32);
            members.push(match entry {
                Planned::Keep(entity) => {
                    self.set_order(entity, order);
                    entity
                }
                Planned::New(slot) => self.world.spawn((order, slot)).id(),
            });
        }
        self.world.insert_resource(Chain { plan, members });
    }

    fn set_order(&mut self, entity: Entity, order: Order) {
        if let Some(mut old) = self.world.get_mut::<Order>(entity) {
            old.set_if_neq(order);
        }
    }

    /// Makes the [`Order`]s of the entities holding a `C` dense again (after some went away).
    pub(super) fn renumber<C: Component>(&mut self) {
        for (i, entity) in candidates::<C>(&mut self.world).into_iter().enumerate() {
            self.set_order(entity, Order(i as u32));
        }
    }
}
