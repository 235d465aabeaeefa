//! Integration tests of the host, one module per area, sharing the helpers in `util`.

mod util;

mod abi;
mod alloc;
mod cli;
mod control;
mod determinism;
mod failures;
mod hardening;
mod isolation;
mod leds;
mod live;
mod loading;
mod new_plugin;
mod observe;
mod playlists;
mod processors;
mod recorders;
mod renderers;
mod scale_out;
mod scenes;
mod schedule;
mod schema;
mod shards;
mod snapshot;
mod terminal;
mod traces;
#[cfg(feature = "window")]
mod window;
