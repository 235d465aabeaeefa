//! The Marquee host: finds plugins, turns scene files into `bevy_ecs` schedules over a shared
//! frame accumulator, and drives outputs, recorders and deterministic traces.
//!
//! The modules are rooms, each with one job; arrows point one way (the binary → [`model`] →
//! [`engine`] → [`compose`], [`record`]; [`play`] drives an engine into [`output`]s):
//!
//! - [`plugins`]: the registry of built-in plugins and `.so` files, with typed load errors.
//! - [`model`]: scene, playlist and rig files read once, checked and resolved.
//! - [`engine`]: one running scene as a `bevy_ecs` world and schedule ([`engine::FrameSet`]).
//! - [`compose`]: the accumulator and the compositor.
//! - [`record`]: recorders on threads of their own, clips.
//! - [`play`]: the player, the live loop, `marquee bench`.
//! - [`output`]: where live frames go: terminal, window, headless, LED outputs.
//! - [`observe`]: metrics, the allocation counter.
//! - [`receive`]: the receiving end of the LED protocols, for testing rigs (`marquee receive`).
//! - [`trace`]: GIF + JSON traces and their verification; [`testing`]: the same as a test helper.
//!
//! ```
//! use std::path::Path;
//! use marquee::{engine::{Engine, EngineOptions}, model::scene::Scene, plugins::registry::Registry};
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

pub mod compose;
pub mod engine;
pub mod isolate;
pub mod model;
pub mod observe;
pub mod osc;
pub mod output;
pub mod play;
pub mod plugins;
pub mod receive;
pub mod record;
pub mod serve;
pub mod testing;
pub mod trace;
