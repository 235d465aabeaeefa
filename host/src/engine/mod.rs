//! The frame loop as a `bevy_ecs` schedule: layers are entities, the accumulator a resource, and
//! each frame runs the named, ordered [`FrameSet`]s once.
//!
//! Failure policy: a plugin call that returns an error, or panics (the plugin-side wrapper turns
//! the panic into an error before it crosses the boundary), marks that instance failed. The
//! failure is recorded once in [`Failures`]; a failed renderer's layer is drawn transparent, a
//! failed processor or recorder is skipped, and the frame goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::MultiThreadedExecutor;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildError, ScheduleBuildSettings, SingleThreadedExecutor};
use marquee_plugin_api::abi_stable::sabi_trait::TD_Opaque;
use marquee_plugin_api::abi_stable::std_types::{ROption, RResult, RSlice, RSliceMut};
use marquee_plugin_api::files::parent_dir;
use marquee_plugin_api::module::Recorder_TO;
use marquee_plugin_api::rng::mix;
use marquee_plugin_api::{
    Canvas, DrawQueue, ErrorKind, Events, FrameCtx, FrameMeta, InitCtx, PixelOp, PluginError, PluginKind,
    ProcessorBox, RecorderBox, RendererBox,
};

use crate::compose::accumulator::{Accumulator, BufferPool};
use crate::model::budget::Buffers;
use crate::model::diag::Diagnostic;
use crate::model::scene::{
    Blend, MAX_FRAME_BYTES, MAX_SIDE, OutputField, Placement, RecorderSpec, Scene, SceneError, StageSpec,
};
use crate::record::clips::{ClipRecorder, ClipSpec, OpenClip};
use crate::record::thread::{
    OutputDir, OutputPathError, RecorderSample, RecorderThread, WhenFull, prepare_output,
};

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
    /// with [`Engine::trigger`]) goes to every recorder, then a copy of the finished frame goes
    /// into each recorder's queue for its own thread (dropped and counted, or waited for, when
    /// the queue is full). Nothing here touches a disk.
    Output,
    /// Bookkeeping: frame counters and collecting new failures. Reads everything, writes no pixels.
    Metrics,
}

/// Which frame is being made.
#[derive(Debug, Resource, Clone, Copy)]
pub struct Clock {
    /// Index of the current frame.
    pub index: u64,
    /// Index of the next frame to make.
    pub next: u64,
    /// Frames per second.
    pub fps: f64,
}

/// How a layer is composited. Layers are entities with this, a [`RendererSlot`] and a [`LayerTarget`].
#[derive(Debug, Component, Clone)]
pub struct Layer {
    /// The layer's id.
    pub id: String,
    /// Blend mode.
    pub blend: Blend,
    /// Opacity, 0 to 1.
    pub opacity: f32,
    /// Where it draws.
    pub placement: Placement,
    /// Keep pixels between frames.
    pub persist: bool,
}

