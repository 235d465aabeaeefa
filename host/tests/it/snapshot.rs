//! Snapshot tests: the showcase trace's index under insta, and the trace-checking helper that
//! plugin authors call from their own tests.

use std::path::Path;

use marquee::model::scene::Scene;
use marquee::plugins::registry::Registry;
use marquee::testing::{TraceCheck, try_check_trace};
use marquee::trace;

#[test]
fn showcase_index_snapshot() {
    let registry = Registry::builtin();
    // Relative to the crate directory (the tests' working directory), so the path is stable.
    let scene = Scene::load(Path::new("../scenes/showcase.toml"), &registry).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outcome = trace::trace(&scene.into(), &registry, dir.path(), 30, 1).unwrap();
    insta::assert_snapshot!("showcase_index_30_frames", trace::index_json(&outcome.index));
}

const SCENE: &str = "seed = 1\n[canvas]\nwidth = 32\nheight = 16\n[[layer]]\nplugin = \"mandelbrot\"\n[[layer]]\nplugin = \"random-pixels\"\nconfig = { count = 20 }\n";

#[test]
fn check_trace_writes_then_matches_then_names_the_first_divergent_frame() {
    let dir = tempfile::tempdir().unwrap();
    let scene_path = dir.path().join("scene.toml");
    let stored = dir.path().join("trace");
    std::fs::write(&scene_path, SCENE).unwrap();
    let registry = Registry::builtin();

    let first = try_check_trace(&scene_path, 12, &stored, &registry);
    if std::env::var_os("CI").is_some() {
        // Under CI a missing trace is an error, never silently written.
        let message = first.unwrap_err();
        assert!(message.contains("no stored trace"), "{message}");
        trace::trace(
            &Scene::load(&scene_path, &registry).unwrap().into(),
            &registry,
            &stored,
            12,
            1,
        )
        .unwrap();
    } else {
        assert_eq!(first, Ok(TraceCheck::Written));
    }
    assert_eq!(
        try_check_trace(&scene_path, 12, &stored, &registry),
        Ok(TraceCheck::Matched)
    );

    // Fewer sparkles from frame 0 on: the helper names frame 0 and the three PNGs.
    std::fs::write(&scene_path, SCENE.replace("count = 20", "count = 19")).unwrap();
    let message = try_check_trace(&scene_path, 12, &stored, &registry).unwrap_err();
    assert!(
        message.contains("diverges from the trace") && message.contains("at frame 0"),
        "{message}"
    );
    for kind in ["expected", "actual", "difference"] {
        let png = stored.join(format!("{kind}-00000.png"));
        assert!(message.contains(&png.display().to_string()), "{message}");
        let img = image::open(&png).unwrap();
        assert_eq!((img.width(), img.height()), (32, 16));
    }
    assert!(message.contains("changed since the trace was made"), "{message}");

    // A frame-count mismatch is explained, not silently accepted.
    std::fs::write(&scene_path, SCENE).unwrap();
    let message = try_check_trace(&scene_path, 13, &stored, &registry).unwrap_err();
    assert!(
        message.contains("has 12 frames, the test asks for 13"),
        "{message}"
    );
}

#[test]
fn index_json_matches_its_published_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::root().join("docs/trace-index.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::root().join("traces/showcase/index.json")).unwrap(),
    )
    .unwrap();
    let errors: Vec<String> = validator.iter_errors(&index).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // The schema is not vacuous: a damaged index is refused.
    let mut damaged = index.clone();
    damaged["frames"][3]["rgba"] = "not-a-hash".into();
    damaged["scene"].as_object_mut().unwrap().remove("fps");
    damaged["extra"] = 1.into();
    assert_eq!(validator.iter_errors(&damaged).count(), 3);
}
