//! The frame loop as a `bevy_ecs` schedule: layers are entities, the accumulator a resource, and
//! each frame runs the named, ordered [`FrameSet`]s once.
//!
//! Failure policy: a plugin call that returns an error, or panics (the plugin-side wrapper turns
//! the panic into an error before it crosses the boundary), marks that instance failed. The
//! failure is recorded once in [`Failures`]; a failed renderer's layer is drawn transparent, a
//! failed processor or recorder is skipped, and the frame goes on.
//!
//! [`Engine`] is the façade; behind it `world` (the components and resources), `schedule` (the
//! sets and their systems), `chain` (the processor chain, planned once, run per frame),
//! `instances` (the one place a plugin instance is made or kept across a reload), `keyframe`
//! (saving and restoring every instance's state) and `forward` (reaching a later frame exactly).

mod chain;
mod forward;
mod instances;
mod keyframe;
mod reload;
mod report;
mod schedule;
mod world;

pub use chain::{BAND_BYTES, Members, Pass, Processors};
pub use forward::{Forwarded, Reach};
use instances::new_recorder;
pub use instances::{Slot, instance_seed};
pub use keyframe::{InstanceState, Keyframe, KeyframeError};
pub use report::{Counter, Failure, RecorderInfo, RecorderReport};
use schedule::report;
pub use schedule::{FrameSet, frame_schedule};
pub use world::{
    Chain, Clock, Failures, Layer, LayerTarget, Order, ProcessorSlot, RecorderSlot, Recording, RenderTime,
    RendererSlot, SetTimes, Stats, Threads, Triggers,
};

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleBuildError;
use marquee_plugin_api::PluginKind;

use crate::compose::accumulator::Accumulator;
use crate::isolate::watch::{Event, Watch};
use crate::model::paths::OutDir;
use crate::model::scene::{RecorderSpec, Scene, SceneError};
use crate::record::thread::{RecorderSample, RecorderThread};

