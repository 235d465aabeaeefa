//! The plugin author's side: safe traits to implement, a const description of the plugin, and
//! the wrappers that turn both into ABI objects, catching panics before they cross the boundary.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RNone, ROption, RResult, RSlice, RSliceMut, RSome, RStr, RString, RVec};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::canvas::Canvas;
use crate::config::{ConfigField, FieldSource};
use crate::error::PluginError;
use crate::manifest::{AbiVersion, FactorySpec, FieldSpec, FieldType, Manifest, PluginKind, ABI_VERSION};
use crate::module::{
    PluginMod, PluginModRef, Processor, ProcessorBox, Processor_TO, Recorder, RecorderBox, Recorder_TO,
    Renderer, RendererBox, Renderer_TO, Size,
};
use crate::pixel::PixelOp;
use crate::types::{Events, FrameCtx, FrameMeta, InitCtx};

/// What a renderer plugin implements. No `unsafe`, no `extern`: the wrapper does that.
pub trait RendererPlugin: Send + Sync + 'static {
    /// Draws frame `ctx.index`. Must depend only on `ctx`, the config and earlier frames.
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError>;

    /// The state needed to resume from this frame, if any (default: none).
    fn snapshot(&self) -> Result<Option<Vec<u8>>, PluginError> {
        Ok(None)
    }

    /// Restores what `snapshot` returned (default: unsupported).
    fn restore(&mut self, _state: &[u8]) -> Result<(), PluginError> {
        Err(PluginError::unsupported(
            "this renderer keeps no state to restore",
        ))
    }

    /// Named counts the host reports (frames missed, dropped, ...); default none. Since ABI 1.1.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// The events raised since the host last asked, once per frame after `render`; raise
    /// [`Events::TRIGGER`] to ask clip recorders for a clip of this moment. Since ABI 1.3.
    fn events(&mut self) -> Events {
        Events::NONE
    }
}

/// What a processor plugin implements.
pub trait ProcessorPlugin: Send + Sync + 'static {
    /// Transforms `frame` (`ctx.width × ctx.height` RGBA8) in place.
    fn process(&mut self, ctx: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError>;

    /// The state needed to resume from this frame, if any (default: none).
    fn snapshot(&self) -> Result<Option<Vec<u8>>, PluginError> {
        Ok(None)
    }

    /// Restores what `snapshot` returned (default: unsupported).
    fn restore(&mut self, _state: &[u8]) -> Result<(), PluginError> {
        Err(PluginError::unsupported(
            "this processor keeps no state to restore",
        ))
    }

    /// Whether every output pixel depends only on the same input pixel, its position and `ctx`
    /// (default: no). Per-pixel processors implement [`ProcessorPlugin::process_rows`] too, and
    /// the host fuses runs of them into one pass over the frame. Since ABI 1.2.
    fn pointwise(&self) -> bool {
        false
    }

    /// Processes rows `first_row..` of the frame, whole rows of `ctx.width` pixels; the host
    /// covers each frame top band first, so per-frame state may be prepared when `first_row`
    /// is 0. Must agree with `process`. Since ABI 1.2.
    fn process_rows(
        &mut self,
        _ctx: &FrameCtx,
        _first_row: u32,
        _rows: &mut [u8],
    ) -> Result<(), PluginError> {
        Err(PluginError::unsupported("this processor is not per-pixel"))
    }

    /// The `(width, height)` this processor outputs when it differs from its `InitCtx`'s
    /// (default: `None`, same size). The host then calls `process_into`. Since ABI 1.2.
    fn output_size(&self) -> Option<(u32, u32)> {
        None
    }

    /// Reads `src` (`ctx.width × ctx.height`) and writes all of `dst` (`output_size`).
    /// Since ABI 1.2.
    fn process_into(&mut self, _ctx: &FrameCtx, _src: &[u8], _dst: &mut [u8]) -> Result<(), PluginError> {
        Err(PluginError::unsupported("this processor does not resize"))
    }

    /// For a per-pixel processor: fills `op` with what it does to frame `ctx.index` (a colour
    /// matrix, then lookup tables) and returns `true`, so the host can compose it with its
    /// neighbours into one table. Default `false`: the host calls `process_rows`. Since ABI 1.2.
    fn pixel_op(&mut self, _ctx: &FrameCtx, _op: &mut PixelOp) -> Result<bool, PluginError> {
        Ok(false)
    }

    /// The events raised since the host last asked, once per frame after the chain ran (a motion
    /// detector raises [`Events::TRIGGER`]). Since ABI 1.3.
    fn events(&mut self) -> Events {
        Events::NONE
    }
}

