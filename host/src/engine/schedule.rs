//! The frame schedule: the ordered [`FrameSet`]s and the one system in each.

use std::time::Instant;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::MultiThreadedExecutor;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings, SingleThreadedExecutor};
use marquee_plugin_api::{Canvas, Events, FrameCtx, FrameMeta, PluginKind};

use bevy_ecs::system::SystemParam;
use marquee_plugin_api::ProcessorBox;

use super::chain::Members;
use super::instances::Slot;
use super::report::Failure;
use super::world::{
    Chain, Clock, Failures, Layer, LayerTarget, Order, ProcessorSlot, RecorderSlot, Recording, RenderTime,
    RendererSlot, SetTimes, Stats, Threads, Triggers,
};
use crate::compose::accumulator::Accumulator;

/// The phases of one frame, run in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameSet {
    /// Advances the [`Clock`] to the frame about to be made. Nothing else belongs here.
    Tick,
    /// Every layer's renderer draws into its own buffer. Layers are independent, so with more
    /// than one worker thread they render in parallel; nothing here touches the final frame.
    Render,
    /// The accumulator stacks the layer buffers, bottom first ([`Order`]), into the final frame.
    Composite,
    /// Processors transform the final frame, in chain order.
    Process,
    /// The events plugins raised this frame are collected; a clip trigger (raised, or asked for
    /// with [`Engine::trigger`](super::Engine::trigger)) goes to every recorder, then a copy of
    /// the final frame goes into each recorder's queue for its own thread (dropped and counted,
    /// or waited for, when the queue is full). Nothing here touches a disk.
    Record,
    /// Bookkeeping: frame counters and collecting new failures. Writes no pixels.
    Metrics,
}

impl FrameSet {
    /// Every set, in run order.
    pub const ALL: [FrameSet; 6] = [
        FrameSet::Tick,
        FrameSet::Render,
        FrameSet::Composite,
        FrameSet::Process,
        FrameSet::Record,
        FrameSet::Metrics,
    ];

    /// The set's name, as metrics write it.
    pub fn name(self) -> &'static str {
        match self {
            FrameSet::Tick => "tick",
            FrameSet::Render => "render",
            FrameSet::Composite => "composite",
            FrameSet::Process => "process",
            FrameSet::Record => "record",
            FrameSet::Metrics => "metrics",
        }
    }
}

/// Every plugin instance of the world, by kind: what the record and metrics sets visit.
#[derive(SystemParam)]
pub(super) struct Instances<'w, 's> {
    layers: Query<'w, 's, &'static mut RendererSlot>,
    processors: Query<'w, 's, &'static mut ProcessorSlot>,
    recorders: Query<'w, 's, &'static mut RecorderSlot>,
}

/// The chain's members as the processor entities hold them.
pub(super) struct InWorld<'q, 'w, 's> {
    pub(super) query: &'q mut Query<'w, 's, &'static mut ProcessorSlot>,
    pub(super) members: &'q [Entity],
}

impl Members for InWorld<'_, '_, '_> {
    fn member(&mut self, position: usize) -> &mut Slot<ProcessorBox> {
        let entity = self.members[position];
        &mut self
            .query
            .get_mut(entity)
            .expect("every chain member is a processor entity")
            .into_inner()
            .0
    }
}

pub(super) fn tick(mut clock: ResMut<Clock>, mut times: ResMut<SetTimes>) {
    let t0 = Instant::now();
    clock.index = clock.next;
    clock.next += 1;
    times[FrameSet::Tick] = t0.elapsed();
}

pub(super) fn render_one(
    index: u64,
    slot: &mut RendererSlot,
    target: &mut LayerTarget,
    persist: bool,
    time: &mut RenderTime,
) {
    let t0 = Instant::now();
    draw_one(index, slot, target, persist);
    time.0 = t0.elapsed();
}

pub(super) fn draw_one(index: u64, slot: &mut RendererSlot, target: &mut LayerTarget, persist: bool) {
    let slot = &mut slot.0;
    if slot.failed.is_some() {
        return;
    }
    if !persist {
        target.pixels.fill(0);
    }
    let ctx = FrameCtx::new(&slot.init, index);
    let LayerTarget {
        width,
        height,
        pixels,
        queue,
    } = target;
    let result = slot
        .object
        .render(&ctx, &mut Canvas::new(*width, *height, pixels, queue));
    if slot.settle(result) {
        queue.execute(*width, *height, pixels);
    } else {
        // Draw the failed layer transparent, and drop whatever it queued.
        pixels.fill(0);
        queue.clear();
    }
}

