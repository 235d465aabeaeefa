//! `marquee new-plugin`: for each kind, the generated crate holds no path outside itself, builds
//! with no edits, passes its own tests, and its `.so` loads into the host; `marquee test`
//! snapshot-tests its scene with the binary alone.

use std::path::Path;
use std::process::Command;

use marquee::model::scene::Scene;
use marquee::plugins::registry::Registry;

use crate::util::{marquee, marquee_test, root, text};

/// Runs cargo in `dir` on the workspace's target directory (so dependencies are not rebuilt).
fn cargo(dir: &Path, args: &[&str]) {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .args(["--release", "--offline"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", root().join("target"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} in {}:\n{}",
        dir.display(),
        text(&out)
    );
}

/// `marquee test` in the generated crate `dir`, with the workspace's built plugins.
fn marquee_test_in(dir: &Path, ci: bool) -> (bool, String) {
    let plugins = root().join("target/release");
    let (code, shown) = marquee_test(dir, &["--plugin-dir", plugins.to_str().unwrap()], ci);
    (code == Some(0), shown)
}

#[test]
fn generated_crates_build_load_and_pass_their_own_tests() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in ["renderer", "processor", "recorder"] {
        let name = format!("generated-{kind}");
        let dir = tmp.path().join(&name);
        let out = marquee(&[
            "new-plugin",
            &name,
            "--kind",
            kind,
            "--dir",
            dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        // Nothing points outside the crate: it builds on any machine.
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(!manifest.contains(root().to_str().unwrap()), "{manifest}");
        assert!(!manifest.contains("marquee-host"), "no host to build: {manifest}");

        cargo(&dir, &["build"]);
        cargo(&dir, &["test"]);

        let so = root().join("target/release").join(format!(
            "{}{}{}",
            std::env::consts::DLL_PREFIX,
            name.replace('-', "_"),
            std::env::consts::DLL_SUFFIX
        ));
        let mut registry = Registry::builtin();
        registry.load(&so);
        assert!(registry.failures().is_empty(), "{:?}", registry.failures());
        let plugin = registry
            .get(&name)
            .unwrap_or_else(|| panic!("{name} did not load"));
        assert_eq!(plugin.manifest.kinds()[0].as_str(), kind);

        let scene = dir.join("tests/scene.toml");
        if kind == "recorder" {
            let mut engine =
                marquee::engine::Engine::new(&Scene::load(&scene, &registry).unwrap(), &Default::default())
                    .unwrap();
            for _ in 0..10 {
                engine.step();
            }
            assert!(engine.finish().is_empty());
            let csv = std::fs::read_to_string(dir.join("tests/brightness.csv")).unwrap();
            assert_eq!(csv.lines().count(), 11, "{csv}");
        } else {
            // The snapshot, with the binary alone: written once, then matched, in CI too.
            let (ok, shown) = marquee_test_in(&dir, false);
            assert!(ok && shown.contains("written  tests/scene.toml"), "{shown}");
            let (ok, shown) = marquee_test_in(&dir, true);
            assert!(ok && shown.contains("ok       tests/scene.toml"), "{shown}");
        }
    }
}

#[test]
fn new_plugin_refuses_bad_names_and_existing_directories() {
    let out = marquee(&["new-plugin", "Bad_Name", "--dir", "/tmp/never-created-marquee"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a usable plugin name"),
        "{}",
        text(&out)
    );
    let out = marquee(&[
        "new-plugin",
        "fine",
        "--dir",
        root().join("host").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists and is not empty"),
        "{}",
        text(&out)
    );
}