/// A plugin object and whether it has failed.
pub struct Slot<T> {
    /// The instance's id (layer or stage id).
    pub id: String,
    /// The plugin's id.
    pub plugin: String,
    /// The object.
    pub object: T,
    /// What it was created with.
    pub init: InitCtx,
    /// Its config, as JSON text (a reload keeps the instance when this is unchanged).
    pub config: String,
    /// Set when the instance fails; it is not called again.
    pub failed: Option<PluginError>,
    reported: bool,
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("id", &self.id)
            .field("plugin", &self.plugin)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<T> Slot<T> {
    fn new(spec: &StageSpec, object: T, init: InitCtx) -> Self {
        Slot {
            id: spec.id.clone(),
            plugin: spec.plugin.id().to_string(),
            object,
            init,
            config: spec.config_json.clone(),
            failed: None,
            reported: false,
        }
    }

    /// Records the outcome of a call; returns whether it succeeded.
    fn settle<V>(&mut self, result: RResult<V, PluginError>) -> bool {
        match result {
            RResult::ROk(_) => true,
            RResult::RErr(e) => {
                self.failed = Some(e);
                false
            }
        }
    }
}

/// Instances taken out of an engine being reloaded, for the new one to keep when their plugin,
/// config and creation context are unchanged.
#[derive(Default)]
struct Kept {
    layers: Vec<(RendererSlot, LayerTarget)>,
    processors: Vec<Slot<ProcessorBox>>,
    recorders: Vec<Slot<RecorderThread>>,
    /// How many were kept.
    reused: usize,
}

/// Removes and returns the slot in `slots` that `spec` with `init` would create anew.
fn take_matching<T, O>(
    slots: &mut Vec<T>,
    slot: impl Fn(&T) -> &Slot<O>,
    (spec, config): (&StageSpec, &str),
    init: &InitCtx,
) -> Option<T> {
    let i = slots.iter().position(|t| {
        let s = slot(t);
        s.failed.is_none()
            && s.id == spec.id
            && s.plugin == spec.plugin.id()
            && s.config == config
            && s.init == *init
    })?;
    Some(slots.swap_remove(i))
}

/// The renderer of a layer.
#[derive(Component, Debug)]
pub struct RendererSlot(pub Slot<RendererBox>);

/// A layer's pixels and queued draw commands.
#[derive(Component, Debug)]
pub struct LayerTarget {
    /// Surface width.
    pub width: u32,
    /// Surface height.
    pub height: u32,
    /// RGBA8 pixels (from the accumulator's pool).
    pub pixels: Vec<u8>,
    /// Commands queued by the renderer this frame.
    pub queue: DrawQueue,
}

/// How long each [`FrameSet`] took in the last frame, in set order (Tick first). Each set's
/// system measures itself; [`Engine::step`] measures the whole frame.
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct SetTimes(pub [Duration; 6]);

/// The names of the [`FrameSet`]s in [`SetTimes`] order, as metrics print them.
pub const SET_NAMES: [&str; 6] = ["tick", "render", "composite", "process", "output", "metrics"];

/// How long a layer's renderer took in the last frame (drawing and its queued commands).
#[derive(Component, Debug, Default, Clone, Copy)]
pub struct RenderTime(pub Duration);

/// Layer entities, bottom first.
#[derive(Resource, Debug, Default)]
pub struct LayerOrder(pub Vec<Entity>);

/// Bytes of frame a fused run of per-pixel processors works on at a time: small enough to stay
/// in the first-level cache while every processor of the run passes over it.
pub const BAND_BYTES: usize = 32 * 1024;

/// One pass of the processor chain over the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Processor `.0` transforms the whole frame in place (`process`).
    Whole(usize),
    /// Per-pixel processors `range`, fused into one pass. Each frame, the operations of those
    /// that describe themselves as a [`PixelOp`] are composed (neighbouring lookup tables become
    /// one table); then the frame goes through band by band (`rows` rows at a time), each band
    /// through every composed operation and every other member's `process_rows` while it is in
    /// cache.
    Fused {
        /// Indices of the processors.
        range: std::ops::Range<usize>,
        /// Rows per band.
        rows: usize,
    },
    /// Processor `slot` reads the current frame and writes `buffer`, of another size, which
    /// becomes the current frame (`process_into`).
    Resize {
        /// Index of the processor.
        slot: usize,
        /// Index of its output buffer in [`Processors::buffers`].
        buffer: usize,
    },
}

/// One step of a fused pass over a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Apply composed operation `.0` of the program.
    Op(usize),
    /// Call processor `.0`'s `process_rows`.
    Rows(usize),
}

/// The working memory of one fused pass, allocated when the chain is built: an operation
/// buffer per member, the steps of the current frame, and the buffer members write into.
#[derive(Debug)]
struct Program {
    ops: Vec<Box<PixelOp>>,
    steps: Vec<Step>,
    scratch: Box<PixelOp>,
}

impl Program {
    fn new(members: usize) -> Self {
        Program {
            ops: (0..members).map(|_| Box::default()).collect(),
            steps: Vec::with_capacity(members),
            scratch: Box::default(),
        }
    }