pub(super) fn render(
    clock: Res<Clock>,
    threads: Res<Threads>,
    mut times: ResMut<SetTimes>,
    mut layers: Query<(&Layer, &mut RendererSlot, &mut LayerTarget, &mut RenderTime)>,
) {
    let t0 = Instant::now();
    let index = clock.index;
    if threads.0 > 1 {
        layers
            .par_iter_mut()
            .for_each(|(layer, mut slot, mut target, mut time)| {
                render_one(index, &mut slot, &mut target, layer.persist, &mut time)
            });
    } else {
        for (layer, mut slot, mut target, mut time) in &mut layers {
            render_one(index, &mut slot, &mut target, layer.persist, &mut time);
        }
    }
    times[FrameSet::Render] = t0.elapsed();
}

/// The layer entities in stacking order, as the composite system last saw them.
#[derive(Default)]
pub(super) struct Stack(Vec<(Order, Entity)>);

pub(super) fn composite(
    mut stack: Local<Stack>,
    orders: Query<(Entity, Ref<Order>), With<Layer>>,
    layers: Query<(&Layer, &LayerTarget)>,
    mut acc: ResMut<Accumulator>,
    mut times: ResMut<SetTimes>,
) {
    let t0 = Instant::now();
    // Restack only when a layer came, went or moved (a build or a reload): change detection
    // keeps this off the per-frame path.
    if orders.iter().count() != stack.0.len() || orders.iter().any(|(_, order)| order.is_changed()) {
        stack.0.clear();
        stack
            .0
            .extend(orders.iter().map(|(entity, order)| (*order, entity)));
        stack.0.sort_unstable();
    }
    acc.begin();
    for &(_, entity) in &stack.0 {
        if let Ok((layer, target)) = layers.get(entity) {
            acc.composite(layer.placement, layer.blend, layer.opacity, &target.pixels);
        }
    }
    times[FrameSet::Composite] = t0.elapsed();
}

pub(super) fn process(
    clock: Res<Clock>,
    mut chain: ResMut<Chain>,
    mut processors: Query<&'static mut ProcessorSlot>,
    mut acc: ResMut<Accumulator>,
    mut times: ResMut<SetTimes>,
) {
    let t0 = Instant::now();
    let Chain { plan, members } = &mut *chain;
    let mut members = InWorld {
        query: &mut processors,
        members,
    };
    plan.run(&mut members, clock.index, acc.frame_mut());
    times[FrameSet::Process] = t0.elapsed();
}

pub(super) fn record(
    clock: Res<Clock>,
    recording: Res<Recording>,
    mut triggers: ResMut<Triggers>,
    mut instances: Instances,
    chain: Res<Chain>,
    acc: Res<Accumulator>,
    mut times: ResMut<SetTimes>,
) {
    let t0 = Instant::now();
    // Events the plugins raised while making this frame.
    let mut events = Events::NONE;
    for mut slot in &mut instances.layers {
        if slot.0.failed.is_none() {
            events = events.union(slot.0.object.events());
        }
    }
    for mut slot in &mut instances.processors {
        if slot.0.failed.is_none() {
            events = events.union(slot.0.object.events());
        }
    }
    let trigger = std::mem::take(&mut triggers.requested) || events.contains(Events::TRIGGER);
    if trigger {
        triggers.delivered += 1;
    }
    let (frame, width, height) = chain.plan.final_frame(&acc);
    let meta = FrameMeta {
        index: clock.index,
        time: clock.index as f64 / clock.fps,
        fps: clock.fps,
        width,
        height,
    };
    for mut slot in &mut instances.recorders {
        let slot = &mut slot.0;
        if slot.failed.is_some() {
            continue;
        }
        if trigger {
            slot.object.trigger(meta);
        }
        if recording.0
            && let Some(e) = slot.object.offer(&meta, frame)
        {
            slot.failed = Some(e);
        }
    }
    times[FrameSet::Record] = t0.elapsed();
}

pub(super) fn report<T>(kind: PluginKind, frame: u64, slot: &mut Slot<T>, out: &mut Vec<Failure>) {
    if let (Some(error), false) = (&slot.failed, slot.reported) {
        slot.reported = true;
        out.push(Failure {
            kind,
            id: slot.id.clone(),
            plugin: slot.plugin.clone(),
            frame,
            error: error.clone(),
        });
    }
}

pub(super) fn metrics(
    clock: Res<Clock>,
    mut stats: ResMut<Stats>,
    mut failures: ResMut<Failures>,
    mut instances: Instances,
    mut times: ResMut<SetTimes>,
) {
    let t0 = Instant::now();
    stats.frames += 1;
    for mut slot in &mut instances.layers {
        report(PluginKind::Renderer, clock.index, &mut slot.0, &mut failures.0);
    }
    for mut slot in &mut instances.processors {
        report(PluginKind::Processor, clock.index, &mut slot.0, &mut failures.0);
    }
    for mut slot in &mut instances.recorders {
        report(PluginKind::Recorder, clock.index, &mut slot.0, &mut failures.0);
    }
    times[FrameSet::Metrics] = t0.elapsed();
}