/// What a recorder plugin implements.
pub trait RecorderPlugin: Send + Sync + 'static {
    /// Takes one finished frame.
    fn record(&mut self, meta: &FrameMeta, frame: &[u8]) -> Result<(), PluginError>;

    /// Flushes and closes. Called once, after the last frame.
    fn finish(&mut self) -> Result<(), PluginError>;

    /// A clip was asked for around frame `meta.index`; arrives before that frame's `record`.
    /// Default: ignored. Since ABI 1.3.
    fn trigger(&mut self, _meta: &FrameMeta) -> Result<(), PluginError> {
        Ok(())
    }

    /// What the instance decided at creation, as a JSON object text (empty: nothing to say); the
    /// host logs it and writes it to the metrics stream. Since ABI 1.3.
    fn describe(&self) -> String {
        String::new()
    }

    /// Named counts the host reports; default none. Since ABI 1.3.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// One documented config field, as a plugin declares it in a `const`.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Key in the scene file.
    pub name: &'static str,
    /// Type shown to users.
    pub ty: FieldType,
    /// Default value as JSON text (`"0.5"`, `"\"#ff0000\""`).
    pub default: &'static str,
    /// Smallest accepted number, if bounded.
    pub min: Option<f64>,
    /// Largest accepted number, if bounded.
    pub max: Option<f64>,
    /// One line for people.
    pub doc: &'static str,
}

impl Field {
    /// A field with no numeric bounds.
    pub const fn new(name: &'static str, ty: FieldType, default: &'static str, doc: &'static str) -> Self {
        Field {
            name,
            ty,
            default,
            min: None,
            max: None,
            doc,
        }
    }

    /// The same field, bounded to `min..=max`.
    pub const fn range(mut self, min: f64, max: f64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// The field as a manifest carries it.
    pub fn spec(&self) -> FieldSpec {
        FieldSpec {
            name: self.name.into(),
            ty: self.ty,
            default: self.default.into(),
            min: self.min.map_or(RNone, RSome),
            max: self.max.map_or(RNone, RSome),
            doc: self.doc.into(),
        }
    }
}

/// Makes a renderer from its JSON config.
pub type RendererCtor = fn(&str, &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError>;
/// Makes a processor from its JSON config.
pub type ProcessorCtor = fn(&str, &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError>;
/// Makes a recorder from its JSON config.
pub type RecorderCtor = fn(&str, &InitCtx) -> Result<Box<dyn RecorderPlugin>, PluginError>;

/// A factory of one kind: its doc, its fields and its constructor.
///
/// `fields` is [`fields_of::<Config>`](crate::fields_of) (with `F` = [`DerivedFields`](crate::DerivedFields)): the
/// config struct states every field once. A `&[Field]` list, the style before ABI 1.4, still
/// builds.
#[derive(Debug, Clone, Copy)]
pub struct Factory<C, F = &'static [Field]> {
    /// What the objects do.
    pub doc: &'static str,
    /// The config fields accepted.
    pub fields: F,
    /// Builds an object from JSON config that the host has already checked against `fields`.
    pub new: C,
}

/// A whole plugin, declared as a `const` and handed to [`crate::declare_plugin!`]: a
/// `PluginDef<DerivedFields>` when its factories name their config types with
/// [`fields_of`](crate::fields_of).
#[derive(Debug, Clone, Copy)]
pub struct PluginDef<F: FieldSource = &'static [Field]> {
    /// Unique id, as scene files name it.
    pub id: &'static str,
    /// The plugin's version; use `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
    /// One line for people.
    pub description: &'static str,
    /// The renderer factory, if any.
    pub renderer: Option<Factory<RendererCtor, F>>,
    /// The processor factory, if any.
    pub processor: Option<Factory<ProcessorCtor, F>>,
    /// The recorder factory, if any.
    pub recorder: Option<Factory<RecorderCtor, F>>,
}

impl<F: FieldSource> PluginDef<F> {
    /// The manifest this definition describes.
    pub fn manifest(&self) -> Manifest {
        self.manifest_for(ABI_VERSION)
    }

