//! A plugin's error or panic never takes the host down: the instance is marked failed, reported
//! once, its layer drawn transparent, and the frames go on.

use std::path::Path;

use marquee::engine::{Engine, EngineError, EngineOptions};
use marquee::registry::{Origin, Registry};
use marquee::scene::{Scene, SceneError};
use marquee_plugin_api::{ErrorKind, PluginKind};

use crate::util::so;

fn registry(dynamic: bool) -> Registry {
    let mut r = Registry::builtin();
    if dynamic {
        r.load(&so("marquee_fixture_panicky"));
    } else {
        r.add_module(marquee_fixture_panicky::module(), Origin::BuiltIn);
    }
    r
}

fn engine(registry: &Registry, config: &str) -> Result<Engine, EngineError> {
    let text =
        format!("[canvas]\nwidth = 4\nheight = 2\n[[layer]]\nplugin = \"panicky\"\nconfig = {config}\n");
    let scene = Scene::parse(Path::new("test.toml"), text, registry).unwrap();
    Engine::new(&scene, &EngineOptions::default())
}

const GREEN: [u8; 4] = [0, 255, 0, 255];
const BLACK: [u8; 4] = [0, 0, 0, 255];

fn check_fails_at_frame_3(dynamic: bool, config: &str, kind: ErrorKind) {
    let r = registry(dynamic);
    let mut e = engine(&r, config).unwrap();
    for _ in 0..3 {
        assert!(e.step().chunks(4).all(|p| p == GREEN));
        assert!(e.take_failures().is_empty());
    }
    assert!(
        e.step().chunks(4).all(|p| p == BLACK),
        "failed layer must be transparent"
    );
    let failures = e.take_failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].kind, failures[0].frame, failures[0].error.kind),
        (PluginKind::Renderer, 3, kind)
    );
    for _ in 0..5 {
        assert!(e.step().chunks(4).all(|p| p == BLACK));
    }
    assert!(e.take_failures().is_empty(), "a failure is reported once");
    assert_eq!(e.next_frame(), 9);
}

#[test]
fn a_panicking_renderer_is_contained_builtin() {
    check_fails_at_frame_3(false, "{ panic_at = 3 }", ErrorKind::Panic);
}

#[test]
fn a_panicking_renderer_is_contained_across_the_so_boundary() {
    check_fails_at_frame_3(true, "{ panic_at = 3 }", ErrorKind::Panic);
}

#[test]
fn a_renderer_error_is_contained() {
    check_fails_at_frame_3(true, "{ error_at = 3 }", ErrorKind::Frame);
}

#[test]
fn a_factory_that_panics_is_a_scene_error() {
    for dynamic in [false, true] {
        let err = engine(&registry(dynamic), "{ panic_in_init = true }").unwrap_err();
        let EngineError::Scene(SceneError::Plugin(d)) = &err else {
            panic!("unexpected {err:?}")
        };
        assert!(
            d.message.contains("panicked") && d.message.contains("told to panic in its factory"),
            "{d}"
        );
        assert_eq!(d.line(), Some(5));
    }
}
