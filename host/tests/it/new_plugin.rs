//! `marquee new-plugin`: for each kind, the generated crate builds with no edits, passes its own
//! tests, and its `.so` loads into the host and reproduces the crate's own snapshot.

use std::path::Path;
use std::process::Command;

use marquee::registry::Registry;
use marquee::scene::Scene;
use marquee::testing::{TraceCheck, try_check_trace};

use crate::util::{marquee, root, text};

/// Runs cargo in `dir` on the workspace's target directory (so dependencies are not rebuilt).
fn cargo(dir: &Path, args: &[&str], update_traces: bool) {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args)
        .args(["--release", "--offline"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", root().join("target"));
    if update_traces {
        cmd.env("MARQUEE_UPDATE_TRACES", "1");
    } else {
        cmd.env_remove("MARQUEE_UPDATE_TRACES");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} in {}:\n{}",
        dir.display(),
        text(&out)
    );
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

        cargo(&dir, &["build"], false);
        // First run writes the snapshot (as an author does once), the second must match it.
        cargo(&dir, &["test"], true);
        cargo(&dir, &["test"], false);

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
            // The .so reproduces, frame for frame, the snapshot the crate's test made with the rlib.
            let check = try_check_trace(&scene, 30, &dir.join("tests/traces/scene"), &registry);
            assert_eq!(check, Ok(TraceCheck::Matched), "{kind}");
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