    /// Asks each member for this frame's operation and composes neighbours where it can.
    fn plan(&mut self, slots: &mut [Slot<ProcessorBox>], range: std::ops::Range<usize>, index: u64) {
        self.steps.clear();
        let mut ops = 0;
        for i in range {
            let slot = &mut slots[i];
            if slot.failed.is_some() {
                continue;
            }
            let ctx = FrameCtx::new(&slot.init, index);
            match slot.object.pixel_op(&ctx, &mut self.scratch) {
                RResult::ROk(true) => {
                    let merged =
                        matches!(self.steps.last(), Some(Step::Op(k)) if self.ops[*k].then(&self.scratch));
                    if !merged {
                        self.ops[ops].assign(&self.scratch);
                        self.steps.push(Step::Op(ops));
                        ops += 1;
                    }
                }
                RResult::ROk(false) => self.steps.push(Step::Rows(i)),
                RResult::RErr(e) => {
                    slot.settle::<()>(RResult::RErr(e));
                }
            }
        }
    }
}

/// The processor chain: its instances in scene order, the passes they run as, and the output
/// buffers of the processors that change the frame size.
#[derive(Resource, Debug, Default)]
pub struct Processors {
    /// The instances, in scene order.
    pub slots: Vec<Slot<ProcessorBox>>,
    /// How they run.
    pub passes: Vec<Pass>,
    /// One buffer per resizing processor, with its size; the last is the final frame.
    pub buffers: Vec<(u32, u32, Vec<u8>)>,
    /// One per fused pass, in order.
    programs: Vec<Program>,
}

impl Processors {
    /// Runs every pass for frame `index` over `frame` (the composited canvas), in scene order.
    /// A failed instance is skipped from then on; a failed resizer outputs opaque black, since
    /// later stages expect its size.
    pub fn run(&mut self, index: u64, frame: &mut [u8]) {
        let Processors {
            slots,
            passes,
            buffers,
            programs,
        } = self;
        // The frame the next pass works on: the canvas, or after a resize that buffer.
        let mut current: Option<usize> = None;
        let mut programs = programs.iter_mut();
        for pass in passes.iter() {
            match pass {
                Pass::Whole(i) => {
                    let slot = &mut slots[*i];
                    if slot.failed.is_none() {
                        let frame = current.map_or(&mut *frame, |k| &mut buffers[k].2);
                        let ctx = FrameCtx::new(&slot.init, index);
                        let result = slot.object.process(&ctx, RSliceMut::from_mut_slice(frame));
                        slot.settle(result);
                    }
                }
                Pass::Fused { range, rows } => {
                    let Some(program) = programs.next() else { continue };
                    program.plan(slots, range.clone(), index);
                    let frame = current.map_or(&mut *frame, |k| &mut buffers[k].2);
                    let width = slots[range.start].init.width as usize;
                    for (band, pixels) in frame.chunks_mut(rows * (width * 4).max(1)).enumerate() {
                        let first_row = band * rows;
                        for step in &program.steps {
                            match *step {
                                Step::Op(k) => program.ops[k].apply(pixels, width, first_row),
                                Step::Rows(i) => {
                                    let slot = &mut slots[i];
                                    if slot.failed.is_none() {
                                        let ctx = FrameCtx::new(&slot.init, index);
                                        let pixels = RSliceMut::from_mut_slice(pixels);
                                        let result = slot.object.process_rows(&ctx, first_row as u32, pixels);
                                        slot.settle(result);
                                    }
                                }
                            }
                        }
                    }
                }
                Pass::Resize { slot, buffer } => {
                    let slot = &mut slots[*slot];
                    let (src, dst): (&[u8], &mut [u8]) = match current {
                        None => (frame, &mut buffers[*buffer].2),
                        Some(k) => {
                            let (before, after) = buffers.split_at_mut(*buffer);
                            (&before[k].2, &mut after[0].2)
                        }
                    };
                    let ok = slot.failed.is_none() && {
                        let ctx = FrameCtx::new(&slot.init, index);
                        let (src, dst) = (RSlice::from_slice(src), RSliceMut::from_mut_slice(dst));
                        let result = slot.object.process_into(&ctx, src, dst);
                        slot.settle(result)
                    };
                    if !ok {
                        for px in dst.chunks_exact_mut(4) {
                            px.copy_from_slice(&[0, 0, 0, 255]);
                        }
                    }
                    current = Some(*buffer);
                }
            }
        }
    }

    /// The final frame and its size: the last resized buffer, or the accumulator's frame.
    pub fn output<'a>(&'a self, acc: &'a Accumulator) -> (&'a [u8], u32, u32) {
        match self.buffers.last() {
            Some((w, h, buf)) => (buf, *w, *h),
            None => (acc.frame(), acc.canvas().width, acc.canvas().height),
        }
    }
}