    /// The manifest, claiming ABI version `abi` (test fixtures use this to fake old builds).
    pub fn manifest_for(&self, abi: AbiVersion) -> Manifest {
        fn spec<F: FieldSource>(kind: PluginKind, doc: &str, fields: &F) -> FactorySpec {
            FactorySpec {
                kind,
                doc: doc.into(),
                fields: crate::config::fields(&fields.schema())
                    .iter()
                    .map(ConfigField::spec)
                    .collect(),
            }
        }
        let mut factories = RVec::new();
        if let Some(f) = &self.renderer {
            factories.push(spec(PluginKind::Renderer, f.doc, &f.fields));
        }
        if let Some(f) = &self.processor {
            factories.push(spec(PluginKind::Processor, f.doc, &f.fields));
        }
        if let Some(f) = &self.recorder {
            factories.push(spec(PluginKind::Recorder, f.doc, &f.fields));
        }
        Manifest {
            id: self.id.into(),
            version: self.version.into(),
            abi,
            description: self.description.into(),
            factories,
        }
    }

    /// The JSON Schema of the config of the factory of `kind`, as text; empty when the plugin
    /// has no such factory.
    pub fn config_schema(&self, kind: PluginKind) -> String {
        let fields = match kind {
            PluginKind::Renderer => self.renderer.map(|f| f.fields),
            PluginKind::Processor => self.processor.map(|f| f.fields),
            PluginKind::Recorder => self.recorder.map(|f| f.fields),
        };
        fields.map_or_else(String::new, |f| f.schema().to_string())
    }
}

/// Building the root module, which does not depend on how the fields are stated (so
/// `PluginDef::into_module` needs no type annotation).
impl PluginDef {
    /// Builds a root module whose factories' configs are described by their manifest's field
    /// lists only (no schema function): what hand-built modules written before ABI 1.4 call.
    /// The three functions must forward to [`new_renderer`], [`new_processor`], [`new_recorder`].
    pub fn into_module(
        manifest: extern "C" fn() -> Manifest,
        new_renderer: crate::NewRenderer,
        new_processor: crate::NewProcessor,
        new_recorder: crate::NewRecorder,
    ) -> PluginModRef {
        extern "C" fn no_schema(_: PluginKind) -> RString {
            RString::new()
        }
        Self::into_module_with_schema(manifest, new_renderer, new_processor, new_recorder, no_schema)
    }

