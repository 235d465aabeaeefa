//! The standard plugins, linked into the host. Which ones, and in what order, is stated once:
//! this crate's `[dependencies]` (`build.rs` generates [`modules`] from it). The host lists them
//! in this order and lets a `.so` of the same id replace any of them.

include!(concat!(env!("OUT_DIR"), "/modules.rs"));
