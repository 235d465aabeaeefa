//! The frame schedule: the ordered [`FrameSet`](super::FrameSet)s and the one system in each.

use std::time::Instant;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::MultiThreadedExecutor;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings, SingleThreadedExecutor};
use marquee_plugin_api::{Canvas, Events, FrameCtx, FrameMeta, PluginKind};

use super::chain::Processors;
use super::instances::Slot;
use super::world::{
    Clock, Failure, Failures, Layer, LayerOrder, LayerTarget, Recorders, Recording, RenderTime, RendererSlot,
    SetTimes, Stats, Threads, Triggers,
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
    /// The accumulator stacks the layer buffers, bottom first, into the final frame.
    Composite,
    /// Processors transform the final frame in place, in scene order.
    Process,
    /// The events plugins raised this frame are collected; a clip trigger (raised, or asked for
    /// with [`Engine::trigger`](super::Engine::trigger)) goes to every recorder, then a copy of the finished frame goes
    /// into each recorder's queue for its own thread (dropped and counted, or waited for, when
    /// the queue is full). Nothing here touches a disk.
    Output,
    /// Bookkeeping: frame counters and collecting new failures. Reads everything, writes no pixels.
    Metrics,
}

pub(super) fn tick(mut clock: ResMut<Clock>, mut times: ResMut<SetTimes>) {
    let t0 = Instant::now();
    clock.index = clock.next;
    clock.next += 1;
    times.0[0] = t0.elapsed();
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
    times.0[1] = t0.elapsed();
}

pub(super) fn composite(
    order: Res<LayerOrder>,
    layers: Query<(&Layer, &LayerTarget)>,
    mut acc: ResMut<Accumulator>,
    mut times: ResMut<SetTimes>,
) {
    let t0 = Instant::now();
    acc.begin();
    for &entity in &order.0 {
        if let Ok((layer, target)) = layers.get(entity) {
            acc.composite(layer.placement, layer.blend, layer.opacity, &target.pixels);
        }
    }
    times.0[2] = t0.elapsed();
}

pub(super) fn process(
    clock: Res<Clock>,
    mut chain: ResMut<Processors>,
    mut acc: ResMut<Accumulator>,
    mut times: ResMut<SetTimes>,
) {
    let t0 = Instant::now();
    chain.run(clock.index, acc.frame_mut());
    times.0[3] = t0.elapsed();
}

#[allow(clippy::too_many_arguments)]
pub(super) fn output(
    clock: Res<Clock>,
    recording: Res<Recording>,
    mut triggers: ResMut<Triggers>,
    mut recorders: ResMut<Recorders>,
    mut layers: Query<&mut RendererSlot>,
    mut chain: ResMut<Processors>,
    acc: Res<Accumulator>,
    mut times: ResMut<SetTimes>,
) {
    let t0 = Instant::now();
    // Events the plugins raised while making this frame.
    let mut events = Events::NONE;
    for mut slot in &mut layers {
        if slot.0.failed.is_none() {
            events = events.union(slot.0.object.events());
        }
    }
    for slot in chain.slots.iter_mut().filter(|s| s.failed.is_none()) {
        events = events.union(slot.object.events());
    }
    let trigger = std::mem::take(&mut triggers.requested) || events.contains(Events::TRIGGER);
    if trigger {
        triggers.delivered += 1;
    }
    record_frame(&clock, &recording, trigger, &mut recorders, &chain, &acc);
    times.0[4] = t0.elapsed();
}

pub(super) fn record_frame(
    clock: &Clock,
    recording: &Recording,
    trigger: bool,
    recorders: &mut Recorders,
    chain: &Processors,
    acc: &Accumulator,
) {
    let (frame, width, height) = chain.output(acc);
    let meta = FrameMeta {
        index: clock.index,
        time: clock.index as f64 / clock.fps,
        fps: clock.fps,
        width,
        height,
    };
    for slot in recorders.0.iter_mut().filter(|s| s.failed.is_none()) {
        if trigger {
            slot.object.trigger(meta);
        }
        if recording.0
            && let Some(e) = slot.object.offer(&meta, frame)
        {
            slot.failed = Some(e);
        }
    }
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
    mut layers: Query<&mut RendererSlot>,
    mut chain: ResMut<Processors>,
    mut recorders: ResMut<Recorders>,
    mut times: ResMut<SetTimes>,
) {
    let t0 = Instant::now();
    stats.frames += 1;
    for mut slot in &mut layers {
        report(PluginKind::Renderer, clock.index, &mut slot.0, &mut failures.0);
    }
    for slot in &mut chain.slots {
        report(PluginKind::Processor, clock.index, slot, &mut failures.0);
    }
    for slot in &mut recorders.0 {
        report(PluginKind::Recorder, clock.index, slot, &mut failures.0);
    }
    times.0[5] = t0.elapsed();
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
            FrameSet::Output,
            FrameSet::Metrics,
        )
            .chain(),
    );
    schedule.add_systems((
        tick.in_set(FrameSet::Tick),
        render.in_set(FrameSet::Render),
        composite.in_set(FrameSet::Composite),
        process.in_set(FrameSet::Process),
        output.in_set(FrameSet::Output),
        metrics.in_set(FrameSet::Metrics),
    ));
    schedule
}
