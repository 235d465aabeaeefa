//! What Marquee reads as data: scene and playlist files, each read once, checked and resolved
//! (plugins found, config checked against each factory's schema, paths made absolute), with
//! every error pointed at its file, line and column.

pub mod budget;
pub mod diag;
pub mod isolation;
pub mod paths;
pub mod playlist;
pub mod recording;
pub mod rig;
pub mod scene;
pub mod schema;
pub mod show;
pub mod spanned;

/// A 64-bit hash as 16 lowercase hex digits: how scene, playlist and frame hashes are written.
pub fn hex(hash: u64) -> String {
    format!("{hash:016x}")
}
