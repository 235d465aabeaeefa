//! The stable ABI between the Marquee host and its plugins.
//!
//! A plugin is a library (a `cdylib` the host loads from disk, or an `rlib` linked into the host)
//! that offers up to three factories: a **renderer** draws one layer per frame onto a [`Canvas`],
//! a **processor** transforms the composited frame in place, a **recorder** receives each
//! finished frame. Everything that crosses the boundary is `abi_stable`: the root module
//! [`PluginMod`], the `#[sabi_trait]` objects [`RendererBox`], [`ProcessorBox`], [`RecorderBox`],
//! the [`Manifest`] and the [`PluginError`]. Config crosses as JSON text; the plugin validates it.
//!
//! Plugin authors write safe Rust: implement [`RendererPlugin`] (or [`ProcessorPlugin`],
//! [`RecorderPlugin`]), state the config once as a struct (its fields' doc comments, defaults and
//! ranges are what the host shows and checks, through [`fields_of`]), describe the plugin in a
//! `const` [`PluginDef`], and call [`declare_plugin!`] and, in a `cdylib`, [`export_plugin!`].
//! The wrappers catch panics, so a panic never unwinds into the host; it comes back as an error
//! of kind [`ErrorKind::Panic`].
//!
//! ```
//! use marquee_plugin_api::*;
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use smart_default::SmartDefault;
//!
//! struct Solid(Rgba);
//! impl RendererPlugin for Solid {
//!     fn render(&mut self, _ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
//!         canvas.clear(self.0);
//!         Ok(())
//!     }
//! }
//!
//! /// The config, each field stated once.
//! #[derive(Deserialize, Serialize, JsonSchema, SmartDefault)]
//! #[serde(default, deny_unknown_fields)]
//! struct Config {
//!     /// The fill colour.
//!     #[default(Rgba::WHITE)]
//!     color: Rgba,
//!     /// How opaque the fill is.
//!     #[default(1.0)]
//!     #[schemars(range(min = 0, max = 1))]
//!     opacity: f64,
//! }
//!
//! pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
//!     id: "solid",
//!     version: "0.1.0",
//!     description: "one colour everywhere",
//!     renderer: Some(Factory {
//!         doc: "fills the layer",
//!         fields: fields_of::<Config>,
//!         new: |json, _init| {
//!             let c: Config = parse_config(json)?;
//!             Ok(Box::new(Solid(Rgba { a: (c.opacity * 255.0).round() as u8, ..c.color })))
//!         },
//!     }),
//!     processor: None,
//!     recorder: None,
//! };
//! declare_plugin!(PLUGIN);
//! // In a cdylib crate: export_plugin!(module);
//!
//! let fields = &PLUGIN.manifest().factories[0].fields;
//! assert_eq!((fields[1].name.as_str(), fields[1].doc.as_str()), ("opacity", "How opaque the fill is."));
//! let init = InitCtx::new(2, 1, 30.0, 7);
//! let mut renderer = (module().new_renderer())(r##"{"color": "#ff0000"}"##.into(), &init).unwrap();
//! let (mut pixels, mut queue) = (vec![0u8; 8], DrawQueue::new());
//! let ctx = FrameCtx::new(&init, 0);
//! renderer.render(&ctx, &mut Canvas::new(2, 1, &mut pixels, &mut queue)).unwrap();
//! queue.execute(2, 1, &mut pixels);
//! assert_eq!(pixels, [255, 0, 0, 255, 255, 0, 0, 255]);
//! ```
//!
//! This crate knows nothing of the host: it depends on `abi_stable`, `serde` and `schemars` only, never on
//! `bevy_ecs`, `winit` or `pixels` (CI checks this with `cargo tree -i`).

pub mod assets;
pub mod author;
pub mod canvas;
pub mod config;
pub mod error;
pub mod files;
#[cfg(feature = "images")]
pub mod images;
pub mod manifest;
pub mod module;
pub mod pixel;
pub mod rng;
pub mod simd;
pub mod types;

pub use assets::AssetCache;
#[allow(deprecated)]
pub use author::{check_fields, check_range};
pub use author::{
    defaults_json, guard, parse_config, render_frame, Factory, Field, PluginDef, ProcessorPlugin,
    RecorderPlugin, RendererPlugin,
};
pub use canvas::{map_rgb, Canvas, DrawCmd, DrawOp, DrawQueue, Point, BYTES_PER_PIXEL, MAX_SIDE};
pub use config::{fields_of, ConfigField, DerivedFields, FieldSource};
pub use error::{ErrorKind, PluginError};
pub use manifest::{AbiVersion, FactorySpec, FieldSpec, FieldType, Manifest, PluginKind, ABI_VERSION};
pub use module::{
    ConfigSchema, Counter, NewProcessor, NewRecorder, NewRenderer, PluginMod, PluginModRef, Processor,
    ProcessorBox, Recorder, RecorderBox, Renderer, RendererBox, Size,
};
pub use pixel::PixelOp;
pub use rng::Rng;
pub use types::{Events, FrameCtx, FrameMeta, InitCtx, Rect, Rgba};

/// Re-exported so plugin crates can name `abi_stable` types without depending on the crate.
pub use abi_stable;
/// Re-exported: the crate a config struct derives `JsonSchema` from (its version is the one
/// [`fields_of`] reads).
pub use schemars;
