//! A plugin's error or panic never takes the host down: the instance is marked failed, reported
//! once, its layer drawn transparent, and the frames go on.

use std::path::Path;

use marquee::engine::{Engine, EngineError, EngineOptions};
use marquee::model::scene::{Scene, SceneError};
use marquee::plugins::registry::{Origin, Registry};
use marquee_plugin_api::{ErrorKind, PluginKind};

use crate::util::{so, text};

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

/// A scene with a stateful renderer on a persistent layer, under random pixels.
fn stateful_engine() -> Engine {
    let text = "[canvas]\nwidth = 16\nheight = 2\n[[layer]]\nplugin = \"panicky\"\npersist = true\nconfig = { marker = true }\n[[layer]]\nplugin = \"random-pixels\"\nconfig = { count = 3 }\n";
    let scene = Scene::parse(Path::new("test.toml"), text.into(), &registry(false)).unwrap();
    Engine::new(&scene, &EngineOptions::default()).unwrap()
}

#[test]
fn a_run_resumes_from_a_keyframe_exactly() {
    let mut a = stateful_engine();
    for _ in 0..10 {
        a.step();
    }
    let keyframe = a.keyframe().unwrap();
    assert_eq!(keyframe.next_frame, 10);
    assert_eq!(
        keyframe.instances[0].state.as_deref(),
        Some(&10u64.to_le_bytes()[..])
    );
    let expected: Vec<Vec<u8>> = (0..10).map(|_| a.step().to_vec()).collect();

    let mut b = stateful_engine();
    b.restore(&keyframe).unwrap();
    let resumed: Vec<Vec<u8>> = (0..10).map(|_| b.step().to_vec()).collect();
    assert_eq!(resumed, expected);

    // Resuming at frame 10 without the instances' state (the frame counter and the persistent
    // layer's pixels) gives other frames: the state is what makes the resume exact.
    let mut stateless = keyframe.clone();
    for i in &mut stateless.instances {
        i.state = None;
        i.pixels = None;
    }
    let mut c = stateful_engine();
    c.restore(&stateless).unwrap();
    assert_ne!(c.step().to_vec(), expected[0]);
}

#[test]
fn a_keyframe_for_another_scene_is_refused() {
    let mut a = stateful_engine();
    let mut k = a.keyframe().unwrap();
    k.instances[0].id = "nope".into();
    let err = stateful_engine().restore(&k).unwrap_err();
    assert!(err.to_string().contains("no renderer `nope`"), "{err}");
}

#[test]
fn a_failing_recorder_is_reported_and_the_frames_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let text = "[canvas]\nwidth = 4\nheight = 2\n[[layer]]\nplugin = \"random-pixels\"\n[[recorder]]\nplugin = \"gif\"\nconfig = { path = \"sub/out.gif\" }\n";
    let scene = Scene::parse(&dir.path().join("s.toml"), text.into(), &Registry::builtin()).unwrap();
    let mut e = Engine::new(&scene, &EngineOptions::default()).unwrap();
    e.step();
    // The directory disappears under the recorder: finishing (rename into place) must fail.
    std::fs::remove_dir_all(&sub).unwrap();
    e.step();
    let failures = e.finish();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        (failures[0].kind, failures[0].error.kind),
        (PluginKind::Recorder, ErrorKind::Io)
    );
    assert!(
        failures[0].to_string().contains("records nothing more"),
        "{}",
        failures[0]
    );
    assert!(!sub.exists());
}

#[test]
fn layers_report_their_counters_through_the_abi() {
    for registry in [Registry::builtin(), crate::util::so_registry()] {
        let scene = Scene::load(
            &crate::util::root().join("host/tests/scenes/image-sequence.toml"),
            &registry,
        )
        .unwrap();
        let mut e = Engine::new(&scene, &EngineOptions::default()).unwrap();
        for _ in 0..10 {
            e.step();
        }
        let names: Vec<(String, String)> = e.counters().into_iter().map(|c| (c.owner, c.name)).collect();
        let want = ["misses", "stale", "waits"].map(|n| ("image-sequence".to_string(), n.to_string()));
        assert_eq!(names, want);
        // Exact playback never substitutes a frame.
        assert!(
            e.counters()
                .iter()
                .filter(|c| c.name != "waits")
                .all(|c| c.value == 0)
        );
    }
    // A renderer without counters reports none.
    let mut e = engine(&registry(false), "{}").unwrap();
    e.step();
    assert!(e.counters().is_empty());
}

