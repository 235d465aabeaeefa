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
//! [`RecorderPlugin`]), describe the plugin in a `const` [`PluginDef`], and call
//! [`declare_plugin!`] and, in a `cdylib`, [`export_plugin!`]. The wrappers catch panics, so a
//! panic never unwinds into the host; it comes back as an error of kind [`ErrorKind::Panic`].
//!
//! ```
//! use marquee_plugin_api::*;
//!
//! struct Solid(Rgba);
//! impl RendererPlugin for Solid {
//!     fn render(&mut self, _ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
//!         canvas.clear(self.0);
//!         Ok(())
//!     }
//! }
//!
//! #[derive(serde::Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct Config { color: Rgba }
//! impl Default for Config { fn default() -> Self { Config { color: Rgba::WHITE } } }
//!
//! const FIELDS: &[Field] = &[Field::new("color", FieldType::Color, "\"#ffffff\"", "fill colour")];
//! pub const PLUGIN: PluginDef = PluginDef {
//!     id: "solid",
//!     version: "0.1.0",
//!     description: "one colour everywhere",
//!     renderer: Some(Factory {
//!         doc: "fills the layer",
//!         fields: FIELDS,
//!         new: |json, _init| Ok(Box::new(Solid(parse_config::<Config>(json)?.color))),
//!     }),
//!     processor: None,
//!     recorder: None,
//! };
//! declare_plugin!(PLUGIN);
//! // In a cdylib crate: export_plugin!(module);
//!
//! let init = InitCtx::new(2, 1, 30.0, 7);
//! let mut renderer = (module().new_renderer())(r##"{"color": "#ff0000"}"##.into(), &init).unwrap();
//! let (mut pixels, mut queue) = (vec![0u8; 8], DrawQueue::new());
//! let ctx = FrameCtx::new(&init, 0);
//! renderer.render(&ctx, &mut Canvas::new(2, 1, &mut pixels, &mut queue)).unwrap();
//! queue.execute(2, 1, &mut pixels);
//! assert_eq!(pixels, [255, 0, 0, 255, 255, 0, 0, 255]);
//! ```
//!
//! This crate knows nothing of the host: it depends on `abi_stable` and `serde` only, never on
//! `bevy_ecs`, `winit` or `pixels` (CI checks this with `cargo tree -i`).

pub mod assets;
pub mod author;
pub mod canvas;
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
pub use author::{
    check_fields, check_range, defaults_json, guard, parse_config, render_frame, Factory, Field, PluginDef,
    ProcessorPlugin, RecorderPlugin, RendererPlugin,
};
pub use canvas::{map_rgb, Canvas, DrawCmd, DrawOp, DrawQueue, Point, BYTES_PER_PIXEL};
pub use error::{ErrorKind, PluginError};
pub use manifest::{AbiVersion, FactorySpec, FieldSpec, FieldType, Manifest, PluginKind, ABI_VERSION};
pub use module::{
    Counter, NewProcessor, NewRecorder, NewRenderer, PluginMod, PluginModRef, Processor, ProcessorBox,
    Recorder, RecorderBox, Renderer, RendererBox, Size,
};
pub use pixel::PixelOp;
pub use rng::Rng;
pub use types::{Events, FrameCtx, FrameMeta, InitCtx, Rect, Rgba};

/// Re-exported so plugin crates can name `abi_stable` types without depending on the crate.
pub use abi_stable;
