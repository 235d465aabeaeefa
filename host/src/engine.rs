//! The frame loop as a `bevy_ecs` schedule: layers are entities, the accumulator a resource, and
//! each frame runs the named, ordered [`FrameSet`]s once.
//!
//! Failure policy: a plugin call that returns an error, or panics (the plugin-side wrapper turns
//! the panic into an error before it crosses the boundary), marks that instance failed. The
//! failure is recorded once in [`Failures`]; a failed renderer's layer is drawn transparent, a
//! failed processor or recorder is skipped, and the frame goes on.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::MultiThreadedExecutor;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildError, ScheduleBuildSettings, SingleThreadedExecutor};
use marquee_plugin_api::abi_stable::std_types::{RResult, RSlice, RSliceMut};
use marquee_plugin_api::rng::mix;
use marquee_plugin_api::{
    Canvas, DrawQueue, FrameCtx, FrameMeta, InitCtx, PluginError, PluginKind, ProcessorBox, RecorderBox,
    RendererBox,
};

use crate::accumulator::Accumulator;
use crate::diag::Diagnostic;
use crate::scene::{Blend, Placement, Scene, SceneError, StageSpec};

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
    /// Recorders receive the finished frame, read-only.
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

/// Layer entities, bottom first.
#[derive(Resource, Debug, Default)]
pub struct LayerOrder(pub Vec<Entity>);

/// The processor chain.
#[derive(Resource, Debug, Default)]
pub struct Processors(pub Vec<Slot<ProcessorBox>>);

/// The recorders.
#[derive(Resource, Debug, Default)]
pub struct Recorders(pub Vec<Slot<RecorderBox>>);

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

fn tick(mut clock: ResMut<Clock>) {
    clock.index = clock.next;
    clock.next += 1;
}

fn render_one(index: u64, slot: &mut RendererSlot, target: &mut LayerTarget, persist: bool) {
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
    mut layers: Query<(&Layer, &mut RendererSlot, &mut LayerTarget)>,
) {
    let index = clock.index;
    if threads.0 > 1 {
        layers.par_iter_mut().for_each(|(layer, mut slot, mut target)| {
            render_one(index, &mut slot, &mut target, layer.persist)
        });
    } else {
        for (layer, mut slot, mut target) in &mut layers {
            render_one(index, &mut slot, &mut target, layer.persist);
        }
    }
}

fn composite(order: Res<LayerOrder>, layers: Query<(&Layer, &LayerTarget)>, mut acc: ResMut<Accumulator>) {
    acc.begin();
    for &entity in &order.0 {
        if let Ok((layer, target)) = layers.get(entity) {
            acc.composite(layer.placement, layer.blend, layer.opacity, &target.pixels);
        }
    }
}

fn process(clock: Res<Clock>, mut chain: ResMut<Processors>, mut acc: ResMut<Accumulator>) {
    for slot in chain.0.iter_mut().filter(|s| s.failed.is_none()) {
        let ctx = FrameCtx::new(&slot.init, clock.index);
        let result = slot
            .object
            .process(&ctx, RSliceMut::from_mut_slice(acc.frame_mut()));
        slot.settle(result);
    }
}

