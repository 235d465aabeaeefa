//! The `motion` plugin as a `cdylib`: exports the very module the host links in as an rlib.
//!
//! It lives in its own crate because the exported root-module symbol has one fixed name: an rlib
//! carrying it could not be linked into the host beside the other standard plugins.

marquee_plugin_api::export_plugin!(marquee_motion::module);
