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
//! `instances` (the one place a plugin instance is made or kept across a reload) and `keyframe`
//! (saving and restoring every instance's state).

mod chain;
mod instances;
mod keyframe;
mod reload;
mod schedule;
mod world;

pub use chain::{BAND_BYTES, Pass, Processors};
use instances::{Kept, check_budget, new_layer, new_recorder, recorder_init, take_matching};
pub use instances::{Slot, instance_seed};
pub use keyframe::{InstanceState, Keyframe, KeyframeError};
use schedule::report;
pub use schedule::{FrameSet, frame_schedule};
pub use world::{
    Clock, Failure, Failures, Layer, LayerOrder, LayerTarget, Recorders, Recording, RenderTime, RendererSlot,
    SET_NAMES, SetTimes, Stats, Threads, Triggers,
};

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleBuildError;
use marquee_plugin_api::PluginKind;

use crate::compose::accumulator::Accumulator;
use crate::model::scene::{RecorderSpec, Scene, SceneError};
use crate::record::paths::OutputDir;
use crate::record::thread::RecorderSample;

/// How to run a scene.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Worker threads: 1 runs everything on the calling thread (no per-frame allocation); more
    /// runs the multi-threaded executor and renders layers in parallel.
    pub threads: usize,
    /// Create the scene's own recorders (trace and verify leave them out).
    pub scene_recorders: bool,
    /// Where the recorders may write.
    pub output: OutputDir,
    /// Frames are paced by a clock (live runs): a recorder whose scene does not say
    /// `when_full` drops frames it cannot take instead of making rendering wait.
    pub realtime: bool,
    /// Fuse runs of per-pixel processors into one pass (the default). Off runs each processor
    /// over the whole frame in turn; the pixels are the same either way.
    pub fuse: bool,
    /// How long finishing waits for each recorder before leaving it unfinished and saying so
    /// ([`crate::record::thread::FINISH_DEADLINE`] unless set).
    pub finish_deadline: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            threads: 1,
            scene_recorders: true,
            output: OutputDir::default(),
            realtime: false,
            fuse: true,
            finish_deadline: crate::record::thread::FINISH_DEADLINE,
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
}