#[test]
fn a_plugin_that_fails_never_becomes_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(so("marquee_fixture_panicky"), plugins.join("libpanicky.so")).unwrap();
    let scene = dir.path().join("scene.toml");
    let write_scene = |config: &str| {
        let text = format!(
            "fps = 10\n[canvas]\nwidth = 4\nheight = 2\n[[layer]]\nplugin = \"panicky\"\nconfig = {config}\n"
        );
        std::fs::write(&scene, text).unwrap();
    };
    let trace = dir.path().join("trace");
    let (s, t, p) = (
        scene.to_str().unwrap(),
        trace.to_str().unwrap(),
        plugins.to_str().unwrap(),
    );
    let marquee = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--plugin-dir", p]);
        crate::util::marquee(&all)
    };
    // A good trace first: it is the reference.
    write_scene("{ panic_at = -1 }");
    let out = marquee(&["trace", s, "--frames", "20", "--out", t]);
    assert!(out.status.success(), "{}", text(&out));
    let reference = std::fs::read(trace.join("index.json")).unwrap();
    let gif = std::fs::read(trace.join("trace.gif")).unwrap();

    // Tracing again with a renderer that panics at frame 10 (or errs at 12) fails, names the
    // frame, and leaves the reference as it was.
    for (config, frame) in [
        ("{ panic_at = 10 }", "frame 10"),
        ("{ error_at = 12 }", "frame 12"),
    ] {
        write_scene(config);
        let out = marquee(&["trace", s, "--frames", "20", "--out", t]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{shown}");
        assert!(
            shown.contains("1 plugin failure while tracing, so the trace was not written")
                && shown.contains(frame),
            "{shown}"
        );
        // The panic is said once, by the host, with where it happened: no raw panic message
        // or backtrace from inside the plugin.
        assert!(
            !shown.contains("thread '") && !shown.contains("stack backtrace"),
            "{shown}"
        );
        if config.contains("panic") {
            assert!(
                shown.contains("(at tests/fixtures/panicky/src/lib.rs:"),
                "{shown}"
            );
        }
        assert_eq!(std::fs::read(trace.join("index.json")).unwrap(), reference);
        assert_eq!(std::fs::read(trace.join("trace.gif")).unwrap(), gif);
        let partials: Vec<_> = std::fs::read_dir(&trace)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains("partial"))
            .collect();
        assert!(partials.is_empty(), "{partials:?}");

        // Verifying the good trace with the failing plugin does not pass either.
        let out = marquee(&["verify", t, "--scene", s]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{shown}");
        assert!(
            shown.contains("while verifying, so the frames cannot be confirmed"),
            "{shown}"
        );
    }

    // The snapshot helper refuses too, checking against the good trace as its stored one.
    let mut registry = Registry::builtin();
    registry.load(&plugins.join("libpanicky.so"));
    write_scene("{ panic_at = 10 }");
    let err = marquee::testing::try_check_trace(&scene, 20, &trace, &registry).unwrap_err();
    assert!(
        err.contains("frame 10") && err.contains("while verifying"),
        "{err}"
    );
    assert_eq!(std::fs::read(trace.join("index.json")).unwrap(), reference);
}

#[test]
fn the_host_enforces_the_fields_a_plugin_declares_before_its_factory_runs() {
    // `panicky` declares these fields but takes any JSON for them and checks nothing; and
    // `panic_in_init` would make its factory panic, had it been called.
    let r = registry(false);
    let cases = [
        (
            "level = 1.5",
            "`level` must be a finite number from 0 to 1, found 1.5",
        ),
        (
            "level = nan",
            "`level` must be a finite number from 0 to 1, found nan",
        ),
        (
            "count = 0",
            "`count` must be a whole number from 1 to 10, found 0",
        ),
        (
            "count = 2.5",
            "`count` must be a whole number from 1 to 10, found 2.5",
        ),
        ("label = 3", "`label` must be text, in quotes, found 3"),
        (
            "tint = \"orange\"",
            "must be a colour, like \"#ff8800\" or \"#ff880080\", found \"orange\"",
        ),
        (
            "items = \"a\"",
            "`items` must be a list of at most 3 items, found \"a\"",
        ),
        ("flag = 1", "`flag` must be true or false, found 1"),
        (
            "mode = \"loud\"",
            "`mode` must be one of \"soft\", \"hard\", found \"loud\"",
        ),
        (
            "items = [1, 2, 3, 4]",
            "`items` must be a list of at most 3 items, found a list of 4 items",
        ),
        (
            "items = [1, \"x\"]",
            "`items[1]` must be valid (\"x\" is not of type \"number\"), found \"x\"",
        ),
    ];
    for (setting, expected) in cases {
        let text = format!(
            "[canvas]\nwidth = 4\nheight = 2\n[[layer]]\nplugin = \"panicky\"\n[layer.config]\npanic_in_init = true\n{setting}\n"
        );
        let err = Scene::parse(Path::new("bad.toml"), text, &r).unwrap_err();
        let SceneError::Invalid(d) = &err else {
            panic!("{setting}: {err}")
        };
        let shown = d.to_string();
        assert!(shown.contains(expected), "{setting}: {shown}");
        assert!(shown.contains("bad.toml:8:1"), "points at the line: {shown}");
        assert!(
            shown.contains("never checked here."),
            "the field's doc line: {shown}"
        );
    }
    // Values inside what is declared pass through to the factory.
    let ok = "[canvas]\nwidth = 4\nheight = 2\n[[layer]]\nplugin = \"panicky\"\nconfig = { level = 1.0, count = 10, tint = \"#ff8800\", mode = \"hard\", items = [1, 2.5] }\n";
    let scene = Scene::parse(Path::new("ok.toml"), ok.into(), &r).unwrap();
    assert!(Engine::new(&scene, &EngineOptions::default()).is_ok());
}
