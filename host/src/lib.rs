//! The Marquee host: finds plugins, turns scene files into `bevy_ecs` schedules over a shared
//! frame accumulator, and drives outputs, recorders and deterministic traces.
//!
//! - [`registry`]: built-in plugins and `.so` files, with typed load errors.
//! - [`scene`]: `SceneFile` (serde mirror of the TOML) → [`scene::Scene`] (validated, resolved).
//! - [`engine`]: the frame schedule ([`engine::FrameSet`]) and the [`engine::Engine`] that runs it.
//! - [`accumulator`]: layer buffer pool and compositor; [`budget`]: the memory a scene's
//!   buffers may take.
//! - [`recording`]: recorders on threads of their own behind bounded buffer pools; output paths
//!   confined to an output directory.
//! - [`trace`]: GIF + JSON traces and their verification; [`testing`]: the same as a test helper.
//! - [`output`]: terminal and headless outputs, frame pacing.
//! - [`fields`]: config values checked against the fields a plugin declares.
//! - [`diag`]: errors pointed at file, line and column.
//!
//! ```
//! use std::path::Path;
//! use marquee::{engine::{Engine, EngineOptions}, registry::Registry, scene::Scene};
//!
//! let registry = Registry::builtin();
//! let text = r#"
//!     fps = 30
//!     [canvas]
//!     width = 8
//!     height = 4
//!     [[layer]]
//!     plugin = "random-pixels"
//!     config = { count = 5, random_color = false }
//! "#;
//! let scene = Scene::parse(Path::new("inline.toml"), text.into(), &registry).unwrap();
//! let mut engine = Engine::new(&scene, &EngineOptions::default()).unwrap();
//! let frame = engine.step();
//! assert_eq!(frame.len(), 8 * 4 * 4);
//! assert!(frame.chunks(4).any(|p| p == [255, 255, 255, 255]));
//! ```

pub mod accumulator;
pub mod alloc_count;
pub mod api_copy;
pub mod bench;
pub mod budget;
pub mod clips;
pub mod describe;
pub mod diag;
pub mod engine;
pub mod fields;
pub mod live;
pub mod metrics;
pub mod new_plugin;
pub mod output;
pub mod playlist;
pub mod recording;
pub mod registry;
pub mod scene;
pub mod schema;
pub mod show;
pub mod spanned;
pub mod testing;
pub mod trace;
#[cfg(feature = "window")]
pub mod window;