fn output(clock: Res<Clock>, mut recorders: ResMut<Recorders>, acc: Res<Accumulator>) {
    let c = acc.canvas();
    let meta = FrameMeta {
        index: clock.index,
        time: clock.index as f64 / clock.fps,
        fps: clock.fps,
        width: c.width,
        height: c.height,
    };
    for slot in recorders.0.iter_mut().filter(|s| s.failed.is_none()) {
        let result = slot.object.record(&meta, RSlice::from_slice(acc.frame()));
        slot.settle(result);
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
) {
    stats.frames += 1;
    for mut slot in &mut layers {
        report(PluginKind::Renderer, clock.index, &mut slot.0, &mut failures.0);
    }
    for slot in &mut chain.0 {
        report(PluginKind::Processor, clock.index, slot, &mut failures.0);
    }
    for slot in &mut recorders.0 {
        report(PluginKind::Recorder, clock.index, slot, &mut failures.0);
    }
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
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            threads: 1,
            scene_recorders: true,
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
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("next_frame", &self.next_frame())
            .finish_non_exhaustive()
    }
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
        spec.plugin
            .manifest
            .factory(kind)?
            .fields
            .iter()
            .find(|x| x.name.as_str() == head)
    }) {
        let mut hint = format!("`{}` is a {} (default {})", f.name, f.ty.as_str(), f.default);
        if let (
            marquee_plugin_api::abi_stable::std_types::RSome(lo),
            marquee_plugin_api::abi_stable::std_types::RSome(hi),
        ) = (f.min, f.max)
        {
            hint.push_str(&format!(", from {lo} to {hi}"));
        }
        d = d.help(format!("{hint}: {}", f.doc));
    }
    SceneError::Plugin(Box::new(d))
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
            let object = match (spec.plugin.module.new_renderer())(spec.config_json.as_str().into(), &init) {
                RResult::ROk(o) => o,
                RResult::RErr(e) => return Err(plugin_error(scene, spec, PluginKind::Renderer, e).into()),
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
                    RendererSlot(Slot::new(spec, object, init)),
                    LayerTarget {
                        width,
                        height,
                        pixels: acc.pool.take(width as usize * height as usize * 4),
                        queue: DrawQueue::new(),
                    },
                ))
                .id();
            order.push(entity);
        }
        let init_for = |id: &str| InitCtx {
            width: scene.canvas.width,
            height: scene.canvas.height,
            fps: scene.fps,
            seed: instance_seed(scene.seed, id),
        };
        let mut processors = Processors::default();
        for spec in &scene.processors {
            let init = init_for(&spec.id);
            match (spec.plugin.module.new_processor())(spec.config_json.as_str().into(), &init) {
                RResult::ROk(o) => processors.0.push(Slot::new(spec, o, init)),
                RResult::RErr(e) => return Err(plugin_error(scene, spec, PluginKind::Processor, e).into()),
            }
        }
        world.insert_resource(acc);
        world.insert_resource(LayerOrder(order));
        world.insert_resource(processors);
        world.insert_resource(Recorders::default());
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
        };
        if options.scene_recorders {
            for spec in &scene.recorders {
                engine.add_recorder(scene, spec)?;
            }
        }
        engine.schedule.initialize(&mut engine.world)?;
        Ok(engine)
    }

    /// Creates a recorder instance from `spec` and attaches it.
    pub fn add_recorder(&mut self, scene: &Scene, spec: &StageSpec) -> Result<(), SceneError> {
        let init = InitCtx {
            width: scene.canvas.width,
            height: scene.canvas.height,
            fps: scene.fps,
            seed: instance_seed(scene.seed, &spec.id),
        };
        match (spec.plugin.module.new_recorder())(spec.config_json.as_str().into(), &init) {
            RResult::ROk(o) => {
                self.world
                    .resource_mut::<Recorders>()
                    .0
                    .push(Slot::new(spec, o, init));
                Ok(())
            }
            RResult::RErr(e) => Err(plugin_error(scene, spec, PluginKind::Recorder, e)),
        }
    }

    /// Makes the next frame and returns it (RGBA8, opaque, canvas-sized).
    pub fn step(&mut self) -> &[u8] {
        self.schedule.run(&mut self.world);
        self.frame()
    }

    /// The last frame made.
    pub fn frame(&self) -> &[u8] {
        self.world.resource::<Accumulator>().frame()
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
        for slot in &self.world.resource::<Processors>().0 {
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
        if processors != chain.0.len() {
            return Err(KeyframeError::Mismatch(format!(
                "{processors} processors saved, {} in this scene",
                chain.0.len()
            )));
        }
        for saved in keyframe
            .instances
            .iter()
            .filter(|s| s.kind == PluginKind::Processor)
        {
            let slot = chain.0.iter_mut().find(|s| s.id == saved.id).ok_or_else(|| {
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
