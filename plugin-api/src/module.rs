//! The ABI proper: the three plugin object traits and the root module every plugin exports.
//!
//! # Compatibility rules
//! The root module [`PluginMod`] is a *prefix type*: a plugin built against an older minor
//! version exports a shorter struct, and the host reads fields past the plugin's
//! `#[sabi(last_prefix_field)]` as `Option`s. So new functions are only ever appended at the end,
//! and `#[sabi(last_prefix_field)]` stays where it is until the major version changes. The same
//! holds for the methods of the `#[sabi_trait]` objects. Anything else (reordering, changing a
//! type) is a new major version; `abi_stable` checks the layouts when the library is loaded.

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
use crate::manifest::Manifest;
use crate::types::{FrameCtx, FrameMeta, InitCtx};

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
}

/// A recorder instance: receives every finished frame, read-only.
#[sabi_trait]
pub trait Recorder: Send + Sync {
    /// Takes one finished frame (`meta.width × meta.height` RGBA8).
    fn record(&mut self, meta: &FrameMeta, frame: RSlice<'_, u8>) -> RResult<(), PluginError>;

    /// Flushes and closes whatever the recorder writes. Called once, after the last frame.
    #[sabi(last_prefix_field)]
    fn finish(&mut self) -> RResult<(), PluginError>;
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
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "marquee_plugin";
    const NAME: &'static str = "marquee_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