    /// Builds the root module for this definition. [`crate::declare_plugin!`] calls this once;
    /// `config_schema` forwards to [`config_schema`].
    pub fn into_module_with_schema(
        manifest: extern "C" fn() -> Manifest,
        new_renderer: crate::NewRenderer,
        new_processor: crate::NewProcessor,
        new_recorder: crate::NewRecorder,
        config_schema: crate::ConfigSchema,
    ) -> PluginModRef {
        PluginMod {
            manifest,
            new_renderer,
            new_processor,
            new_recorder,
            config_schema,
        }
        .leak_into_prefix()
    }
}

thread_local! {
    /// How many plugin calls ([`guard`]) this thread is inside.
    static IN_CALL: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Where the last panic inside one of them happened (`file:line`).
    static PANICKED_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Installs, once per copy of this crate (the host's for linked-in plugins, each `.so`'s own),
/// a panic hook that keeps quiet about panics inside a plugin call: they become the call's
/// [`PluginError`], which the host reports through its log and summary, instead of a message
/// and backtrace printed over the show. Other panics go to the hook that was there before.
fn quiet_panics_in_calls() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CALL.with(|n| n.get()) > 0 {
                let at = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
                PANICKED_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into a [`PluginError`] of kind `Panic` (with the panic's message
/// and where it happened; nothing is printed).
pub fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    quiet_panics_in_calls();
    IN_CALL.with(|n| n.set(n.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_CALL.with(|n| n.set(n.get() - 1));
    match result {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e),
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".to_string());
            let at = PANICKED_AT
                .with(|p| p.borrow_mut().take())
                .map(|at| format!(" (at {at})"))
                .unwrap_or_default();
            RResult::RErr(PluginError::panic(format!("plugin panicked: {text}{at}")))
        }
    }
}

fn snapshot_bytes(s: Result<Option<Vec<u8>>, PluginError>) -> Result<ROption<RVec<u8>>, PluginError> {
    s.map(|o| o.map_or(RNone, |v| RSome(RVec::from(v))))
}

struct RendererAdapter(Box<dyn RendererPlugin>);

impl Renderer for RendererAdapter {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> RResult<(), PluginError> {
        guard(|| self.0.render(ctx, canvas))
    }
    fn snapshot(&self) -> RResult<ROption<RVec<u8>>, PluginError> {
        guard(|| snapshot_bytes(self.0.snapshot()))
    }
    fn restore(&mut self, state: RSlice<'_, u8>) -> RResult<(), PluginError> {
        guard(|| self.0.restore(state.as_slice()))
    }
    fn counters(&self) -> RVec<crate::module::Counter> {
        counters_of(|| self.0.counters())
    }
    fn events(&mut self) -> Events {
        catch_unwind(AssertUnwindSafe(|| self.0.events())).unwrap_or_default()
    }
}

/// Counters as the ABI carries them; a panic here would cross the boundary, so a panicking
/// plugin reports none instead.
fn counters_of(f: impl FnOnce() -> Vec<(&'static str, u64)>) -> RVec<crate::module::Counter> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(list) => list
            .into_iter()
            .map(|(name, value)| crate::module::Counter {
                name: name.into(),
                value,
            })
            .collect(),
        Err(_) => RVec::new(),
    }
}

struct ProcessorAdapter(Box<dyn ProcessorPlugin>);

impl Processor for ProcessorAdapter {
    fn process(&mut self, ctx: &FrameCtx, mut frame: RSliceMut<'_, u8>) -> RResult<(), PluginError> {
        guard(|| self.0.process(ctx, frame.as_mut_slice()))
    }
    fn snapshot(&self) -> RResult<ROption<RVec<u8>>, PluginError> {
        guard(|| snapshot_bytes(self.0.snapshot()))
    }
    fn restore(&mut self, state: RSlice<'_, u8>) -> RResult<(), PluginError> {
        guard(|| self.0.restore(state.as_slice()))
    }
    fn pointwise(&self) -> bool {
        // A panic here would cross the boundary; a panicking plugin is simply not fused.
        catch_unwind(AssertUnwindSafe(|| self.0.pointwise())).unwrap_or(false)
    }
    fn process_rows(
        &mut self,
        ctx: &FrameCtx,
        first_row: u32,
        mut rows: RSliceMut<'_, u8>,
    ) -> RResult<(), PluginError> {
        guard(|| self.0.process_rows(ctx, first_row, rows.as_mut_slice()))
    }
    fn output_size(&self) -> ROption<Size> {
        match catch_unwind(AssertUnwindSafe(|| self.0.output_size())) {
            Ok(Some((width, height))) => RSome(Size { width, height }),
            _ => RNone,
        }
    }
    fn process_into(
        &mut self,
        ctx: &FrameCtx,
        src: RSlice<'_, u8>,
        mut dst: RSliceMut<'_, u8>,
    ) -> RResult<(), PluginError> {
        guard(|| self.0.process_into(ctx, src.as_slice(), dst.as_mut_slice()))
    }
    fn pixel_op(&mut self, ctx: &FrameCtx, op: &mut PixelOp) -> RResult<bool, PluginError> {
        guard(|| self.0.pixel_op(ctx, op))
    }
    fn events(&mut self) -> Events {
        catch_unwind(AssertUnwindSafe(|| self.0.events())).unwrap_or_default()
    }
}

struct RecorderAdapter(Box<dyn RecorderPlugin>);

impl Recorder for RecorderAdapter {
    fn record(&mut self, meta: &FrameMeta, frame: RSlice<'_, u8>) -> RResult<(), PluginError> {
        guard(|| self.0.record(meta, frame.as_slice()))
    }
    fn finish(&mut self) -> RResult<(), PluginError> {
        guard(|| self.0.finish())
    }
    fn trigger(&mut self, meta: &FrameMeta) -> RResult<(), PluginError> {
        guard(|| self.0.trigger(meta))
    }
    fn describe(&self) -> RString {
        catch_unwind(AssertUnwindSafe(|| self.0.describe()))
            .map(RString::from)
            .unwrap_or_default()
    }
    fn counters(&self) -> RVec<crate::module::Counter> {
        counters_of(|| self.0.counters())
    }
}

fn missing<F: FieldSource>(def: &PluginDef<F>, kind: PluginKind) -> PluginError {
    PluginError::unsupported(format!("plugin `{}` has no {kind} factory", def.id))
}

/// The body of a plugin's exported renderer factory: panics caught, errors typed.
pub fn new_renderer<F: FieldSource>(
    def: &PluginDef<F>,
    config: RStr<'_>,
    init: &InitCtx,
) -> RResult<RendererBox, PluginError> {
    guard(|| {
        let f = def.renderer.ok_or_else(|| missing(def, PluginKind::Renderer))?;
        let obj = (f.new)(config.as_str(), init)?;
        Ok(Renderer_TO::from_value(RendererAdapter(obj), TD_Opaque))
    })
}

/// The body of a plugin's exported processor factory.
pub fn new_processor<F: FieldSource>(
    def: &PluginDef<F>,
    config: RStr<'_>,
    init: &InitCtx,
) -> RResult<ProcessorBox, PluginError> {
    guard(|| {
        let f = def.processor.ok_or_else(|| missing(def, PluginKind::Processor))?;
        let obj = (f.new)(config.as_str(), init)?;
        Ok(Processor_TO::from_value(ProcessorAdapter(obj), TD_Opaque))
    })
}

/// The body of a plugin's exported recorder factory.
pub fn new_recorder<F: FieldSource>(
    def: &PluginDef<F>,
    config: RStr<'_>,
    init: &InitCtx,
) -> RResult<RecorderBox, PluginError> {
    guard(|| {
        let f = def.recorder.ok_or_else(|| missing(def, PluginKind::Recorder))?;
        let obj = (f.new)(config.as_str(), init)?;
        Ok(Recorder_TO::from_value(RecorderAdapter(obj), TD_Opaque))
    })
}

/// The body of a plugin's exported config schema function: the schema's text, or empty when
/// the plugin has no factory of `kind` (or its schema function panicked).
pub fn config_schema<F: FieldSource>(def: &PluginDef<F>, kind: PluginKind) -> RString {
    catch_unwind(AssertUnwindSafe(|| def.config_schema(kind)))
        .unwrap_or_default()
        .into()
}

/// Renders frame `index` of `renderer` on a fresh, transparent `init.width × init.height` surface
/// and returns its pixels with the queued draw commands executed, as the host would: for tests.
pub fn render_frame(
    renderer: &mut dyn RendererPlugin,
    init: &InitCtx,
    index: u64,
) -> Result<Vec<u8>, PluginError> {
    let (w, h) = (init.width, init.height);
    let mut pixels = vec![0u8; w as usize * h as usize * crate::canvas::BYTES_PER_PIXEL];
    let mut queue = crate::canvas::DrawQueue::new();
    renderer.render(
        &FrameCtx::new(init, index),
        &mut Canvas::new(w, h, &mut pixels, &mut queue),
    )?;
    queue.execute(w, h, &mut pixels);
    Ok(pixels)
}

/// Parses JSON config text into `T`, naming the offending field on error.
///
/// Use `#[serde(default, deny_unknown_fields)]` on `T` so that missing fields take their
/// defaults and typos are refused.
pub fn parse_config<T: DeserializeOwned>(json: &str) -> Result<T, PluginError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = e.into_inner().to_string();
        // serde_json appends " at line L column C" of the JSON text, which means nothing to a
        // user who wrote TOML; the host points at the scene file instead.
        let message = match inner.find(" at line ") {
            Some(at) => inner[..at].to_string(),
            None => inner,
        };
        PluginError::config(path, message)
    })
}