/// The recorders, each on a thread of its own behind a bounded queue.
#[derive(Resource, Debug, Default)]
pub struct Recorders(pub Vec<Slot<RecorderThread>>);

/// Whether recorders receive frames now (live runs toggle it; on by default).
#[derive(Resource, Debug, Clone, Copy)]
pub struct Recording(pub bool);

/// Clip triggers: asked for from outside ([`Engine::trigger`]) or raised by plugins
/// ([`Events::TRIGGER`]); delivered to every recorder before the frame they belong to.
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct Triggers {
    /// A trigger asked for since the last frame.
    pub requested: bool,
    /// Triggers delivered so far.
    pub delivered: u64,
}

/// One instance failure, reported once.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What kind of instance.
    pub kind: PluginKind,
    /// The instance's id.
    pub id: String,
    /// Its plugin.
    pub plugin: String,
    /// The frame at which it failed.
    pub frame: u64,
    /// Why.
    pub error: PluginError,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let then = match self.kind {
            PluginKind::Renderer => "its layer is drawn transparent from now on",
            PluginKind::Processor => "it is skipped from now on",
            PluginKind::Recorder => "it records nothing more",
        };
        write!(
            f,
            "{} `{}` (plugin `{}`) failed at frame {}: {}; {then}",
            self.kind, self.id, self.plugin, self.frame, self.error
        )
    }
}

/// Failures not yet taken by the driver.
#[derive(Resource, Debug, Default)]
pub struct Failures(pub Vec<Failure>);

/// Frames made so far.
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Completed frames.
    pub frames: u64,
}

/// Worker threads for the schedule and for rendering layers.
#[derive(Resource, Debug, Clone, Copy)]
pub struct Threads(pub usize);

fn tick(mut clock: ResMut<Clock>, mut times: ResMut<SetTimes>) {
    let t0 = Instant::now();
    clock.index = clock.next;
    clock.next += 1;
    times.0[0] = t0.elapsed();
}

