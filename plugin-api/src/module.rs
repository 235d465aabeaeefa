//! The ABI proper: the three plugin object traits and the root module every plugin exports.
//!
//! # Compatibility rules
//! The root module [`PluginMod`] is a *prefix type*: a plugin built against an older minor
//! version exports a shorter struct, and the host reads fields past the plugin's
//! `#[sabi(last_prefix_field)]` as `Option`s. So new functions are only ever appended at the end,
//! and `#[sabi(last_prefix_field)]` stays where it is until the major version changes. The same
//! holds for the methods of the `#[sabi_trait]` objects, and every appended method has a default
//! body, which is what an older plugin gives. Anything else (reordering, changing a type) is a new
//! major version. The host checks the layouts when it loads a library, with the plugin's as the
//! expected ones (`docs/abi.md`), and a test builds plugins against every earlier minor.

// The `#[sabi_trait]` and `StableAbi` derives expand to unsafe code (vtables, transmutes);
// this is the one module where that is expected.
#![allow(unsafe_code)]
// `#[sabi_trait]` implements foreign traits inside a generated `const` block.
#![allow(non_local_definitions)]

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, ROption, RResult, RSlice, RSliceMut, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};

use crate::canvas::Canvas;
use crate::error::PluginError;
use crate::manifest::{Manifest, PluginKind};
use crate::pixel::PixelOp;
use crate::types::{Events, FrameCtx, FrameMeta, InitCtx};

/// A renderer instance: draws its layer once per frame.
#[sabi_trait]
pub trait Renderer: Send + Sync {
    /// Draws frame `ctx.index` onto `canvas`.
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> RResult<(), PluginError>;

    /// The instance's state as bytes, or `None` if it keeps none worth saving.
    fn snapshot(&self) -> RResult<ROption<RVec<u8>>, PluginError>;

    /// Restores state saved by `snapshot`.
    #[sabi(last_prefix_field)]
    fn restore(&mut self, state: RSlice<'_, u8>) -> RResult<(), PluginError>;

    /// ABI 1.1: the instance's counters so far (frames dropped, missed, waited for, ...).
    ///
    /// Appended after `last_prefix_field` with a default body: a plugin built against ABI 1.0 has
    /// no entry for it in its vtable, and calling it there runs this default, which has none.
    fn counters(&self) -> RVec<Counter> {
        RVec::new()
    }

    /// ABI 1.3: the events this instance raised since it was last asked (the host asks once per
    /// frame, after `render`). Default: none.
    fn events(&mut self) -> Events {
        Events::NONE
    }
}

/// One named count an instance reports, such as `misses`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Short lowercase name.
    pub name: RString,
    /// The count so far.
    pub value: u64,
}