/// Checks a numeric field against its declared range, with a message that names the bounds.
#[deprecated(
    since = "1.4.0",
    note = "the host checks every declared range before the factory runs: state it once, as `#[schemars(range(..))]` on the config field"
)]
pub fn check_range(field: &str, value: f64, min: f64, max: f64) -> Result<(), PluginError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(PluginError::config(
            field,
            format!("expected a number from {min} to {max}, found {value}"),
        ))
    }
}

/// The JSON object made of every field's default: what a factory sees for an empty config.
pub fn defaults_json(fields: &[Field]) -> String {
    let mut out = String::from("{");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(f.name).expect("a string always serialises"));
        out.push(':');
        out.push_str(f.default);
    }
    out.push('}');
    out
}

/// Checks a plugin's declared `fields` against its config type `T`, for the plugin's own tests:
/// every field of `T` is declared and nothing else is, and the declared defaults parse to
/// `T::default()`. The host refuses undeclared keys and `marquee plugins describe` prints the
/// declarations, so they must not drift from the struct.
#[deprecated(
    since = "1.4.0",
    note = "name the config type with `fields: fields_of::<Config>`: the fields are derived from it and cannot drift"
)]
pub fn check_fields<T>(fields: &[Field]) -> Result<(), String>
where
    T: DeserializeOwned + Serialize + Default + PartialEq + std::fmt::Debug,
{
    let parsed: T = parse_config(&defaults_json(fields))
        .map_err(|e| format!("the declared defaults do not parse: {e}"))?;
    if parsed != T::default() {
        return Err(format!(
            "the declared defaults give {parsed:?}, but Default gives {:?}",
            T::default()
        ));
    }
    let value =
        serde_json::to_value(T::default()).map_err(|e| format!("the config does not serialise: {e}"))?;
    let object = value
        .as_object()
        .ok_or("the config is not a struct with named fields")?;
    let mut declared: Vec<&str> = fields.iter().map(|f| f.name).collect();
    let mut actual: Vec<&str> = object.keys().map(String::as_str).collect();
    declared.sort_unstable();
    actual.sort_unstable();
    if declared != actual {
        return Err(format!(
            "declared fields {declared:?}, but the config has {actual:?}"
        ));
    }
    Ok(())
}

