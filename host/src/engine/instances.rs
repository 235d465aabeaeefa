//! The one place a plugin instance is made: renderers, processors and recorders created
//! through their factories (or kept across a reload), and a factory's refusal turned into a
//! scene error pointed at the config line.

use std::sync::Arc;

use marquee_plugin_api::abi_stable::sabi_trait::TD_Opaque;
use marquee_plugin_api::abi_stable::std_types::RResult;
use marquee_plugin_api::module::Recorder_TO;
use marquee_plugin_api::rng::mix;
use marquee_plugin_api::{DrawQueue, ErrorKind, InitCtx, PluginError, PluginKind, RecorderBox};

use super::EngineOptions;
use super::chain::{Pass, Processors};
use super::world::{LayerTarget, RendererSlot};
use crate::isolate::{self, link::StartError, shm::Pixels, watch::Watch};
use crate::model::budget::Buffers;
use crate::model::diag::Diagnostic;
use crate::model::isolation::MAX_ISOLATED;
use crate::model::paths::{OutDir, out_dir, outputs_config};
use crate::model::recording::{ClipSpec, WhenFull};
use crate::model::scene::{LayerSpec, RecorderSpec, Scene, SceneError, StageSpec};
use crate::record::clips::{ClipRecorder, OpenClip};
use crate::record::thread::RecorderThread;

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
    pub(super) reported: bool,
    /// The watchdog's record, for an instance that runs in a child process.
    pub watch: Option<Arc<Watch>>,
    /// What the scene said of isolating it (a reload that changes this makes it anew).
    pub(super) marked: Option<bool>,
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
    pub(super) fn new(spec: &StageSpec, object: T, init: InitCtx) -> Self {
        Slot {
            id: spec.id.clone(),
            plugin: spec.plugin.id().to_string(),
            object,
            init,
            config: spec.config_json.clone(),
            failed: None,
            reported: false,
            watch: None,
            marked: spec.isolate,
        }
    }

    /// The same slot with the watchdog's record of its child process.
    pub(super) fn watched(mut self, watch: Option<Arc<Watch>>) -> Self {
        self.watch = watch;
        self
    }

    /// Records the outcome of a call; returns whether it succeeded.
    pub(super) fn settle<V>(&mut self, result: RResult<V, PluginError>) -> bool {
        match result {
            RResult::ROk(_) => true,
            RResult::RErr(e) => {
                self.failed = Some(e);
                false
            }
        }
    }
}

/// Whether `slot` is the instance `spec` with `config` and `init` would create anew, so that a
/// reload may keep it (with its state) instead. A failed instance is never kept.
pub(super) fn matches<O>(slot: &Slot<O>, (spec, config): (&StageSpec, &str), init: &InitCtx) -> bool {
    slot.failed.is_none()
        && slot.marked == spec.isolate
        && slot.id == spec.id
        && slot.plugin == spec.plugin.id()
        && slot.config == config
        && slot.init == *init
}

/// What the renderer of `layer` is created with: the size of its surface.
pub(super) fn layer_init(scene: &Scene, layer: &LayerSpec) -> InitCtx {
    let (width, height) = scene.surface(layer.placement);
    InitCtx {
        width,
        height,
        fps: scene.fps,
        seed: instance_seed(scene.seed, &layer.stage.id),
    }
}

/// Creates the renderer of `layer` through its plugin's factory, with its target: in this
/// process, or in a child process of its own drawing straight into the target's shared pixels.
pub(super) fn new_layer(
    scene: &Scene,
    layer: &LayerSpec,
    init: InitCtx,
    options: &EngineOptions,
) -> Result<(RendererSlot, LayerTarget), SceneError> {
    let spec = &layer.stage;
    let (object, pixels, watch) = match isolated(scene, spec, options, PluginKind::Renderer)? {
        Some(exe) => {
            let (object, memory, watch) = isolate::renderer(
                &instance(spec, init),
                exe,
                scene.isolation,
                options.isolation.recover,
            )
            .map_err(|e| start_error(scene, spec, PluginKind::Renderer, e))?;
            (object, Pixels::Shared(memory), Some(watch))
        }
        None => match (spec.plugin.module.new_renderer())(spec.config_json.as_str().into(), &init) {
            RResult::ROk(o) => (
                o,
                Pixels::zeroed(init.width as usize * init.height as usize * 4),
                None,
            ),
            RResult::RErr(e) => return Err(plugin_error(scene, spec, PluginKind::Renderer, e)),
        },
    };
    let target = LayerTarget {
        width: init.width,
        height: init.height,
        pixels,
        queue: DrawQueue::new(),
    };
    Ok((RendererSlot(Slot::new(spec, object, init).watched(watch)), target))
}