/// Builds the frame schedule: the sets chained in order, every system in its set.
pub fn frame_schedule(threads: usize) -> Schedule {
    let mut schedule = Schedule::default();
    schedule.set_build_settings(ScheduleBuildSettings {
        ambiguity_detection: LogLevel::Error,
        ..Default::default()
    });
    if threads > 1 {
        schedule.set_executor(MultiThreadedExecutor::new());
    } else {
        schedule.set_executor(SingleThreadedExecutor::new());
    }
    schedule.configure_sets(
        (
            FrameSet::Tick,
            FrameSet::Render,
            FrameSet::Composite,
            FrameSet::Process,
            FrameSet::Record,
            FrameSet::Metrics,
        )
            .chain(),
    );
    schedule.add_systems((
        tick.in_set(FrameSet::Tick),
        render.in_set(FrameSet::Render),
        composite.in_set(FrameSet::Composite),
        process.in_set(FrameSet::Process),
        record.in_set(FrameSet::Record),
        metrics.in_set(FrameSet::Metrics),
    ));
    schedule
}

#[cfg(test)]
mod tests {
    use bevy_ecs::component::ComponentId;
    use bevy_ecs::system::System;

    use super::*;
    use crate::engine::world::{Layer, Order};

    /// What each set's system may write: its contract, as the set's doc states it. Bevy only
    /// checks that two systems with conflicting access are ordered; this checks that no system
    /// reaches beyond its set's job (the render set never touches the final frame, only the
    /// tick moves the clock, bookkeeping writes no pixels...).
    #[test]
    fn each_set_writes_only_what_its_doc_says() {
        let mut world = World::new();
        let mut schedule = frame_schedule(1);
        schedule.initialize(&mut world).expect("the schedule builds");
        macro_rules! ids {
            ($($t:ty),*) => { [$((stringify!($t), world.component_id::<$t>().expect(stringify!($t)))),*] };
        }
        let all = ids!(
            Clock,
            SetTimes,
            Threads,
            Recording,
            Triggers,
            Stats,
            Failures,
            Accumulator,
            Chain,
            Layer,
            Order,
            RendererSlot,
            LayerTarget,
            RenderTime,
            ProcessorSlot,
            RecorderSlot
        );
        let id = |name: &str| all.iter().find(|(n, _)| *n == name).expect(name).1;
        let contract: [(FrameSet, std::any::TypeId, &[&str]); 6] = [
            (
                FrameSet::Tick,
                IntoSystem::into_system(tick).system_type(),
                &["Clock", "SetTimes"],
            ),
            (
                FrameSet::Render,
                IntoSystem::into_system(render).system_type(),
                &["SetTimes", "RendererSlot", "LayerTarget", "RenderTime"],
            ),
            (
                FrameSet::Composite,
                IntoSystem::into_system(composite).system_type(),
                &["SetTimes", "Accumulator"],
            ),
            (
                FrameSet::Process,
                IntoSystem::into_system(process).system_type(),
                &["SetTimes", "Accumulator", "Chain", "ProcessorSlot"],
            ),
            (
                FrameSet::Record,
                IntoSystem::into_system(record).system_type(),
                &[
                    "SetTimes",
                    "Triggers",
                    "RendererSlot",
                    "ProcessorSlot",
                    "RecorderSlot",
                ],
            ),
            (
                FrameSet::Metrics,
                IntoSystem::into_system(metrics).system_type(),
                &[
                    "SetTimes",
                    "Stats",
                    "Failures",
                    "RendererSlot",
                    "ProcessorSlot",
                    "RecorderSlot",
                ],
            ),
        ];
        let systems: Vec<_> = schedule.systems_with_access().expect("initialized").collect();
        assert_eq!(systems.len(), contract.len(), "one system per set");
        for (set, system_type, may_write) in contract {
            let (_, system) = systems
                .iter()
                .find(|(_, s)| s.system().system_type() == system_type)
                .unwrap_or_else(|| panic!("no system for {set:?}"));
            let access = system.access().to_filtered_access_set();
            let access = access.combined_access();
            let writes: Vec<&str> = all
                .iter()
                .filter(|(_, c): &&(&str, ComponentId)| access.has_write(*c))
                .map(|(n, _)| *n)
                .collect();
            let mut want = may_write.to_vec();
            want.sort_unstable_by_key(|n| all.iter().position(|(m, _)| m == n));
            assert_eq!(writes, want, "{set:?} writes");
        }
        // The render set does not even read the final frame; the record set reads it only.
        let find = |t: std::any::TypeId| {
            let (_, s) = systems
                .iter()
                .find(|(_, s)| s.system().system_type() == t)
                .expect("system");
            s.access().to_filtered_access_set().combined_access().clone()
        };
        let render = find(IntoSystem::into_system(render).system_type());
        assert!(!render.has_read(id("Accumulator")));
        let record = find(IntoSystem::into_system(record).system_type());
        assert!(record.has_read(id("Accumulator")) && !record.has_write(id("Accumulator")));
    }
}
