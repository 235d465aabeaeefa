//! Running live: reloading an edited scene in place.

use marquee::engine::{Engine, EngineOptions};

use crate::util::scene;

/// A persistent layer of dust that accumulates frame by frame (state a fresh instance would
/// lack), under a line of text.
fn dusty(text: &str) -> String {
    format!(
        "fps = 10\nseed = 5\n[canvas]\nwidth = 48\nheight = 16\n\
         [[layer]]\nid = \"dust\"\nplugin = \"random-pixels\"\npersist = true\nconfig = {{ count = 3 }}\n\
         [[layer]]\nid = \"title\"\nplugin = \"text\"\nconfig = {{ text = \"{text}\" }}\n"
    )
}

#[test]
fn reload_keeps_unchanged_instances_and_their_state() {
    let options = EngineOptions::default();
    let mut live = Engine::new(&scene(&dusty("AB")).unwrap(), &options).unwrap();
    for _ in 0..20 {
        live.step();
    }
    let kept = live.reload(&scene(&dusty("CD")).unwrap(), &options).unwrap();
    assert_eq!(kept, 1, "the dust layer is kept, the edited title is new");
    assert_eq!(live.next_frame(), 20, "the frame count goes on");
    // The same as running the edited scene from the start: the dust of frames 0–19 is still
    // there (a new dust layer would have started empty).
    let mut fresh = Engine::new(&scene(&dusty("CD")).unwrap(), &options).unwrap();
    for _ in 0..20 {
        fresh.step();
    }
    for frame in 20..25 {
        assert!(live.step() == fresh.step(), "frame {frame}");
    }
}

#[test]
fn a_bad_edit_leaves_the_running_scene_alone() {
    let options = EngineOptions::default();
    let good = scene(&dusty("AB")).unwrap();
    let mut live = Engine::new(&good, &options).unwrap();
    let mut untouched = Engine::new(&good, &options).unwrap();
    for _ in 0..5 {
        live.step();
        untouched.step();
    }
    // The plugin refuses the value when it starts, after the scene file itself has been read.
    let bad = scene(&dusty("AB").replace("count = 3", "count = -3")).unwrap();
    let err = live.reload(&bad, &options).unwrap_err().to_string();
    assert!(err.contains("count"), "{err}");
    for frame in 5..10 {
        assert!(live.step() == untouched.step(), "frame {frame}");
    }
}