/// The program to start `spec` in a child process with, if it runs isolated ([`isolate::Choice`]
/// with what the scene says); an error if it should but no program is known.
pub(super) fn isolated<'o>(
    scene: &Scene,
    spec: &StageSpec,
    options: &'o EngineOptions,
    kind: PluginKind,
) -> Result<Option<&'o std::path::Path>, SceneError> {
    let from_file = matches!(spec.plugin.origin, crate::plugins::registry::Origin::File(_));
    if !options
        .isolation
        .choice
        .covers(spec.plugin.id(), from_file, spec.isolate)
    {
        return Ok(None);
    }
    match options.isolation.exe.as_deref() {
        Some(exe) => Ok(Some(exe)),
        None => Err(SceneError::Plugin(Box::new(
            scene
                .source
                .diag(
                    format!(
                        "{kind} `{}` should run isolated, but no program to run it in is known",
                        spec.id
                    ),
                    Some(spec.plugin_span.clone()),
                )
                .help("set `EngineOptions::isolation.exe` to the `marquee` program (the command line does)"),
        ))),
    }
}

/// Whether `spec` runs in a child process in a run with `options`.
fn runs_isolated(spec: &StageSpec, options: &EngineOptions) -> bool {
    let from_file = matches!(spec.plugin.origin, crate::plugins::registry::Origin::File(_));
    options
        .isolation
        .choice
        .covers(spec.plugin.id(), from_file, spec.isolate)
}

/// Refuses a scene that would start more than [`MAX_ISOLATED`] child processes, pointing at the
/// first instance past the limit.
pub(super) fn check_isolated(scene: &Scene, options: &EngineOptions) -> Result<(), SceneError> {
    let stages = (scene.layers.iter().map(|l| &l.stage))
        .chain(&scene.processors)
        .chain(
            scene
                .recorders
                .iter()
                .filter(|_| options.scene_recorders)
                .map(|r| &r.stage),
        );
    let mut isolated = stages.filter(|spec| runs_isolated(spec, options));
    match isolated.nth(MAX_ISOLATED) {
        None => Ok(()),
        Some(past) => Err(SceneError::Invalid(Box::new(
            scene
                .source
                .diag(
                    format!("more than {MAX_ISOLATED} instances would run isolated, each in a process of its own"),
                    Some(past.plugin_span.clone()),
                )
                .help("keep instances you trust in process (`isolate = false`, or `--isolate none`), or split the scene"),
        ))),
    }
}

/// What a child makes `spec` from.
pub(super) fn instance(spec: &StageSpec, init: InitCtx) -> isolate::Instance<'_> {
    isolate::Instance {
        id: &spec.id,
        plugin: &spec.plugin,
        config: &spec.config_json,
        init,
    }
}

/// A failure to start an isolated instance as a scene error.
pub(super) fn start_error(scene: &Scene, spec: &StageSpec, kind: PluginKind, e: StartError) -> SceneError {
    match e {
        StartError::Plugin(e) => plugin_error(scene, spec, kind, e),
        StartError::Spawn(e) => SceneError::Plugin(Box::new(
            scene
                .source
                .diag(
                    format!(
                        "{kind} `{}` should run isolated, but its process could not be started: {e}",
                        spec.id
                    ),
                    Some(spec.plugin_span.clone()),
                )
                .help("check that the `marquee` program is still where it was started from"),
        )),
    }
}

/// The seed of instance `id`: the scene seed mixed with a hash of the id.
pub fn instance_seed(scene_seed: u64, id: &str) -> u64 {
    mix(scene_seed ^ xxhash_rust::xxh3::xxh3_64(id.as_bytes()))
}

/// Counts the frame buffers of `scene` again with the sizes its resizing processors chose
/// (scene validation counted them at the canvas size), before recorders reserve their queues.
pub(super) fn check_budget(scene: &Scene, processors: &Processors) -> Result<(), SceneError> {
    let resized: Vec<(u32, u32)> = processors.buffers.iter().map(|&(w, h, _)| (w, h)).collect();
    let (w, h) = processors.final_size((scene.canvas.width, scene.canvas.height));
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
            Pass::Resize { member, .. } => Some(scene.processors[*member].plugin_span.clone()),
            _ => None,
        });
        SceneError::Invalid(Box::new(scene.source.diag(e.to_string(), span).help(e.help())))
    })
}

/// What a recorder of `scene` is created with, for frames of `size`.
pub(super) fn recorder_init(scene: &Scene, spec: &RecorderSpec, (width, height): (u32, u32)) -> InitCtx {
    InitCtx {
        width,
        height,
        fps: scene.fps,
        seed: instance_seed(scene.seed, &spec.stage.id),
    }
}

