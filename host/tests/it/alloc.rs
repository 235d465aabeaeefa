//! In steady state a frame does not allocate: a counting global allocator proves it.

use marquee::engine::{Engine, EngineOptions};
use marquee::model::scene::Scene;
use marquee::plugins::registry::Registry;

use crate::util::{root, showcase, so_registry};

#[global_allocator]
static GLOBAL: marquee::observe::alloc_count::Counting = marquee::observe::alloc_count::Counting;

fn allocations() -> u64 {
    marquee::observe::alloc_count::allocations()
}

/// Allocations on this thread during `frames` frames of `scene` after `warmup` frames.
fn count_scene(scene: &Scene, warmup: u64, frames: u64) -> u64 {
    let mut engine = Engine::new(
        scene,
        &EngineOptions {
            threads: 1,
            scene_recorders: false,
            ..EngineOptions::default()
        },
    )
    .unwrap();
    for _ in 0..warmup {
        engine.step();
    }
    let before = allocations();
    for _ in 0..frames {
        engine.step();
    }
    allocations() - before
}

/// Allocations during showcase frames.
fn count(registry: &Registry, warmup: u64, frames: u64) -> u64 {
    count_scene(&showcase(registry), warmup, frames)
}

#[test]
fn showcase_frames_do_not_allocate_after_warmup() {
    assert_eq!(count(&Registry::builtin(), 30, 300), 0);
}

#[test]
fn showcase_frames_do_not_allocate_with_so_plugins_either() {
    assert_eq!(count(&so_registry(), 30, 300), 0);
}

#[test]
fn every_standard_renderer_and_processor_runs_without_allocating() {
    let registry = Registry::builtin();
    for name in [
        "solid",
        "gradient",
        "life",
        "text",
        "image",
        "spritesheet",
        "image-sequence",
        "processors",
        "transform",
    ] {
        let scene = Scene::load(&root().join(format!("host/tests/scenes/{name}.toml")), &registry).unwrap();
        assert_eq!(count_scene(&scene, 10, 200), 0, "{name}");
    }
}

#[test]
fn the_counter_counts() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() > before);
    drop(v);
}

#[test]
fn a_playlist_allocates_nothing_within_an_entry_or_a_transition() {
    // Entries are 6 frames; entry 2 crossfades in over frames 6–8, entry 3 slides in over frames
    // 12–14. Only the first frame of a play may allocate (it may start a fresh engine).
    let registry = Registry::builtin();
    let show =
        marquee::model::show::Show::load(&root().join("host/tests/playlists/transitions.toml"), &registry)
            .unwrap();
    let mut player = marquee::play::player::Player::new(&show, &EngineOptions::default()).unwrap();
    for _ in 0..7 {
        player.step().unwrap();
    }
    let before = allocations();
    for _ in 7..12 {
        player.step().unwrap();
    }
    assert_eq!(
        allocations() - before,
        0,
        "frames 7–11: the crossfade, then entry 2 alone"
    );
    player.step().unwrap(); // frame 12: entry 3 starts
    let before = allocations();
    for _ in 13..18 {
        player.step().unwrap();
    }
    assert_eq!(
        allocations() - before,
        0,
        "frames 13–17: the slide, then entry 3 alone"
    );
}

#[test]
fn recording_costs_the_render_thread_no_allocation() {
    // Frames copied into the recorders' pooled buffers, dropped when a pool is full, triggers
    // sent: none of it allocates on the render thread (the recorders' own threads may).
    let dir = tempfile::tempdir().unwrap();
    let text = "fps = 30\n[canvas]\nwidth = 64\nheight = 32\n[[layer]]\nplugin = \"gradient\"\n\
        [[processor]]\nplugin = \"motion\"\nconfig = { threshold = 0.0, cooldown_ms = 0 }\n\
        [[recorder]]\nplugin = \"gif\"\nqueue = 2\nwhen_full = \"drop\"\nconfig = { path = \"a.gif\" }\n\
        [[recorder]]\nplugin = \"gif\"\nwhen_full = \"drop\"\nconfig = { path = \"c-{clip}.gif\" }\nclips = { pre_roll_ms = 100, post_roll_ms = 0 }\n";
    let scene = Scene::parse(&dir.path().join("r.toml"), text.into(), &Registry::builtin()).unwrap();
    let mut engine = Engine::new(&scene, &EngineOptions::default()).unwrap();
    for _ in 0..10 {
        engine.step();
    }
    let before = allocations();
    for i in 0..300 {
        if i % 50 == 0 {
            engine.trigger();
        }
        engine.step();
    }
    assert_eq!(allocations() - before, 0);
    assert!(
        engine.triggers() > 300,
        "the motion processor raised a trigger every frame"
    );
    assert!(engine.finish().is_empty());
}