#[doc(hidden)]
pub mod __private {
    pub use abi_stable;
    pub use abi_stable::std_types::{RResult, RStr};
}

/// Declares `pub fn module() -> PluginModRef` for a `const` [`PluginDef`].
///
/// The module is built once and cached; the host links standard plugins by calling it, and
/// [`export_plugin!`](crate::export_plugin) exports it from a `cdylib`.
///
/// ```
/// use marquee_plugin_api::{declare_plugin, PluginDef};
/// const PLUGIN: PluginDef = PluginDef {
///     id: "nothing", version: "0.1.0", description: "does nothing",
///     renderer: None, processor: None, recorder: None,
/// };
/// declare_plugin!(PLUGIN);
/// let manifest = (module().manifest())();
/// assert_eq!(manifest.id.as_str(), "nothing");
/// ```
#[macro_export]
macro_rules! declare_plugin {
    ($def:path) => {
        /// The root module of this plugin, built once.
        pub fn module() -> $crate::PluginModRef {
            use $crate::author::__private::{RResult, RStr};
            extern "C" fn manifest() -> $crate::Manifest {
                $def.manifest()
            }
            extern "C" fn new_renderer(
                c: RStr<'_>,
                i: &$crate::InitCtx,
            ) -> RResult<$crate::RendererBox, $crate::PluginError> {
                $crate::author::new_renderer(&$def, c, i)
            }
            extern "C" fn new_processor(
                c: RStr<'_>,
                i: &$crate::InitCtx,
            ) -> RResult<$crate::ProcessorBox, $crate::PluginError> {
                $crate::author::new_processor(&$def, c, i)
            }
            extern "C" fn new_recorder(
                c: RStr<'_>,
                i: &$crate::InitCtx,
            ) -> RResult<$crate::RecorderBox, $crate::PluginError> {
                $crate::author::new_recorder(&$def, c, i)
            }
            extern "C" fn config_schema(kind: $crate::PluginKind) -> $crate::abi_stable::std_types::RString {
                $crate::author::config_schema(&$def, kind)
            }
            static MODULE: ::std::sync::OnceLock<$crate::PluginModRef> = ::std::sync::OnceLock::new();
            *MODULE.get_or_init(|| {
                <$crate::PluginDef>::into_module_with_schema(
                    manifest,
                    new_renderer,
                    new_processor,
                    new_recorder,
                    config_schema,
                )
            })
        }
    };
}

/// Exports a root module from a `cdylib`, so the host can load it from a `.so`.
///
/// Pass the path of a `fn() -> PluginModRef` (what [`declare_plugin!`] defines). The crate must
/// list `abi_stable` among its dependencies: `abi_stable`'s export attribute names it by path.
/// Use it once per `cdylib`, and never in a crate that is also linked into a program beside
/// other plugins: the exported symbol has one fixed name.
#[macro_export]
macro_rules! export_plugin {
    ($module:path) => {
        // The export attribute emits a `#[no_mangle]` static and an `unsafe` block that reads
        // nothing but our own module; the plugin's own code stays free of `unsafe`.
        #[allow(unsafe_code)]
        mod __marquee_export {
            #[$crate::author::__private::abi_stable::export_root_module]
            pub fn marquee_root_module() -> $crate::PluginModRef {
                super::__marquee_module()
            }
        }
        #[doc(hidden)]
        fn __marquee_module() -> $crate::PluginModRef {
            $module()
        }
    };
}