/// Creates the recorder `spec` for frames of `size` and starts its thread.
pub(super) fn new_recorder(
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
        Ok((o, watch)) => {
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
            let mut slot = Slot::new(stage, thread, init).watched(watch);
            // Kept across a reload only if its clips and fallback are unchanged too.
            slot.config = identity;
            Ok(slot)
        }
        Err(e) => Err(plugin_error(scene, stage, PluginKind::Recorder, e)),
    }
}

/// A recorder made, with the watchdog's record where it runs isolated.
pub(super) type Made = (RecorderBox, Option<Arc<Watch>>);

/// Makes the recorder `spec` names for frames of `init`, with the watchdog's record where it
/// runs isolated: `Err` for an output path the scene may not write, `Ok(Err)` when the plugin's
/// factory fails.
pub(super) fn make_recorder(
    scene: &Scene,
    spec: &RecorderSpec,
    options: &EngineOptions,
    init: InitCtx,
) -> Result<Result<Made, PluginError>, SceneError> {
    let maker = RecorderMaker {
        plugin: Arc::clone(&spec.stage.plugin),
        id: spec.stage.id.clone(),
        init,
        isolated: isolated(scene, &spec.stage, options, PluginKind::Recorder)?.map(|exe| {
            let watch = Watch::new(PluginKind::Recorder, &spec.stage.id, spec.stage.plugin.id());
            (
                exe.to_path_buf(),
                scene.isolation,
                options.isolation.recover,
                Arc::new(watch),
            )
        }),
    };
    let watch = maker.isolated.as_ref().map(|i| Arc::clone(&i.3));
    Ok(match spec.clips {
        None => {
            let config = resolve_outputs(scene, spec, &options.out_dir)?;
            maker.make(&config)
        }
        Some(clips) => clip_recorder(scene, spec, clips, &options.out_dir, maker),
    }
    .map(|r| (r, watch)))
}

/// Makes instances of one recorder from its resolved config: through its plugin's factory here,
/// or each in a child process of its own (all of a clip recorder's sharing one record).
#[derive(Clone)]
pub(super) struct RecorderMaker {
    plugin: Arc<crate::plugins::registry::LoadedPlugin>,
    id: String,
    init: InitCtx,
    isolated: Option<(
        std::path::PathBuf,
        crate::model::isolation::Limits,
        bool,
        Arc<Watch>,
    )>,
}

impl RecorderMaker {
    fn make(&self, config: &str) -> Result<RecorderBox, PluginError> {
        match &self.isolated {
            None => (self.plugin.module.new_recorder())(config.into(), &self.init).into_result(),
            Some((exe, limits, recover, watch)) => {
                let instance = isolate::Instance {
                    id: &self.id,
                    plugin: &self.plugin,
                    config,
                    init: self.init,
                };
                match isolate::recorder(&instance, exe, *limits, *recover, Arc::clone(watch)) {
                    Ok(r) => Ok(r),
                    Err(StartError::Plugin(e)) => Err(e),
                    Err(StartError::Spawn(e)) => Err(PluginError::new(
                        ErrorKind::Io,
                        format!("its process could not be started: {e}"),
                    )),
                }
            }
        }
    }
}

/// A recorder writing `clips` through instances `maker` makes, each with `{clip}` in its
/// output paths resolved for the clip's number.
pub(super) fn clip_recorder(
    scene: &Scene,
    spec: &RecorderSpec,
    clips: ClipSpec,
    out: &OutDir,
    maker: RecorderMaker,
) -> Result<RecorderBox, PluginError> {
    let config_json = spec.stage.config_json.clone();
    let outputs = spec.outputs.clone();
    let dir = out_dir(scene, out);
    let unconfined = out.unconfined;
    let init = maker.init;
    let open: OpenClip = Box::new(move |n| {
        let config = outputs_config(&config_json, &outputs, &dir, unconfined, Some(n))
            .map_err(|(field, e)| PluginError::config(&field.key, format!("{e}; {}", e.help())))?;
        maker.make(&config)
    });
    let frame_bytes = init.width as usize * init.height as usize * 4;
    let recorder = ClipRecorder::create(clips, init.fps, frame_bytes, open)?;
    Ok(Recorder_TO::from_value(recorder, TD_Opaque))
}

pub(super) fn plugin_error(scene: &Scene, spec: &StageSpec, kind: PluginKind, e: PluginError) -> SceneError {
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
            crate::plugins::fields::expected(f),
            f.doc
        ));
    }
    SceneError::Plugin(Box::new(d))
}

/// The recorder's config with its output paths resolved in the output directory (the scene's
/// own directory unless one was given), each directory created and proved writable.
pub(super) fn resolve_outputs(
    scene: &Scene,
    spec: &RecorderSpec,
    out: &OutDir,
) -> Result<String, SceneError> {
    let dir = out_dir(scene, out);
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
