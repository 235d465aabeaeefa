//! Snapshot tests of the standard renderers: a short trace of each one's scene under
//! `host/tests/scenes/`, checked against the trace stored in `host/tests/traces/`, first with
//! the plugins linked in, then with every standard plugin loaded from its `.so`.

use marquee::plugins::registry::Registry;
use marquee::testing::{TraceCheck, check_trace, try_check_trace};

use crate::util::{root, so_registry};

/// Checks `scene`'s trace of `frames` frames with built-in plugins, then with `.so` plugins.
fn check(scene: &str, frames: u64) {
    let scene_path = root().join(format!("host/tests/scenes/{scene}.toml"));
    let stored = root().join(format!("host/tests/traces/{scene}"));
    check_trace(&scene_path, frames, &stored, &Registry::builtin());
    assert_eq!(
        try_check_trace(&scene_path, frames, &stored, &so_registry()),
        Ok(TraceCheck::Matched)
    );
}

#[test]
fn solid() {
    check("solid", 20);
}

#[test]
fn gradient() {
    check("gradient", 40);
}

#[test]
fn life() {
    check("life", 40);
}

#[test]
fn text() {
    check("text", 60);
}

#[test]
fn image() {
    check("image", 30);
}

#[test]
fn spritesheet() {
    check("spritesheet", 60);
}

#[test]
fn image_sequence() {
    check("image-sequence", 60);
}

#[test]
fn blend_modes_and_rectangles() {
    check("blend", 20);
}

#[test]
fn processor_chain() {
    check("processors", 20);
}

#[test]
fn transform_to_another_size() {
    check("transform", 10);
}