fn render_one(
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

fn draw_one(index: u64, slot: &mut RendererSlot, target: &mut LayerTarget, persist: bool) {
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

fn render(
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

fn composite(
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

fn process(
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
fn output(
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

fn record_frame(
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

fn report<T>(kind: PluginKind, frame: u64, slot: &mut Slot<T>, out: &mut Vec<Failure>) {
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

fn metrics(
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

fn from_result<T>(kind: PluginKind, id: &str, result: RResult<T, PluginError>) -> Result<T, KeyframeError> {
    match result {
        RResult::ROk(v) => Ok(v),
        RResult::RErr(error) => Err(KeyframeError::Plugin {
            kind,
            id: id.to_string(),
            error,
        }),
    }
}

fn into_state(
    kind: PluginKind,
    id: &str,
    result: RResult<
        marquee_plugin_api::abi_stable::std_types::ROption<
            marquee_plugin_api::abi_stable::std_types::RVec<u8>,
        >,
        PluginError,
    >,
) -> Result<Option<Vec<u8>>, KeyframeError> {
    Ok(from_result(kind, id, result)?.into_option().map(|v| v.into_vec()))
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

impl Processors {
    /// Creates the processors of `scene` in order, each for the frame size the one before it makes,
    /// and plans their passes: runs of two or more per-pixel processors fuse when `fuse` is set.
    /// Resize buffers come from `pool`.
    pub fn build(scene: &Scene, fuse: bool, pool: &mut BufferPool) -> Result<Processors, SceneError> {
        Processors::build_keeping(scene, fuse, pool, &mut Kept::default())
    }

    fn build_keeping(
        scene: &Scene,
        fuse: bool,
        pool: &mut BufferPool,
        kept: &mut Kept,
    ) -> Result<Processors, SceneError> {
        let (mut width, mut height) = (scene.canvas.width, scene.canvas.height);
        let mut chain = Processors::default();
        // Start of the current run of per-pixel processors, if one is open.
        let mut run: Option<usize> = None;
        let close = |chain: &mut Processors, run: &mut Option<usize>, end: usize, width: u32| {
            if let Some(start) = run.take() {
                if end - start >= 2 {
                    let rows = (BAND_BYTES / (width as usize * 4).max(1)).max(1);
                    chain.passes.push(Pass::Fused {
                        range: start..end,
                        rows,
                    });
                    chain.programs.push(Program::new(end - start));
                } else {
                    chain.passes.push(Pass::Whole(start));
                }
            }
        };
        for spec in &scene.processors {
            let init = InitCtx {
                width,
                height,
                fps: scene.fps,
                seed: instance_seed(scene.seed, &spec.id),
            };
            let slot = match take_matching(&mut kept.processors, |s| s, (spec, &spec.config_json), &init) {
                Some(slot) => {
                    kept.reused += 1;
                    slot
                }
                None => match (spec.plugin.module.new_processor())(spec.config_json.as_str().into(), &init) {
                    RResult::ROk(o) => Slot::new(spec, o, init),
                    RResult::RErr(e) => return Err(plugin_error(scene, spec, PluginKind::Processor, e)),
                },
            };
            let object = &slot.object;
            let i = chain.slots.len();
            if let ROption::RSome(size) = object.output_size() {
                close(&mut chain, &mut run, i, width);
                let (w, h) = (size.width as u64, size.height as u64);
                if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || w * h * 4 > MAX_FRAME_BYTES {
                    let e = PluginError::new(
                        marquee_plugin_api::ErrorKind::Config,
                        format!(
                            "asks for a {w}×{h} output; sides must be 1 to {MAX_SIDE} pixels and the frame at most {} MiB",
                            MAX_FRAME_BYTES >> 20
                        ),
                    );
                    return Err(plugin_error(scene, spec, PluginKind::Processor, e));
                }
                let pixels = pool.take(size.width as usize * size.height as usize * 4);
                chain.passes.push(Pass::Resize {
                    slot: i,
                    buffer: chain.buffers.len(),
                });
                chain.buffers.push((size.width, size.height, pixels));
                (width, height) = (size.width, size.height);
            } else if fuse && object.pointwise() {
                run.get_or_insert(i);
            } else {
                close(&mut chain, &mut run, i, width);
                chain.passes.push(Pass::Whole(i));
            }
            chain.slots.push(slot);
        }
        let end = chain.slots.len();
        close(&mut chain, &mut run, end, width);
        Ok(chain)
    }
}

/// The seed of instance `id`: the scene seed mixed with a hash of the id.
pub fn instance_seed(scene_seed: u64, id: &str) -> u64 {
    mix(scene_seed ^ xxhash_rust::xxh3::xxh3_64(id.as_bytes()))
}

/// The saved state of one plugin instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    /// What kind of instance.
    pub kind: PluginKind,
    /// Its id.
    pub id: String,
    /// What its `snapshot` returned (`None`: it keeps no state).
    pub state: Option<Vec<u8>>,
    /// For layers that persist between frames, their pixels.
    pub pixels: Option<Vec<u8>>,
}

/// A point a run can resume from: the next frame and every instance's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyframe {
    /// The frame the resumed run makes next.
    pub next_frame: u64,
    /// Every renderer and processor, in scene order.
    pub instances: Vec<InstanceState>,
}

/// Why a keyframe could not be taken or restored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyframeError {
    /// A plugin's `snapshot` or `restore` failed.
    #[error("{kind} `{id}` could not save or restore its state: {error}")]
    Plugin {
        /// The kind of instance.
        kind: PluginKind,
        /// The instance.
        id: String,
        /// What the plugin said.
        error: PluginError,
    },
    /// The keyframe does not fit this scene.
    #[error("the keyframe does not fit this scene: {0}")]
    Mismatch(String),
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

/// Counts the frame buffers of `scene` again with the sizes its resizing processors chose
/// (scene validation counted them at the canvas size), before recorders reserve their queues.
fn check_budget(scene: &Scene, processors: &Processors, acc: &Accumulator) -> Result<(), SceneError> {
    let resized: Vec<(u32, u32)> = processors.buffers.iter().map(|&(w, h, _)| (w, h)).collect();
    let (_, w, h) = processors.output(acc);
    Buffers::of(
        &scene.canvas,
        &scene.layers,
        &resized,
        (w, h),
        (&scene.recorders, scene.fps),
    )
    .check()
    .map(drop)
    .map_err(|e| {
        // The last processor that resizes made the frames too large.
        let span = processors.passes.iter().rev().find_map(|p| match p {
            Pass::Resize { slot, .. } => Some(scene.processors[*slot].plugin_span.clone()),
            _ => None,
        });
        SceneError::Invalid(Box::new(scene.source.diag(e.to_string(), span).help(e.help())))
    })
}

/// What a recorder of `scene` is created with, for frames of `size`.
fn recorder_init(scene: &Scene, spec: &RecorderSpec, (width, height): (u32, u32)) -> InitCtx {
    InitCtx {
        width,
        height,
        fps: scene.fps,
        seed: instance_seed(scene.seed, &spec.stage.id),
    }
}

/// Creates the recorder `spec` for frames of `size` and starts its thread.
fn new_recorder(
    scene: &Scene,
    spec: &RecorderSpec,
    options: &EngineOptions,
    size: (u32, u32),
) -> Result<Slot<RecorderThread>, SceneError> {
    let init = recorder_init(scene, spec, size);
    let identity = spec.identity();
    let (made, spec) = match make_recorder(scene, spec, options, init)? {
        Err(e) if e.kind != ErrorKind::Config && spec.fallback.is_some() => {
            let fallback = spec.fallback.as_deref().expect("checked");
            tracing::warn!(
                "recorder `{}` (plugin `{}`) cannot start here: {}; recording with its fallback `{}` instead",
                spec.stage.id,
                spec.stage.plugin.id(),
                e.message,
                fallback.stage.plugin.id()
            );
            (make_recorder(scene, fallback, options, init)?, fallback)
        }
        made => (made, spec),
    };
    let stage = &spec.stage;
    match made {
        Ok(o) => {
            let bytes = size.0 as usize * size.1 as usize * 4;
            let when_full = spec.queue.when_full.unwrap_or(if options.realtime {
                WhenFull::Drop
            } else {
                WhenFull::Wait
            });
            let thread = RecorderThread::spawn(
                &stage.id,
                o,
                (bytes, spec.queue.frames),
                when_full,
                options.finish_deadline,
            );
            let mut slot = Slot::new(stage, thread, init);
            // Kept across a reload only if its clips and fallback are unchanged too.
            slot.config = identity;
            Ok(slot)
        }
        Err(e) => Err(plugin_error(scene, stage, PluginKind::Recorder, e)),
    }
}

/// Makes the recorder `spec` names for frames of `init`: `Err` for an output path the scene may
/// not write, `Ok(Err)` when the plugin's factory fails.
fn make_recorder(
    scene: &Scene,
    spec: &RecorderSpec,
    options: &EngineOptions,
    init: InitCtx,
) -> Result<Result<RecorderBox, PluginError>, SceneError> {
    Ok(match spec.clips {
        None => {
            let config = resolve_outputs(scene, spec, &options.output)?;
            (spec.stage.plugin.module.new_recorder())(config.as_str().into(), &init).into_result()
        }
        Some(clips) => clip_recorder(scene, spec, clips, &options.output, init),
    })
}

/// A recorder writing `clips` through instances of the recorder `spec` names, each made by
/// the plugin's factory with `{clip}` in its output paths resolved for the clip's number.
fn clip_recorder(
    scene: &Scene,
    spec: &RecorderSpec,
    clips: ClipSpec,
    out: &OutputDir,
    init: InitCtx,
) -> Result<RecorderBox, PluginError> {
    let plugin = Arc::clone(&spec.stage.plugin);
    let config_json = spec.stage.config_json.clone();
    let outputs = spec.outputs.clone();
    let dir = output_dir(scene, out);
    let unconfined = out.unconfined;
    let open: OpenClip = Box::new(move |n| {
        let config = outputs_config(&config_json, &outputs, &dir, unconfined, Some(n))
            .map_err(|(field, e)| PluginError::config(&field.key, format!("{e}; {}", e.help())))?;
        (plugin.module.new_recorder())(config.as_str().into(), &init).into_result()
    });
    let frame_bytes = init.width as usize * init.height as usize * 4;
    let recorder = ClipRecorder::create(clips, init.fps, frame_bytes, open)?;
    Ok(Recorder_TO::from_value(recorder, TD_Opaque))
}

/// The recorder's config with its output paths resolved in the output directory (the scene's
/// own directory unless one was given), each directory created and proved writable.
fn resolve_outputs(scene: &Scene, spec: &RecorderSpec, out: &OutputDir) -> Result<String, SceneError> {
    let dir = output_dir(scene, out);
    outputs_config(&spec.stage.config_json, &spec.outputs, &dir, out.unconfined, None).map_err(
        |(field, e)| {
            SceneError::Invalid(Box::new(
                scene
                    .source
                    .diag(
                        format!("recorder `{}`: {e}", spec.stage.id),
                        Some(field.span.clone()),
                    )
                    .help(e.help()),
            ))
        },
    )
}

/// Where a scene's recorders write: the output directory, or the scene's own.
fn output_dir(scene: &Scene, out: &OutputDir) -> PathBuf {
    match &out.dir {
        Some(dir) => dir.clone(),
        None => parent_dir(&scene.source.path).to_path_buf(),
    }
}

/// `config_json` with each of `outputs` resolved in `dir` (for clip `clip`, if given: its
/// `{clip}` replaced by the number), its directory created and proved writable; `Err` names
/// the field refused and why.
fn outputs_config<'f>(
    config_json: &str,
    outputs: &'f [OutputField],
    dir: &Path,
    unconfined: bool,
    clip: Option<u64>,
) -> Result<String, (&'f OutputField, OutputPathError)> {
    if outputs.is_empty() {
        return Ok(config_json.to_string());
    }
    let mut config: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(config_json).expect("the scene wrote this JSON");
    for field in outputs {
        let raw = match clip {
            Some(n) => crate::record::clips::clip_path(&field.raw, n),
            None => field.raw.clone(),
        };
        let path = prepare_output(dir, &raw, unconfined).map_err(|e| (field, e))?;
        config.insert(
            field.key.clone(),
            serde_json::Value::String(path.to_string_lossy().into_owned()),
        );
    }
    Ok(serde_json::Value::Object(config).to_string())
}

fn plugin_error(scene: &Scene, spec: &StageSpec, kind: PluginKind, e: PluginError) -> SceneError {
    let src = &scene.source;
    let span = match (e.field(), &spec.config_span) {
        (Some(field), Some(cfg)) => src.key_span(field, cfg.clone()),
        (_, Some(cfg)) if e.kind == marquee_plugin_api::ErrorKind::Config => cfg.clone(),
        _ => spec.plugin_span.clone(),
    };
    let what = match e.field() {
        Some(field) => format!(
            "{kind} `{}` (plugin `{}`) rejected its config field `{field}`: {}",
            spec.id,
            spec.plugin.id(),
            e.message
        ),
        None => format!(
            "{kind} `{}` (plugin `{}`) could not start: {}",
            spec.id,
            spec.plugin.id(),
            e.message
        ),
    };
    let mut d: Diagnostic = src.diag(what, Some(span));
    if let Some(f) = e.field().and_then(|f| {
        let head = f.split(['.', '[']).next().unwrap_or(f);
        spec.plugin.config(kind)?.field(head)
    }) {
        d = d.help(format!(
            "`{}` must be {}: {}",
            f.name,
            crate::model::fields::expected(f),
            f.doc
        ));
    }
    SceneError::Plugin(Box::new(d))
}

impl Engine {
    /// Creates every plugin instance of `scene` and the frame schedule.
    pub fn new(scene: &Scene, options: &EngineOptions) -> Result<Engine, EngineError> {
        Engine::build(scene, options, &mut Kept::default())
    }

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
    fn take_instances(&mut self) -> Kept {
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
        let mut acc = Accumulator::new(scene.canvas);
        let mut order = Vec::new();
        for layer in &scene.layers {
            let (width, height) = scene.surface(layer.placement);
            let init = InitCtx {
                width,
                height,
                fps: scene.fps,
                seed: instance_seed(scene.seed, &layer.stage.id),
            };
            let spec = &layer.stage;
            let (slot, target) =
                match take_matching(&mut kept.layers, |(s, _)| &s.0, (spec, &spec.config_json), &init) {
                    Some(pair) => {
                        kept.reused += 1;
                        pair
                    }
                    None => {
                        let object = match (spec.plugin.module.new_renderer())(
                            spec.config_json.as_str().into(),
                            &init,
                        ) {
                            RResult::ROk(o) => o,
                            RResult::RErr(e) => {
                                return Err(plugin_error(scene, spec, PluginKind::Renderer, e).into());
                            }
                        };
                        let target = LayerTarget {
                            width,
                            height,
                            pixels: acc.pool.take(width as usize * height as usize * 4),
                            queue: DrawQueue::new(),
                        };
                        (RendererSlot(Slot::new(spec, object, init)), target)
                    }
                };
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
        let processors = Processors::build_keeping(scene, options.fuse, &mut acc.pool, kept)?;
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

    /// Saves the state of every renderer and processor, and the pixels of persistent layers.
    pub fn keyframe(&mut self) -> Result<Keyframe, KeyframeError> {
        let next_frame = self.next_frame();
        let mut instances = Vec::new();
        let order = self.world.resource::<LayerOrder>().0.clone();
        for entity in order {
            let (layer, slot, target) = self
                .world
                .query::<(&Layer, &RendererSlot, &LayerTarget)>()
                .get(&self.world, entity)
                .map_err(|e| KeyframeError::Mismatch(e.to_string()))?;
            let state = into_state(PluginKind::Renderer, &slot.0.id, slot.0.object.snapshot())?;
            instances.push(InstanceState {
                kind: PluginKind::Renderer,
                id: layer.id.clone(),
                state,
                pixels: layer.persist.then(|| target.pixels.clone()),
            });
        }
        for slot in &self.world.resource::<Processors>().slots {
            let state = into_state(PluginKind::Processor, &slot.id, slot.object.snapshot())?;
            instances.push(InstanceState {
                kind: PluginKind::Processor,
                id: slot.id.clone(),
                state,
                pixels: None,
            });
        }
        Ok(Keyframe {
            next_frame,
            instances,
        })
    }

    /// Restores a keyframe taken from an engine of the same scene; the next frame made is
    /// `keyframe.next_frame`.
    pub fn restore(&mut self, keyframe: &Keyframe) -> Result<(), KeyframeError> {
        let mut layers = self
            .world
            .query::<(&Layer, &mut RendererSlot, &mut LayerTarget)>();
        let mut layers: Vec<_> = layers.iter_mut(&mut self.world).collect();
        let mut processors = 0;
        for saved in &keyframe.instances {
            let missing =
                || KeyframeError::Mismatch(format!("no {} `{}` in this scene", saved.kind, saved.id));
            match saved.kind {
                PluginKind::Renderer => {
                    let (_, slot, target) = layers
                        .iter_mut()
                        .find(|(l, _, _)| l.id == saved.id)
                        .ok_or_else(missing)?;
                    if let Some(state) = &saved.state {
                        let result = slot.0.object.restore(RSlice::from_slice(state));
                        from_result(PluginKind::Renderer, &saved.id, result)?;
                    }
                    if let Some(pixels) = &saved.pixels {
                        if pixels.len() != target.pixels.len() {
                            return Err(KeyframeError::Mismatch(format!(
                                "layer `{}` changed size",
                                saved.id
                            )));
                        }
                        target.pixels.copy_from_slice(pixels);
                    }
                }
                PluginKind::Processor => processors += 1,
                PluginKind::Recorder => return Err(missing()),
            }
        }
        let mut chain = self.world.resource_mut::<Processors>();
        if processors != chain.slots.len() {
            return Err(KeyframeError::Mismatch(format!(
                "{processors} processors saved, {} in this scene",
                chain.slots.len()
            )));
        }
        for saved in keyframe
            .instances
            .iter()
            .filter(|s| s.kind == PluginKind::Processor)
        {
            let slot = chain.slots.iter_mut().find(|s| s.id == saved.id).ok_or_else(|| {
                KeyframeError::Mismatch(format!("no processor `{}` in this scene", saved.id))
            })?;
            if let Some(state) = &saved.state {
                let result = slot.object.restore(RSlice::from_slice(state));
                from_result(PluginKind::Processor, &saved.id, result)?;
            }
        }
        let mut clock = self.world.resource_mut::<Clock>();
        clock.next = keyframe.next_frame;
        Ok(())
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