/// A running scene.
pub struct Engine {
    world: World,
    schedule: Schedule,
    last_frame: Duration,
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
        Engine::build(scene, options, &mut Kept::default())
    }

    fn build(scene: &Scene, options: &EngineOptions, kept: &mut Kept) -> Result<Engine, EngineError> {
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
        let acc = Accumulator::new(scene.canvas);
        let mut order = Vec::new();
        for layer in &scene.layers {
            let (slot, target) = new_layer(scene, layer, kept)?;
            let spec = &layer.stage;
            let entity = world
                .spawn((
                    Layer {
                        id: spec.id.clone(),
                        blend: layer.blend,
                        opacity: layer.opacity,
                        placement: layer.placement,
                        persist: layer.persist,
                    },
                    slot,
                    target,
                    RenderTime::default(),
                ))
                .id();
            order.push(entity);
        }
        let processors = Processors::build_keeping(scene, options.fuse, kept)?;
        check_budget(scene, &processors, &acc)?;
        world.insert_resource(acc);
        world.insert_resource(LayerOrder(order));
        world.insert_resource(processors);
        world.insert_resource(Recorders::default());
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
        let mut engine = Engine {
            world,
            schedule: frame_schedule(threads),
            last_frame: Duration::ZERO,
        };
        if options.scene_recorders {
            for spec in &scene.recorders {
                let init = recorder_init(scene, spec, engine.frame_size());
                match take_matching(&mut kept.recorders, |s| s, (&spec.stage, &spec.identity()), &init) {
                    Some(slot) => {
                        kept.reused += 1;
                        engine.world.resource_mut::<Recorders>().0.push(slot);
                    }
                    None => engine.add_recorder(scene, spec, options)?,
                }
            }
        }
        engine.schedule.initialize(&mut engine.world)?;
        Ok(engine)
    }

    /// Creates a recorder instance from `spec` on a thread of its own and attaches it; it sees
    /// the final frame size. Its output paths are resolved in `options.output` (refused if they
    /// leave it) and their directories created and proved writable first.
    pub fn add_recorder(
        &mut self,
        scene: &Scene,
        spec: &RecorderSpec,
        options: &EngineOptions,
    ) -> Result<(), SceneError> {
        let slot = new_recorder(scene, spec, options, self.frame_size())?;
        self.world.resource_mut::<Recorders>().0.push(slot);
        Ok(())
    }

    /// Asks every recorder for a clip around the next frame (a key, a signal).
    pub fn trigger(&mut self) {
        self.world.resource_mut::<Triggers>().requested = true;
    }

    /// Clip triggers delivered so far, asked for or raised by plugins.
    pub fn triggers(&self) -> u64 {
        self.world.resource::<Triggers>().delivered
    }

    /// Each recorder's queue depth and counts now, in scene order, into `out` (cleared first;
    /// no allocation once it has the capacity).
    pub fn recorder_samples(&self, out: &mut Vec<RecorderSample>) {
        out.clear();
        out.extend(
            self.world
                .resource::<Recorders>()
                .0
                .iter()
                .map(|s| s.object.sample()),
        );
    }

    /// Each recorder's id with its counts now, in scene order.
    pub fn recorder_report(&self) -> Vec<(String, RecorderSample)> {
        let recorders = &self.world.resource::<Recorders>().0;
        recorders
            .iter()
            .map(|s| (s.id.clone(), s.object.sample()))
            .collect()
    }

    /// Each recorder's id, plugin and what it said about itself when created (a JSON object
    /// text, or empty), in scene order.
    pub fn recorder_info(&self) -> Vec<(String, String, String)> {
        let recorders = &self.world.resource::<Recorders>().0;
        recorders
            .iter()
            .map(|s| (s.id.clone(), s.plugin.clone(), s.object.describe().to_string()))
            .collect()
    }

    /// Each recorder's own counters (clips written, frames held...), as `(recorder id, counter
    /// name, value)`, as they last reported them.
    pub fn recorder_counters(&self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for s in &self.world.resource::<Recorders>().0 {
            for (name, value) in s.object.counters() {
                out.push((s.id.clone(), name, value));
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

    /// How long the last frame took in all, and in each [`FrameSet`] (see [`SET_NAMES`]).
    pub fn timings(&self) -> (Duration, [Duration; 6]) {
        (self.last_frame, self.world.resource::<SetTimes>().0)
    }

    /// How long each layer's renderer took in the last frame, bottom layer first, into `out`
    /// (cleared first; no allocation once it has the capacity).
    pub fn layer_times(&self, out: &mut Vec<Duration>) {
        out.clear();
        let order = &self.world.resource::<LayerOrder>().0;
        for &e in order {
            out.push(self.world.get::<RenderTime>(e).map_or(Duration::ZERO, |t| t.0));
        }
    }

    /// The ids of the layers, bottom first.
    pub fn layer_ids(&self) -> Vec<String> {
        let order = &self.world.resource::<LayerOrder>().0;
        order
            .iter()
            .filter_map(|&e| self.world.get::<Layer>(e).map(|l| l.id.clone()))
            .collect()
    }

    /// The last frame made: after the processors, so of [`Engine::frame_size`].
    pub fn frame(&self) -> &[u8] {
        let chain = self.world.resource::<Processors>();
        chain.output(self.world.resource::<Accumulator>()).0
    }

    /// The size of the frames this engine makes: the canvas, unless a processor resizes it.
    pub fn frame_size(&self) -> (u32, u32) {
        let (_, w, h) = self
            .world
            .resource::<Processors>()
            .output(self.world.resource::<Accumulator>());
        (w, h)
    }

    /// The passes the processor chain runs as (fused runs, resizes), for tools and tests.
    pub fn passes(&self) -> &[Pass] {
        &self.world.resource::<Processors>().passes
    }

    /// How the processor chain runs, for the log (`None` without processors): which processors
    /// were fused into one per-pixel pass, which run alone, which resize.
    pub fn chain_summary(&self) -> Option<String> {
        let chain = self.world.resource::<Processors>();
        if chain.slots.is_empty() {
            return None;
        }
        let name = |i: usize| format!("`{}`", chain.slots[i].id);
        let parts: Vec<String> = chain
            .passes
            .iter()
            .map(|pass| match pass {
                Pass::Whole(i) => format!("{} alone", name(*i)),
                Pass::Fused { range, .. } => format!(
                    "{} fused into one per-pixel pass",
                    range.clone().map(name).collect::<Vec<_>>().join(" + ")
                ),
                Pass::Resize { slot, buffer } => {
                    let (w, h, _) = &chain.buffers[*buffer];
                    format!("{} resizing to {w}×{h}", name(*slot))
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

    /// Finishes every recorder that has not failed; returns failures, including those of `finish`.
    pub fn finish(&mut self) -> Vec<Failure> {
        let frame = self.world.resource::<Clock>().index;
        let mut recorders = self.world.resource_mut::<Recorders>();
        let mut failed = Vec::new();
        for slot in recorders.0.iter_mut().filter(|s| s.failed.is_none()) {
            let result = slot.object.finish();
            slot.settle(result);
            report(PluginKind::Recorder, frame, slot, &mut failed);
        }
        let mut all = self.take_failures();
        all.extend(failed);
        all
    }

    /// Every layer's counters (for instance an image sequence's missed frames), as
    /// `(layer id, counter name, value)`. Plugins built for ABI 1.0 report none.
    pub fn counters(&mut self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        let mut query = self.world.query::<(&Layer, &RendererSlot)>();
        for (layer, slot) in query.iter(&self.world) {
            for c in slot.0.object.counters() {
                out.push((layer.id.clone(), c.name.to_string(), c.value));
            }
        }
        out.sort();
        out.extend(self.recorder_counters());
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