/// How to run a scene.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Worker threads: 1 runs everything on the calling thread (no per-frame allocation); more
    /// runs the multi-threaded executor and renders layers in parallel.
    pub threads: usize,
    /// Create the scene's own recorders (trace and verify leave them out).
    pub scene_recorders: bool,
    /// Where the recorders may write.
    pub out_dir: OutDir,
    /// Frames are paced by a clock (live runs): a recorder whose scene does not say
    /// `when_full` drops frames it cannot take instead of making rendering wait.
    pub realtime: bool,
    /// Fuse runs of per-pixel processors into one pass (the default). Off runs each processor
    /// over the whole frame in turn; the pixels are the same either way.
    pub fuse: bool,
    /// How long finishing waits for each recorder before leaving it unfinished and saying so
    /// ([`crate::record::thread::FINISH_DEADLINE`] unless set).
    pub finish_deadline: Duration,
    /// Which instances run in child processes of their own, and how.
    pub isolation: crate::isolate::Isolation,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            threads: 1,
            scene_recorders: true,
            out_dir: OutDir::default(),
            realtime: false,
            fuse: true,
            finish_deadline: crate::record::thread::FINISH_DEADLINE,
            isolation: crate::isolate::Isolation::default(),
        }
    }
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A plugin refused its config or failed to start.
    #[error(transparent)]
    Scene(#[from] SceneError),
    /// The schedule has an ordering problem (a bug in the host).
    #[error("frame schedule is invalid: {0}")]
    Schedule(#[from] ScheduleBuildError),
    /// An instance's state could not be read to bring it to a later frame.
    #[error(transparent)]
    Keyframe(#[from] KeyframeError),
}

/// A running scene.
pub struct Engine {
    world: World,
    schedule: Schedule,
    views: Views,
    last_frame: Duration,
}

/// Read-only queries kept across frames, so that reports need neither `&mut World` nor an
/// allocation. Updated whenever entities are spawned (a build, a reload, a recorder added).
struct Views {
    layers: QueryState<(
        &'static Order,
        &'static Layer,
        &'static RenderTime,
        &'static RendererSlot,
    )>,
    processors: QueryState<&'static ProcessorSlot>,
    recorders: QueryState<(Entity, &'static Order, &'static RecorderSlot)>,
}

impl Views {
    fn new(world: &mut World) -> Views {
        Views {
            layers: world.query(),
            processors: world.query(),
            recorders: world.query(),
        }
    }

    fn update(&mut self, world: &World) {
        self.layers.update_archetypes(world);
        self.processors.update_archetypes(world);
        self.recorders.update_archetypes(world);
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("next_frame", &self.next_frame())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Creates every plugin instance of `scene` and the frame schedule.
    pub fn new(scene: &Scene, options: &EngineOptions) -> Result<Engine, EngineError> {
        let threads = options.threads.max(1);
        if threads > 1 {
            // The pool is global and built once per process; later engines share it.
            bevy_tasks::ComputeTaskPool::get_or_init(|| {
                bevy_tasks::TaskPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name("marquee-render".into())
                    .build()
            });
        }
        let mut world = World::new();
        world.insert_resource(Accumulator::new(scene.canvas));
        world.insert_resource(Chain::default());
        world.insert_resource(Recording(true));
        world.insert_resource(Triggers::default());
        world.insert_resource(SetTimes::default());
        world.insert_resource(Failures::default());
        world.insert_resource(Stats::default());
        world.insert_resource(Threads(threads));
        world.insert_resource(Clock {
            index: 0,
            next: 0,
            fps: scene.fps,
        });
        let views = Views::new(&mut world);
        let mut engine = Engine {
            world,
            schedule: frame_schedule(threads),
            views,
            last_frame: Duration::ZERO,
        };
        // A new engine is the scene applied to an empty world: everything is made anew.
        engine.apply(scene, options)?;
        engine.schedule.initialize(&mut engine.world)?;
        Ok(engine)
    }

    /// Creates a recorder instance from `spec` on a thread of its own and attaches it after the
    /// others; it sees the final frame size. Its output paths are resolved in `options.out_dir`
    /// (refused if they leave it) and their directories created and proved writable first.
    pub fn add_recorder(
        &mut self,
        scene: &Scene,
        spec: &RecorderSpec,
        options: &EngineOptions,
    ) -> Result<(), SceneError> {
        let slot = new_recorder(scene, spec, options, self.frame_size())?;
        let order = Order(self.recorders().len() as u32);
        self.world.spawn((order, RecorderSlot(slot)));
        self.views.update(&self.world);
        Ok(())
    }

    /// The recorders, in order.
    fn recorders(&self) -> Vec<&Slot<RecorderThread>> {
        let mut all: Vec<(Order, &Slot<RecorderThread>)> = (self.views.recorders.iter_manual(&self.world))
            .map(|(_, order, slot)| (*order, &slot.0))
            .collect();
        all.sort_unstable_by_key(|(order, _)| *order);
        all.into_iter().map(|(_, slot)| slot).collect()
    }

    /// Asks every recorder for a clip around the next frame (a key, a signal).
    pub fn trigger(&mut self) {
        self.world.resource_mut::<Triggers>().requested = true;
    }

    /// Clip triggers delivered so far, asked for or raised by plugins.
    pub fn triggers(&self) -> u64 {
        self.world.resource::<Triggers>().delivered
    }

    /// Each recorder's queue depth and counts now, in order, into `out` (cleared first; no
    /// allocation once it has the capacity).
    pub fn recorder_samples(&self, out: &mut Vec<RecorderSample>) {
        out.clear();
        out.resize(
            self.views.recorders.iter_manual(&self.world).count(),
            RecorderSample::default(),
        );
        for (_, order, slot) in self.views.recorders.iter_manual(&self.world) {
            out[order.0 as usize] = slot.0.object.sample();
        }
    }

    /// Each recorder's id with its counts now, in order.
    pub fn recorder_report(&self) -> Vec<RecorderReport> {
        self.recorders()
            .into_iter()
            .map(|s| RecorderReport {
                id: s.id.clone(),
                sample: s.object.sample(),
            })
            .collect()
    }

    /// What each recorder said about itself when created, in order.
    pub fn recorder_info(&self) -> Vec<RecorderInfo> {
        self.recorders()
            .into_iter()
            .map(|s| RecorderInfo {
                id: s.id.clone(),
                plugin: s.plugin.clone(),
                about: s.object.describe().to_string(),
            })
            .collect()
    }

    /// Each recorder's own counters (clips written, frames held...), as they last reported
    /// them, in recorder order.
    pub fn recorder_counters(&self) -> Vec<Counter> {
        let mut out = Vec::new();
        for s in self.recorders() {
            for (name, value) in s.object.counters() {
                out.push(Counter {
                    owner: s.id.clone(),
                    name,
                    value,
                });
            }
        }
        out
    }

    /// Makes the next frame and returns it (RGBA8, opaque, canvas-sized).
    pub fn step(&mut self) -> &[u8] {
        let t0 = Instant::now();
        self.schedule.run(&mut self.world);
        self.last_frame = t0.elapsed();
        self.frame()
    }

    /// How long the last frame took in all, and in each [`FrameSet`].
    pub fn timings(&self) -> (Duration, SetTimes) {
        (self.last_frame, *self.world.resource::<SetTimes>())
    }

    /// How long each layer's renderer took in the last frame, bottom layer first, into `out`
    /// (cleared first; no allocation once it has the capacity).
    pub fn layer_times(&self, out: &mut Vec<Duration>) {
        out.clear();
        out.resize(self.views.layers.iter_manual(&self.world).count(), Duration::ZERO);
        for (order, _, time, _) in self.views.layers.iter_manual(&self.world) {
            out[order.0 as usize] = time.0;
        }
    }

    /// The ids of the layers, bottom first.
    pub fn layer_ids(&self) -> Vec<String> {
        let mut layers: Vec<(Order, String)> = (self.views.layers.iter_manual(&self.world))
            .map(|(order, layer, _, _)| (*order, layer.id.clone()))
            .collect();
        layers.sort_unstable();
        layers.into_iter().map(|(_, id)| id).collect()
    }

    /// The last frame made: after the processors, so of [`Engine::frame_size`].
    pub fn frame(&self) -> &[u8] {
        let chain = &self.world.resource::<Chain>().plan;
        chain.final_frame(self.world.resource::<Accumulator>()).0
    }

    /// The size of the frames this engine makes: the canvas, unless a processor resizes it.
    pub fn frame_size(&self) -> (u32, u32) {
        let canvas = self.world.resource::<Accumulator>().canvas();
        let chain = &self.world.resource::<Chain>().plan;
        chain.final_size((canvas.width, canvas.height))
    }

    /// The passes the processor chain runs as (fused runs, resizes), for tools and tests.
    pub fn passes(&self) -> &[Pass] {
        &self.world.resource::<Chain>().plan.passes
    }

    /// How the processor chain runs, for the log (`None` without processors): which processors
    /// were fused into one per-pixel pass, which run alone, which resize.
    pub fn chain_summary(&self) -> Option<String> {
        let Chain { plan, members } = self.world.resource::<Chain>();
        if members.is_empty() {
            return None;
        }
        let name = |i: usize| {
            let slot = self.views.processors.get_manual(&self.world, members[i]);
            format!("`{}`", slot.map_or("?", |s| s.0.id.as_str()))
        };
        let parts: Vec<String> = plan
            .passes
            .iter()
            .map(|pass| match pass {
                Pass::Whole(i) => format!("{} alone", name(*i)),
                Pass::Fused { range, .. } => format!(
                    "{} fused into one per-pixel pass",
                    range.clone().map(name).collect::<Vec<_>>().join(" + ")
                ),
                Pass::Resize { member, buffer } => {
                    let (w, h, _) = &plan.buffers[*buffer];
                    format!("{} resizing to {w}×{h}", name(*member))
                }
            })
            .collect();
        Some(format!("processors: {}", parts.join("; ")))
    }

    /// Makes frame `index` the next one [`Engine::step`] makes: live runs that fall behind the
    /// clock skip ahead so that animation keeps its speed.
    pub fn seek(&mut self, index: u64) {
        self.world.resource_mut::<Clock>().next = index;
    }

    /// Turns delivery of frames to the recorders on or off.
    pub fn set_recording(&mut self, on: bool) {
        self.world.resource_mut::<Recording>().0 = on;
    }

    /// Index of the next frame [`Engine::step`] will make.
    pub fn next_frame(&self) -> u64 {
        self.world.resource::<Clock>().next
    }

    /// Failures since the last call, each reported once.
    pub fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.world.resource_mut::<Failures>().0)
    }

    /// Finishes every recorder that has not failed, in order; returns failures, including
    /// those of `finish`.
    pub fn finish(&mut self) -> Vec<Failure> {
        let frame = self.world.resource::<Clock>().index;
        let mut recorders: Vec<(Order, Entity)> = (self.views.recorders.iter_manual(&self.world))
            .map(|(entity, order, _)| (*order, entity))
            .collect();
        recorders.sort_unstable();
        let mut failed = Vec::new();
        for (_, entity) in recorders {
            let Some(mut slot) = self.world.get_mut::<RecorderSlot>(entity) else {
                continue;
            };
            let slot = &mut slot.0;
            if slot.failed.is_none() {
                let result = slot.object.finish();
                slot.settle(result);
                report(PluginKind::Recorder, frame, slot, &mut failed);
            }
        }
        let mut all = self.take_failures();
        all.extend(failed);
        all
    }

    /// The watchdog's record of every isolated instance: layers, processors, recorders.
    fn watches(&self) -> impl Iterator<Item = &Arc<Watch>> {
        let layers = self
            .views
            .layers
            .iter_manual(&self.world)
            .map(|(_, _, _, s)| &s.0.watch);
        let processors = self.views.processors.iter_manual(&self.world).map(|s| &s.0.watch);
        let recorders = self
            .views
            .recorders
            .iter_manual(&self.world)
            .map(|(_, _, s)| &s.0.watch);
        layers.chain(processors).chain(recorders).flatten()
    }

    /// The instances that run in child processes of their own, as `kind `id``, in the order
    /// layers, processors, recorders.
    pub fn isolated(&self) -> Vec<String> {
        self.watches().map(|w| format!("{} `{}`", w.kind, w.id)).collect()
    }

    /// Moves what the watchdog saw of isolated instances since the last call into `out`
    /// (hangs, deaths, restarts, instances disabled), oldest first per instance. Allocates
    /// nothing when nothing happened.
    pub fn take_watchdog_events(&self, out: &mut Vec<Event>) {
        for watch in self.watches() {
            out.extend(watch.take_events());
        }
    }

    /// Every layer's counters (for instance an image sequence's missed frames), sorted, then
    /// every recorder's, then the watchdog's counts of isolated instances (those not zero).
    /// Plugins built for ABI 1.0 report none.
    pub fn counters(&self) -> Vec<Counter> {
        let mut out = Vec::new();
        for (_, layer, _, slot) in self.views.layers.iter_manual(&self.world) {
            for c in slot.0.object.counters() {
                out.push(Counter {
                    owner: layer.id.clone(),
                    name: c.name.to_string(),
                    value: c.value,
                });
            }
        }
        out.sort();
        out.extend(self.recorder_counters());
        for watch in self.watches() {
            for (name, value) in watch.counts().named() {
                if value > 0 {
                    out.push(Counter {
                        owner: watch.id.clone(),
                        name: name.to_string(),
                        value,
                    });
                }
            }
        }
        out
    }

    /// The world, for inspection in tests and tools.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The schedule, for inspection in tests and tools.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
}