/// A processor instance: transforms the composited frame in place.
#[sabi_trait]
pub trait Processor: Send + Sync {
    /// Transforms `frame` (`ctx.width × ctx.height` RGBA8) in place.
    fn process(&mut self, ctx: &FrameCtx, frame: RSliceMut<'_, u8>) -> RResult<(), PluginError>;

    /// The instance's state as bytes, or `None` if it keeps none worth saving.
    fn snapshot(&self) -> RResult<ROption<RVec<u8>>, PluginError>;

    /// Restores state saved by `snapshot`.
    #[sabi(last_prefix_field)]
    fn restore(&mut self, state: RSlice<'_, u8>) -> RResult<(), PluginError>;

    /// ABI 1.2: whether each output pixel depends only on the same input pixel, its position and
    /// the frame context. The host then fuses this processor with its per-pixel neighbours into
    /// one pass, calling [`Processor::process_rows`] band by band instead of `process`.
    ///
    /// Appended with a default body (`false`), so processors built for 1.0 and 1.1 keep working.
    fn pointwise(&self) -> bool {
        false
    }

    /// ABI 1.2: processes rows `first_row..` of the frame (`rows` holds whole rows,
    /// `ctx.width` pixels each). Within one frame the host covers every row exactly once, top
    /// band first, so a processor may prepare per-frame state when `first_row` is 0. Only called
    /// when [`Processor::pointwise`] is `true`, and must then give what `process` gives.
    fn process_rows(
        &mut self,
        ctx: &FrameCtx,
        first_row: u32,
        rows: RSliceMut<'_, u8>,
    ) -> RResult<(), PluginError> {
        let _ = (ctx, first_row, rows);
        RResult::RErr(PluginError::unsupported("this processor is not per-pixel"))
    }

    /// ABI 1.2: the size of frame this processor makes, when it differs from what it was
    /// created for (`InitCtx`); the host then calls [`Processor::process_into`], never
    /// `process`, and later stages see the new size.
    fn output_size(&self) -> ROption<Size> {
        ROption::RNone
    }

    /// ABI 1.2: reads `src` (`ctx.width × ctx.height`) and writes every pixel of `dst`
    /// (`output_size`). Only called when `output_size` is `Some`.
    fn process_into(
        &mut self,
        ctx: &FrameCtx,
        src: RSlice<'_, u8>,
        dst: RSliceMut<'_, u8>,
    ) -> RResult<(), PluginError> {
        let _ = (ctx, src, dst);
        RResult::RErr(PluginError::unsupported("this processor does not resize"))
    }

    /// ABI 1.2: for a [`Processor::pointwise`] processor, fills `op` with what it does to frame
    /// `ctx.index` and answers `true`; the host then composes it with its neighbours instead of
    /// calling `process_rows`. `false` (the default) means it cannot be described that way.
    fn pixel_op(&mut self, ctx: &FrameCtx, op: &mut PixelOp) -> RResult<bool, PluginError> {
        let _ = (ctx, op);
        RResult::ROk(false)
    }

    /// ABI 1.3: the events this instance raised since it was last asked (the host asks once per
    /// frame, after the chain ran). Default: none.
    fn events(&mut self) -> Events {
        Events::NONE
    }
}

/// A frame size in pixels.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// A recorder instance: receives every finished frame, read-only.
#[sabi_trait]
pub trait Recorder: Send + Sync {
    /// Takes one finished frame (`meta.width × meta.height` RGBA8).
    fn record(&mut self, meta: &FrameMeta, frame: RSlice<'_, u8>) -> RResult<(), PluginError>;

    /// Flushes and closes whatever the recorder writes. Called once, after the last frame.
    #[sabi(last_prefix_field)]
    fn finish(&mut self) -> RResult<(), PluginError>;

    /// ABI 1.3: someone asked for a clip around frame `meta.index` (a key, a signal, or a plugin's
    /// [`Events::TRIGGER`]). Arrives before that frame's `record`. Default: ignored.
    fn trigger(&mut self, meta: &FrameMeta) -> RResult<(), PluginError> {
        let _ = meta;
        RResult::ROk(())
    }

    /// ABI 1.3: what this instance decided at creation, as a JSON object (for instance the codec a
    /// video recorder chose and why it skipped others), for the log and the metrics stream.
    /// Default: empty, nothing to say.
    fn describe(&self) -> RString {
        RString::new()
    }

    /// ABI 1.3: the instance's counters so far (clips written, frames held, ...). Default none.
    fn counters(&self) -> RVec<Counter> {
        RVec::new()
    }
}

/// An owned renderer object from any plugin.
pub type RendererBox = Renderer_TO<'static, RBox<()>>;
/// An owned processor object from any plugin.
pub type ProcessorBox = Processor_TO<'static, RBox<()>>;
/// An owned recorder object from any plugin.
pub type RecorderBox = Recorder_TO<'static, RBox<()>>;

/// Makes a renderer from JSON config text.
pub type NewRenderer = extern "C" fn(RStr<'_>, &InitCtx) -> RResult<RendererBox, PluginError>;
/// Makes a processor from JSON config text.
pub type NewProcessor = extern "C" fn(RStr<'_>, &InitCtx) -> RResult<ProcessorBox, PluginError>;
/// Makes a recorder from JSON config text.
pub type NewRecorder = extern "C" fn(RStr<'_>, &InitCtx) -> RResult<RecorderBox, PluginError>;

/// The root module of a plugin library: its manifest and one factory function per kind.
///
/// A factory of a kind the plugin does not offer answers an [`crate::ErrorKind::Unsupported`]
/// error. Plugin authors never build this by hand: [`crate::declare_plugin!`] does.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(option))]
pub struct PluginMod {
    /// Describes the plugin.
    pub manifest: extern "C" fn() -> Manifest,
    /// Makes a renderer.
    pub new_renderer: extern "C" fn(RStr<'_>, &InitCtx) -> RResult<RendererBox, PluginError>,
    /// Makes a processor.
    pub new_processor: extern "C" fn(RStr<'_>, &InitCtx) -> RResult<ProcessorBox, PluginError>,
    /// Makes a recorder. Fields added in later minor versions go below this one.
    #[sabi(last_prefix_field)]
    pub new_recorder: extern "C" fn(RStr<'_>, &InitCtx) -> RResult<RecorderBox, PluginError>,
    /// ABI 1.4: the JSON Schema of the config of the factory of a kind, as text. A plugin built
    /// for 1.0 to 1.3 has no entry, and an empty answer states no schema: the host then reads
    /// the manifest's field list instead (`config::schema_of_specs`).
    pub config_schema: extern "C" fn(PluginKind) -> RString,
}

/// Gives the JSON Schema of a factory's config as text (ABI 1.4).
pub type ConfigSchema = extern "C" fn(PluginKind) -> RString;

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "marquee_plugin";
    const NAME: &'static str = "marquee_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
